"""The embedded SQLite store: schema, ingestion of records, and the queries the CLI and dashboard use.

One file, WAL journal, one writer per process (the pipeline worker or the local server), any number of
readers. Files are created with 0600 permissions.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..files import UnsafeFileError, ensure_private_file
from ..record.normalize import (
    MAX_COST,
    MAX_DURATION_MS,
    MAX_SAFE_INT,
    TS_MAX,
    TS_MIN,
    clean_error,
    clean_text,
    clean_value,
    text_value,
)

try:  # optional accelerator
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None  # type: ignore[assignment]

SCHEMA_VERSION = 1
DEFAULT_TIMEOUT_AFTER_S = 24 * 3600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    name TEXT,
    status TEXT NOT NULL DEFAULT 'running',
    agent_name TEXT,
    user_id TEXT,
    parent_session_id TEXT,
    convo_id TEXT,
    project_id TEXT,
    metadata TEXT,
    started_at REAL,
    ended_at REAL,
    duration_ms REAL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    cost REAL,
    failure_reason TEXT,
    output TEXT,
    custom_metrics TEXT,
    event_count INTEGER NOT NULL DEFAULT 0,
    error_count INTEGER NOT NULL DEFAULT 0,
    user_input TEXT,
    unpriced_calls INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_started ON sessions(started_at);
CREATE INDEX IF NOT EXISTS sessions_status ON sessions(status);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    seq INTEGER,
    type TEXT NOT NULL,
    name TEXT,
    ts REAL,
    duration_ms REAL,
    span_id TEXT,
    parent_span_id TEXT,
    model TEXT,
    provider TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    cost REAL,
    error TEXT,
    payload TEXT,
    cost_source TEXT,
    unpriced INTEGER
);
CREATE INDEX IF NOT EXISTS events_session ON events(session_id, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""

_PAYLOAD_FIELDS = ("input", "output", "reasoning", "metadata", "decision", "alternatives", "confidence")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


class StoreError(Exception):
    """The store is missing, unreadable or not a Sentrial store."""


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    if _orjson is not None:
        try:
            return _orjson.dumps(value).decode("utf-8")
        except TypeError:
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _loads(text: str | None) -> Any:
    """Stored JSON text as data every reader can take (bad JSON comes back as its text, never raises)."""
    if text is None:
        return None
    if not isinstance(text, str):
        return _clean_column("", text)
    try:
        return clean_value(json.loads(text))
    except (ValueError, RecursionError):
        return clean_value(text)


_TS_COLUMNS = frozenset({"started_at", "ended_at", "ts"})
_COUNT_COLUMNS = ("event_count", "error_count", "unpriced_calls")
_INT_COLUMNS = frozenset({"prompt_tokens", "completion_tokens", "total_tokens", "seq", *_COUNT_COLUMNS})


def _clean_column(name: str, v: Any) -> Any:
    """A column's value as readers expect it: times within 1970..3000, finite numbers, text for text."""
    if v is None:
        return None
    t = type(v)
    if name in _TS_COLUMNS or name == "duration_ms" or name == "cost":
        if t is str or t is bytes or v != v or v in (float("inf"), float("-inf")):
            return None
        if name == "duration_ms":
            return min(max(float(v), 0.0), MAX_DURATION_MS)
        if name == "cost":
            return float(v) if -MAX_COST <= v <= MAX_COST else None
        return min(max(float(v), TS_MIN), TS_MAX)
    if name in _INT_COLUMNS:
        if t is int and -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
            return v
        if t is float and v == v and v.is_integer() and -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
            return int(v)
        return 0 if name in _COUNT_COLUMNS else None
    if t is bytes:
        return v.decode("utf-8", "replace")
    if t is str:
        return v if v.isascii() else clean_text(v)
    return v if t is int or t is float else str(v)


_SUMMED = ("prompt_tokens", "completion_tokens", "total_tokens", "cost")


def _total(column: str, llm: bool = False) -> str:
    """SQL for the sum of ``column`` (of LLM calls only if ``llm``): NULL when there is none, and a float
    rather than SQLite's integer-overflow error when the values are huge (readers clean it up)."""
    value = f"CASE WHEN type = 'llm_call' THEN {column} END" if llm else column
    return f"CASE WHEN count({value}) THEN total({value}) END"


def _clean_row(row: sqlite3.Row) -> dict[str, Any]:
    return {k: _clean_column(k, row[k]) for k in row.keys()}  # noqa: SIM118 - sqlite3.Row


def create_private_file(path: str) -> None:
    """Create ``path`` (and its directory) readable by the owner only, or check the file already there.

    Raises :class:`StoreError` naming the file and the fix when it is a symlink, another user's, or
    writable by group or others (see :mod:`.core.files`).
    """
    try:
        ensure_private_file(path)
    except UnsafeFileError as exc:
        raise StoreError(f"Sentrial store: {exc}") from None


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


class Store:
    """A handle on one store file. Thread-safe; writes are serialised by a lock."""

    def __init__(self, path: str, *, create: bool = True, readonly: bool = False) -> None:
        self.path = path
        self._lock = threading.RLock()
        if not create and not os.path.exists(path):
            raise StoreError(f"no Sentrial store at {path}")
        try:
            if readonly:
                uri = "file:" + os.path.abspath(path) + "?mode=ro"
                self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10)
            else:
                create_private_file(path)
                self._conn = sqlite3.connect(path, check_same_thread=False, timeout=10)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.executescript(_SCHEMA)
                self._migrate()
                self._conn.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                self._conn.commit()
            self._conn.row_factory = sqlite3.Row
            self._conn.text_factory = _text  # text that is not UTF-8 reads as text, never an error
            self._conn.execute("SELECT count(*) FROM sessions").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open Sentrial store at {path}: {exc}") from None

    def _migrate(self) -> None:
        """Add columns that stores made by earlier versions lack."""
        cols = {r[1] for r in self._conn.execute("PRAGMA table_info(sessions)")}
        if "convo_id" not in cols:
            self._conn.execute("ALTER TABLE sessions ADD COLUMN convo_id TEXT")
        if "user_input" not in cols:
            self._conn.execute("ALTER TABLE sessions ADD COLUMN user_input TEXT")
        if "unpriced_calls" not in cols:
            self._conn.execute("ALTER TABLE sessions ADD COLUMN unpriced_calls INTEGER NOT NULL DEFAULT 0")
        event_cols = {r[1] for r in self._conn.execute("PRAGMA table_info(events)")}
        if "cost_source" not in event_cols:
            self._conn.execute("ALTER TABLE events ADD COLUMN cost_source TEXT")
        if "unpriced" not in event_cols:
            self._conn.execute("ALTER TABLE events ADD COLUMN unpriced INTEGER")

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except Exception:
                pass

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.rollback()
                raise
            else:
                self._conn.commit()

    # --- writing ---------------------------------------------------------------------------------

    def ingest(self, records: Iterable[dict[str, Any]]) -> int:
        """Apply records (session_start / event / session_close) in one transaction. Idempotent.

        Consecutive events are inserted together (one statement per session), so a batch of events
        costs one round through SQLite rather than two statements each.
        """
        n = 0
        pending: list[dict[str, Any]] = []
        with self._tx() as conn:
            for rec in records:
                kind = rec.get("kind")
                if kind == "event":
                    pending.append(rec)
                    continue
                if pending:
                    n += self._insert_events(conn, pending)
                    pending = []
                if kind == "session_start":
                    self._insert_session(conn, rec)
                    n += 1
                elif kind == "session_close":
                    self._close_session(conn, rec)
                    n += 1
            if pending:
                n += self._insert_events(conn, pending)
        return n

    def _insert_session(self, conn: sqlite3.Connection, rec: dict[str, Any]) -> None:
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
                _dumps(rec.get("metadata") or {}),
                rec.get("ts"),
            ),
        )

    @staticmethod
    def _event_row(rec: dict[str, Any]) -> tuple[tuple[Any, ...], bool]:
        payload = {k: rec[k] for k in _PAYLOAD_FIELDS if rec.get(k) is not None}
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
            _dumps(payload),
            rec.get("cost_source") if isinstance(rec.get("cost_source"), str) else None,
            1 if rec.get("unpriced") is True else None,
        )
        return row, bool(rec.get("type") == "error" or err_text)

    def _insert_events(self, conn: sqlite3.Connection, recs: list[dict[str, Any]]) -> int:
        # per session: (plain rows, error rows), so each executemany's rowcount is that session's count
        groups: dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {}
        for rec in recs:
            row, is_error = self._event_row(rec)
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

    def _close_session(self, conn: sqlite3.Connection, rec: dict[str, Any]) -> None:
        sid = rec["session_id"]
        sums = conn.execute(  # total(), not sum(): sum() raises on an integer overflow
            f"SELECT {_total('prompt_tokens')}, {_total('completion_tokens')}, {_total('total_tokens')},"
            f" {_total('cost')} FROM events WHERE session_id = ? AND type = 'llm_call'",
            (sid,),
        ).fetchone()
        sums = [_clean_column(k, v) for k, v in zip(_SUMMED, sums, strict=True)]
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
                _dumps(output),
                _dumps(rec.get("custom_metrics")),
                _dumps(user_input),
                rec.get("unpriced_calls") if isinstance(rec.get("unpriced_calls"), int) else None,
                sid,
            ),
        )

    def mark_timeouts(self, older_than_s: float = DEFAULT_TIMEOUT_AFTER_S, now: float | None = None) -> int:
        """Store sessions left running longer than ``older_than_s`` as ``timeout``."""
        cutoff = (now or time.time()) - older_than_s
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE sessions SET status = 'timeout', failure_reason = coalesce(failure_reason,"
                " 'no close within the timeout'), ended_at = coalesce(ended_at, started_at + ?)"
                " WHERE status = 'running' AND started_at < ?",
                (older_than_s, cutoff),
            )
            return cur.rowcount

    def purge(self, older_than: float, progress: Any = None) -> int:
        """Delete sessions (and their events) started before the epoch time ``older_than``."""
        with self._lock:
            ids = [
                r[0]
                for r in self._conn.execute("SELECT id FROM sessions WHERE started_at < ?", (older_than,))
            ]
        deleted = 0
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            with self._tx() as conn:
                conn.execute(f"DELETE FROM events WHERE session_id IN ({marks})", chunk)
                conn.execute(f"DELETE FROM sessions WHERE id IN ({marks})", chunk)
            deleted += len(chunk)
            if progress is not None:
                progress(len(chunk))
        return deleted

    # --- reading ---------------------------------------------------------------------------------

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(args)).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot read Sentrial store at {self.path}: {exc}") from None

    def list_sessions(self, flt: SessionFilter | None = None) -> list[dict[str, Any]]:
        flt = flt or SessionFilter()
        where, args = self._where(flt)
        rows = self._query(
            f"SELECT * FROM sessions {where} ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?",
            [*args, flt.limit, flt.offset],
        )
        return [self._session_dict(r) for r in rows]

    def count_sessions(self, flt: SessionFilter | None = None) -> int:
        where, args = self._where(flt or SessionFilter())
        return int(self._query(f"SELECT count(*) FROM sessions {where}", args)[0][0])

    @staticmethod
    def _where(flt: SessionFilter) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if flt.status:
            clauses.append("status = ?")
            args.append(flt.status)
        if flt.name:
            clauses.append("name LIKE ? ESCAPE '\\'")
            args.append("%" + flt.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
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

    def resolve_id(self, prefix: str) -> str | None:
        """A full session id from an id or an unambiguous prefix of one."""
        rows = self._query("SELECT id FROM sessions WHERE id = ?", (prefix,))
        if rows:
            return str(rows[0][0])
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._query("SELECT id FROM sessions WHERE id LIKE ? ESCAPE '\\' LIMIT 2", (like,))
        return str(rows[0][0]) if len(rows) == 1 else None

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return self._session_dict(rows[0]) if rows else None

    def get_events(self, session_id: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT * FROM events WHERE session_id = ? ORDER BY ts, seq", (session_id,))
        return [self._event_dict(r) for r in rows]

    def all_events(self, since: float | None = None, name: str | None = None) -> list[dict[str, Any]]:
        """Events of sessions matching the filters (for statistics)."""
        flt = SessionFilter(since=since, name=name, limit=-1)
        where, args = self._where(flt)
        rows = self._query(
            f"SELECT * FROM events WHERE session_id IN (SELECT id FROM sessions {where}) ORDER BY session_id, ts, seq",
            args,
        )
        return [self._event_dict(r) for r in rows]

    @staticmethod
    def _session_dict(row: sqlite3.Row) -> dict[str, Any]:
        d = _clean_row(row)
        d["metadata"] = _loads(d.get("metadata")) or {}
        if not isinstance(d["metadata"], dict):
            d["metadata"] = {"value": d["metadata"]}
        d["output"] = _loads(d.get("output"))
        d["custom_metrics"] = _loads(d.get("custom_metrics"))
        if "user_input" in d:
            d["user_input"] = _loads(d.get("user_input"))
        return d

    @staticmethod
    def _event_dict(row: sqlite3.Row) -> dict[str, Any]:
        d = _clean_row(row)
        payload = _loads(d.pop("payload", None)) or {}
        if isinstance(payload, dict):
            for k in (*_PAYLOAD_FIELDS, "error"):
                if k == "error":
                    d["error"] = payload.get("error") if payload.get("error") is not None else d.get("error")
                else:
                    d[k] = payload.get(k)
        d["confidence"] = _clean_column("cost", d.get("confidence"))
        if d.get("reasoning") is not None and not isinstance(d["reasoning"], str):
            d["reasoning"] = text_value(d["reasoning"])
        if d.get("error") is not None:
            d["error"] = clean_error(d["error"])
        return d


# --- read-only helpers (CLI) -------------------------------------------------------------------------


def schema_version(store: Store) -> int | None:
    """The store's schema version, or ``None`` when the file is not a Sentrial store."""
    try:
        rows = store._query("SELECT value FROM meta WHERE key = 'schema_version'")
    except StoreError:
        return None
    try:
        return int(rows[0][0]) if rows else None
    except (TypeError, ValueError):
        return None


def match_session_ids(store: Store, prefix: str, limit: int = 5) -> list[str]:
    """Session ids equal to ``prefix`` (exact match wins) or starting with it, at most ``limit``."""
    rows = store._query("SELECT id FROM sessions WHERE id = ?", (prefix,))
    if rows:
        return [str(rows[0][0])]
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = store._query(
        "SELECT id FROM sessions WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?", (like, limit)
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
            f" {_total('prompt_tokens', llm=True)}, {_total('completion_tokens', llm=True)},"
            f" {_total('total_tokens', llm=True)}, {_total('cost', llm=True)},"
            " max(ts + coalesce(duration_ms, 0) / 1000.0)"
            f" FROM events WHERE session_id IN ({marks}) GROUP BY session_id",
            chunk,
        )
        for r in rows:
            out[str(r[0])] = {
                "prompt_tokens": _clean_column("prompt_tokens", r[1]),
                "completion_tokens": _clean_column("completion_tokens", r[2]),
                "total_tokens": _clean_column("total_tokens", r[3]),
                "cost": _clean_column("cost", r[4]),
                "last_event_end": _clean_column("ts", r[5]),
            }
    return out


def event_timings(store: Store, flt: SessionFilter | None = None) -> list[dict[str, Any]]:
    """Events of the sessions matching ``flt`` without their payloads (for statistics), ordered by
    session, time and sequence. ``error`` is the error message or ``None``."""
    flt = flt or SessionFilter(limit=-1)
    where, args = store._where(flt)
    rows = store._query(
        "SELECT session_id, seq, type, name, ts, duration_ms, span_id, parent_span_id, model, provider,"
        " prompt_tokens, completion_tokens, total_tokens, cost, error FROM events"
        f" WHERE session_id IN (SELECT id FROM sessions {where}) ORDER BY session_id, ts, seq",
        args,
    )
    return [_clean_row(r) for r in rows]
