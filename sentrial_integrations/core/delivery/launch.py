"""Starting shippers: a process per outbox (the default), or a thread in the host where a background
process would be frozen or killed with the request (serverless) or cannot be started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ..forksafe import fork_guard
from ..log import logger
from .outbox import Outbox
from .shipper import Shipper, ShipperLock, shipper_from_spec

# Environment variables that tell a serverless runtime (the process is frozen between requests).
SERVERLESS_ENV = (
    "AWS_LAMBDA_FUNCTION_NAME",  # AWS Lambda
    "K_SERVICE",  # Google Cloud Run / Cloud Functions (2nd gen)
    "FUNCTION_TARGET",  # Google Cloud Functions
    "FUNCTIONS_WORKER_RUNTIME",  # Azure Functions
    "VERCEL",  # Vercel
)

# Never handed to the shipper process: they would make it trace itself or the user's startup code run.
_STRIP_ENV = (
    "PYTHONSTARTUP",
    "PYTHONINSPECT",
    "SENTRIAL_TRACING",
    "SENTRIAL_API_KEY",
    "SENTRIAL_RUN_SESSION",
)


def shipper_spec(cfg: Any, destination: dict[str, Any]) -> dict[str, Any]:
    """What a shipper needs to deliver one outbox: the destination's settings and the client's tuning."""
    return {
        **destination,
        "timeout": cfg.request_timeout,
        "batch_size": cfg.batch_size,
        "retry_initial_backoff": cfg.retry_initial_backoff,
        "retry_max_backoff": cfg.retry_max_backoff,
        "idle_exit": cfg.ship_idle,
        "give_up_after": cfg.ship_give_up,  # the records stay; the next writer starts a shipper
        "debug": cfg.debug,
    }


def sentrial_http_spec(cfg: Any) -> dict[str, Any]:
    """The spec of the Sentrial API destination of ``cfg`` (which has an API key)."""
    return shipper_spec(
        cfg,
        {
            "kind": "sentrial_http",
            "base_url": cfg.base_url,
            "api_key": cfg.api_key,
            "max_concurrency": cfg.max_concurrency,
            "max_event_bytes": cfg.max_event_bytes,
            "http2": cfg.http2,
            "destination": cfg.base_url,
        },
    )


def choose_delivery(requested: str | None) -> str:
    """``process`` or ``thread`` for ``requested`` (``auto``/None picks by platform and runtime)."""
    if requested in ("process", "thread"):
        return requested
    if any(os.environ.get(name) for name in SERVERLESS_ENV):
        return "thread"
    try:
        import fcntl  # noqa: F401
    except (
        ImportError
    ):  # no fcntl locks (Windows): one shipper per outbox cannot be guaranteed across processes
        return "thread"
    if not sys.executable:
        return "thread"
    return "process"


def _package_root() -> str:
    """The directory that holds the ``sentrial_integrations`` package (this file is
    ``sentrial_integrations/core/delivery/launch.py``)."""
    here = os.path.abspath(__file__)
    for _ in range(4):
        here = os.path.dirname(here)
    return here


def shipper_env() -> dict[str, str]:
    """The host's environment without what would instrument the shipper or run user start-up code."""
    env = {k: v for k, v in os.environ.items() if k not in _STRIP_ENV and not k.startswith("OTEL_PYTHON")}
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    # sitecustomize folders (ours for `sentrial-integrations run`, OpenTelemetry's auto-instrumentation)
    parts = [p for p in parts if not os.path.exists(os.path.join(p, "sitecustomize.py"))]
    env["PYTHONPATH"] = os.pathsep.join([_package_root(), *parts])
    env["SENTRIAL_SHIPPER"] = "1"
    return env


class _Handle:
    """What this process knows of the shipper of one outbox."""

    def __init__(self, path: str, spec: dict[str, Any], mode: str, make: Callable[..., Any] | None) -> None:
        self.path = path
        self.spec = spec
        self.mode = mode
        self.make = make
        self.lock = threading.Lock()
        self.last_check = 0.0
        self.thread: threading.Thread | None = None
        self.shipper: Shipper | None = None
        self.spawned = 0
        self.failed = False
        self.starters: list[Any] = []  # pids (or Popen objects) of starters not yet reaped


_handles: dict[str, _Handle] = {}
_handles_lock = threading.Lock()


def register(path: str, spec: dict[str, Any], mode: str, make: Callable[..., Any] | None = None) -> _Handle:
    with _handles_lock:
        h = _handles.get(path)
        if h is None:
            h = _handles[path] = _Handle(path, spec, mode, make)
        return h


def ensure(handle: _Handle, *, force: bool = False) -> bool:
    """Make sure a shipper runs for this outbox (cheap when one does; checked at most every 0.5 s).

    Returns whether it checked this time."""
    now = time.monotonic()
    if handle.shipper is not None:
        handle.shipper.wake.set()
    if not force and now - handle.last_check < 0.5:
        return False
    if not handle.lock.acquire(blocking=False):
        return False
    try:
        handle.last_check = now
        if handle.mode == "thread" or handle.failed:
            _ensure_thread(handle)
        else:
            _ensure_process(handle)
        return True
    finally:
        handle.lock.release()


def wake(handle: _Handle) -> None:
    if handle.shipper is not None:
        handle.shipper.wake.set()


def _ensure_process(handle: _Handle) -> None:
    handle.starters = [p for p in handle.starters if not _finished(p)]  # reap the finished starters
    if handle.starters:
        return  # one is starting a shipper right now
    if ShipperLock.held_by_someone(handle.path):
        return
    try:
        # It forks the shipper and leaves as soon as Python has started; reaped at the next check (not
        # waited for here: the recorder must not spend a Python start-up on it, least of all at exit).
        handle.starters.append(_start(handle))
        handle.spawned += 1
    except Exception as exc:
        logger.warning("Sentrial: cannot start a shipper process (%s); delivering from a thread instead", exc)
        handle.failed = True
        _ensure_thread(handle)


def _start(handle: _Handle) -> Any:
    """Start ``python -m ...shipper --detach OUTBOX`` with the spec on its stdin; a pid or a Popen."""
    argv = [
        sys.executable,
        "-m",
        "sentrial_integrations.core.delivery.shipper",
        "--detach",
        os.path.abspath(handle.path),
    ]
    spec = json.dumps(handle.spec).encode() + b"\n"  # the key travels in the pipe, never in argv
    if hasattr(os, "posix_spawn"):
        # Not subprocess.Popen: a Popen object still running at exit warns (ResourceWarning) in the
        # application's output, and this child is ours to reap, quietly.
        r, w = os.pipe()
        try:
            # Under the fork guard: a fork (multiprocessing, gunicorn) taken while this thread is inside
            # posix_spawn leaves the child's copy of libc's spawn state locked, and its own spawn hangs.
            with fork_guard:
                pid = os.posix_spawn(
                    sys.executable,
                    argv,
                    shipper_env(),
                    file_actions=[
                        (os.POSIX_SPAWN_DUP2, r, 0),
                        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                    ],
                    setsid=True,
                )
        finally:
            os.close(r)
        try:
            os.write(w, spec)
        finally:
            os.close(w)
        return pid
    with fork_guard:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=shipper_env(),
            close_fds=True,
            start_new_session=True,
        )
    assert proc.stdin is not None
    proc.stdin.write(spec)
    proc.stdin.close()
    return proc


def _finished(starter: Any) -> bool:
    if isinstance(starter, int):
        try:
            pid, _ = os.waitpid(starter, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else (the application's own os.wait())
            return True
        return pid != 0
    return starter.poll() is not None


def _ensure_thread(handle: _Handle) -> None:
    if handle.thread is not None and handle.thread.is_alive():
        return
    lock = ShipperLock(handle.path)
    try:
        got = lock.acquire()
    except ImportError:  # no fcntl: this process is the only shipper it can know of
        got = True
    if not got:
        return  # another process ships this outbox
    outbox = Outbox(handle.path)
    spec = dict(handle.spec)
    spec["idle_exit"] = None  # a thread lives as long as the process
    spec["give_up_after"] = None
    shipper = shipper_from_spec(spec, outbox, handle.make)
    handle.shipper = shipper

    def main() -> None:
        try:
            shipper.run()
        finally:
            shipper.close()
            lock.release()

    t = threading.Thread(target=main, name="sentrial-shipper", daemon=True)
    handle.thread = t
    t.start()


def thread_handles() -> list[_Handle]:
    with _handles_lock:
        return [h for h in _handles.values() if h.shipper is not None and h.thread is not None]


def after_fork_in_child() -> None:
    """A forked child ships nothing of its own: the parent's shipper (process or thread) delivers."""
    global _handles_lock
    _handles_lock = threading.Lock()
    for h in _handles.values():
        h.lock = threading.Lock()
        h.thread = None
        h.shipper = None
        h.last_check = 0.0
        h.starters = []  # the parent's children, not ours
