"""The shipper: the one reader of an outbox, and the only part that talks to the network.

The same :class:`Shipper` runs as its own process (the default: ``python -m
sentrial_integrations.core.delivery.shipper``, started on demand by the first process that commits
to the outbox, or ``sentrial-integrations ship``) or as a thread in the host (``delivery="thread"``,
chosen automatically in serverless runtimes). One shipper per outbox: it holds the outbox's lock
file (a POSIX ``lockf`` lock) while it runs; the kernel releases it when the shipper ends, however it ends.

Loop: take the oldest records (skipping sessions that wait), send them with the exporter (sessions
in parallel, each in order), delete what was acknowledged, set aside what was definitively refused,
back off on an absent backend. It exits after ``idle_exit`` seconds with nothing to send.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import model as M
from ..exporters.base import DROP, OK, REFUSED, WAIT, Exporter
from ..log import RateLimitedWarner, logger, register_secret
from .outbox import Outbox, loads

MAX_REFUSALS = 5  # a record refused this many times (500s, id-less answers) is set aside
HEALTHY_WINDOW = 60.0  # the backend counts as healthy this long after it last accepted a record
WAIT_FOR_ID = 600.0  # seconds an event may wait for its session's server id before it is set aside


class ShipperLock:
    """The outbox's lock file: held by the running shipper, probed by writers.

    A POSIX record lock (``lockf``), not ``flock``: it belongs to the process, so a child forked
    while the lock is held (or probed) does not inherit it, and it is gone when its process is.
    """

    def __init__(self, outbox_path: str) -> None:
        self.path = outbox_path + ".lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)  # closing the descriptor releases the lock
            finally:
                self._fd = None

    @staticmethod
    def held_by_someone(outbox_path: str) -> bool:
        """True when a shipper holds the lock (probe: take it and let go at once)."""
        probe = ShipperLock(outbox_path)
        if probe.acquire():
            probe.release()
            return False
        return True


class Shipper:
    """Delivers one outbox with one exporter until stopped or idle."""

    def __init__(
        self,
        outbox: Outbox,
        exporter: Exporter,
        *,
        batch_size: int = 500,
        initial_backoff: float = 0.25,
        max_backoff: float = 30.0,
        idle_exit: float | None = 10.0,
        give_up_after: float | None = None,
        poll: float = 0.02,
        warner: RateLimitedWarner | None = None,
    ) -> None:
        self.outbox = outbox
        self.exporter = exporter
        self.batch_size = batch_size
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.idle_exit = idle_exit
        self.give_up_after = give_up_after  # leave when nothing could be delivered for this long
        self.poll = poll
        self.warner = warner or RateLimitedWarner()
        self.wake = threading.Event()  # set by an in-process recorder after a commit (thread mode)
        self.stop = threading.Event()
        self.delivered = 0
        self.dropped = 0
        self._backoff = 0.0
        self._next_try = 0.0
        self._session_backoff: dict[str, float] = {}  # session -> monotonic time it may go again
        self._acked: set[int] = set()  # acknowledged rows whose delete is still to be written
        self._last_prune = 0.0
        self._last_ok: float | None = None  # when the backend last accepted anything
        self._pull_start: set[str] = set()  # sessions whose start must be fetched ahead of their events
        self._alerts = 0

    # --- the loop ----------------------------------------------------------------------------------

    def run(self) -> None:
        from ..exporters.sentrial_http import suppress_user_tracing

        suppress_user_tracing()  # what we send is never traced as the application's own requests
        idle_since = progress_at = time.monotonic()
        while not self.stop.is_set():
            try:
                did = self.step()
            except Exception as exc:  # never die: note it, wait a little, go on
                self._note_error(f"internal error: {exc!r}")
                self.stop.wait(0.5)
                continue
            now = time.monotonic()
            if did:
                idle_since = progress_at = now
                continue
            if self.give_up_after is not None and now - progress_at >= self.give_up_after:
                return  # the records stay in the outbox; the next writer starts a shipper again
            if self.idle_exit is not None and now - idle_since >= self.idle_exit and self._is_empty():
                return
            wait = self.poll
            if self._next_try > now:
                wait = min(max(self._next_try - now, 0.001), 1.0)
            self.wake.wait(wait)
            self.wake.clear()

    def _is_empty(self) -> bool:
        try:
            return self.outbox.depth() == 0 and not self._acked
        except Exception:
            return False

    def step(self) -> bool:
        """Send one batch. Returns whether anything was sent, acknowledged or set aside."""
        now = time.monotonic()
        if self._acked and not self._flush_deletes():
            self._next_try = now + 1.0
            return False
        if now < self._next_try:
            return False
        if now - self._last_prune > 60.0:
            self._last_prune = now
            self.outbox.prune_ids()
        waiting = [s for s, t in self._session_backoff.items() if t > now]
        for s in [s for s, t in self._session_backoff.items() if t <= now]:
            del self._session_backoff[s]
        rows = list(self.outbox.take(self.batch_size, skip_sessions=waiting[:500]))
        if self._pull_start:
            # Events that another process committed before the session's own start (a child forked
            # right after create_session): the start goes first, wherever it is in the outbox.
            have = {r[0] for r in rows}
            starts = [self.outbox.session_start_row(s) for s in self._pull_start if s not in waiting]
            self._pull_start.clear()
            rows = [r for r in starts if r is not None and r[0] not in have] + rows
        if not rows:
            return False
        # within a session, its start before its other records (commit order across processes may differ)
        rows.sort(key=lambda r: 0 if r[6] == M.START_RECORD else 1)
        wall = time.time()
        ids: list[int] = []
        records: list[dict[str, Any]] = []
        held: set[str] = set()
        meta: list[tuple[int, float, int]] = []  # (row id, created, tries)
        aside = 0
        for row_id, session, body, created, tries, not_before, _kind in rows:
            if session in held:
                continue
            if not_before > wall:  # this session's head waits for its retry time
                held.add(session)
                self._session_backoff[session] = now + (not_before - wall)
                continue
            try:
                rec = loads(body)
            except ValueError:
                rec = None
            if not isinstance(rec, dict) or "kind" not in rec or "session_id" not in rec:
                self._set_aside(row_id, "the stored row is not a record")
                aside += 1
                continue
            ids.append(row_id)
            records.append(rec)
            meta.append((row_id, created, tries))
        if not records:
            return aside > 0
        result = self.exporter.export(records)
        return (
            self._apply(result.outcomes, result.reasons, result.retry_after, ids, records, meta) or aside > 0
        )

    def _apply(
        self,
        outcomes: list[int],
        reasons: dict[int, str],
        retry_after: float | None,
        ids: list[int],
        records: list[dict[str, Any]],
        meta: list[tuple[int, float, int]],
    ) -> bool:
        now = time.monotonic()
        wall = time.time()
        done: list[int] = []
        stopped: set[str] = set()  # sessions whose remaining records wait (order)
        unavailable = False
        progress = False
        dropped = 0
        for i, outcome in enumerate(outcomes):
            sid = records[i].get("session_id") or ""
            if sid in stopped:
                continue
            row_id, created, tries = meta[i]
            if outcome == OK:
                done.append(row_id)
            elif outcome == DROP:
                reason = reasons.get(i, "refused")
                self.warner.warn(
                    f"drop:{reason[:40]}", "Sentrial: a record was refused and dropped: %s", reason
                )
                self._set_aside(row_id, reason)
                dropped += 1
                progress = True
            elif outcome == REFUSED:
                stopped.add(sid)
                delay = min(self.max_backoff, self.initial_backoff * (2 ** min(tries, 10)))
                if retry_after is not None:
                    delay = max(delay, min(retry_after, 300.0))
                # A refusal counts against this record only while the backend accepts other records;
                # when it refuses everything (a 500 storm), that is an outage, and outages lose nothing.
                healthy = any(o == OK for o in outcomes) or (
                    self._last_ok is not None and now - self._last_ok < HEALTHY_WINDOW
                )
                n = self.outbox.note_failure(row_id, wall + delay, count=healthy)
                self._session_backoff[sid] = now + delay
                if n >= MAX_REFUSALS:
                    reason = f"refused {n} times ({reasons.get(i, 'server error')})"
                    self.warner.warn("aside", "Sentrial: a record was set aside: %s", reason)
                    self._alert(f"Sentrial: a record was set aside: {reason}")
                    self._set_aside(row_id, reason)
                    dropped += 1
                    self._session_backoff.pop(sid, None)
                progress = True
            elif outcome == WAIT:
                stopped.add(sid)
                if self.outbox.has_session_start(sid):
                    self._pull_start.add(sid)  # its start is waiting behind it: send that first
                elif wall - created > WAIT_FOR_ID:
                    self._set_aside(row_id, f"no server id for session {sid} after {WAIT_FOR_ID:.0f} s")
                    dropped += 1
                    progress = True
                else:
                    self._session_backoff[sid] = now + 0.25
            else:  # RETRY: the backend is away or busy
                stopped.add(sid)
                unavailable = True
                if reasons.get(i):
                    self._note_error(reasons[i])
                    if "API key" in reasons[i]:
                        self._alert(
                            f"Sentrial API rejected the API key ({reasons[i].split(':')[0]}); "
                            "records are kept in the outbox and retried; check SENTRIAL_API_KEY"
                        )
        take_closed = getattr(self.exporter, "take_closed", None)
        if take_closed is not None:  # before the deletes: once a close is gone, its id is marked done
            try:
                self.outbox.mark_closed(take_closed())
            except Exception:
                pass
        if done:
            self._last_ok = now
            self._acked.update(done)
            self.delivered += len(done)
            progress = True
            self._flush_deletes()
        if done or dropped:
            try:
                self.outbox.add_counts(delivered=len(done), dropped=dropped)
            except Exception:
                pass
        self.dropped += dropped
        if unavailable and not done:
            self._backoff = min(self.max_backoff, max(self.initial_backoff, self._backoff * 2))
            delay = self._backoff * (0.5 + random.random() / 2)
            if retry_after is not None:
                delay = max(delay, min(retry_after, 300.0))
            self._next_try = now + delay
        elif done:
            self._backoff = 0.0
            self._next_try = 0.0
        return progress

    def _flush_deletes(self) -> bool:
        """Write the deletes of acknowledged rows; on failure (a full disk) keep them, never resend."""
        ids = sorted(self._acked)
        try:
            try:
                self.outbox.delete(ids)
            except Exception:
                self.outbox.reclaim()  # a full disk: give the WAL's space back, then try once more
                self.outbox.delete(ids)
        except Exception as exc:
            self.warner.warn(
                "delete", "Sentrial: cannot remove delivered records from the outbox (%s); will retry", exc
            )
            return False
        self._acked.difference_update(ids)
        return True

    def _set_aside(self, row_id: int, reason: str) -> None:
        try:
            self.outbox.set_aside(row_id, reason)
        except Exception:
            self._acked.add(row_id)  # cannot write the move: at least never send it again
        self._note_error(reason)

    def _alert(self, text: str) -> None:
        """Something the recording processes should tell their users (they log it once each)."""
        self._alerts += 1
        try:
            self.outbox.set_state(
                alert=text[:500], alert_seq=f"{os.getpid()}:{self._alerts}", alert_at=str(time.time())
            )
        except Exception:
            pass

    def _note_error(self, text: str) -> None:
        try:
            self.outbox.set_state(
                last_error=f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {text}"[:500]
            )
        except Exception:
            pass

    def close(self) -> None:
        try:
            self.exporter.close()
        except Exception:
            pass


# --- building an exporter from a spec (the process shipper gets the spec through a pipe) -------------


def make_exporter(spec: dict[str, Any], outbox: Outbox) -> Exporter:
    kind = spec.get("kind")
    if kind == "sentrial_http":
        from ..exporters.sentrial_http import SentrialHTTPExporter

        return SentrialHTTPExporter(
            spec["base_url"],
            spec["api_key"],
            timeout=float(spec.get("timeout", 10.0)),
            max_concurrency=int(spec.get("max_concurrency", 8)),
            max_event_bytes=int(spec.get("max_event_bytes", 1_000_000)),
            get_server_id=outbox.server_id,
            set_server_id=outbox.set_server_id,
            http2=bool(spec.get("http2", False)),
        )
    if kind == "otlp":
        from ..exporters.otlp import OTLPExporter

        return OTLPExporter(
            spec["endpoint"], headers=spec.get("headers"), timeout=float(spec.get("timeout", 10.0))
        )
    raise ValueError(f"unknown exporter kind {kind!r}")


def shipper_from_spec(
    spec: dict[str, Any], outbox: Outbox, make: Callable[..., Exporter] | None = None
) -> Shipper:
    exporter = (make or make_exporter)(spec, outbox)
    return Shipper(
        outbox,
        exporter,
        batch_size=int(spec.get("batch_size", 500)),
        initial_backoff=float(spec.get("retry_initial_backoff", 0.25)),
        max_backoff=float(spec.get("retry_max_backoff", 30.0)),
        idle_exit=spec.get("idle_exit", 10.0),
        give_up_after=spec.get("give_up_after"),
    )


def run_process(path: str, spec: dict[str, Any], *, once: bool = False) -> int:
    """Body of a shipper process: take the lock (or leave: one is running), ship, exit when idle."""
    lock = ShipperLock(path)
    if not lock.acquire():
        return 0
    try:
        if spec.get("api_key"):
            register_secret(spec["api_key"])
        outbox = Outbox(path)
        shipper = shipper_from_spec(spec, outbox)
        _best_effort(
            outbox.set_state, shipper_pid=str(os.getpid()), destination=str(spec.get("destination") or "")
        )
        try:
            if once:
                shipper.idle_exit = 0.0
            shipper.run()
        finally:
            _best_effort(outbox.set_state, shipper_pid=None)
            shipper.close()
        return 0
    finally:
        lock.release()


def _best_effort(fn: Callable[..., Any], **kw: Any) -> None:
    """State for `status` (a full disk or a locked file must not stop delivery)."""
    try:
        fn(**kw)
    except Exception:
        pass


def _setup_logging(path: str, debug: bool) -> None:
    handler = logging.FileHandler(path + ".log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """``python -m sentrial_integrations.core.delivery.shipper [--detach] OUTBOX``; the spec on stdin
    as one line of JSON."""
    args = list(sys.argv[1:] if argv is None else argv)
    detach = "--detach" in args
    args = [a for a in args if a != "--detach"]
    if len(args) != 1:
        print("usage: shipper [--detach] OUTBOX_PATH  (spec as JSON on stdin)", file=sys.stderr)
        return 2
    path = args[0]
    # One line, not "until EOF": a process forked while the writer still held the pipe's write end
    # keeps it open, and EOF would never come.
    spec = json.loads(sys.stdin.buffer.readline() or b"{}")
    if detach and hasattr(os, "fork"):
        # The writer that started us waits for this process only; the shipper goes on as a grandchild,
        # so the host never sees it in os.wait() and it outlives the host.
        if os.fork() > 0:
            os._exit(0)
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
    try:
        _setup_logging(path, bool(spec.get("debug")))
    except OSError:
        pass
    return run_process(path, spec)


if __name__ == "__main__":
    sys.exit(main())
