"""The embedded SQLite store: schema, ingestion of records, and the queries the CLI and dashboard use.

One file, WAL journal, one writer per process (the pipeline worker or the local server), any number of
readers. Files are created with 0600 permissions.

:class:`Store` is the handle (connection, lock, transactions); the work is in :mod:`.schema` (tables and
migrations), :mod:`.columns` (values in and out of columns), :mod:`.writer` (ingestion, timeouts,
purge), :mod:`.queries` (filters and read helpers) and :mod:`.stats` (the ``stats`` command's analytics).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from . import writer
from .columns import StoreError, create_private_file, decode_text, event_dict, session_dict
from .queries import (
    SessionFilter,
    event_timings,
    live_totals,
    match_session_ids,
    session_duration_ms,
    where_clause,
)
from .schema import SCHEMA_VERSION, create_schema, schema_version
from .stats import compute_stats, percentile
from .writer import DEFAULT_TIMEOUT_AFTER_S

__all__ = [
    "DEFAULT_TIMEOUT_AFTER_S",
    "SCHEMA_VERSION",
    "SessionFilter",
    "Store",
    "StoreError",
    "compute_stats",
    "create_private_file",
    "event_timings",
    "live_totals",
    "match_session_ids",
    "percentile",
    "schema_version",
    "session_duration_ms",
]


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
                create_schema(self._conn)
            self._conn.row_factory = sqlite3.Row
            self._conn.text_factory = decode_text  # text that is not UTF-8 reads as text, never an error
            self._conn.execute("SELECT count(*) FROM sessions").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open Sentrial store at {path}: {exc}") from None

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

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(args)).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot read Sentrial store at {self.path}: {exc}") from None

    # --- writing (see writer.py) -----------------------------------------------------------------

    def ingest(self, records: Iterable[dict[str, Any]]) -> int:
        """Apply records (session_start / event / session_close) in one transaction. Idempotent."""
        with self._tx() as conn:
            return writer.ingest(conn, records)

    def mark_timeouts(self, older_than_s: float = DEFAULT_TIMEOUT_AFTER_S, now: float | None = None) -> int:
        """Store sessions left running longer than ``older_than_s`` as ``timeout``."""
        with self._tx() as conn:
            return writer.mark_timeouts(conn, older_than_s, now)

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
            with self._tx() as conn:
                writer.delete_sessions(conn, chunk)
            deleted += len(chunk)
            if progress is not None:
                progress(len(chunk))
        return deleted

    # --- reading (see queries.py) ----------------------------------------------------------------

    def list_sessions(self, flt: SessionFilter | None = None) -> list[dict[str, Any]]:
        flt = flt or SessionFilter()
        where, args = where_clause(flt)
        rows = self._query(
            f"SELECT * FROM sessions {where} ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?",
            [*args, flt.limit, flt.offset],
        )
        return [session_dict(r) for r in rows]

    def count_sessions(self, flt: SessionFilter | None = None) -> int:
        where, args = where_clause(flt or SessionFilter())
        return int(self._query(f"SELECT count(*) FROM sessions {where}", args)[0][0])

    def resolve_id(self, prefix: str) -> str | None:
        """A full session id from an id or an unambiguous prefix of one."""
        ids = match_session_ids(self, prefix, limit=2)
        return ids[0] if len(ids) == 1 else None

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return session_dict(rows[0]) if rows else None

    def get_events(self, session_id: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT * FROM events WHERE session_id = ? ORDER BY ts, seq", (session_id,))
        return [event_dict(r) for r in rows]
