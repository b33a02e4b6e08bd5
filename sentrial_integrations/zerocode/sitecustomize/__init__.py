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
  SIGTERM, ``failure`` after an exit with a non-zero status, else ``success``.

How the exit status is seen: ``sys.exit(n)`` (hooked) everywhere; ``exit(n)`` / ``quit(n)`` (the site
builtins, hooked on Python < 3.12); and on Python >= 3.12 any ``SystemExit`` leaving the main module —
``raise SystemExit(n)`` included — through a ``sys.monitoring`` ``PY_UNWIND`` callback, which costs
nothing until an exception unwinds a frame.

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

from ...core import model as M

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

    def quitter(self, previous: Any) -> Any:
        """``exit(n)`` / ``quit(n)`` of the interactive builtins (``_sitebuiltins.Quitter.__call__``)."""

        def __call__(quitter: Any, code: Any = None) -> None:
            if threading.current_thread() is threading.main_thread():
                self.exit_code = code
            previous(quitter, code)

        return __call__

    def on_unwind(self, code: Any, offset: int, exc: BaseException) -> Any:
        """``sys.monitoring`` ``PY_UNWIND``: a ``SystemExit`` leaving the main module ends the program."""
        try:
            if isinstance(exc, SystemExit) and code.co_name == "<module>" and _is_main_code(code):
                self.exit_code = exc.code
        except Exception:
            pass
        return None

    def watch_exits(self) -> None:
        """See every way the program sets its exit status (see the module docstring)."""
        sys.exit = self.exit(sys.exit)
        monitoring = getattr(sys, "monitoring", None)
        if monitoring is not None and _use_monitoring(monitoring, self.on_unwind):
            return
        try:
            import _sitebuiltins

            quitter = _sitebuiltins.Quitter
            quitter.__call__ = self.quitter(quitter.__call__)  # type: ignore[method-assign]
        except Exception:
            pass

    def close(self) -> None:
        try:
            s = self.session
            if s.closed or not s.client.is_open(s.id):
                return
            exc, code = self.exception, self.exit_code
            if isinstance(exc, Exception):
                s.client.track_error(s.id, exc)
                s.close(M.ERROR, failure_reason=f"{type(exc).__name__}: {exc}")
            elif exc is not None:  # KeyboardInterrupt and friends
                s.close(M.ABANDONED, failure_reason=type(exc).__name__)
            elif code not in (None, 0):
                reason = f"exit code {code}" if isinstance(code, int) else f"exit: {code}"
                s.close(M.FAILURE, failure_reason=reason, custom_metrics={"exit_code": code})
            else:
                s.close(M.SUCCESS, custom_metrics={"exit_code": 0})
        except Exception as exc:
            _logger.warning("Sentrial: could not close the run's session: %r", exc)


def _is_main_code(code: Any) -> bool:
    """Whether ``code`` is the main module's (``python app.py``, ``python -m pkg``, ``python -c ...``)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path:
        return code.co_filename in ("<string>", "<stdin>")
    return code.co_filename == path or os.path.abspath(code.co_filename) == os.path.abspath(path)


def _use_monitoring(monitoring: Any, callback: Any) -> bool:
    """Register ``callback`` for ``PY_UNWIND`` under a tool id no standard tool takes (3 or 4)."""
    for tool in (4, 3):
        try:
            if monitoring.get_tool(tool) is not None:
                continue
            monitoring.use_tool_id(tool, "sentrial-integrations run")
            monitoring.register_callback(tool, monitoring.events.PY_UNWIND, callback)
            monitoring.set_events(tool, monitoring.events.PY_UNWIND)
            return True
        except Exception:
            continue
    return False


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
    from ...core.api.client import get_client

    client = get_client()  # registers the client's exit hook first: ours runs before it
    if client.config.mode == "local":
        # Imported now, not first at exit: a first import at exit that runs exec() on a string
        # (dataclasses, namedtuple) clears CPython's "unhandled KeyboardInterrupt" flag, and a program
        # stopped by Ctrl-C would exit 1 instead of dying of SIGINT as it does without us.
        from ...core import store  # noqa: F401
    session = client.session(name or _program_name(), metadata)
    session.__enter__()  # current for the main thread (and the tasks / copied contexts it starts)
    from ...core.context import set_process_session

    set_process_session(session)  # and for threads the program starts itself
    umbrella = _Umbrella(session)
    sys.excepthook = umbrella.excepthook(sys.excepthook)
    umbrella.watch_exits()
    atexit.register(umbrella.close)
