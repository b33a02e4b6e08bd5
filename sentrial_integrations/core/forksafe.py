"""Fork safety: ``os.fork()`` waits until no background thread is inside native library code that
holds process-wide locks (SQLite calls, OpenSSL context creation).

Such libraries keep process-wide mutexes; a fork taken while another thread holds one leaves the
child's copy locked forever (seen as a child whose recorder never starts). The SQLite calls of the
recorder and of a thread shipper run under :data:`fork_guard`, and the fork hooks take that lock around
the fork. Nothing that can wait runs under it: SQLite's busy timeout is 0 there and a locked file is
retried outside the guard (see ``delivery/outbox.py``), and HTTP requests are never guarded, so a fork
is delayed by one short statement at most.
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
