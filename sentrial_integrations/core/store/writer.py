"""Writing the store: records (session_start / event / session_close) applied, open sessions marked as
timed out, old sessions deleted. Every function runs inside the caller's transaction (``Store._tx``)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from .columns import PAYLOAD_FIELDS, SUMMED, clean_column, dumps, sql_total

DEFAULT_TIMEOUT_AFTER_S = 24 * 3600


def ingest(conn: sqlite3.Connection, records: Iterable[dict[str, Any]]) -> int:
    """Apply records in order and return how many were applied. Idempotent.

    Consecutive events are inserted together (one statement per session), so a batch of events
    costs one round through SQLite rather than two statements each.
    """
    n = 0
    pending: list[dict[str, Any]] = []
    for rec in records:
        kind = rec.get("kind")
        if kind == "event":
            pending.append(rec)
            continue
        if pending:
            n += insert_events(conn, pending)
            pending = []
        if kind == "session_start":
            insert_session(conn, rec)
            n += 1
        elif kind == "session_close":
            close_session(conn, rec)
            n += 1
    if pending:
        n += insert_events(conn, pending)
    return n


def insert_session(conn: sqlite3.Connection, rec: dict[str, Any]) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO sessions(id, name, status, agent_name, user_id, parent_session_id, convo_id,"
        " project_id, metadata, started_at) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
        (
            rec["session_id"],
            rec.get("name"),
            rec.get("agent_name") or rec.get("name"),
            rec.get("user_id"),
            rec.get("parent_session_id"),
            rec.get("convo_id"),
            rec.get("project_id"),
            dumps(rec.get("metadata") or {}),
            rec.get("ts"),
        ),
    )


def event_row(rec: dict[str, Any]) -> tuple[tuple[Any, ...], bool]:
    payload = {k: rec[k] for k in PAYLOAD_FIELDS if rec.get(k) is not None}
    err = rec.get("error")
    err_text = None
    if err:
        payload["error"] = err
        err_text = err.get("message") if isinstance(err, dict) else str(err)
        err_text = err_text or (err.get("type") if isinstance(err, dict) else None) or "error"
    row = (
        rec["id"],
        rec["session_id"],
        rec.get("seq"),
        rec.get("type") or "tool_call",
        rec.get("name"),
        rec.get("ts"),
        rec.get("duration_ms"),
        rec.get("span_id"),
        rec.get("parent_span_id"),
        rec.get("model"),
        rec.get("provider"),
        rec.get("prompt_tokens"),
        rec.get("completion_tokens"),
        rec.get("total_tokens"),
        rec.get("cost"),
        err_text,
        dumps(payload),
        rec.get("cost_source") if isinstance(rec.get("cost_source"), str) else None,
        1 if rec.get("unpriced") is True else None,
    )
    return row, bool(rec.get("type") == "error" or err_text)


def insert_events(conn: sqlite3.Connection, recs: list[dict[str, Any]]) -> int:
    # per session: (plain rows, error rows), so each executemany's rowcount is that session's count
    groups: dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {}
    for rec in recs:
        row, is_error = event_row(rec)
        plain, errors = groups.setdefault(rec["session_id"], ([], []))
        (errors if is_error else plain).append(row)
    sql = (
        "INSERT OR IGNORE INTO events(id, session_id, seq, type, name, ts, duration_ms, span_id, parent_span_id,"
        " model, provider, prompt_tokens, completion_tokens, total_tokens, cost, error, payload,"
        " cost_source, unpriced) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    total = 0
    for sid, (plain, errors) in groups.items():
        added = conn.executemany(sql, plain).rowcount if plain else 0
        added_err = conn.executemany(sql, errors).rowcount if errors else 0
        if added or added_err:
            conn.execute(
                "UPDATE sessions SET event_count = event_count + ?, error_count = error_count + ? WHERE id = ?",
                (added + added_err, added_err, sid),
            )
        total += added + added_err
        if (added or added_err) and any(r[-1] for r in (*plain, *errors)):
            conn.execute(
                "UPDATE sessions SET unpriced_calls = (SELECT count(*) FROM events WHERE session_id = ?"
                " AND unpriced = 1) WHERE id = ?",
                (sid, sid),
            )
    return total


def close_session(conn: sqlite3.Connection, rec: dict[str, Any]) -> None:
    sid = rec["session_id"]
    sums = conn.execute(  # total(), not sum(): sum() raises on an integer overflow
        f"SELECT {sql_total('prompt_tokens')}, {sql_total('completion_tokens')}, {sql_total('total_tokens')},"
        f" {sql_total('cost')} FROM events WHERE session_id = ? AND type = 'llm_call'",
        (sid,),
    ).fetchone()
    sums = [clean_column(k, v) for k, v in zip(SUMMED, sums, strict=True)]
    row = conn.execute("SELECT started_at FROM sessions WHERE id = ?", (sid,)).fetchone()
    ended = rec.get("ts") or time.time()
    duration = rec.get("duration_ms")
    if duration is None and row is not None and row[0] is not None:
        duration = max(0.0, (ended - row[0]) * 1000.0)
    output = rec.get("output") if rec.get("output") is not None else rec.get("assistant_output")
    user_input = rec.get("user_input")
    conn.execute(
        "UPDATE sessions SET status = ?, ended_at = ?, duration_ms = ?, prompt_tokens = ?, completion_tokens = ?,"
        " total_tokens = ?, cost = ?, failure_reason = ?, output = ?, custom_metrics = ?,"
        " user_input = coalesce(?, user_input),"
        " unpriced_calls = max(unpriced_calls, coalesce(?, 0)) WHERE id = ?",
        (
            rec.get("status") or "success",
            ended,
            duration,
            rec.get("prompt_tokens") if rec.get("prompt_tokens") is not None else sums[0],
            rec.get("completion_tokens") if rec.get("completion_tokens") is not None else sums[1],
            rec.get("total_tokens") if rec.get("total_tokens") is not None else sums[2],
            rec.get("cost") if rec.get("cost") is not None else sums[3],
            rec.get("failure_reason"),
            dumps(output),
            dumps(rec.get("custom_metrics")),
            dumps(user_input),
            rec.get("unpriced_calls") if isinstance(rec.get("unpriced_calls"), int) else None,
            sid,
        ),
    )


def mark_timeouts(conn: sqlite3.Connection, older_than_s: float, now: float | None = None) -> int:
    """Store sessions left running longer than ``older_than_s`` as ``timeout``; how many there were."""
    cutoff = (now or time.time()) - older_than_s
    cur = conn.execute(
        "UPDATE sessions SET status = 'timeout', failure_reason = coalesce(failure_reason,"
        " 'no close within the timeout'), ended_at = coalesce(ended_at, started_at + ?)"
        " WHERE status = 'running' AND started_at < ?",
        (older_than_s, cutoff),
    )
    return cur.rowcount


def delete_sessions(conn: sqlite3.Connection, ids: list[str]) -> None:
    """Delete these sessions and their events."""
    marks = ",".join("?" * len(ids))
    conn.execute(f"DELETE FROM events WHERE session_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM sessions WHERE id IN ({marks})", ids)
