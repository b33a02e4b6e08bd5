"""The delivery pipeline: caller → bounded queue → serialiser thread → outbox (memory or disk spool)
→ sender thread → exporter.

* The caller only appends an op tuple to a deque (no lock, no I/O) and, if the serialiser sleeps,
  sets an Event.
* The serialiser thread turns ops into records (snapshot → JSON data, truncated, redacted, costed,
  size-capped) and puts them in the outbox: in memory while the backend keeps up, otherwise in the
  disk spool, always in order. Once anything of this process is in the spool, new records go there
  too until it is drained, so order is kept.
* The sender thread sends the oldest records (spool first, then memory), retries with exponential
  backoff and jitter (honouring Retry-After), and returns what failed to the spool, in order.

Every record carries an *ordinal* (increasing per process). ``flush()`` waits until nothing with an
ordinal up to its marker is pending anywhere; ``persist()`` until nothing up to it is only in memory.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from . import model as M
from .config import Config
from .exporters.base import DROP, OK, RETRY, Exporter
from .forksafe import fork_guard
from .log import RateLimitedWarner, logger
from .record.builder import RecordBuilder
from .spool import Spool

OUTBOX_CAP = 10_000  # records kept in memory for the sender before new ones go to the spool
STALL_AFTER = 1.0
LINGER = 0.02  # seconds the serializer waits after being woken, to batch a trickle of events  # a send taking longer than this sends new records to the spool


_INHERITED: list[Any] = []  # objects a forked child must never close (see after_fork_in_child)


class Marker:
    """A flush/persist request travelling through the queue behind everything enqueued before it."""

    __slots__ = ("done", "ordinal", "persist_only")

    def __init__(self, persist_only: bool = False) -> None:
        self.done = threading.Event()
        self.ordinal: int | None = None
        self.persist_only = persist_only


class Pipeline:
    """Owns the queue, the two worker threads, the spool and the exporter of one client."""

    def __init__(
        self,
        cfg: Config,
        make_exporter: Callable[[Spool | None], Exporter],
        warner: RateLimitedWarner,
        destination: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.destination = destination or cfg.destination_key()
        self._make_exporter = make_exporter
        self._warner = warner
        self._queue: deque[tuple[Any, ...]] = deque()
        self.dropped = 0
        self.delivered = 0
        self.rejected = 0
        self._init_state()
        self._start_threads()

    # --- state (re)initialisation ------------------------------------------------------------------

    def _init_state(self) -> None:
        self._wake = threading.Event()
        self._urgent = threading.Event()  # set by flush/shutdown: skip the linger
        self._idle = False
        self._stop = False
        self._outbox: deque[tuple[int, dict[str, Any]]] = deque()
        # outbox, spool placement, markers, health (an RLock: a SIGTERM flush may interrupt a holder)
        self._lock = threading.RLock()
        self._send_lock = threading.Lock()  # one export at a time (the sender thread or inline)
        self._send_cond = threading.Condition(self._lock)
        self._markers: list[Marker] = []
        self._ordinal = 0
        self._inflight: list[int] = []  # ordinals being sent right now
        self._inflight_from_spool = False
        self._inflight_since: float | None = None
        self._healthy = True
        self._force_spool = False
        self._backoff = 0.0
        self._next_try = 0.0
        self._builder = RecordBuilder(self.cfg)
        self._spool: Spool | None = None
        self._spool_ready = threading.Event()
        self._exporter_ready = threading.Event()
        self._exporter: Exporter | None = None

    def _start_threads(self) -> None:
        self._serializer = threading.Thread(
            target=self._serializer_main, name="sentrial-serializer", daemon=True
        )
        self._sender = threading.Thread(target=self._sender_main, name="sentrial-sender", daemon=True)
        self._serializer.start()
        self._sender.start()

    def after_fork_in_child(self) -> None:
        """The parent's queue and threads are the parent's: start clean, keep the configuration.

        The parent's SQLite connections and HTTP connections are kept referenced but never used or
        closed here: closing them in the child could release the parent's file locks or end its TLS
        sessions.
        """
        spool = self._spool
        _INHERITED.append((self._exporter, spool._conn if spool is not None else None))
        self._queue = deque()
        self._init_state()
        if spool is not None:
            try:
                spool.reopen_after_fork()
                self._spool = spool
            except Exception:
                self._spool = None
        self._spool_ready.set() if spool is not None else None
        self._builder.id_suffix = f"-{os.getpid()}"
        self._start_threads()

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

    def flush(self, timeout: float | None = None, persist_only: bool = False) -> bool:
        if self._stop:
            return not self._queue and not self._outbox
        marker = Marker(persist_only)
        self._queue.append((M.MARKER, None, 0, 0, marker))
        # _idle first: a finalizer that records an event while we are inside set() (GC can run
        # there) then sees no sleeping worker and does not re-enter the Event's lock.
        self._idle = False
        self._urgent.set()
        self._wake.set()
        with self._lock:
            self._send_cond.notify_all()
        return marker.done.wait(timeout)

    def persist(self, timeout: float | None = None) -> bool:
        """Wait until everything enqueued so far is delivered or safely in the disk spool."""
        self._force_spool = True
        try:
            return self.flush(timeout, persist_only=True)
        finally:
            self._force_spool = False

    def shutdown(self, timeout: float | None = None) -> bool:
        budget = self.cfg.exit_timeout if timeout is None else timeout
        deadline = time.monotonic() + max(0.0, budget)
        ok = self.flush(max(0.0, budget * 0.8))
        if not ok and self._spool is not None:
            self._force_spool = True
            ok = self.persist(max(0.05, deadline - time.monotonic()))
        self._stop = True
        self._urgent.set()
        self._wake.set()
        with self._lock:
            self._send_cond.notify_all()
        for t in (self._serializer, self._sender):
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        if self._exporter is not None and not self._sender.is_alive():
            try:
                self._exporter.close()
            except Exception:
                pass
        return ok

    def stats(self) -> dict[str, int]:
        return {
            "queued": len(self._queue),
            "outbox": len(self._outbox),
            "spooled": self._spool.pending if self._spool else 0,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "rejected": self.rejected,
        }

    # --- serializer thread -------------------------------------------------------------------------

    def _open_spool(self) -> None:
        try:
            path = os.path.join(self.cfg.resolved_spool_dir(), f"spool-{self.destination}.db")
            self._spool = Spool(path, self.cfg.spool_max_bytes)
            adopted = self._spool.adopt_orphans()
            if adopted:
                logger.info("Sentrial: %d events left by an earlier process will be sent", adopted)
        except Exception as exc:
            self._spool = None
            self._warner.warn(
                "spool", "Sentrial: disk spool unavailable (%s); keeping events in memory only", exc
            )
        finally:
            self._spool_ready.set()

    def _serializer_main(self) -> None:
        if not self._spool_ready.is_set():
            self._open_spool()
        self._build_exporter()
        self._exporter_ready.set()
        q = self._queue
        while True:
            try:
                if not q:
                    if self._stop:
                        return
                    self._idle = True
                    woke = False
                    if not q:
                        woke = self._wake.wait(0.5 if self._outbox else None)
                    self._idle = False
                    self._wake.clear()
                    if woke and not self._urgent.is_set():
                        # Linger a moment so a trickle of events is taken as one batch: the caller
                        # then pays for waking us once per batch, not once per event.
                        self._urgent.wait(LINGER)
                    self._urgent.clear()
                    self._maybe_spill()
                    continue
                if self._should_wait_for_sender(q):
                    # Back-pressure: the sender is healthy but behind. Leave ops in the bounded queue
                    # instead of spilling to disk (the spool is for an absent backend or a full queue).
                    with self._lock:
                        self._send_cond.wait(0.05)
                    continue
                self._serialize_batch(q)
            except Exception as exc:  # never die: log and continue
                self._warner.warn(
                    f"serializer:{type(exc).__name__}", "Sentrial: internal error in serializer: %r", exc
                )

    def _serialize_batch(self, q: deque[tuple[Any, ...]]) -> None:
        items: list[tuple[int, dict[str, Any]]] = []
        markers: list[Marker] = []
        n = self.cfg.batch_size
        while q and n > 0:
            op = q.popleft()
            n -= 1
            if op[0] == M.MARKER:
                # Records before the marker must be placed before the marker is registered.
                self._deliver(items)
                items = []
                marker = op[4]
                marker.ordinal = self._ordinal
                markers.append(marker)
                with self._lock:
                    self._markers.append(marker)
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
            self._ordinal += 1
            items.append((self._ordinal, rec))
        self._deliver(items)
        if markers:
            self._check_markers()

    def _deliver(self, items: list[tuple[int, dict[str, Any]]]) -> None:
        """Export right here when the exporter is local and nothing is waiting, else hand to the sender.

        For the local store a second thread buys nothing: two CPU-bound threads sharing the GIL
        (one of them dropping it on every SQLite call) run at half speed. Network exporters always go
        through the sender thread, so a slow backend never holds up serialisation.
        """
        exporter = self._exporter
        if (
            items
            and exporter is not None
            and getattr(exporter, "inline", False)
            and self._healthy
            and not self._force_spool
            and (self._spool is None or self._spool.pending == 0)
            and self._send_lock.acquire(blocking=False)
        ):
            try:
                with self._lock:
                    if self._outbox:  # older records still waiting (e.g. a burst before the exporter existed)
                        items = [*self._outbox, *items]
                        self._outbox.clear()
                    self._inflight = [o for o, _ in items]
                    self._inflight_from_spool = False
                    self._inflight_since = time.monotonic()
                self._send(None, [o for o, _ in items], [r for _, r in items])
            finally:
                self._send_lock.release()
            return
        self._place(items)

    def _should_wait_for_sender(self, q: deque[tuple[Any, ...]]) -> bool:
        return (
            len(self._outbox) >= OUTBOX_CAP
            and self._healthy
            and not self._force_spool
            and not self._stalled()
            and len(q) < self.cfg.max_queue_size // 2
            and (self._spool is None or self._spool.pending == 0)
        )

    def _stalled(self) -> bool:
        since = self._inflight_since
        return since is not None and time.monotonic() - since > STALL_AFTER

    def _place(self, items: list[tuple[int, dict[str, Any]]]) -> None:
        with self._lock:
            spool = self._spool
            to_spool = spool is not None and (
                spool.pending > 0
                or not self._healthy
                or self._force_spool
                or self._stalled()
                or (
                    len(self._outbox) + len(items) > OUTBOX_CAP
                    and len(self._queue) >= self.cfg.max_queue_size // 2
                )
            )
            if to_spool and spool is not None:
                moved = list(self._outbox)
                self._outbox.clear()
                self._spill(spool, moved + items)
            else:
                self._outbox.extend(items)
                if spool is None and len(self._outbox) > OUTBOX_CAP * 10:
                    while len(self._outbox) > OUTBOX_CAP * 10:
                        self._outbox.popleft()
                        self.dropped += 1
                    self._warner.warn(
                        "outbox-full", "Sentrial: no disk spool and the backend is away; dropping"
                    )
            self._send_cond.notify_all()

    def _spill(self, spool: Spool, items: list[tuple[int, dict[str, Any]]]) -> None:
        if not items:
            return
        try:
            lost = spool.append(items)
        except Exception as exc:
            self._warner.warn("spool-write", "Sentrial: cannot write to the disk spool (%s)", exc)
            self._outbox.extendleft(reversed(items))
            return
        if lost:
            self.dropped += lost
            self._warner.warn(
                "spool-full", "Sentrial: disk spool is full (%d bytes); dropping events", spool.max_bytes
            )

    def _maybe_spill(self) -> None:
        """Move records waiting in memory to the spool when the sender is stuck or the backend away."""
        if self._outbox and (not self._healthy or self._stalled() or self._force_spool):
            self._place([])

    # --- sender thread -----------------------------------------------------------------------------

    def _build_exporter(self) -> None:
        """Made by the serializer before its first batch, so a local store can be written inline at once."""
        try:
            with fork_guard:  # builds an SSL context: OpenSSL locks must not be held across a fork
                self._exporter = self._make_exporter(self._spool)
        except Exception as exc:
            self._warner.warn("exporter", "Sentrial: cannot start the exporter: %r", exc, level=logging.ERROR)

    def _sender_main(self) -> None:
        self._exporter_ready.wait()
        if self._exporter is None:
            return
        while True:
            try:
                batch = self._next_batch()
                if batch is None:
                    return
                with self._send_lock:
                    self._send(*batch)
            except Exception as exc:
                self._warner.warn(
                    f"sender:{type(exc).__name__}", "Sentrial: internal error in sender: %r", exc
                )
                with self._lock:
                    self._send_cond.wait(0.5)

    def _next_batch(self) -> tuple[list[int] | None, list[int], list[dict[str, Any]]] | None:
        n = self.cfg.batch_size
        with self._lock:
            while True:
                spool = self._spool
                has_spool = spool is not None and spool.pending > 0
                if not has_spool and not self._outbox:
                    self._check_markers_locked()
                    if self._stop:
                        return None
                    self._send_cond.wait()
                    continue
                wait = self._next_try - time.monotonic()
                if wait > 0:
                    if self._stop:
                        return None
                    self._send_cond.wait(wait)
                    continue
                if has_spool and spool is not None:
                    break
                items = [self._outbox.popleft() for _ in range(min(n, len(self._outbox)))]
                self._send_cond.notify_all()  # a serializer waiting for room may go on
                self._inflight = [o for o, _ in items]
                self._inflight_from_spool = False
                self._inflight_since = time.monotonic()
                return None, [o for o, _ in items], [r for _, r in items]
        rows = spool.take(n)  # outside the lock: disk I/O
        with self._lock:
            self._inflight = [o for _, o, _ in rows]
            self._inflight_from_spool = True
            self._inflight_since = time.monotonic()
        return [r for r, _, _ in rows], [o for _, o, _ in rows], [rec for _, _, rec in rows]

    def _send(self, row_ids: list[int] | None, ordinals: list[int], records: list[dict[str, Any]]) -> None:
        exporter = self._exporter
        assert exporter is not None
        if not records:
            with self._lock:
                self._inflight = []
                self._inflight_since = None
            return
        result = exporter.export(records)
        take_ids = getattr(exporter, "take_new_ids", None)
        if take_ids is not None and self._spool is not None:
            try:
                self._spool.set_server_ids(take_ids())
            except Exception:
                pass
        retry_idx = [i for i, o in enumerate(result.outcomes) if o == RETRY]
        done = sum(1 for o in result.outcomes if o == OK)
        dropped = sum(1 for o in result.outcomes if o == DROP)
        self.delivered += done
        self.rejected += dropped
        if row_ids is not None and self._spool is not None:
            keep = set(retry_idx)
            self._spool.delete([rid for i, rid in enumerate(row_ids) if i not in keep])
        with self._lock:
            if row_ids is None and retry_idx:
                back = [(ordinals[i], records[i]) for i in retry_idx]
                if self._spool is not None:
                    self._spill(self._spool, back)
                else:
                    self._outbox.extendleft(reversed(back))
            self._inflight = []
            self._inflight_since = None
            if retry_idx:
                self._healthy = False
                self._backoff = min(
                    self.cfg.retry_max_backoff, max(self.cfg.retry_initial_backoff, self._backoff * 2)
                )
                delay = self._backoff * (0.5 + random.random() / 2)
                if result.retry_after is not None:
                    delay = max(delay, min(result.retry_after, 300.0))
                self._next_try = time.monotonic() + delay
            else:
                self._healthy = True
                self._backoff = 0.0
                self._next_try = 0.0
            self._check_markers_locked()
        if retry_idx:
            self._wake.set()  # let the serializer move waiting records to the spool

    # --- markers -----------------------------------------------------------------------------------

    def _check_markers(self) -> None:
        with self._lock:
            self._check_markers_locked()

    def _check_markers_locked(self) -> None:
        if not self._markers:
            return
        candidates = [self._outbox[0][0]] if self._outbox else []
        if self._inflight and not self._inflight_from_spool:
            candidates.append(min(self._inflight))
        memory_min = min(candidates) if candidates else None
        spool_min = None
        if self._spool is not None and self._spool.pending > 0:
            spool_min = self._spool.min_ordinal()
        remaining = []
        for m in self._markers:
            assert m.ordinal is not None
            pending = [v for v in (memory_min, None if m.persist_only else spool_min) if v is not None]
            if not pending or min(pending) > m.ordinal:
                m.done.set()
            else:
                remaining.append(m)
        self._markers = remaining
