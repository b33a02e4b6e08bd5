"""One traced OpenAI call: where it records, what it sends, and how its events are written exactly once.

:func:`call_sync` and :func:`call_async` are the whole per-call path shared by :func:`wrap_openai`
(instance level, :mod:`.wrapper`) and :func:`instrument_openai` (class level, :mod:`.integration`).
They call the SDK method unchanged (except for asking for a stream usage chunk, which the caller never
sees), re-raise the SDK's own exception object, and hand streams to :mod:`.streams` and raw responses
to :mod:`.raw`, which finish the call when the caller is done with them. A call records where
:func:`~sentrial_integrations.core.runs.open_run` says (an outer layer's claim, the current session,
else a session of its own) and reports our own failures with the core guard, never to the caller.
"""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..core import model as M
from ..core.context import current_span_id, take_llm_claim
from ..core.log import guard, report_internal
from ..core.record.llm import decision_from_tool_calls
from ..core.runs import open_run
from .endpoint import Target
from .mapping import RESULT_MAPPERS, Op, Result, is_unset, offered_tool_names, request_params
from .options import Options
from .raw import is_raw_response, watch_raw
from .streams import is_stream, watch_stream

if TYPE_CHECKING:
    from ..core.api.client import SentrialClient
    from ..core.runs import RunTarget

_perf = time.perf_counter
_now = time.time

RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"
_USAGE_STREAMS = ("chat", "completions")
#: set on every traced method (its value: the :class:`~.mapping.Op`), so that it is never traced twice
MARK = "__sentrial_openai__"

#: True while a traced call runs the SDK method: a traced method reached from inside another one
#: (``wrap_openai`` on top of ``instrument_openai``, or wrapping twice) only passes through.
_active: contextvars.ContextVar[bool] = contextvars.ContextVar("sentrial_openai_active", default=False)

_REQUEST = guard("the OpenAI integration (request)")
_ERROR = guard("the OpenAI integration (error)")
_CLOSE = guard("the OpenAI integration (session close)")
_RESPONSE = "the OpenAI integration (response)"
_RECORD = "the OpenAI integration (record)"


def _new_span_id() -> str:
    return "oai_" + os.urandom(8).hex()


def _is_raw(extra_headers: Any) -> bool:
    return isinstance(extra_headers, Mapping) and RAW_RESPONSE_HEADER in extra_headers


def _materialise(value: Any) -> Any:
    """A one-shot iterator (generator of messages, tools...) becomes a list, so that both the SDK and
    the recorder can read it; lists, tuples, dicts and strings are left untouched."""
    t = type(value)
    if t is list or t is str or t is tuple or t is dict or value is None:
        return value
    if hasattr(t, "__next__"):
        return list(value)
    return value


class LLMCall:
    """The state of one call from the request until its events are recorded (once)."""

    __slots__ = (
        "client",
        "done",
        "injected",
        "messages",
        "model",
        "op",
        "opts",
        "params",
        "parent_span_id",
        "raw",
        "run",
        "sid",
        "span_id",
        "start",
        "stream",
        "t0",
        "target",
        "tools",
    )

    def __init__(self, op: Op, opts: Options, target: Target, kwargs: dict[str, Any]) -> None:
        self.t0 = _perf()
        self.start = _now()
        self.op = op
        self.opts = opts
        self.target = target
        self.done = False
        self.injected = False
        for key in (op.input_key, "tools"):
            value = kwargs.get(key)
            if value is not None:
                new = _materialise(value)
                if new is not value:
                    kwargs[key] = new
        model = kwargs.get("model")
        self.model: str | None = model if isinstance(model, str) else None
        self.stream = kwargs.get("stream") is True
        self.raw = _is_raw(kwargs.get("extra_headers"))
        messages = kwargs.get(op.input_key)
        if is_unset(messages):
            messages = None
        elif (self.stream or self.raw) and type(messages) is list:
            # recorded later: a shallow copy keeps the caller's usual ``messages.append(...)`` out of it
            messages = list(messages)
        self.messages = messages
        tools = kwargs.get("tools")
        self.tools = None if is_unset(tools) else tools
        self.params = request_params(kwargs, op.input_key)

        # Where to record: an outer layer's claim, else the current session, else a session of our own.
        claim = take_llm_claim()
        meta: dict[str, Any] = {M.META_INTEGRATION: "openai", M.META_OPERATION: op.name}
        if opts.metadata:
            meta.update(opts.metadata)
        self.run: RunTarget = open_run(
            opts.client,
            opts.session_name or f"openai.{op.name}",
            claim=claim,
            metadata=meta,
            agent_name=opts.agent_name,
            user_id=opts.user_id,
        )
        self.client: SentrialClient = self.run.client
        self.sid: str = self.run.session_id
        if claim is not None:
            self.span_id = claim.span_id or _new_span_id()
            self.parent_span_id = claim.parent_span_id
        else:
            self.span_id = _new_span_id()
            self.parent_span_id = current_span_id()

    # --- request ---------------------------------------------------------------------------------

    def request_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The keywords to send: ``kwargs`` itself, or a copy asking for the stream usage chunk."""
        if not (self.stream and not self.raw and self.target.stream_usage and self.op.kind in _USAGE_STREAMS):
            return kwargs
        opts = kwargs.get("stream_options")
        if opts is None or is_unset(opts):
            new_opts: dict[str, Any] = {"include_usage": True}
        elif isinstance(opts, Mapping) and "include_usage" not in opts:
            new_opts = {**opts, "include_usage": True}
        else:  # the caller decided (True or an explicit False)
            return kwargs
        send = dict(kwargs)
        send["stream_options"] = new_opts
        self.injected = True
        return send

    def rejected_injection(self, exc: BaseException) -> bool:
        """Did the server refuse the ``stream_options`` we added? Then stop adding it and retry once."""
        if not self.injected or getattr(exc, "status_code", None) not in (400, 422):
            return False
        try:
            text = str(exc)
        except Exception:
            return False
        if "stream_options" not in text and "include_usage" not in text:
            return False
        self.injected = False
        self.target.stream_usage = False
        return True

    # --- outcome ---------------------------------------------------------------------------------

    @property
    def event_name(self) -> str:
        return f"llm:{self.target.provider}:{self.model or 'unknown'}"

    def returned(self, result: Any) -> Any:
        """The SDK returned: record a response, or watch a stream / raw response until it is done."""
        try:
            if is_stream(result):
                watch_stream(result, self, hide_usage=self.injected)
            elif is_raw_response(result):
                watch_raw(result, self)
            else:
                self.finish(RESULT_MAPPERS[self.op.kind](result))
        except Exception as exc:
            report_internal(_RESPONSE, exc)
            self.abort()
        return result

    def failed(self, exc: BaseException) -> None:
        """The SDK raised ``exc`` (the caller gets that very object)."""
        with _ERROR:
            self.finish(None, error=exc)

    def abort(self) -> None:
        """Our own code failed: record nothing more, but do not leave our session open."""
        if self.done:
            return
        self.done = True
        with _CLOSE:
            self.run.close(M.SUCCESS)

    def finish(
        self,
        res: Result | None,
        *,
        partial: bool = False,
        ttft: float | None = None,
        end: float | None = None,
        error: BaseException | None = None,
        gone: bool = False,
    ) -> None:
        """Record the LLM event (+ decision / error events) and close our own session — once.

        ``res`` None with ``error``: the request failed before any response (error event only).
        ``gone``: a stream that was garbage-collected before it was read to the end.
        """
        if self.done:
            return
        self.done = True
        try:
            self._record(res, partial, ttft, end, error, gone)
        except Exception as exc:
            report_internal(_RECORD, exc)
            with _CLOSE:
                self.run.close(M.SUCCESS)

    def _record(
        self,
        res: Result | None,
        partial: bool,
        ttft: float | None,
        end: float | None,
        error: BaseException | None,
        gone: bool,
    ) -> None:
        client, sid, span = self.client, self.sid, self.span_id
        duration = ((end if end is not None else _perf()) - self.t0) * 1000.0
        provider = self.target.provider
        if res is not None:
            usage = res.usage
            meta: dict[str, Any] = {M.META_OPERATION: self.op.name}
            if res.response_id:
                meta["response_id"] = res.response_id
            if self.stream:
                meta["stream"] = True
                if usage["total"] is None and not self.injected and self.op.kind in _USAGE_STREAMS:
                    # we do not ask where the endpoint may send usage on its own (see Target)
                    meta["usage_unavailable"] = "stream without stream_options.include_usage"
            if self.raw:
                meta["raw_response"] = True
            if res.metadata:
                meta.update(res.metadata)
            if self.model is None and res.response_model:
                self.model = res.response_model
            client.track_llm_call(
                sid,
                self.model or "unknown",
                provider=provider,
                messages=self.messages,
                response=res.content,
                prompt_tokens=usage["prompt"],
                completion_tokens=usage["completion"],
                total_tokens=usage["total"],
                duration_ms=duration,
                metadata=meta,
                params=self.params,
                tool_calls=res.tool_calls or None,
                response_model=res.response_model,
                finish_reason=res.finish_reason,
                cached_tokens=usage["cached"],
                reasoning_tokens=usage["reasoning"],
                time_to_first_token_ms=(ttft - self.t0) * 1000.0 if ttft is not None else None,
                partial=True if partial else None,
                span_id=span,
                parent_span_id=self.parent_span_id,
                start_time=self.start,
            )
            if res.tool_calls:
                reasoning, decision = decision_from_tool_calls(res.tool_calls, res.content)
                client.track_decision(
                    sid,
                    reasoning,
                    decision=decision,
                    alternatives=offered_tool_names(self.tools),
                    metadata={M.META_OPERATION: self.op.name, "model": self.model},
                    parent_span_id=span,
                )
            if res.error is not None:
                client.track_error(sid, res.error, tool_name=self.event_name, parent_span_id=span)
        if isinstance(error, Exception):  # not for cancellation / KeyboardInterrupt
            client.track_error(
                sid,
                error,
                tool_name=self.event_name,
                metadata=self._error_metadata(error, duration),
                parent_span_id=span,
            )
        run = self.run
        if not run.owned:
            return
        if error is not None:
            if isinstance(error, Exception):
                run.close(M.ERROR, failure_reason=_reason(error))
            else:
                run.close(M.ABANDONED, failure_reason=type(error).__name__)
        elif res is not None and res.error is not None:
            run.close(M.ERROR, failure_reason=str(res.error.get("message")))
        elif gone:
            run.close(
                M.ABANDONED,
                failure_reason="the stream was garbage-collected before it was read to the end",
                output=res.content if res is not None else None,
            )
        else:
            run.close(M.SUCCESS, output=res.content if res is not None else None)

    def _error_metadata(self, exc: BaseException, duration: float) -> dict[str, Any]:
        meta: dict[str, Any] = {
            M.META_OPERATION: self.op.name,
            "model": self.model,
            "provider": self.target.provider,
            "duration_ms": duration,
        }
        for attr in ("status_code", "request_id", "code", "param"):
            value = getattr(exc, attr, None)
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                meta[attr] = value
        api_type = getattr(exc, "type", None)  # the error body's "type", e.g. invalid_request_error
        if isinstance(api_type, str):
            meta["api_error_type"] = api_type
        return meta


def _reason(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:
        return type(exc).__name__


def _begin(
    op: Op, opts: Options, target: Target, kwargs: dict[str, Any]
) -> tuple[LLMCall, dict[str, Any]] | None:
    with _REQUEST:
        call = LLMCall(op, opts, target, kwargs)
        return call, call.request_kwargs(kwargs)
    return None


def call_sync(
    op: Op,
    opts: Options,
    target: Target,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Run a sync SDK method ``fn`` and record it."""
    if _active.get():
        return fn(*args, **kwargs)
    begun = _begin(op, opts, target, kwargs)
    if begun is None:
        return fn(*args, **kwargs)
    call, send = begun
    token = _active.set(True)
    retry = False
    try:
        result = fn(*args, **send)
    except BaseException as exc:
        if not call.rejected_injection(exc):
            _active.reset(token)
            call.failed(exc)
            raise
        retry = True  # outside this except block, so a new error does not chain to this one
    if retry:
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            _active.reset(token)
            call.failed(exc)
            raise
    _active.reset(token)
    return call.returned(result)


async def call_async(
    op: Op,
    opts: Options,
    target: Target,
    fn: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Run an async SDK method ``fn`` and record it."""
    if _active.get():
        return await fn(*args, **kwargs)
    begun = _begin(op, opts, target, kwargs)
    if begun is None:
        return await fn(*args, **kwargs)
    call, send = begun
    token = _active.set(True)
    retry = False
    try:
        result = await fn(*args, **send)
    except BaseException as exc:
        if not call.rejected_injection(exc):
            _reset(token)
            call.failed(exc)
            raise
        retry = True
    if retry:
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            _reset(token)
            call.failed(exc)
            raise
    _reset(token)
    return call.returned(result)


def _reset(token: contextvars.Token[bool]) -> None:
    try:
        _active.reset(token)
    except ValueError:  # the coroutine was resumed in another context
        _active.set(False)
