"""Tracing without passing a handler: ``SENTRIAL_TRACING=true`` for every run, ``tracing()`` for a block.

Both go through langchain-core's ``register_configure_hook`` (the mechanism LangSmith uses): whenever
LangChain configures the callbacks of a run, it adds the handler found here unless the run already
has a :class:`SentrialCallbackHandler` (so an explicit handler is never doubled).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, cast

from ..core.api.client import SentrialClient, Session
from ..core.config import env_flag
from ..zerocode import autoload
from ..zerocode.importhook import when_imported
from .handler import DECISION_EVENT, SentrialCallbackHandler

# Nothing of LangChain's beyond what the handler class needs (``langchain_core.callbacks.base``) is
# imported here: the configure hook is registered when LangChain itself imports the module that
# keeps the hooks (:data:`autoload.HOOKS_MODULE`), the dispatch functions are imported on first use.

__all__ = ["ENV_VAR", "alog_decision", "log_decision", "tracing"]

ENV_VAR = "SENTRIAL_TRACING"

_handler_var: ContextVar[SentrialCallbackHandler | None] = ContextVar(
    "sentrial_langchain_handler", default=None
)
_registered = False
_lock = threading.Lock()


class _BlockOrEnvHandler:
    """What langchain-core's configure hook reads (it only calls ``.get()``): the handler of the
    enclosing ``tracing()`` block, else a new handler for the run when ``SENTRIAL_TRACING`` is on —
    read as every Sentrial boolean is (langchain-core's own test would take ``off`` or ``no`` for on)."""

    def get(self) -> SentrialCallbackHandler | None:
        handler = _handler_var.get()
        if handler is None and (autoload.process_wide() or env_flag(ENV_VAR)):
            return SentrialCallbackHandler()
        return handler


def register() -> None:
    """Install the configure hook once (idempotent). Done on import of this package: now if LangChain
    has imported its configure-hook module, else right after it does (this imports nothing of it)."""
    with _lock:
        if _registered:
            return
    when_imported(autoload.HOOKS_MODULE, _register_now)


def _register_now(_module: Any = None) -> None:
    global _registered
    with _lock:
        if _registered:
            return
        _registered = True
    from langchain_core.tracers.context import register_configure_hook

    if autoload.process_wide() or env_flag(ENV_VAR):
        from ..core.offloop import prepare_default_client

        prepare_default_client()  # the runs' handlers are made inside the runs, maybe on an event loop

    # inheritable: child runs get the handler from their parent's callback manager. No env_var for
    # langchain-core to test: _BlockOrEnvHandler reads SENTRIAL_TRACING itself.
    register_configure_hook(cast(Any, _BlockOrEnvHandler()), True, SentrialCallbackHandler, None)


@contextmanager
def tracing(
    client: SentrialClient | None = None,
    *,
    session_name: str | None = None,
    metadata: dict[str, Any] | None = None,
    session: Session | str | None = None,
    user_id: str | None = None,
    agent_name: str | None = None,
) -> Iterator[SentrialCallbackHandler]:
    """Record every LangChain run started inside the block (in this thread / task and the ones it
    spawns with a copied context), as if ``callbacks=[handler]`` had been passed. Yields the handler."""
    register()
    handler = SentrialCallbackHandler(
        client,
        session_name=session_name,
        metadata=metadata,
        session=session,
        user_id=user_id,
        agent_name=agent_name,
    )
    token = _handler_var.set(handler)
    try:
        yield handler
    finally:
        try:
            _handler_var.reset(token)
        except ValueError:  # left in another context
            _handler_var.set(None)


def _decision_data(
    reasoning: str, decision: Any, alternatives: list[Any] | None, confidence: float | None, metadata: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {"reasoning": reasoning}
    if decision is not None:
        data["decision"] = decision
    if alternatives is not None:
        data["alternatives"] = alternatives
    if confidence is not None:
        data["confidence"] = confidence
    if metadata is not None:
        data["metadata"] = metadata
    return data


def log_decision(
    reasoning: str,
    *,
    decision: Any = None,
    alternatives: list[Any] | None = None,
    confidence: float | None = None,
    metadata: dict[str, Any] | None = None,
    config: Any = None,
) -> None:
    """Record a decision from inside a runnable (a tool, a graph node): dispatches the custom event
    ``sentrial_decision``, which the handler of the enclosing run records. Never raises."""
    try:
        from langchain_core.callbacks.manager import dispatch_custom_event

        dispatch_custom_event(
            DECISION_EVENT,
            _decision_data(reasoning, decision, alternatives, confidence, metadata),
            config=config,
        )
    except Exception:  # called outside a run: nothing to attach the decision to
        pass


async def alog_decision(
    reasoning: str,
    *,
    decision: Any = None,
    alternatives: list[Any] | None = None,
    confidence: float | None = None,
    metadata: dict[str, Any] | None = None,
    config: Any = None,
) -> None:
    """:func:`log_decision` for async code (uses ``adispatch_custom_event``)."""
    try:
        from langchain_core.callbacks.manager import adispatch_custom_event

        await adispatch_custom_event(
            DECISION_EVENT,
            _decision_data(reasoning, decision, alternatives, confidence, metadata),
            config=config,
        )
    except Exception:
        pass


register()
