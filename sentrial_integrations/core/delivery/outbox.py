"""The outbox: one SQLite (WAL) file per destination and key, the source of truth for delivery.

Every process that records to a destination appends to its outbox (forks, workers, several scripts);
exactly one shipper (see :mod:`.shipper`) reads it, oldest first, and deletes what the backend
acknowledged. There is no ownership per row: the shipper's file lock is the ownership, and the
kernel releases it when the shipper dies, so pid reuse and pid namespaces cannot confuse it.

Tables:

* ``records``: ``id`` (commit order), ``session``, ``kind``, ``body`` (JSON), ``created``, ``tries``
  (answers that refused this very record), ``not_before`` (per-record backoff).
* ``ids``: client session id -> server session id, with ``closed`` (pruned a while after close).
* ``aside``: records set aside after a definitive refusal or too many tries (kept for inspection).
* ``state``: counters and the shipper's last error (read by ``sentrial-integrations status``).

Every statement runs with SQLite's busy timeout at 0 and under :data:`~..forksafe.fork_guard`; a
locked file is retried here, *outside* the guard, so neither ``os.fork()`` nor a deadline ever waits
for SQLite's own busy loop.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import orjson

from ..files import ensure_private_file
from ..forksafe import fork_guard

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session TEXT NOT NULL,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,
    created REAL NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS records_session ON records(session, id);
CREATE TABLE IF NOT EXISTS ids (
    client_id TEXT PRIMARY KEY,
    server_id TEXT NOT NULL,
    closed REAL
);
CREATE TABLE IF NOT EXISTS aside (
    id INTEGER PRIMARY KEY,
    session TEXT NOT NULL,
    body BLOB NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT);
"""

ID_KEEP_AFTER_CLOSE = 600.0
WAL_LIMIT = 4 << 20
DISK_RESERVE = (
    512 << 10
)  # free space kept for the shipper's deletes: a full disk never blocks delivery  # a closed session's server id is kept this long (late children, forks)


class OutboxFull(Exception):
    """The outbox cannot take more records (its size cap, or the disk is full)."""


class OutboxLocked(Exception):
    """The outbox stayed locked by another process until the deadline."""


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _is_full(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "full" in text or "disk i/o" in text or "no space" in text


def _reserve(path: str) -> int:
    """Free space kept for the shipper's deletes and checkpoints: 1 MiB, or a quarter of a tiny disk."""
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(path)))
        return min(DISK_RESERVE, st.f_blocks * st.f_frsize // 4)
    except (OSError, AttributeError):
        return DISK_RESERVE


def _free_bytes(path: str) -> int | None:
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def outbox_path(directory: str, destination_key: str) -> str:
    return os.path.join(directory, f"outbox-{destination_key}.db")


class Outbox:
    """Thread-safe handle on one outbox file, for the recorder (append) and the shipper (the rest)."""

    def __init__(self, path: str, max_bytes: int = 1 << 30) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        ensure_private_file(path)  # 0600; a pre-existing symlink or someone else's file is refused
        self._conn = self._connect()
        self._bytes: int | None = None

    def _connect(self) -> sqlite3.Connection:
        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=0, isolation_level=None)
            try:
                conn.execute("PRAGMA busy_timeout=0")
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")  # the WAL shrinks back after a burst
                conn.executescript(_SCHEMA)
            except BaseException:
                conn.close()
                raise
            return conn

        return self._retry(connect, time.monotonic() + 30.0, use_lock=False)

    # --- the one way to run a statement ------------------------------------------------------------

    def _retry(self, fn: Callable[[], T], deadline: float, use_lock: bool = True) -> T:
        delay = 0.002
        while True:
            try:
                with fork_guard:
                    if use_lock:
                        with self._lock:
                            return fn()
                    return fn()
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or time.monotonic() + delay > deadline:
                    if _is_locked(exc):
                        raise OutboxLocked(str(exc)) from exc
                    raise
            time.sleep(delay)  # outside the guard and the lock
            delay = min(delay * 2, 0.05)

    def _tx(self, fn: Callable[[sqlite3.Connection], T], timeout: float = 10.0) -> T:
        conn = self._conn

        def run() -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(conn)
                conn.execute("COMMIT")
                return out
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise

        return self._retry(run, time.monotonic() + timeout)

    def _read(self, sql: str, args: Iterable[Any] = (), timeout: float = 10.0) -> list[Any]:
        conn = self._conn
        return self._retry(lambda: conn.execute(sql, tuple(args)).fetchall(), time.monotonic() + timeout)

    # --- recorder side -----------------------------------------------------------------------------

    def append(self, records: list[dict[str, Any]], timeout: float = 10.0) -> int:
        """Commit ``records`` in order (one transaction). Returns the highest row id written.

        Raises :class:`OutboxFull` when the size cap or the disk does not allow it (nothing of this
        batch is written then) and :class:`OutboxLocked` when another process held the file too long.
        """
        now = time.time()
        rows = []
        size = 0
        for rec in records:
            body = orjson.dumps(rec, option=orjson.OPT_NON_STR_KEYS)
            size += len(body)
            rows.append((rec.get("session_id") or "", rec.get("kind") or "", body, now))
        free = _free_bytes(self.path)
        if free is not None and free < 64 << 20:  # a nearly full disk: count the pages SQLite can reuse
            free += self._reusable_bytes()
            if free - size < _reserve(self.path):
                raise OutboxFull(f"the disk holding the outbox is full ({free} bytes usable)")
        if self._bytes is None:
            self._bytes = self.size_bytes()
        if self._bytes + size > self.max_bytes:
            self._bytes = self.size_bytes()  # the shipper may have freed room
            if self._bytes + size > self.max_bytes:
                raise OutboxFull(f"the outbox holds {self._bytes} bytes (cap {self.max_bytes})")

        def write(conn: sqlite3.Connection) -> int:
            conn.executemany("INSERT INTO records(session, kind, body, created) VALUES (?, ?, ?, ?)", rows)
            return int(conn.execute("SELECT max(id) FROM records").fetchone()[0] or 0)

        try:
            last = self._tx(write, timeout)
        except sqlite3.Error as exc:
            if _is_full(exc):
                raise OutboxFull(str(exc)) from exc
            raise
        self._bytes += size
        if free is not None and free < 64 << 20:  # keep the WAL small while the disk is nearly full
            try:
                self.reclaim()
            except Exception:  # committed already: a failed checkpoint must not look like a failed append
                pass
        return last

    def _reusable_bytes(self) -> int:
        (pages,), (page_size,) = self._read("PRAGMA freelist_count")[0], self._read("PRAGMA page_size")[0]
        return int(pages) * int(page_size)

    def reclaim(self) -> None:
        """Give the WAL's space back to the disk (after a burst, or when the disk is full)."""
        conn = self._conn
        self._retry(
            lambda: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall(), time.monotonic() + 2.0
        )

    def size_bytes(self) -> int:
        row = self._read("SELECT coalesce(sum(length(body)), 0) FROM records")
        return int(row[0][0])

    # --- flush support -----------------------------------------------------------------------------

    def pending_upto(self, last_id: int) -> int:
        """How many records up to ``last_id`` are still waiting (0: all delivered or set aside)."""
        row = self._read("SELECT count(*) FROM records WHERE id <= ?", (last_id,), timeout=1.0)
        return int(row[0][0])

    def depth(self) -> int:
        return int(self._read("SELECT count(*) FROM records")[0][0])

    # --- shipper side ------------------------------------------------------------------------------

    def take(self, limit: int, skip_sessions: Iterable[str] = (), skip_ids: Iterable[int] = ()) -> list[Any]:
        """The oldest records as ``(id, session, body_bytes, created, tries, not_before, kind)`` rows.

        Records of ``skip_sessions`` (waiting for a retry or an id) and ``skip_ids`` (acknowledged,
        their delete still to be written) are left out.
        """
        skip_s = list(skip_sessions)
        skip_i = list(skip_ids)
        where = []
        args: list[Any] = []
        if skip_s:
            where.append(f"session NOT IN ({','.join('?' * len(skip_s))})")
            args.extend(skip_s)
        if skip_i:
            where.append(f"id NOT IN ({','.join('?' * len(skip_i))})")
            args.extend(skip_i)
        sql = "SELECT id, session, body, created, tries, not_before, kind FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        return self._read(sql, args)

    def delete(self, ids: list[int]) -> None:
        if not ids:
            return

        free = _free_bytes(self.path)
        low = free is not None and free < 64 << 20
        step = 50 if low else 500  # on a nearly full disk: small transactions, the WAL handed back between

        def remove(chunk: list[int]) -> Callable[[sqlite3.Connection], Any]:
            return lambda c: c.execute(
                f"DELETE FROM records WHERE id IN ({','.join('?' * len(chunk))})", chunk
            )

        for i in range(0, len(ids), step):
            self._tx(remove(ids[i : i + step]))
            if low:
                try:
                    self.reclaim()
                except Exception:
                    pass
        self._bytes = None

    def note_failure(self, row_id: int, not_before: float, count: bool = True) -> int:
        """Delay this record until ``not_before``; with ``count``, count one refusal. Returns its tries."""

        def run(conn: sqlite3.Connection) -> int:
            conn.execute(
                "UPDATE records SET tries = tries + ?, not_before = ? WHERE id = ?",
                (1 if count else 0, not_before, row_id),
            )
            row = conn.execute("SELECT tries FROM records WHERE id = ?", (row_id,)).fetchone()
            return int(row[0]) if row else 0

        return self._tx(run)

    def set_aside(self, row_id: int, reason: str) -> None:
        """Move one record out of the way: kept in ``aside`` for inspection, never sent again."""

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO aside(id, session, body, reason, at) "
                "SELECT id, session, body, ?, ? FROM records WHERE id = ?",
                (reason[:500], time.time(), row_id),
            )
            conn.execute("DELETE FROM records WHERE id = ?", (row_id,))
            # keep the aside table bounded: the newest 10,000 are enough to inspect
            conn.execute("DELETE FROM aside WHERE id <= (SELECT max(id) FROM aside) - 100000")

        self._tx(run)
        self._bytes = None

    def session_start_row(self, session: str) -> Any:
        """The waiting ``session_start`` row of ``session`` (shaped like :meth:`take`'s), or None."""
        rows = self._read(
            "SELECT id, session, body, created, tries, not_before, kind FROM records "
            "WHERE session = ? AND kind = 'session_start' ORDER BY id LIMIT 1",
            (session,),
        )
        return rows[0] if rows else None

    def has_session_start(self, session: str) -> bool:
        rows = self._read(
            "SELECT 1 FROM records WHERE session = ? AND kind = 'session_start' LIMIT 1", (session,)
        )
        return bool(rows)

    # --- the server-id map -------------------------------------------------------------------------

    def server_id(self, client_id: str) -> str | None:
        rows = self._read("SELECT server_id FROM ids WHERE client_id = ?", (client_id,))
        return str(rows[0][0]) if rows else None

    def set_server_id(self, client_id: str, server_id: str) -> None:
        self._tx(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO ids(client_id, server_id, closed) VALUES (?, ?, NULL)",
                (client_id, server_id),
            )
        )

    def mark_closed(self, client_ids: list[str]) -> None:
        if not client_ids:
            return
        now = time.time()
        self._tx(
            lambda c: c.executemany(
                "UPDATE ids SET closed = ? WHERE client_id = ?", [(now, cid) for cid in client_ids]
            )
        )

    def prune_ids(self, now: float | None = None) -> int:
        cutoff = (now or time.time()) - ID_KEEP_AFTER_CLOSE
        return int(
            self._tx(
                lambda c: (
                    c.execute("DELETE FROM ids WHERE closed IS NOT NULL AND closed < ?", (cutoff,)).rowcount
                )
            )
        )

    def id_count(self) -> int:
        return int(self._read("SELECT count(*) FROM ids")[0][0])

    # --- state -------------------------------------------------------------------------------------

    def add_counts(self, **deltas: int) -> None:
        items = [(k, v) for k, v in deltas.items() if v]
        if not items:
            return

        def run(conn: sqlite3.Connection) -> None:
            for key, delta in items:
                conn.execute("INSERT OR IGNORE INTO state(key, value) VALUES (?, '0')", (key,))
                conn.execute(
                    "UPDATE state SET value = CAST(CAST(value AS INTEGER) + ? AS TEXT) WHERE key = ?",
                    (delta, key),
                )

        self._tx(run)

    def set_state(self, **values: str | None) -> None:
        self._tx(
            lambda c: c.executemany(
                "INSERT OR REPLACE INTO state(key, value) VALUES (?, ?)", list(values.items())
            )
        )

    def state(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._read("SELECT key, value FROM state")}

    def status(self) -> dict[str, Any]:
        """What ``sentrial-integrations status`` shows for this outbox."""
        depth, oldest = self._read("SELECT count(*), min(created) FROM records")[0]
        aside = int(self._read("SELECT count(*) FROM aside")[0][0])
        st = self.state()
        return {
            "path": self.path,
            "depth": int(depth),
            "oldest_age_s": None if oldest is None else max(0.0, time.time() - float(oldest)),
            "set_aside": aside,
            "delivered": int(st.get("delivered", "0") or 0),
            "dropped": int(st.get("dropped", "0") or 0),
            "last_error": st.get("last_error") or None,
            "destination": st.get("destination") or None,
            "shipper_pid": int(st["shipper_pid"]) if (st.get("shipper_pid") or "").isdigit() else None,
        }

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except Exception:
                pass

    def reopen_after_fork(self) -> None:
        """In a forked child: a fresh connection; the parent's is left alone (never closed here)."""
        self._lock = threading.Lock()
        self._inherited = self._conn  # keep it referenced: closing it could drop the parent's locks
        self._conn = self._connect()


def loads(body: bytes | str) -> Any:
    return orjson.loads(body)
