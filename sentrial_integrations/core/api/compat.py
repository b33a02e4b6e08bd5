"""The official Sentrial SDK's API (``pip install sentrial``, 0.6) on :class:`SentrialClient`.

A script written for the official client runs unchanged once its import names this package::

    from sentrial_integrations import SentrialClient, configure, begin

Each official call is mapped onto ours (no second implementation): ``complete_session`` is
``close_session``; ``begin()`` opens a session, makes it current (so wrapped LLM clients record into it)
and returns an :class:`Interaction` whose ``finish()`` closes it with the user's input and the final
output; ``track_tool_call(tool_error=..., estimated_cost=..., token_count=...)``,
``track_error(error_message=..., stack_trace=...)`` and the constructor's ``api_url`` /
``fail_silently`` / ``pii`` / ``batching`` are understood. What differs: calls return at once (ids, not
server responses), nothing is sent on the caller's thread, and failures are retried and spooled.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from .. import context
from ..log import logger
from ..record.pricing import estimate_cost

if TYPE_CHECKING:
    from .client import SentrialClient, Session

#: official event keyword -> how it maps onto our fields (see :func:`apply_legacy_fields`)
_EVENT_EXTRAS = ("estimated_cost", "token_count", "trace_id")


def client_options(
    api_key: Any, base_url: str | None, strict: bool | None, options: dict[str, Any]
) -> tuple[Any, str | None, bool | None]:
    """Map the official constructor's arguments (popped from ``options``) onto ours.

    ``api_url`` → ``base_url``; ``fail_silently=False`` → ``strict=True``; ``pii=True`` or a ``PiiConfig``
    → our PII redaction on; ``batching`` is accepted and ignored (we always batch, off the caller's
    thread); ``langfuse`` is not supported (warned).
    """
    if "api_url" in options:
        url = options.pop("api_url")
        if base_url is None:
            base_url = url
    if "fail_silently" in options:
        quiet = options.pop("fail_silently")
        if strict is None and quiet is False:
            strict = True
    if "pii" in options:
        pii = options.pop("pii")
        if pii is True or (pii not in (None, False) and getattr(pii, "enabled", True)):
            options.setdefault("redact_pii", True)
    options.pop("batching", None)
    if options.pop("langfuse", None) is not None:
        logger.warning(
            "Sentrial: the langfuse= dual-write option of the official SDK is not supported; ignored"
        )
    return api_key, base_url, strict


def apply_legacy_fields(fields: dict[str, Any], legacy: dict[str, Any], what: str) -> list[str]:
    """Fold the official SDK's event keywords into our event ``fields``; return the unknown ones.

    ``tool_error`` → ``error``; ``error_message`` / ``stack_trace`` → the error; ``estimated_cost`` /
    ``token_count`` / ``trace_id`` → the event's metadata (only LLM calls carry costs and tokens in our
    model; record LLM calls with ``track_llm_call`` or a wrapper).
    """
    unknown: list[str] = []
    extra: dict[str, Any] = {}
    for key, value in sorted(legacy.items(), key=lambda kv: kv[0] != "error_message"):
        if key == "error_message" and what == "track_error":
            if fields.get("error") is None:
                fields["error"] = value
        elif key == "tool_error" and what == "track_tool_call":
            if value is not None:
                fields["error"] = value
        elif key in _EVENT_EXTRAS and what in ("track_tool_call", "track_decision", "track_error"):
            if value is not None and not (key == "estimated_cost" and value == 0):
                extra[key] = value
        elif key == "stack_trace" and what == "track_error":
            if value:
                err = fields.get("error")
                err = dict(err) if isinstance(err, dict) else {"message": "" if err is None else str(err)}
                err["stack_trace"] = str(value)
                fields["error"] = err
        else:
            unknown.append(key)
    if extra:
        meta = fields.get("metadata")
        meta = dict(meta) if isinstance(meta, dict) else ({} if meta is None else {"value": meta})
        for key, value in extra.items():
            meta.setdefault(key, value)
        fields["metadata"] = meta
    return unknown


class CompatMixin:
    """The official client's extra methods, for :class:`SentrialClient` (which inherits this)."""

    _compat_local: threading.local

    # --- sessions --------------------------------------------------------------------------------

    def complete_session(
        self,
        session_id: str,
        success: bool = True,
        failure_reason: str | None = None,
        estimated_cost: float | None = None,
        custom_metrics: dict[str, Any] | None = None,
        duration_ms: float | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        total_tokens: int | None = None,
        user_input: Any = None,
        assistant_output: Any = None,
    ) -> dict[str, Any]:
        """Official: close the session with metrics. Ours: :meth:`SentrialClient.close_session`
        (``success`` → ``"success"`` / ``"failure"``; tokens and cost default to the sums over the
        session's LLM calls). Returns ``{"id", "status"}`` (``{}`` when it did not close)."""
        client: Any = self  # a SentrialClient
        ok = client.close_session(
            session_id,
            "success" if success else "failure",
            failure_reason=failure_reason,
            cost=estimated_cost,
            custom_metrics=custom_metrics,
            duration_ms=duration_ms,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=total_tokens,
            user_input=user_input,
            assistant_output=assistant_output,
        )
        return {"id": session_id, "status": "completed" if success else "failed"} if ok else {}

    def begin(
        self,
        user_id: str,
        event: str,
        input: Any = None,
        event_id: str | None = None,
        convo_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Interaction:
        """Official: start an interaction. Ours: a session named ``<event>:<id8>`` for agent ``event``,
        made current at once (wrapped LLM clients and integrations record into it) until ``finish()``."""
        return Interaction.start(self, user_id, event, input, event_id, convo_id, metadata)  # type: ignore[arg-type]

    # --- state -----------------------------------------------------------------------------------

    @property
    def current_state(self) -> dict[str, Any]:
        """Official: this thread's state dict. Ours: the same, and :meth:`update_state` records changes."""
        local = self.__dict__.get("_compat_local")
        if local is None:
            local = self.__dict__.setdefault("_compat_local", threading.local())
        state = getattr(local, "state", None)
        if state is None:
            state = local.state = {}
        return state

    @current_state.setter
    def current_state(self, value: dict[str, Any]) -> None:
        self.current_state  # noqa: B018 - creates the thread-local
        self.__dict__["_compat_local"].state = dict(value)

    def update_state(self, key: str, value: Any) -> None:
        """Official: set a key of the thread's state. Ours also records a ``state_change`` event in the
        current session, if there is one (``begin()``, ``with client.session(...)``)."""
        try:
            before = dict(self.current_state)
            self.current_state[key] = value
            session = context.current_session()
            if session is not None and getattr(session, "client", None) is self:
                track = getattr(self, "track_state_change", None)
                if track is not None:
                    track(session.id, before, dict(self.current_state), reason=f"update_state({key!r})")
        except Exception as exc:  # never the caller's problem
            logger.debug("Sentrial: update_state failed: %r", exc)

    # --- costs -----------------------------------------------------------------------------------

    @staticmethod
    def calculate_openai_cost(model: str, input_tokens: int, output_tokens: int) -> float:
        """Official helper, priced from genai-prices (0.0 when the model is unknown)."""
        return estimate_cost(model, input_tokens, output_tokens, provider="openai") or 0.0

    @staticmethod
    def calculate_anthropic_cost(model: str, input_tokens: int, output_tokens: int) -> float:
        return estimate_cost(model, input_tokens, output_tokens, provider="anthropic") or 0.0

    @staticmethod
    def calculate_google_cost(model: str, input_tokens: int, output_tokens: int) -> float:
        return estimate_cost(model, input_tokens, output_tokens, provider="google") or 0.0

    # --- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Official: close the HTTP session. Ours: :meth:`SentrialClient.shutdown` (delivers what is queued)."""
        client: Any = self
        client.shutdown()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        client: Any = self
        client.shutdown()


class Interaction:
    """Official ``begin()`` / ``finish()`` interaction, on one of our sessions."""

    def __init__(
        self,
        client: SentrialClient,
        session: Session,
        event_id: str,
        user_id: str,
        event: str,
        user_input: Any = None,
    ) -> None:
        self.client = client
        self.session = session
        self.session_id: str | None = session.id
        self.event_id = event_id
        self.user_id = user_id
        self.event = event
        self.input = user_input
        self._start = time.monotonic()
        self._finished = False
        self._success = True
        self._failure_reason: str | None = None
        self._output: Any = None
        self._token: Any = None

    @classmethod
    def start(
        cls,
        client: SentrialClient,
        user_id: str,
        event: str,
        user_input: Any,
        event_id: str | None,
        convo_id: str | None,
        metadata: dict[str, Any] | None,
    ) -> Interaction:
        eid = event_id or str(uuid.uuid4())
        meta = dict(metadata) if metadata else {}
        if user_input is not None:
            meta["input"] = user_input
        if convo_id:
            meta["convo_id"] = convo_id
        meta["event_id"] = eid
        session = client.session(
            f"{event}:{eid[:8]}", meta, agent_name=event, user_id=user_id, convo_id=convo_id
        )
        client.current_state.clear()
        if user_input is not None:
            client.current_state["input"] = user_input
        it = cls(client, session, eid, user_id, event, user_input)
        try:
            it._token = context.set_current_session(session)
        except Exception:
            it._token = None
        return it

    def __repr__(self) -> str:
        return f"Interaction(session_id={self.session_id!r}, event={self.event!r})"

    def __enter__(self) -> Interaction:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not self._finished:
            if exc_type is not None:
                self.finish(
                    success=False, failure_reason=f"{exc_type.__name__}: {exc}" if exc else exc_type.__name__
                )
            else:
                self.finish(output=self._output, success=self._success, failure_reason=self._failure_reason)

    def set_output(self, output: Any) -> None:
        self._output = output

    def finish(
        self,
        output: Any = None,
        success: bool = True,
        failure_reason: str | None = None,
        estimated_cost: float | None = None,
        custom_metrics: dict[str, Any] | None = None,
        duration_ms: float | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        total_tokens: int | None = None,
    ) -> dict[str, Any]:
        """Close the session with the interaction's input and its output (``set_output`` or ``output``)."""
        if self._finished:
            return {}
        self._finished = True
        self._restore_context()
        final = output if output is not None else self._output
        result = self.client.complete_session(
            self.session.id,
            success=success,
            failure_reason=failure_reason,
            estimated_cost=estimated_cost,
            custom_metrics=custom_metrics,
            duration_ms=duration_ms,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=total_tokens,
            user_input=self.client.current_state.get("input", self.input),
            assistant_output=final,
        )
        self.session.closed = True
        return result

    def _restore_context(self) -> None:
        if self._token is not None:
            try:
                context.reset_current_session(self._token)
            except (ValueError, RuntimeError):  # finished in another context than it began in
                pass
            self._token = None

    def track_tool_call(
        self,
        tool_name: str,
        tool_input: Any = None,
        tool_output: Any = None,
        reasoning: str | None = None,
        estimated_cost: float = 0.0,
        tool_error: dict[str, Any] | None = None,
        token_count: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str | None:
        return self.client.track_tool_call(
            self.session.id,
            tool_name,
            tool_input,
            tool_output,
            reasoning=reasoning,
            metadata=metadata,
            estimated_cost=estimated_cost,
            tool_error=tool_error,
            token_count=token_count,
        )

    def track_decision(
        self,
        reasoning: str,
        alternatives: list[Any] | None = None,
        confidence: float | None = None,
        estimated_cost: float = 0.0,
        token_count: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str | None:
        return self.client.track_decision(
            self.session.id,
            reasoning,
            alternatives=alternatives,
            confidence=confidence,
            metadata=metadata,
            estimated_cost=estimated_cost,
            token_count=token_count,
        )

    def track_error(
        self,
        error_message: str,
        error_type: str | None = None,
        tool_name: str | None = None,
        stack_trace: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str | None:
        self._success = False
        self._failure_reason = error_message
        return self.client.track_error(
            self.session.id,
            error_message,
            error_type=error_type,
            tool_name=tool_name,
            metadata=metadata,
            stack_trace=stack_trace,
        )


def begin(
    user_id: str,
    event: str,
    input: Any = None,
    event_id: str | None = None,
    convo_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Interaction:
    """Official module-level ``sentrial.begin(...)``: :meth:`CompatMixin.begin` on the default client."""
    from .client import get_client

    return get_client().begin(user_id, event, input, event_id, convo_id, metadata)
