"""Context shared by every integration: the current session, the current span, and LLM-call claims.

All state lives in :mod:`contextvars`, so it follows threads started with a copied context
(``contextvars.copy_context().run``, ``asyncio.to_thread``, LangChain's executors) and asyncio tasks.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api.client import Session

_current_session: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "sentrial_current_session", default=None
)
_current_span: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "sentrial_current_span", default=None
)
_llm_claim: contextvars.ContextVar[LLMClaim | None] = contextvars.ContextVar(
    "sentrial_llm_claim", default=None
)


_process_session: Session | None = None


def current_session() -> Session | None:
    """The session opened by the innermost ``client.session(...)`` block or integration run, if any;
    else the process-wide session (see :func:`set_process_session`)."""
    s = _current_session.get()
    if s is None:
        s = _process_session
    if s is not None and s.closed:
        return None
    return s


def set_process_session(session: Session | None) -> None:
    """A session every thread of the process falls back to when none is current in its context
    (``sentrial-integrations run --session-name`` uses it: threads the program starts join it too)."""
    global _process_session
    _process_session = session


def set_current_session(session: Session | None) -> contextvars.Token[Session | None]:
    return _current_session.set(session)


def reset_current_session(token: contextvars.Token[Session | None]) -> None:
    try:
        _current_session.reset(token)
    except ValueError:  # token made in another context (e.g. a callback run in a thread pool)
        _current_session.set(None)


def current_span_id() -> str | None:
    """The span (tool, chain, retriever...) that an event recorded now should nest under."""
    return _current_span.get()


def set_current_span(span_id: str | None) -> contextvars.Token[str | None]:
    """Make ``span_id`` the parent of events recorded from now on in this context."""
    return _current_span.set(span_id)


def reset_current_span(token: contextvars.Token[str | None]) -> None:
    try:
        _current_span.reset(token)
    except ValueError:  # the token was made in another context (callbacks run in a copied context)
        _current_span.set(None)


@contextmanager
def span(span_id: str | None) -> Iterator[None]:
    token = _current_span.set(span_id)
    try:
        yield
    finally:
        try:
            _current_span.reset(token)
        except ValueError:
            pass


class LLMClaim:
    """How two layers that see the same LLM call record it once.

    The outer layer (a LangChain chat model run, a LlamaIndex LLM span) opens a claim before the model
    runs. An inner layer (the OpenAI wrapper) that sees a claim not yet taken takes it: it records the
    LLM event itself (it has the exact request, response, usage and timing) using the claim's session
    and span ids, and the outer layer then skips its own LLM event. Innermost layer wins.

    The layer that takes the claim also records what belongs to that call: the decision event when
    the response calls tools, and the error event when the call fails. The outer layer skips those too.
    """

    __slots__ = ("parent_span_id", "session", "span_id", "taken")

    def __init__(self, session: Session | None, span_id: str | None, parent_span_id: str | None) -> None:
        self.session = session
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.taken = False


def open_llm_claim(claim: LLMClaim) -> contextvars.Token[LLMClaim | None]:
    return _llm_claim.set(claim)


def close_llm_claim(token: contextvars.Token[LLMClaim | None]) -> None:
    try:
        _llm_claim.reset(token)
    except ValueError:
        _llm_claim.set(None)


def release_llm_claim(claim: LLMClaim, token: contextvars.Token[LLMClaim | None]) -> bool:
    """For the outer layer, when its LLM call ends: close the claim and say whether it was taken.

    The claim is marked taken on release, so a claim left visible in a context that could not be
    reset (async callbacks run in a copied context) can never be taken later by an unrelated call.
    """
    taken = claim.taken
    claim.taken = True
    close_llm_claim(token)
    return taken


def take_llm_claim() -> LLMClaim | None:
    """For the innermost layer: the open claim if nobody took it yet (it is then taken)."""
    claim = _llm_claim.get()
    if claim is None or claim.taken:
        return None
    claim.taken = True
    return claim


def peek_llm_claim() -> LLMClaim | None:
    return _llm_claim.get()
