"""Records -> GenAI-convention spans, built directly as SDK ``ReadableSpan`` objects (no TracerProvider
is created and the global one is never touched).

The record fields and metadata keys read here are the ones :mod:`...model` names (``META_KIND``,
``META_OPERATION``...); provider names go through :func:`...record.providers.otel_name`. This module
knows no framework's strings: what a translator means by a record is said in the record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

from ... import model as M
from ...record.providers import otel_name
from .ids import context, root_span_id, span_id_for, trace_id_for
from .messages import input_messages, output_messages
from .state import SessionInfo, Work
from .values import flat, mapping, ns, num, size, str_list, to_json

#: a span and its approximate encoded size (for chunking)
Weighed = tuple[ReadableSpan, int]

# ``gen_ai.operation.name`` values
CHAT = "chat"
EMBEDDINGS = "embeddings"
TEXT_COMPLETION = "text_completion"
EXECUTE_TOOL = "execute_tool"
RETRIEVAL = "retrieval"
INVOKE_AGENT = "invoke_agent"

#: statuses a session closes with that make its root span an error
_ERROR_STATUSES = (M.ERROR, M.FAILURE, M.TIMEOUT)

# request parameter -> (attribute, type)
_PARAMS: tuple[tuple[str, str, type], ...] = (
    ("temperature", "gen_ai.request.temperature", float),
    ("top_p", "gen_ai.request.top_p", float),
    ("top_k", "gen_ai.request.top_k", int),
    ("frequency_penalty", "gen_ai.request.frequency_penalty", float),
    ("presence_penalty", "gen_ai.request.presence_penalty", float),
    ("max_tokens", "gen_ai.request.max_tokens", int),
    ("max_completion_tokens", "gen_ai.request.max_tokens", int),
    ("max_output_tokens", "gen_ai.request.max_tokens", int),
    ("seed", "gen_ai.request.seed", int),
)

_USAGE = (
    ("prompt_tokens", "gen_ai.usage.input_tokens"),
    ("completion_tokens", "gen_ai.usage.output_tokens"),
)


def operation_name(metadata: Any) -> str:
    """The GenAI operation of an ``llm_call`` event, from the API operation its translator recorded."""
    op = metadata.get(M.META_OPERATION) if isinstance(metadata, Mapping) else None
    if isinstance(op, str):
        if op.startswith(M.OP_EMBEDDINGS_PREFIX):
            return EMBEDDINGS
        if op == M.OP_TEXT_COMPLETION:
            return TEXT_COMPLETION
    return CHAT


def _exception_attrs(etype: str, err: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes of an ``exception`` span event."""
    ev: dict[str, Any] = {"exception.type": etype}
    message = err.get("message")
    if message is not None:
        ev["exception.message"] = to_json(message)
    if isinstance(err.get("stack_trace"), str):
        ev["exception.stacktrace"] = err["stack_trace"]
    return ev


def _usage(attrs: dict[str, Any], rec: dict[str, Any]) -> None:
    for field, attr in _USAGE:
        value = num(rec.get(field), int)
        if value is not None:
            attrs[attr] = value


def _times(rec: dict[str, Any]) -> tuple[int, int]:
    start = ns(rec.get("ts")) or 0
    duration = rec.get("duration_ms")
    end = start + int(duration * 1e6) if isinstance(duration, (int, float)) and duration > 0 else start
    return start, end


def _ends_at(rec: dict[str, Any], duration: Any) -> tuple[int, int]:
    """(start, end) of a span that ends at the record's time and lasted ``duration`` ms, if known."""
    end = ns(rec.get("ts")) or 0
    ms = num(duration, float)
    return (end - int(ms * 1e6) if ms and ms > 0 else end), end


def _place(sid: str, rec: dict[str, Any]) -> tuple[str, SpanContext, SpanContext]:
    """The span's key, its context and its parent's context."""
    trace = trace_id_for(sid)
    key = rec.get("span_id") or f"event:{rec.get('id')}"
    parent_key = rec.get("parent_span_id")
    parent = span_id_for(sid, parent_key) if parent_key else root_span_id(sid)
    return key, context(trace, span_id_for(sid, key)), context(trace, parent)


class SpanTranslator:
    """Turns one record into the spans it completes, reading and updating the sessions' state in a
    :class:`.state.Work` view (decisions and loose errors wait there for their root span)."""

    def __init__(self, resource: Resource, scope: InstrumentationScope, capture_content: bool) -> None:
        self.resource = resource
        self.scope = scope
        #: include prompts, responses, tool arguments/results and decision reasoning
        self.capture_content = capture_content

    def translate(self, rec: dict[str, Any], work: Work) -> list[Weighed]:
        kind = rec.get("kind")
        sid = rec.get("session_id")
        if not isinstance(sid, str):
            return []
        if kind == M.START_RECORD:
            work.put(sid, SessionInfo.from_start(rec))
            return []
        if kind == M.CLOSE_RECORD:
            info = work.get(sid)
            work.drop(sid)
            return [self._root_span(sid, info, rec)]
        if kind != M.EVENT_RECORD:
            return []
        info = work.get(sid)
        etype = rec.get("type")
        if etype == M.LLM_CALL:
            attrs = self._common(sid, info, rec)
            name = self._llm_attrs(attrs, rec)
            return [self._event_span(sid, info, rec, name, attrs, SpanKind.CLIENT)]
        if etype == M.TOOL_CALL:
            attrs = self._common(sid, info, rec)
            name = self._tool_attrs(attrs, rec)
            return [self._event_span(sid, info, rec, name, attrs, SpanKind.INTERNAL)]
        if etype == M.DECISION:
            info.add_event(self._decision_event(rec))
            return []
        if etype == M.ERROR:
            return self._error(sid, info, rec)
        return []

    # --- building blocks ------------------------------------------------------------------------

    @staticmethod
    def _common(sid: str, info: SessionInfo, rec: dict[str, Any]) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "gen_ai.conversation.id": info.convo_id or sid,
            "sentrial.session.id": sid,
        }
        if isinstance(rec.get("id"), str):
            attrs["sentrial.event.id"] = rec["id"]
        if info.agent_name:
            attrs["gen_ai.agent.name"] = info.agent_name
        return attrs

    @staticmethod
    def _error_status(attrs: dict[str, Any], events: list[Event], error: Any, when: int) -> Status:
        err = error if isinstance(error, Mapping) else {"message": to_json(error), "type": "Error"}
        etype = str(err.get("type") or "_OTHER")
        message = err.get("message")
        attrs["error.type"] = etype
        events.append(Event("exception", _exception_attrs(etype, err), timestamp=when))
        return Status(StatusCode.ERROR, to_json(message)[:1_000] if message is not None else etype)

    def _span(
        self,
        name: str,
        ctx: SpanContext,
        parent: SpanContext | None,
        attrs: dict[str, Any],
        events: list[Event],
        kind: SpanKind,
        status: Status,
        start: int,
        end: int,
        links: Sequence[Link] = (),
    ) -> Weighed:
        span = ReadableSpan(
            name=name,
            context=ctx,
            parent=parent,
            resource=self.resource,
            attributes=attrs,
            events=events,
            links=links,
            kind=kind,
            status=status,
            start_time=start,
            end_time=end,
            instrumentation_scope=self.scope,
        )
        weight = size(attrs) + sum(size(e.attributes or {}) for e in events)
        return span, weight

    def _event_span(
        self,
        sid: str,
        info: SessionInfo,
        rec: dict[str, Any],
        name: str,
        attrs: dict[str, Any],
        kind: SpanKind,
    ) -> Weighed:
        """The span of an ``llm_call`` / ``tool_call`` event, failed if the event carries an error."""
        key, ctx, parent = _place(sid, rec)
        start, end = _times(rec)
        events: list[Event] = []
        status = Status(StatusCode.UNSET)
        error = rec.get("error")
        if error:
            status = self._error_status(attrs, events, error, end)
            info.last_error_type = attrs["error.type"]
        info.saw_span(key, bool(error))
        return self._span(name, ctx, parent, attrs, events, kind, status, start, end)

    # --- event spans ------------------------------------------------------------------------------

    def _llm_attrs(self, attrs: dict[str, Any], rec: dict[str, Any]) -> str:
        """Fills an ``llm_call`` span's attributes; returns its name."""
        inp = mapping(rec.get("input"))
        out = mapping(rec.get("output"))
        metadata = rec.get("metadata")
        operation = operation_name(metadata)
        requested = inp.get("model") if isinstance(inp.get("model"), str) else None
        response_model = out.get("response_model") if isinstance(out.get("response_model"), str) else None
        model = requested or rec.get("model") or "unknown"
        attrs["gen_ai.operation.name"] = operation
        provider = otel_name(rec.get("provider") or inp.get("provider"))
        if provider:
            attrs["gen_ai.provider.name"] = provider
        attrs["gen_ai.request.model"] = model
        if response_model or (rec.get("model") and rec.get("model") != model):
            attrs["gen_ai.response.model"] = response_model or rec["model"]
        _usage(attrs, rec)
        tokens = mapping(out.get("tokens"))
        cached = num(tokens.get("cached"), int)
        if cached:
            attrs["gen_ai.usage.cache_read.input_tokens"] = cached
        reasoning = num(tokens.get("reasoning"), int)
        if reasoning:
            attrs["gen_ai.usage.reasoning.output_tokens"] = reasoning
        finish = out.get("finish_reason")
        if isinstance(finish, str):
            attrs["gen_ai.response.finish_reasons"] = [finish]
        if isinstance(metadata, Mapping):
            if isinstance(metadata.get("response_id"), str):
                attrs["gen_ai.response.id"] = metadata["response_id"]
            if metadata.get("stream") is True:
                attrs["gen_ai.request.stream"] = True
        ttft = num(out.get("time_to_first_token_ms"), float)
        if ttft is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = ttft / 1000.0
        params = inp.get("params")
        if isinstance(params, Mapping):
            self._params(attrs, params)
        cost = num(rec.get("cost"), float)
        if cost is not None:
            attrs["sentrial.cost_usd"] = cost
        if out.get("partial") is True:
            attrs["sentrial.partial"] = True
        if self.capture_content:
            msgs = input_messages(inp.get("messages"))
            if msgs:
                attrs["gen_ai.input.messages"] = to_json(msgs)
            if operation != EMBEDDINGS:
                outs = output_messages(out.get("content"), out.get("tool_calls"), finish)
                if outs:
                    attrs["gen_ai.output.messages"] = to_json(outs)
        return f"{operation} {model}"

    @staticmethod
    def _params(attrs: dict[str, Any], params: Mapping[str, Any]) -> None:
        for pname, attr, kind in _PARAMS:
            value = num(params.get(pname), kind)
            if value is not None:
                attrs[attr] = value
        stop = str_list(params.get("stop"))
        if stop:
            attrs["gen_ai.request.stop_sequences"] = stop
        n = num(params.get("n"), int)
        if n is not None and n != 1:
            attrs["gen_ai.request.choice.count"] = n

    def _tool_attrs(self, attrs: dict[str, Any], rec: dict[str, Any]) -> str:
        """Fills a ``tool_call`` span's attributes (a retriever's call is a ``retrieval``); returns its name."""
        name = rec.get("name") or "tool"
        metadata = rec.get("metadata")
        retrieval = isinstance(metadata, Mapping) and metadata.get(M.META_KIND) == M.KIND_RETRIEVAL
        operation = RETRIEVAL if retrieval else EXECUTE_TOOL
        attrs["gen_ai.operation.name"] = operation
        attrs["gen_ai.tool.name"] = name
        if not retrieval:
            attrs["gen_ai.tool.type"] = "function"
        if isinstance(metadata, Mapping) and isinstance(metadata.get("tool_call_id"), str):
            attrs["gen_ai.tool.call.id"] = metadata["tool_call_id"]
        if self.capture_content:
            if rec.get("input") is not None:
                attrs["gen_ai.tool.call.arguments"] = to_json(rec["input"])
            if rec.get("output") is not None:
                attrs["gen_ai.tool.call.result"] = to_json(rec["output"])
            if rec.get("reasoning"):
                attrs["sentrial.reasoning"] = to_json(rec["reasoning"])
        return f"{operation} {name}"

    def _decision_event(self, rec: dict[str, Any]) -> Event:
        attrs: dict[str, Any] = {}
        if isinstance(rec.get("id"), str):
            attrs["sentrial.event.id"] = rec["id"]
        if rec.get("parent_span_id"):
            attrs["sentrial.parent_span_id"] = str(rec["parent_span_id"])
        confidence = num(rec.get("confidence"), float)
        if confidence is not None:
            attrs["sentrial.decision.confidence"] = confidence
        alternatives = rec.get("alternatives")
        if alternatives is not None:
            attrs["sentrial.decision.alternatives"] = str_list(alternatives) or to_json(alternatives)
        if self.capture_content:
            if rec.get("reasoning"):
                attrs["sentrial.decision.reasoning"] = to_json(rec["reasoning"])
            if rec.get("decision") is not None:
                attrs["sentrial.decision.choice"] = to_json(rec["decision"])
        return Event("sentrial.decision", attrs, timestamp=ns(rec.get("ts")))

    # --- errors -----------------------------------------------------------------------------------

    def _error(self, sid: str, info: SessionInfo, rec: dict[str, Any]) -> list[Weighed]:
        """An error event: on its failed span when that span is not sent yet (an OpenAI call that
        failed before answering has no ``llm_call`` event), else an ``exception`` event on the root."""
        error = mapping(rec.get("error")) or {"type": "Error"}
        info.last_error_type = str(error.get("type") or "_OTHER")
        parent_key = rec.get("parent_span_id")
        seen = info.spans.get(parent_key) if parent_key else None
        if seen is True:  # the failed span already carries this error
            return []
        name = rec.get("name")
        if seen is None and parent_key and isinstance(name, str) and name.startswith(M.LLM_ERROR_PREFIX):
            return [self._failed_llm_span(sid, info, rec, parent_key, name, error)]
        ev = _exception_attrs(info.last_error_type, error)
        if isinstance(name, str):
            ev["sentrial.error.source"] = name
        if parent_key:
            ev["sentrial.parent_span_id"] = str(parent_key)
        if isinstance(rec.get("id"), str):
            ev["sentrial.event.id"] = rec["id"]
        info.add_event(Event("exception", ev, timestamp=ns(rec.get("ts"))))
        return []

    def _failed_llm_span(
        self, sid: str, info: SessionInfo, rec: dict[str, Any], key: str, name: str, error: Mapping[str, Any]
    ) -> Weighed:
        """The span of an LLM call known only from its error event (``llm:<provider>:<model>``)."""
        _, provider, model = [*name.split(":", 2), "", ""][:3]
        metadata = mapping(rec.get("metadata"))
        operation = operation_name(metadata)
        model = str(metadata.get("model") or model or "unknown")
        trace = trace_id_for(sid)
        start, end = _ends_at(rec, metadata.get("duration_ms"))
        attrs = self._common(sid, info, rec)
        attrs["gen_ai.operation.name"] = operation
        prov = otel_name(metadata.get("provider") or provider)
        if prov:
            attrs["gen_ai.provider.name"] = prov
        attrs["gen_ai.request.model"] = model
        status_code = metadata.get("status_code")
        if isinstance(status_code, int):
            attrs["http.response.status_code"] = status_code
        events: list[Event] = []
        status = self._error_status(attrs, events, error, end)
        info.saw_span(key, True)
        return self._span(
            f"{operation} {model}",
            context(trace, span_id_for(sid, key)),
            context(trace, root_span_id(sid)),
            attrs,
            events,
            SpanKind.CLIENT,
            status,
            start,
            end,
        )

    # --- the session ------------------------------------------------------------------------------

    def _root_span(self, sid: str, info: SessionInfo, rec: dict[str, Any]) -> Weighed:
        trace = trace_id_for(sid)
        end = ns(rec.get("ts")) or 0
        start = ns(info.start)
        if start is None:  # the start record was not seen by this process (evicted, replayed spool)
            start, end = _ends_at(rec, rec.get("duration_ms"))
        agent = info.agent_name or info.name
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": INVOKE_AGENT,
            "gen_ai.conversation.id": info.convo_id or sid,
            "sentrial.session.id": sid,
        }
        if agent:
            attrs["gen_ai.agent.name"] = agent
        if info.name:
            attrs["sentrial.session.name"] = info.name
        status_text = rec.get("status") or M.SUCCESS
        attrs["sentrial.session.status"] = status_text
        if info.user_id:
            attrs["user.id"] = info.user_id
        if info.project_id:
            attrs["sentrial.project.id"] = info.project_id
        if info.parent:
            attrs["sentrial.parent_session.id"] = info.parent
        _usage(attrs, rec)
        cost = num(rec.get("cost"), float)
        if cost is not None:
            attrs["sentrial.cost_usd"] = cost
        if info.metadata:
            flat(attrs, "sentrial.metadata", info.metadata)
        if rec.get("custom_metrics"):
            flat(attrs, "sentrial.metrics", rec["custom_metrics"])
        if rec.get("failure_reason"):
            attrs["sentrial.session.failure_reason"] = to_json(rec["failure_reason"])
        if self.capture_content and rec.get("output") is not None:
            outs = output_messages(rec["output"], None, None)
            if outs:
                attrs["gen_ai.output.messages"] = to_json(outs)
        if info.dropped:
            attrs["sentrial.dropped_events"] = info.dropped
        status = Status(StatusCode.UNSET)
        if status_text in _ERROR_STATUSES:
            attrs["error.type"] = (
                (info.last_error_type or "_OTHER") if status_text == M.ERROR else status_text
            )
            reason = rec.get("failure_reason")
            status = Status(StatusCode.ERROR, to_json(reason)[:1_000] if reason else status_text)
        links = []
        if info.parent:
            links.append(
                Link(
                    context(trace_id_for(info.parent), root_span_id(info.parent)),
                    {"sentrial.link": "parent_session"},
                )
            )
        name = f"{INVOKE_AGENT} {agent}" if agent else INVOKE_AGENT
        ctx = context(trace, root_span_id(sid))
        return self._span(
            name,
            ctx,
            None,
            attrs,
            list(info.events),
            SpanKind.INTERNAL,
            status,
            start,
            max(end, start),
            links,
        )
