"""The recorder: caller → bounded queue → one recorder thread → a local commit.

* The caller only appends an op tuple to a deque (no lock, no I/O) and, if the recorder sleeps, sets
  an Event.
* The recorder thread builds records (snapshot → JSON data, truncated, redacted, costed, size-capped)
  and commits them, in order, in short transactions: into the embedded store (no API key) or into the
  destination's outbox, from which a shipper delivers (see :mod:`.delivery`). Nothing is delivered
  from memory: once committed, a record survives the process.
* A commit that fails (a file locked by another process, a full disk) keeps the records, in order,
  and is tried again a little later; past the queue's cap new records are dropped, counted and warned.

``persist()`` waits until everything enqueued before it is committed; ``flush()`` also until the
outbox has delivered it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from typing import Any, Protocol

from . import model as M
from .config import Config
from .delivery import launch
from .delivery.outbox import Outbox, OutboxFull, OutboxLocked
from .forksafe import fork_guard
from .log import RateLimitedWarner, logger
from .record.builder import RecordBuilder

LINGER = 0.005  # seconds the recorder waits after a wake-up, so a trickle of events is one commit
RETRY_COMMIT = 0.2  # seconds between tries of a commit that failed


class Marker:
    """A persist/flush request travelling through the queue behind everything enqueued before it."""

    __slots__ = ("done", "last_id")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.last_id = 0  # the outbox row id committed last before this marker (0: none)


class Sink(Protocol):
    kind: str

    def commit(self, records: list[dict[str, Any]]) -> int: ...

    def close(self) -> None: ...


class StoreSink:
    """The embedded SQLite store (no API key): records are written where the CLI reads them."""

    kind = "local"

    def __init__(self, path: str) -> None:
        # Imported here, when the client is built, never first at exit: the store module's import runs
        # code (dataclasses' exec) that clears an unhandled KeyboardInterrupt's exit-by-SIGINT.
        from .store import Store

        self.path = path
        self._store_cls = Store
        self._store: Any = None

    def _open(self) -> Any:
        if self._store is None:
            self._store = self._store_cls(self.path)
            self._store._conn.execute("PRAGMA busy_timeout=0")  # never wait inside SQLite (fork guard)
        return self._store

    def commit(self, records: list[dict[str, Any]]) -> int:
        with fork_guard:
            self._open().ingest(records)
        return 0

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class OutboxSink:
    """A destination's outbox; every commit makes sure a shipper is on it."""

    kind = "outbox"

    def __init__(self, path: str, max_bytes: int, handle: Any) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.handle = handle
        self.outbox: Outbox | None = None

    def open(self) -> Outbox:
        if self.outbox is None:
            self.outbox = Outbox(self.path, self.max_bytes)
        return self.outbox

    def on_start(self) -> None:
        """Records left by an earlier process (killed, or its shipper was): have a shipper take them."""
        if self.open().depth() > 0:
            launch.ensure(self.handle, force=True)

    def commit(self, records: list[dict[str, Any]]) -> int:
        last = self.open().append(records, timeout=0.5)
        self.check()
        return last

    _alert_seen: str | None = None

    def check(self) -> None:
        """Keep a shipper on the outbox, and log once what it asked writers to tell their users."""
        if launch.ensure(self.handle) and self.outbox is not None:
            try:
                st = self.outbox.state()
            except Exception:
                return
            seq = st.get("alert_seq")
            if seq and seq != self._alert_seen:
                if self._alert_seen is not None or time.time() - float(st.get("alert_at") or 0) < 300:
                    logger.warning("%s", st.get("alert") or "")
                self._alert_seen = seq

    def close(self) -> None:
        if self.outbox is not None:
            self.outbox.close()

    def after_fork_in_child(self) -> None:
        if self.outbox is not None:
            self.outbox.reopen_after_fork()


class Recorder:
    """Owns the queue and the recorder thread of one client destination."""

    def __init__(self, cfg: Config, sink: Any, warner: RateLimitedWarner) -> None:
        self.cfg = cfg
        self.sink = sink
        self._warner = warner
        self._queue: deque[tuple[Any, ...]] = deque()
        self.dropped = 0
        self.rejected = 0
        self.committed = 0
        self._init_state()
        self._start_thread()

    def _init_state(self) -> None:
        self._wake = threading.Event()
        self._urgent = threading.Event()
        self._idle = False
        self._stop = False
        self._pending: list[dict[str, Any]] = []  # built, not yet committed (a failed commit)
        self._pending_markers: list[Marker] = []
        self._last_id = 0
        self._next_commit = 0.0
        self._chunk = self.cfg.batch_size  # records per commit (smaller while the disk is full)
        self._builder = RecordBuilder(self.cfg)

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._main, name="sentrial-recorder", daemon=True)
        self._thread.start()

    def after_fork_in_child(self) -> None:
        """The parent's queue and thread are the parent's: start clean, keep the configuration."""
        self._queue = deque()
        self._init_state()
        after = getattr(self.sink, "after_fork_in_child", None)
        if after is not None:
            try:
                after()
            except Exception:
                pass
        elif isinstance(self.sink, StoreSink):
            self.sink._store = None  # a fresh connection in the child; the parent's is never closed here
        self._builder.id_suffix = M.fork_suffix()
        self._start_thread()

    # --- caller side -------------------------------------------------------------------------------

    def put(self, op: tuple[Any, ...]) -> bool:
        q = self._queue
        if len(q) >= self.cfg.max_queue_size:
            self.dropped += 1
            self._warner.warn(
                "queue-full",
                "Sentrial: event queue full (%d); events are being produced faster than they can be stored "
                "and are dropped",
                self.cfg.max_queue_size,
            )
            return False
        q.append(op)
        if self._idle:
            self._idle = False
            self._wake.set()
        return True

    def persist(self, timeout: float | None = None) -> bool:
        """Wait until everything enqueued so far is committed (store or outbox)."""
        return self._marker(timeout) is not None

    def _marker(self, timeout: float | None) -> Marker | None:
        if self._stop or not self._thread.is_alive():
            return None if (self._queue or self._pending) else Marker()
        marker = Marker()
        self._queue.append((M.MARKER, None, 0, 0, marker))
        self._idle = False
        self._urgent.set()
        self._wake.set()
        return marker if marker.done.wait(timeout) else None

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything enqueued so far is committed and, for an outbox, delivered."""
        deadline = None if timeout is None else time.monotonic() + timeout
        marker = self._marker(timeout)
        if marker is None:
            return False
        if not isinstance(self.sink, OutboxSink) or marker.last_id == 0:
            return True
        outbox = self.sink.open()
        delay = 0.002
        while True:
            try:
                if outbox.pending_upto(marker.last_id) == 0:
                    return True
            except Exception:
                pass
            self.sink.check()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            time.sleep(delay if left is None else min(delay, left))
            delay = min(delay * 1.5, 0.05)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Commit what is queued (within ``timeout``) and stop the thread."""
        budget = self.cfg.exit_timeout if timeout is None else timeout
        ok = self.persist(max(0.0, budget))
        self._stop = True
        self._urgent.set()
        self._wake.set()
        return ok

    def stats(self) -> dict[str, int]:
        out = {
            "queued": len(self._queue) + len(self._pending),
            "outbox": 0,
            "spooled": 0,
            "committed": self.committed,
            "delivered": 0,
            "dropped": self.dropped,
            "rejected": self.rejected,
        }
        if isinstance(self.sink, OutboxSink) and self.sink.outbox is not None:
            try:
                st = self.sink.outbox.status()
                out["outbox"] = out["spooled"] = st["depth"]
                out["delivered"] = st["delivered"]
                out["dropped"] += st["dropped"]
            except Exception:
                pass
        elif isinstance(self.sink, StoreSink):
            out["delivered"] = self.committed
        return out

    # --- recorder thread ---------------------------------------------------------------------------

    def _main(self) -> None:
        start = getattr(self.sink, "on_start", None)
        if start is not None:
            try:
                start()
            except Exception as exc:
                self._warner.warn("outbox-open", "Sentrial: cannot open the outbox yet (%s)", exc)
        q = self._queue
        while True:
            try:
                if self._pending and time.monotonic() >= self._next_commit:
                    self._commit([])
                    continue
                if not q:
                    if self._stop and not self._pending:
                        return
                    self._idle = True
                    woke = False
                    if not q:
                        wait = None
                        if self._pending:
                            wait = max(0.001, self._next_commit - time.monotonic())
                        elif self._stop:
                            return
                        woke = self._wake.wait(wait)
                    self._idle = False
                    self._wake.clear()
                    if woke and not self._urgent.is_set():
                        self._urgent.wait(LINGER)
                    self._urgent.clear()
                    continue
                self._record_batch(q)
            except Exception as exc:  # never die: log and continue
                self._warner.warn(
                    f"recorder:{type(exc).__name__}", "Sentrial: internal error in the recorder: %r", exc
                )
                time.sleep(0.05)

    def _record_batch(self, q: deque[tuple[Any, ...]]) -> None:
        items: list[dict[str, Any]] = []
        n = self.cfg.batch_size
        while q and n > 0:
            op = q.popleft()
            n -= 1
            if op[0] == M.MARKER:
                self._commit(items)
                items = []
                marker = op[4]
                if self._pending:
                    self._pending_markers.append(marker)
                else:
                    marker.last_id = self._last_id
                    marker.done.set()
                continue
            try:
                rec = self._builder.build(op)
            except Exception as exc:
                self._warner.warn(
                    f"build:{type(exc).__name__}", "Sentrial: could not record an event: %r", exc
                )
                self.rejected += 1
                continue
            if rec is None:
                self.rejected += 1
                continue
            items.append(rec)
        self._commit(items)

    def _commit(self, items: list[dict[str, Any]]) -> None:
        if items:
            if self._pending and len(self._pending) + len(items) > self.cfg.max_queue_size:
                room = max(0, self.cfg.max_queue_size - len(self._pending))
                lost = len(items) - room
                items = items[:room]
                self.dropped += lost
                self._warner.warn(
                    "commit-overflow",
                    "Sentrial: cannot commit records (%s); %d dropped beyond the %d kept waiting",
                    self._last_error,
                    lost,
                    self.cfg.max_queue_size,
                )
            self._pending.extend(items)
        if not self._pending:
            return
        if time.monotonic() < self._next_commit:
            return
        while self._pending and self._commit_some():
            pass

    def _commit_some(self) -> bool:
        """Commit up to one batch of the pending records; False when the sink refused (try later)."""
        batch = self._pending[: self._chunk]
        try:
            last = self.sink.commit(batch)
        except (OutboxFull, OutboxLocked, sqlite3.Error, OSError) as exc:
            if isinstance(exc, OutboxFull) and self._chunk > 1:
                self._chunk = max(1, self._chunk // 4)  # a nearly full disk may still take a few
                return True
            self._last_error = str(exc) or type(exc).__name__
            self._next_commit = time.monotonic() + RETRY_COMMIT
            self._warner.warn(
                f"commit:{type(exc).__name__}",
                "Sentrial: cannot commit %d records to %s yet (%s); kept and retried",
                len(batch),
                getattr(self.sink, "path", "?"),
                self._last_error,
            )
            return False
        del self._pending[: len(batch)]
        self._chunk = min(self.cfg.batch_size, self._chunk * 2)
        self.committed += len(batch)
        if last:
            self._last_id = last
        if not self._pending:
            for marker in self._pending_markers:
                marker.last_id = self._last_id
                marker.done.set()
            self._pending_markers = []
        return True

    _last_error = ""
