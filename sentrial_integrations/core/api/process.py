"""The process-wide part of the API: the default client (:func:`configure`, :func:`get_client`), the
registry of live clients, and what runs at exit, at fork and on SIGTERM (one exit budget per process).
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from ..delivery import launch

if TYPE_CHECKING:
    from .client import SentrialClient

# Strong references: a client is kept until it is shut down, so what it queued is always committed.
_clients: dict[int, SentrialClient] = {}
_registry_lock = threading.Lock()
_hooks_installed = False
_default: SentrialClient | None = None
_default_lock = threading.Lock()
_exit_lock = threading.Lock()
_exited_pid = 0
_exiting = False  # the exit commit is running in this process
_sigterm_pending = False
_thread_kinds: set[str] = set()


def _prepare_thread_delivery(kind: str) -> None:
    """Thread delivery runs the network in this process: import what it needs now, on the constructing
    thread (a fork while a worker holds a module's import lock deadlocks the child)."""
    if kind in _thread_kinds:
        return
    _thread_kinds.add(kind)
    if kind == "sentrial_http":
        from ..exporters import sentrial_http  # noqa: F401


def _register(client: SentrialClient) -> None:
    global _hooks_installed
    with _registry_lock:
        _clients[id(client)] = client
        if _hooks_installed:
            return
        _hooks_installed = True
    atexit.register(_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
    _install_multiprocessing_exit()
    if client.config.handle_sigterm:
        _install_sigterm()


def _unregister(client: SentrialClient) -> None:
    with _registry_lock:
        _clients.pop(id(client), None)


def _at_exit() -> None:
    """Commit what every client queued, within one exit budget for the whole process.

    With process delivery that is all (no network at exit). With thread delivery the shippers in this
    process then get what is left of the same budget to deliver.
    """
    global _exited_pid, _exiting
    with _exit_lock:
        if _exited_pid == os.getpid():
            return
        _exited_pid = os.getpid()
    _exiting = True
    try:
        _exit_commit()
    finally:
        _exiting = False
        if _sigterm_pending:  # a SIGTERM came while we were committing: die of it now, as asked
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)


def _exit_commit() -> None:
    clients = list(_clients.values())
    if not clients:
        return
    budget = max(c.config.exit_timeout for c in clients)
    deadline = time.monotonic() + max(0.0, budget)
    for client in clients:
        try:
            client.shutdown(max(0.0, deadline - time.monotonic()))
        except Exception:
            pass
    handles = launch.thread_handles()
    for handle in handles:
        shipper = handle.shipper
        if shipper is None:
            continue
        while time.monotonic() < deadline:
            try:
                if shipper.outbox.depth() == 0:
                    break
            except Exception:
                break
            shipper.wake.set()
            time.sleep(0.01)
        shipper.stop.set()


def _install_multiprocessing_exit() -> None:
    """multiprocessing children end with ``os._exit`` (no atexit): commit through its finalizers."""
    import sys

    util = sys.modules.get("multiprocessing.util")
    if util is None:
        return
    try:
        util.Finalize(None, _at_exit, exitpriority=100)
        util.register_after_fork(_MP_SENTINEL, _mp_after_fork)
    except Exception:
        pass


class _Sentinel:
    pass


_MP_SENTINEL = _Sentinel()


def _mp_after_fork(_: object) -> None:
    # multiprocessing clears its finalizers in a new child, then runs its after-fork hooks: register again
    import multiprocessing.util as util

    util.Finalize(None, _at_exit, exitpriority=100)


def _after_fork_in_child() -> None:
    global _registry_lock, _default_lock, _exit_lock
    _registry_lock = threading.Lock()
    _default_lock = threading.Lock()
    _exit_lock = threading.Lock()
    launch.after_fork_in_child()
    for client in list(_clients.values()):
        try:
            client._after_fork_in_child()
        except Exception:
            pass
    _install_multiprocessing_exit()


def _install_sigterm() -> None:
    """Commit on SIGTERM when nobody else handles it, then die of SIGTERM as before."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):
        pass


def _on_sigterm(signum: int, frame: Any) -> None:
    global _sigterm_pending
    if _exiting:  # the exit commit is running (this handler interrupted it): let it finish first
        _sigterm_pending = True
        return
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _at_exit()
    os.kill(os.getpid(), signal.SIGTERM)


def configure(**kwargs: Any) -> SentrialClient:
    """Set the process-wide default client that integrations use when given none."""
    global _default
    old = _default
    from .client import SentrialClient

    _default = SentrialClient(**kwargs)
    if old is not None and old is not _default:
        threading.Thread(target=old.shutdown, name="sentrial-old-client", daemon=True).start()
    return _default


def get_client() -> SentrialClient:
    """The default client (created from the environment on first use)."""
    global _default
    client = _default
    if client is None:
        with _default_lock:
            if _default is None:
                from .client import SentrialClient

                _default = SentrialClient()
            client = _default
    return client


def _reset_default_for_tests() -> None:
    global _default
    _default = None


# Installed at import (when imported on the main thread), so SIGTERM commits even when the first
# client is created on another thread, where Python does not allow installing a handler.
_install_sigterm()
