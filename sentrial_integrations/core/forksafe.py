"""Fork safety: ``os.fork()`` waits until no background thread is inside native library code that
holds process-wide locks (SQLite calls, OpenSSL context creation).

Such libraries keep process-wide mutexes; a fork taken while another thread holds one leaves the
child's copy locked forever (seen as a child whose pipeline never starts). Those calls made by the
pipeline's threads run under :data:`fork_guard`, and the fork hooks take that lock around the fork.
Calls that can block for long (HTTP requests) are not guarded, so a fork is never delayed by a slow
backend.
"""

from __future__ import annotations

import os
import threading

fork_guard = threading.Lock()


def _before_fork() -> None:
    fork_guard.acquire()


def _after_fork() -> None:
    try:
        fork_guard.release()
    except RuntimeError:
        pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)
