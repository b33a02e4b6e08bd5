"""Start-up of a program run by ``sentrial-integrations run``: auto-instrumentation and the optional
umbrella session.

``run`` puts this folder first on ``PYTHONPATH``, so Python imports its ``sitecustomize.py`` at start-up
(in the program and in every Python subprocess it starts), which calls :func:`start`:

* :func:`sentrial_integrations.auto_instrument` (frameworks are instrumented on their first import);
* with ``--session-name`` / ``--metadata`` (passed as ``SENTRIAL_RUN_SESSION_NAME`` and
  ``SENTRIAL_RUN_METADATA``, which the first Python process takes out of its environment so that its
  subprocesses do not open another one): an *umbrella session* opened now and made current, so every
  LangChain / LlamaIndex run and OpenAI call of the program (any thread: it is also the process-wide
  fallback session) records into it instead of opening sessions of its own. It is closed at exit:
  ``error`` after an uncaught exception (recorded as an error event), ``abandoned`` after Ctrl-C or
  SIGTERM, ``failure`` after ``sys.exit(n)`` with a non-zero ``n``, else ``success``.

The client's own exit hook then delivers everything (within ``SENTRIAL_EXIT_TIMEOUT`` seconds).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import threading
from typing import Any

__all__ = ["METADATA_VAR", "SESSION_VAR", "start"]

SESSION_VAR = "SENTRIAL_RUN_SESSION_NAME"
METADATA_VAR = "SENTRIAL_RUN_METADATA"

_logger = logging.getLogger("sentrial_integrations")
_started = False


class _Umbrella:
    """The whole program as one session, and what is known about how it ended."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.exit_code: Any = None
        self.exception: BaseException | None = None

    def excepthook(self, previous: Any) -> Any:
        def hook(exc_type: Any, exc: Any, tb: Any) -> None:
            try:
                if isinstance(exc, BaseException):
                    self.exception = exc
            except Exception:
                pass
            previous(exc_type, exc, tb)

        return hook

    def exit(self, previous: Any) -> Any:
        def exit(status: Any = None) -> None:
            if threading.current_thread() is threading.main_thread():
                self.exit_code = status
            previous(status)

        return exit

    def close(self) -> None:
        try:
            s = self.session
            if s.closed or not s.client.is_open(s.id):
                return
            exc, code = self.exception, self.exit_code
            if isinstance(exc, Exception):
                s.client.track_error(s.id, exc)
                s.close("error", failure_reason=f"{type(exc).__name__}: {exc}")
            elif exc is not None:  # KeyboardInterrupt and friends
                s.close("abandoned", failure_reason=type(exc).__name__)
            elif code not in (None, 0):
                reason = f"exit code {code}" if isinstance(code, int) else f"exit: {code}"
                s.close("failure", failure_reason=reason, custom_metrics={"exit_code": code})
            else:
                s.close("success", custom_metrics={"exit_code": 0})
        except Exception as exc:
            _logger.warning("Sentrial: could not close the run's session: %r", exc)


def _metadata(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _program_name() -> str:
    argv = getattr(sys, "argv", None) or [""]
    first = argv[0] if argv and argv[0] not in ("", "-c", "-m") else "python"
    return os.path.basename(first) or "python"


def start() -> None:
    """Instrument every framework; open the umbrella session if ``run`` asked for one. Once."""
    global _started
    if _started:
        return
    _started = True
    from ..auto import auto_instrument

    auto_instrument()
    name = os.environ.pop(SESSION_VAR, None)
    metadata = _metadata(os.environ.pop(METADATA_VAR, None))
    if name is None and metadata is None:
        return
    from ..core.client import get_client

    client = get_client()  # registers the client's exit hook first: ours runs before it
    session = client.session(name or _program_name(), metadata)
    session.__enter__()  # current for the main thread (and the tasks / copied contexts it starts)
    from ..core.context import set_process_session

    set_process_session(session)  # and for threads the program starts itself
    umbrella = _Umbrella(session)
    sys.excepthook = umbrella.excepthook(sys.excepthook)
    sys.exit = umbrella.exit(sys.exit)
    atexit.register(umbrella.close)
