"""Reading the store: which sessions a filter selects, session ids from a prefix, running sessions'
live totals, and events without their payloads for statistics."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .columns import clean_column, clean_row, sql_total

if TYPE_CHECKING:
    from . import Store


@dataclass
class SessionFilter:
    status: str | None = None
    name: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    since: float | None = None
    until: float | None = None
    agent: str | None = None
    limit: int = 50
    offset: int = 0


def _escape_like(text: str) -> str:
    """``text`` for a ``LIKE ... ESCAPE '\\'`` pattern, its ``%``, ``_`` and ``\\`` taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def where_clause(flt: SessionFilter) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (or ``""``) and its arguments selecting the sessions ``flt`` matches."""
    clauses: list[str] = []
    args: list[Any] = []
    if flt.status:
        clauses.append("status = ?")
        args.append(flt.status)
    if flt.name:
        clauses.append("name LIKE ? ESCAPE '\\'")
        args.append("%" + _escape_like(flt.name) + "%")
    if flt.agent:
        clauses.append("agent_name = ?")
        args.append(flt.agent)
    if flt.since is not None:
        clauses.append("started_at >= ?")
        args.append(flt.since)
    if flt.until is not None:
        clauses.append("started_at < ?")
        args.append(flt.until)
    for key, value in flt.meta.items():
        clauses.append("CAST(json_extract(metadata, ?) AS TEXT) = ?")
        args.append("$." + json.dumps(key))
        args.append(value)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


def match_session_ids(store: Store, prefix: str, limit: int = 5) -> list[str]:
    """Session ids equal to ``prefix`` (exact match wins) or starting with it, at most ``limit``."""
    rows = store._query("SELECT id FROM sessions WHERE id = ?", (prefix,))
    if rows:
        return [str(rows[0][0])]
    rows = store._query(
        "SELECT id FROM sessions WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?",
        (_escape_like(prefix) + "%", limit),
    )
    return [str(r[0]) for r in rows]


def live_totals(store: Store, session_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per session: token and cost sums over its LLM events and the end of its last event (epoch s).

    For sessions still running, whose totals are only written when they close.
    """
    ids = list(session_ids)
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        rows = store._query(
            "SELECT session_id,"
            f" {sql_total('prompt_tokens', llm=True)}, {sql_total('completion_tokens', llm=True)},"
            f" {sql_total('total_tokens', llm=True)}, {sql_total('cost', llm=True)},"
            " max(ts + coalesce(duration_ms, 0) / 1000.0)"
            f" FROM events WHERE session_id IN ({marks}) GROUP BY session_id",
            chunk,
        )
        for r in rows:
            out[str(r[0])] = {
                "prompt_tokens": clean_column("prompt_tokens", r[1]),
                "completion_tokens": clean_column("completion_tokens", r[2]),
                "total_tokens": clean_column("total_tokens", r[3]),
                "cost": clean_column("cost", r[4]),
                "last_event_end": clean_column("ts", r[5]),
            }
    return out


def event_timings(store: Store, flt: SessionFilter | None = None) -> list[dict[str, Any]]:
    """Events of the sessions matching ``flt`` without their payloads (for statistics), ordered by
    session, time and sequence. ``error`` is the error message or ``None``."""
    flt = flt or SessionFilter(limit=-1)
    where, args = where_clause(flt)
    rows = store._query(
        "SELECT session_id, seq, type, name, ts, duration_ms, span_id, parent_span_id, model, provider,"
        " prompt_tokens, completion_tokens, total_tokens, cost, error FROM events"
        f" WHERE session_id IN (SELECT id FROM sessions {where}) ORDER BY session_id, ts, seq",
        args,
    )
    return [clean_row(r) for r in rows]


def session_duration_ms(s: dict[str, Any], now: float) -> float | None:
    """A session's duration: the recorded one, else from its start to its close (or to ``now`` while
    it runs)."""
    if s.get("duration_ms") is not None:
        return float(s["duration_ms"])
    start = s.get("started_at")
    if start is None:
        return None
    if s.get("ended_at") is not None:
        return max(0.0, (s["ended_at"] - start) * 1000.0)
    if s.get("status") == "running":
        return max(0.0, (now - start) * 1000.0)
    return None
