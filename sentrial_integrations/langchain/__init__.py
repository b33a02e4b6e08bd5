"""LangChain and LangGraph: every agent run becomes one complete Sentrial session.

    from sentrial_integrations.langchain import SentrialCallbackHandler
    agent.invoke(inputs, config={"callbacks": [SentrialCallbackHandler()]})

or, with no code change, ``SENTRIAL_TRACING=true`` in the environment; or ``with tracing(): ...``.

Names are imported lazily, so importing this package (e.g. by the zero-code bootstrap in
:mod:`.autoload`) does not import LangChain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .handler import SentrialCallbackHandler
    from .hook import alog_decision, log_decision, tracing

__all__ = ["SentrialCallbackHandler", "alog_decision", "log_decision", "tracing"]


def __getattr__(name: str) -> Any:
    if name == "SentrialCallbackHandler":
        from . import hook  # registers the configure hook as well

        return hook.SentrialCallbackHandler
    if name in ("tracing", "log_decision", "alog_decision"):
        from . import hook

        return getattr(hook, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
