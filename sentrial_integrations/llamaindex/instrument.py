"""``instrument()`` / ``uninstrument()``: the public functions of the LlamaIndex integration, thin
wrappers over :data:`~.integration.INTEGRATION` (which does the work)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .integration import INTEGRATION, NEEDS_LLAMAINDEX, llamaindex_importable

if TYPE_CHECKING:
    from ..core.api.client import SentrialClient

__all__ = ["NEEDS_LLAMAINDEX", "instrument", "is_instrumented", "last_session_id", "uninstrument"]


def instrument(client: SentrialClient | None = None) -> None:
    """Record every LlamaIndex run (query and chat engines, retrievers, agents, workflows) as a session.

    Adds one span handler and one event handler to LlamaIndex's root instrumentation dispatcher.
    ``client`` defaults to the process-wide client (:func:`sentrial_integrations.get_client`, resolved
    when a run starts). Idempotent: a second call adds nothing (a ``client`` given to it replaces the
    one used for new runs). :func:`uninstrument` removes the handlers. Raises ``ImportError`` (saying
    what to install) without LlamaIndex; a llama-index-core outside the supported versions gets one
    ``SentrialConfigWarning`` and is left alone.
    """
    if not INTEGRATION.instrumented and not llamaindex_importable():
        raise ImportError(NEEDS_LLAMAINDEX) from None  # one clear line, not a raw traceback
    if INTEGRATION.instrument(client=client) and client is not None:
        INTEGRATION.set_client(client)


def uninstrument() -> None:
    """Remove the handlers added by :func:`instrument`; runs still open are closed as ``abandoned``."""
    INTEGRATION.uninstrument()


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return INTEGRATION.instrumented


def last_session_id() -> str | None:
    """The session the most recent LlamaIndex run recorded into (handy in scripts and tests)."""
    tracker = INTEGRATION.tracker
    return tracker.last_session_id if tracker is not None else None
