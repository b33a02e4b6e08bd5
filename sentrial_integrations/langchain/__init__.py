"""LangChain and LangGraph: every agent run becomes one complete Sentrial session.

    from sentrial_integrations.langchain import SentrialCallbackHandler
    agent.invoke(inputs, config={"callbacks": [SentrialCallbackHandler()]})

or, with no code change, ``SENTRIAL_TRACING=true`` in the environment; or ``with tracing(): ...``;
or ``instrument()`` (every run of the process, until ``uninstrument()``).

Names are imported lazily, so importing this package (e.g. by the zero-code bootstrap in
:mod:`sentrial_integrations.zerocode.autoload`) does not import LangChain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .handler import SentrialCallbackHandler
    from .hook import alog_decision, log_decision, tracing

__all__ = [
    "SentrialCallbackHandler",
    "alog_decision",
    "instrument",
    "log_decision",
    "tracing",
    "uninstrument",
]


def instrument(**options: Any) -> bool:
    """Record every LangChain / LangGraph run of the process (:class:`.integration.LangChainIntegration`):
    idempotent, version-gated; ``True`` if LangChain is (now or already) instrumented."""
    from .integration import INTEGRATION

    return INTEGRATION.instrument(**options)


def uninstrument() -> None:
    """Undo :func:`instrument` (runs already started keep their handler); idempotent."""
    from .integration import INTEGRATION

    INTEGRATION.uninstrument()


def __getattr__(name: str) -> Any:
    if name == "SentrialCallbackHandler":
        from . import hook  # registers the configure hook as well

        return hook.SentrialCallbackHandler
    if name in ("tracing", "log_decision", "alog_decision"):
        from . import hook

        return getattr(hook, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
