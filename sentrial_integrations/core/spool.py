"""The disk spool: serialised records waiting for a backend that is away, slow or saturated.

One SQLite file per destination (see :meth:`Config.destination_key`). Each row belongs to the process
that wrote it (``owner`` = pid); a process only sends its own rows, so a parent and its forked child
never send the same row twice. Rows whose owner is no longer alive (a crash, a SIGKILL) are adopted by
the next process that opens the spool, and sent first. The server ids of created sessions are kept
here too, so an adopted event can still find its session.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from typing import Any

from ..store import create_private_file
from .forksafe import fork_guard

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ops (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ops_owner_ordinal ON ops(owner, ordinal);
CREATE TABLE IF NOT EXISTS idmap (client_id TEXT PRIMARY KEY, server_id TEXT NOT NULL);
"""

ADOPTED_OFFSET = 1 << 50  # adopted rows sort before every ordinal this process assigns


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class Spool:
    """Thread-safe access to one spool file."""

    def __init__(self, path: str, max_bytes: int = 1 << 30) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        create_private_file(path)
        self.owner = os.getpid()
        with fork_guard:
            self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            row = self._conn.execute("SELECT coalesce(sum(length(body)), 0) FROM ops").fetchone()
            self._bytes = int(row[0])
            self.pending = self._count_mine()

    def close(self) -> None:
        with fork_guard, self._lock:
            try:
                self._conn.close()
            except Exception:
                pass

    def _count_mine(self) -> int:
        return int(
            self._conn.execute("SELECT count(*) FROM ops WHERE owner = ?", (self.owner,)).fetchone()[0]
        )

    def adopt_orphans(self) -> int:
        """Take over rows written by processes that are gone. Returns how many were adopted."""
        with fork_guard, self._lock:
            owners = [r[0] for r in self._conn.execute("SELECT DISTINCT owner FROM ops")]
            adopted = 0
            for owner in owners:
                if owner == self.owner or _pid_alive(owner):
                    continue
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    cur = self._conn.execute(
                        "UPDATE ops SET owner = ?, ordinal = ordinal - ? WHERE owner = ?",
                        (self.owner, ADOPTED_OFFSET, owner),
                    )
                    adopted += cur.rowcount
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            self.pending = self._count_mine()
            return adopted

    def append(self, items: list[tuple[int, dict[str, Any]]]) -> int:
        """Store ``(ordinal, record)`` pairs. Returns how many were dropped because the cap was hit."""
        if not items:
            return 0
        rows = []
        dropped = 0
        size = self._bytes
        for ordinal, rec in items:
            body = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
            if size + len(body) > self.max_bytes:
                dropped += 1
                continue
            size += len(body)
            rows.append((self.owner, ordinal, body))
        with fork_guard, self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("INSERT INTO ops(owner, ordinal, body) VALUES (?, ?, ?)", rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._bytes = size
            self.pending += len(rows)
        return dropped

    def take(self, n: int) -> list[tuple[int, int, dict[str, Any]]]:
        """The ``n`` oldest rows of this process as ``(row_id, ordinal, record)``; not removed."""
        with fork_guard, self._lock:
            rows = self._conn.execute(
                "SELECT id, ordinal, body FROM ops WHERE owner = ? ORDER BY ordinal, id LIMIT ?",
                (self.owner, n),
            ).fetchall()
        out = []
        for row_id, ordinal, body in rows:
            try:
                out.append((row_id, ordinal, json.loads(body)))
            except ValueError:  # a torn row: cannot be sent, remove it
                self.delete([row_id])
        return out

    def delete(self, row_ids: list[int]) -> None:
        if not row_ids:
            return
        with fork_guard, self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                freed = 0
                for i in range(0, len(row_ids), 500):
                    chunk = row_ids[i : i + 500]
                    marks = ",".join("?" * len(chunk))
                    freed += int(
                        self._conn.execute(
                            f"SELECT coalesce(sum(length(body)), 0) FROM ops WHERE id IN ({marks})", chunk
                        ).fetchone()[0]
                    )
                    self._conn.execute(f"DELETE FROM ops WHERE id IN ({marks})", chunk)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._bytes = max(0, self._bytes - freed)
            self.pending = self._count_mine()

    def min_ordinal(self) -> int | None:
        with fork_guard, self._lock:
            row = self._conn.execute("SELECT min(ordinal) FROM ops WHERE owner = ?", (self.owner,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def get_server_id(self, client_id: str) -> str | None:
        with fork_guard, self._lock:
            row = self._conn.execute(
                "SELECT server_id FROM idmap WHERE client_id = ?", (client_id,)
            ).fetchone()
        return row[0] if row else None

    def set_server_ids(self, mapping: dict[str, str]) -> None:
        if not mapping:
            return
        with fork_guard, self._lock:
            self._conn.executemany(
                "INSERT OR REPLACE INTO idmap(client_id, server_id) VALUES (?, ?)", list(mapping.items())
            )

    def reopen_after_fork(self) -> None:
        """In a forked child: a fresh connection and a new owner (the parent keeps its rows)."""
        self._lock = threading.Lock()
        with fork_guard:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
        self.owner = os.getpid()
        self.pending = 0
