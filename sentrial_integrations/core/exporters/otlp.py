"""OpenTelemetry exporter (extra ``otel``): sessions and events as OTLP/HTTP spans that follow the GenAI
semantic conventions, for any collector (OpenTelemetry Collector, Jaeger, Tempo, Phoenix, Langfuse...).

=====================  =========================================================================
Sentrial               OpenTelemetry
=====================  =========================================================================
session                root span ``invoke_agent {agent}`` (INTERNAL), ``gen_ai.conversation.id``;
                       sent when the session closes (it needs its end time)
``llm_call`` event     ``chat {model}`` (CLIENT; ``embeddings`` / ``text_completion`` when the
                       OpenAI operation says so): provider, request/response model, tokens...
``tool_call`` event    ``execute_tool {name}`` (``retrieval {name}`` for retrievals)
``error`` event        ERROR status + ``error.type`` + an ``exception`` event on the failed span;
                       errors not tied to a span become ``exception`` events on the root span
``decision`` event     a ``sentrial.decision`` span event on the root span
=====================  =========================================================================

Ids are deterministic: the trace id is derived from the session id, span ids from the events' span ids
(else their event ids), parents from ``parent_span_id`` (else the root span). A batch sent twice
(a retry) therefore produces the very same spans.

The spans are built directly as SDK ``ReadableSpan`` objects and encoded with the official OTLP
protobuf encoder: no TracerProvider is created and the global one is never touched.

Only this exporter's own state is kept in memory (the open sessions' start records and their pending
root-span events), bounded; it changes only once a batch is delivered, so a retried batch is
translated exactly as the first time.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from ..log import RateLimitedWarner, register_secret
from .base import DROP, OK, RETRY, ExportResult, parse_retry_after

__all__ = ["OTLPExporter", "root_span_id", "span_id_for", "trace_id_for", "traces_url"]

TRACES_PATH = "/v1/traces"
MAX_SESSIONS = 10_000  # open sessions remembered (their start record and pending root events)
MAX_ROOT_EVENTS = 512  # decisions / loose errors kept for one session's root span
MAX_KNOWN_SPANS = 1_024  # span ids remembered per session (to attach error events)
CHUNK_BYTES = 3_000_000  # approximate payload per OTLP request
RETRYABLE = frozenset({408, 429, 502, 503, 504})  # OTLP/HTTP: retry these, drop the rest

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_OFF = ("0", "false", "no", "off")

_PROVIDERS = {
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "google": "gcp.gen_ai",
    "google_genai": "gcp.gen_ai",
    "gemini": "gcp.gemini",
    "vertexai": "gcp.vertex_ai",
    "google_vertexai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
}

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


# --- deterministic ids ----------------------------------------------------------------------------


def _hash_int(text: str, size: int) -> int:
    value = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=size).digest(), "big")
    return value or 1  # 0 is the invalid id


def trace_id_for(session_id: str) -> int:
    """The trace of a session: 128 bits derived from its id."""
    return _hash_int(session_id, 16)


def root_span_id(session_id: str) -> int:
    """The span id of a session's ``invoke_agent`` span."""
    return _hash_int(f"{session_id}\x00<session>", 8)


def span_id_for(session_id: str, key: str) -> int:
    """The span id of an event span: ``key`` is the event's span id (else its event id)."""
    return _hash_int(f"{session_id}\x00{key}", 8)


def traces_url(endpoint: str) -> str:
    """``http://host:4318`` -> ``http://host:4318/v1/traces``; a URL already ending so is kept."""
    url = endpoint.strip().rstrip("/")
    return url if url.endswith(TRACES_PATH) else url + TRACES_PATH


def _ctx(trace_id: int, span_id: int) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=False, trace_flags=_SAMPLED)


def _ns(seconds: Any) -> int | None:
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        return int(seconds * 1e9)
    return None


# --- attribute values -----------------------------------------------------------------------------


def _json(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except Exception:
        return str(value)


def _num(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _flat(attrs: dict[str, Any], prefix: str, data: Any) -> None:
    """Top-level keys of a dict as ``prefix.key`` (primitives as they are, the rest as JSON)."""
    if not isinstance(data, Mapping):
        if data is not None:
            attrs[prefix] = _json(data)
        return
    for key, value in list(data.items())[:64]:
        name = f"{prefix}.{key}"
        if isinstance(value, (str, bool, int, float)):
            attrs[name] = value
        elif value is not None:
            attrs[name] = _json(value)


def _size(attrs: Mapping[str, Any]) -> int:
    n = 200
    for key, value in attrs.items():
        n += len(key) + (len(value) if isinstance(value, str) else 16)
    return n


# --- GenAI message shapes -------------------------------------------------------------------------

_ROLES = {"human": "user", "ai": "assistant", "AIMessageChunk": "assistant", "function": "tool"}


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    if isinstance(content, (list, tuple)):
        parts: list[dict[str, Any]] = []
        for item in content:
            if isinstance(item, str):
                parts.append({"type": "text", "content": item})
            elif isinstance(item, Mapping):
                text = item.get("text")
                if text is None and isinstance(item.get("content"), str):
                    text = item.get("content")
                if isinstance(text, str):
                    parts.append({"type": "text", "content": text})
                else:
                    parts.append({"type": str(item.get("type") or "data"), "content": _json(item)})
        return parts
    return [{"type": "text", "content": _json(content)}]


def _tool_call_parts(calls: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if not isinstance(calls, (list, tuple)):
        return parts
    for call in calls:
        if not isinstance(call, Mapping):
            continue
        fn = _mapping(call.get("function")) or call
        args = fn.get("arguments", fn.get("args"))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                pass
        parts.append({"type": "tool_call", "id": call.get("id"), "name": fn.get("name"), "arguments": args})
    return parts


def input_messages(messages: Any) -> list[dict[str, Any]]:
    """Recorded messages (OpenAI, LangChain, LlamaIndex shapes, or a prompt) as GenAI input messages."""
    if messages is None:
        return []
    if isinstance(messages, str):
        return [{"role": "user", "parts": _text_parts(messages)}]
    if isinstance(messages, Mapping):
        messages = [messages]
    if not isinstance(messages, (list, tuple)):
        return [{"role": "user", "parts": _text_parts(messages)}]
    out: list[dict[str, Any]] = []
    for m in messages:
        if not isinstance(m, Mapping):
            out.append({"role": "user", "parts": _text_parts(m)})
            continue
        role = str(m.get("role") or m.get("type") or "user")
        role = _ROLES.get(role, role)
        if role == "tool":
            call_id = m.get("tool_call_id") or m.get("call_id") or m.get("id")
            parts = [{"type": "tool_call_response", "id": call_id, "response": m.get("content")}]
        else:
            parts = _text_parts(m.get("content"))
            parts.extend(_tool_call_parts(m.get("tool_calls")))
        out.append({"role": role, "parts": parts})
    return out


def output_messages(content: Any, tool_calls: Any, finish_reason: Any) -> list[dict[str, Any]]:
    parts = _text_parts(content)
    parts.extend(_tool_call_parts(tool_calls))
    if not parts:
        return []
    reason = finish_reason if isinstance(finish_reason, str) else ("tool_call" if tool_calls else "stop")
    return [{"role": "assistant", "parts": parts, "finish_reason": reason}]


def _operation(metadata: Any) -> str:
    op = metadata.get("operation") if isinstance(metadata, Mapping) else None
    if isinstance(op, str):
        if op.startswith("embeddings"):
            return "embeddings"
        if op == "completions.create":
            return "text_completion"
    return "chat"


def _provider(provider: Any) -> str | None:
    if not isinstance(provider, str) or not provider or provider == "unknown":
        return None
    return _PROVIDERS.get(provider.lower(), provider.lower())


# --- per-session state ----------------------------------------------------------------------------


class _Session:
    """What the root span needs, collected from the start record and the events."""

    __slots__ = (
        "agent_name",
        "convo_id",
        "dropped",
        "events",
        "last_error_type",
        "metadata",
        "name",
        "parent",
        "project_id",
        "spans",
        "start",
        "user_id",
    )

    def __init__(self) -> None:
        self.name: str | None = None
        self.agent_name: str | None = None
        self.user_id: str | None = None
        self.convo_id: str | None = None
        self.parent: str | None = None
        self.project_id: str | None = None
        self.metadata: Any = None
        self.start: float | None = None
        self.events: list[Event] = []  # span events for the root span
        self.dropped = 0
        self.spans: dict[str, bool] = {}  # emitted span key -> it carries an error
        self.last_error_type: str | None = None

    def copy(self) -> _Session:
        new = _Session.__new__(_Session)
        for name in _Session.__slots__:
            setattr(new, name, getattr(self, name))
        new.events = list(self.events)
        new.spans = dict(self.spans)
        return new

    def add_event(self, event: Event) -> None:
        if len(self.events) < MAX_ROOT_EVENTS:
            self.events.append(event)
        else:
            self.dropped += 1

    def saw_span(self, key: str, error: bool) -> None:
        if len(self.spans) < MAX_KNOWN_SPANS or key in self.spans:
            self.spans[key] = error or self.spans.get(key, False)


class _Work:
    """Copy-on-write view of the session table for one chunk; committed only once it is delivered."""

    def __init__(self, table: OrderedDict[str, _Session]) -> None:
        self.table = table
        self.changed: dict[str, _Session | None] = {}

    def get(self, sid: str) -> _Session:
        if sid in self.changed:
            info = self.changed[sid]
            if info is None:  # closed earlier in this chunk: events after the close
                info = self.changed[sid] = _Session()
            return info
        base = self.table.get(sid)
        info = base.copy() if base is not None else _Session()
        self.changed[sid] = info
        return info

    def put(self, sid: str, info: _Session) -> None:
        self.changed[sid] = info

    def drop(self, sid: str) -> None:
        self.changed[sid] = None

    def commit(self) -> None:
        table = self.table
        for sid, info in self.changed.items():
            if info is None:
                table.pop(sid, None)
            else:
                table[sid] = info
                table.move_to_end(sid)
        while len(table) > MAX_SESSIONS:
            table.popitem(last=False)
        self.changed = {}


# --- the exporter ---------------------------------------------------------------------------------


class OTLPExporter:
    """Sends Sentrial records as GenAI-convention spans to an OTLP/HTTP (protobuf) traces endpoint.

    ``endpoint``: the collector's base URL (``http://localhost:4318``; ``/v1/traces`` is appended) or
    the full traces URL. ``headers``: e.g. an ``Authorization`` header. ``span_exporter``: hand the
    spans to this OpenTelemetry SDK ``SpanExporter`` instead of posting them (tests, gRPC, consoles).
    ``capture_content``: include prompts, responses, tool arguments/results and decision reasoning
    (default: ``SENTRIAL_OTLP_CAPTURE_CONTENT``, on unless set to ``false``).
    """

    name = "otlp"

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        span_exporter: SpanExporter | None = None,
        capture_content: bool | None = None,
        resource: Resource | None = None,
    ) -> None:
        from ... import __version__

        self.url = traces_url(endpoint)
        self.timeout = timeout
        self._sink = span_exporter
        if capture_content is None:
            raw = os.environ.get("SENTRIAL_OTLP_CAPTURE_CONTENT", "").strip().lower()
            capture_content = raw not in _OFF
        self.capture_content = capture_content
        self._resource = resource if resource is not None else Resource.create({})
        self._scope = InstrumentationScope("sentrial_integrations", __version__)
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._warner = RateLimitedWarner()
        self._headers = {"Content-Type": "application/x-protobuf"}
        for key, value in (headers or {}).items():
            register_secret(value)
            self._headers[str(key)] = str(value)
        compression = (
            os.environ.get("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION")
            or os.environ.get("OTEL_EXPORTER_OTLP_COMPRESSION")
            or ""
        )
        self._gzip = compression.strip().lower() == "gzip"
        self._http: httpx.Client | None = None
        if span_exporter is None:
            cert = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE") or os.environ.get(
                "OTEL_EXPORTER_OTLP_CERTIFICATE"
            )
            self._http = httpx.Client(timeout=timeout, verify=cert or True)

    # --- Exporter interface ---------------------------------------------------------------------

    def export(self, records: list[dict[str, Any]]) -> ExportResult:
        """Translate and send in order, in chunks of bounded size; state advances only with delivery."""
        outcomes = [RETRY] * len(records)
        i, n = 0, len(records)
        while i < n:
            work = _Work(self._sessions)
            spans: list[ReadableSpan] = []
            size = 0
            j = i
            dropped: list[int] = []
            while j < n and (size < CHUNK_BYTES or not spans):
                try:
                    for span, weight in self._translate(records[j], work):
                        spans.append(span)
                        size += weight
                except Exception as exc:  # a record we cannot translate must not block the rest
                    self._warner.warn(
                        f"otlp-record:{type(exc).__name__}",
                        "Sentrial: cannot turn a record into an OpenTelemetry span (%r); it is skipped",
                        exc,
                    )
                    dropped.append(j)
                j += 1
            outcome, retry_after = self._send(spans) if spans else (OK, None)
            if outcome == RETRY:
                return ExportResult(outcomes, retry_after=retry_after)
            work.commit()
            for k in range(i, j):
                outcomes[k] = outcome
            for k in dropped:
                outcomes[k] = DROP
            i = j
        return ExportResult(outcomes)

    def close(self) -> None:
        if self._http is not None:
            try:
                self._http.close()
            except Exception:
                pass
        if self._sink is not None:
            try:
                self._sink.shutdown()
            except Exception:
                pass

    # --- sending ----------------------------------------------------------------------------------

    def _send(self, spans: list[ReadableSpan]) -> tuple[int, float | None]:
        if self._sink is not None:
            try:
                result = self._sink.export(spans)
            except Exception as exc:
                self._warner.warn("otlp-sink-error", "Sentrial: the span exporter raised %r", exc)
                return DROP, None
            if result == SpanExportResult.SUCCESS:
                return OK, None
            self._warner.warn("otlp-sink", "Sentrial: the span exporter refused %d span(s)", len(spans))
            return DROP, None
        assert self._http is not None
        body = self._encode(spans)
        if body is None:
            return DROP, None
        headers = self._headers
        if self._gzip:
            body = gzip.compress(body)
            headers = {**headers, "Content-Encoding": "gzip"}
        try:
            response = self._http.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self._warner.warn(
                "otlp-unreachable", "Sentrial: OTLP endpoint %s unreachable (%s); will retry", self.url, exc
            )
            return RETRY, None
        status = response.status_code
        if 200 <= status < 300:
            self._check_partial(response)
            return OK, None
        if status in RETRYABLE:
            self._warner.warn(
                f"otlp-{status}", "Sentrial: OTLP endpoint %s answered %d; will retry", self.url, status
            )
            return RETRY, parse_retry_after(response.headers.get("retry-after"))
        self._warner.warn(
            f"otlp-{status}",
            "Sentrial: OTLP endpoint %s refused %d span(s) with HTTP %d: %s",
            self.url,
            len(spans),
            status,
            response.text[:300],
        )
        return DROP, None

    def _encode(self, spans: list[ReadableSpan]) -> bytes | None:
        """The protobuf request; None (the chunk is dropped, not retried forever) if it cannot be made."""
        try:
            return bytes(encode_spans(spans).SerializeToString())
        except Exception as exc:
            self._warner.warn(
                "otlp-encode",
                "Sentrial: %d span(s) could not be encoded for OTLP (%r); skipped",
                len(spans),
                exc,
            )
            return None

    def _check_partial(self, response: httpx.Response) -> None:
        if not response.content:
            return
        try:
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

            parsed = ExportTraceServiceResponse.FromString(response.content)
        except Exception:
            return
        rejected = parsed.partial_success.rejected_spans
        if rejected:
            self._warner.warn(
                "otlp-partial",
                "Sentrial: the OTLP endpoint rejected %d span(s): %s",
                rejected,
                parsed.partial_success.error_message,
            )

    # --- translation ------------------------------------------------------------------------------

    def _translate(self, rec: dict[str, Any], work: _Work) -> list[tuple[ReadableSpan, int]]:
        kind = rec.get("kind")
        sid = rec.get("session_id")
        if not isinstance(sid, str):
            return []
        if kind == "session_start":
            info = _Session()
            info.name = rec.get("name")
            info.agent_name = rec.get("agent_name")
            info.user_id = rec.get("user_id")
            info.convo_id = rec.get("convo_id")
            info.parent = rec.get("parent_session_id")
            info.project_id = rec.get("project_id")
            info.metadata = rec.get("metadata")
            info.start = rec.get("ts")
            work.put(sid, info)
            return []
        if kind == "session_close":
            info = work.get(sid)
            work.drop(sid)
            return [self._root_span(sid, info, rec)]
        if kind != "event":
            return []
        info = work.get(sid)
        etype = rec.get("type")
        if etype == "llm_call":
            return [self._llm_span(sid, info, rec)]
        if etype == "tool_call":
            return [self._tool_span(sid, info, rec)]
        if etype == "decision":
            info.add_event(self._decision_event(rec))
            return []
        if etype == "error":
            return self._error(sid, info, rec)
        return []

    def _common(self, sid: str, info: _Session, rec: dict[str, Any]) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "gen_ai.conversation.id": info.convo_id or sid,
            "sentrial.session.id": sid,
        }
        if isinstance(rec.get("id"), str):
            attrs["sentrial.event.id"] = rec["id"]
        if info.agent_name:
            attrs["gen_ai.agent.name"] = info.agent_name
        return attrs

    def _place(self, sid: str, rec: dict[str, Any]) -> tuple[str, SpanContext, SpanContext]:
        """The span's key, its context and its parent's context."""
        trace = trace_id_for(sid)
        key = rec.get("span_id") or f"event:{rec.get('id')}"
        parent_key = rec.get("parent_span_id")
        parent = span_id_for(sid, parent_key) if parent_key else root_span_id(sid)
        return key, _ctx(trace, span_id_for(sid, key)), _ctx(trace, parent)

    @staticmethod
    def _times(rec: dict[str, Any]) -> tuple[int, int]:
        start = _ns(rec.get("ts")) or 0
        duration = rec.get("duration_ms")
        end = start + int(duration * 1e6) if isinstance(duration, (int, float)) and duration > 0 else start
        return start, end

    def _error_status(self, attrs: dict[str, Any], events: list[Event], error: Any, when: int) -> Status:
        err = error if isinstance(error, Mapping) else {"message": _json(error), "type": "Error"}
        etype = str(err.get("type") or "_OTHER")
        message = err.get("message")
        attrs["error.type"] = etype
        ev: dict[str, Any] = {"exception.type": etype}
        if message is not None:
            ev["exception.message"] = _json(message)
        if isinstance(err.get("stack_trace"), str):
            ev["exception.stacktrace"] = err["stack_trace"]
        events.append(Event("exception", ev, timestamp=when))
        return Status(StatusCode.ERROR, _json(message)[:1_000] if message is not None else etype)

    def _span(
        self,
        name: str,
        ctx: SpanContext,
        parent: SpanContext,
        attrs: dict[str, Any],
        events: list[Event],
        kind: SpanKind,
        status: Status,
        start: int,
        end: int,
        links: Sequence[Link] = (),
    ) -> tuple[ReadableSpan, int]:
        span = ReadableSpan(
            name=name,
            context=ctx,
            parent=parent,
            resource=self._resource,
            attributes=attrs,
            events=events,
            links=links,
            kind=kind,
            status=status,
            start_time=start,
            end_time=end,
            instrumentation_scope=self._scope,
        )
        weight = _size(attrs) + sum(_size(e.attributes or {}) for e in events)
        return span, weight

    def _llm_span(self, sid: str, info: _Session, rec: dict[str, Any]) -> tuple[ReadableSpan, int]:
        key, ctx, parent = self._place(sid, rec)
        start, end = self._times(rec)
        inp = _mapping(rec.get("input"))
        out = _mapping(rec.get("output"))
        metadata = rec.get("metadata")
        operation = _operation(metadata)
        requested = inp.get("model") if isinstance(inp.get("model"), str) else None
        response_model = out.get("response_model") if isinstance(out.get("response_model"), str) else None
        model = requested or rec.get("model") or "unknown"
        attrs = self._common(sid, info, rec)
        attrs["gen_ai.operation.name"] = operation
        provider = _provider(rec.get("provider") or inp.get("provider"))
        if provider:
            attrs["gen_ai.provider.name"] = provider
        attrs["gen_ai.request.model"] = model
        if response_model or (rec.get("model") and rec.get("model") != model):
            attrs["gen_ai.response.model"] = response_model or rec["model"]
        for field, attr in (
            ("prompt_tokens", "gen_ai.usage.input_tokens"),
            ("completion_tokens", "gen_ai.usage.output_tokens"),
        ):
            value = _num(rec.get(field), int)
            if value is not None:
                attrs[attr] = value
        tokens = _mapping(out.get("tokens"))
        cached = _num(tokens.get("cached"), int)
        if cached:
            attrs["gen_ai.usage.cache_read.input_tokens"] = cached
        reasoning = _num(tokens.get("reasoning"), int)
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
        ttft = _num(out.get("time_to_first_token_ms"), float)
        if ttft is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = ttft / 1000.0
        params = inp.get("params")
        if isinstance(params, Mapping):
            for pname, attr, kind in _PARAMS:
                value = _num(params.get(pname), kind)
                if value is not None:
                    attrs[attr] = value
            stop = _str_list(params.get("stop"))
            if stop:
                attrs["gen_ai.request.stop_sequences"] = stop
            n = _num(params.get("n"), int)
            if n is not None and n != 1:
                attrs["gen_ai.request.choice.count"] = n
        cost = _num(rec.get("cost"), float)
        if cost is not None:
            attrs["sentrial.cost_usd"] = cost
        if out.get("partial") is True:
            attrs["sentrial.partial"] = True
        if self.capture_content:
            msgs = input_messages(inp.get("messages"))
            if msgs:
                attrs["gen_ai.input.messages"] = _json(msgs)
            if operation != "embeddings":
                outs = output_messages(out.get("content"), out.get("tool_calls"), finish)
                if outs:
                    attrs["gen_ai.output.messages"] = _json(outs)
        events: list[Event] = []
        status = Status(StatusCode.UNSET)
        error = rec.get("error")
        if error:
            status = self._error_status(attrs, events, error, end)
            info.last_error_type = attrs["error.type"]
        info.saw_span(key, bool(error))
        return self._span(
            f"{operation} {model}", ctx, parent, attrs, events, SpanKind.CLIENT, status, start, end
        )

    def _tool_span(self, sid: str, info: _Session, rec: dict[str, Any]) -> tuple[ReadableSpan, int]:
        key, ctx, parent = self._place(sid, rec)
        start, end = self._times(rec)
        name = rec.get("name") or "tool"
        metadata = rec.get("metadata")
        attrs = self._common(sid, info, rec)
        retrieval = isinstance(metadata, Mapping) and metadata.get("kind") == "retrieval"
        operation = "retrieval" if retrieval else "execute_tool"
        attrs["gen_ai.operation.name"] = operation
        attrs["gen_ai.tool.name"] = name
        if not retrieval:
            attrs["gen_ai.tool.type"] = "function"
        if isinstance(metadata, Mapping) and isinstance(metadata.get("tool_call_id"), str):
            attrs["gen_ai.tool.call.id"] = metadata["tool_call_id"]
        if self.capture_content:
            if rec.get("input") is not None:
                attrs["gen_ai.tool.call.arguments"] = _json(rec["input"])
            if rec.get("output") is not None:
                attrs["gen_ai.tool.call.result"] = _json(rec["output"])
            if rec.get("reasoning"):
                attrs["sentrial.reasoning"] = _json(rec["reasoning"])
        events: list[Event] = []
        status = Status(StatusCode.UNSET)
        error = rec.get("error")
        if error:
            status = self._error_status(attrs, events, error, end)
            info.last_error_type = attrs["error.type"]
        info.saw_span(key, bool(error))
        return self._span(
            f"{operation} {name}", ctx, parent, attrs, events, SpanKind.INTERNAL, status, start, end
        )

    def _decision_event(self, rec: dict[str, Any]) -> Event:
        attrs: dict[str, Any] = {}
        if isinstance(rec.get("id"), str):
            attrs["sentrial.event.id"] = rec["id"]
        if rec.get("parent_span_id"):
            attrs["sentrial.parent_span_id"] = str(rec["parent_span_id"])
        confidence = _num(rec.get("confidence"), float)
        if confidence is not None:
            attrs["sentrial.decision.confidence"] = confidence
        alternatives = rec.get("alternatives")
        if alternatives is not None:
            attrs["sentrial.decision.alternatives"] = _str_list(alternatives) or _json(alternatives)
        if self.capture_content:
            if rec.get("reasoning"):
                attrs["sentrial.decision.reasoning"] = _json(rec["reasoning"])
            if rec.get("decision") is not None:
                attrs["sentrial.decision.choice"] = _json(rec["decision"])
        return Event("sentrial.decision", attrs, timestamp=_ns(rec.get("ts")))

    def _error(self, sid: str, info: _Session, rec: dict[str, Any]) -> list[tuple[ReadableSpan, int]]:
        """An error event: on its failed span when that span is not sent yet (an OpenAI call that
        failed before answering has no ``llm_call`` event), else an ``exception`` event on the root."""
        error = _mapping(rec.get("error")) or {"type": "Error"}
        info.last_error_type = str(error.get("type") or "_OTHER")
        parent_key = rec.get("parent_span_id")
        seen = info.spans.get(parent_key) if parent_key else None
        if seen is True:  # the failed span already carries this error
            return []
        name = rec.get("name")
        if seen is None and parent_key and isinstance(name, str) and name.startswith("llm:"):
            return [self._failed_llm_span(sid, info, rec, parent_key, name, error)]
        ev: dict[str, Any] = {"exception.type": info.last_error_type}
        if error.get("message") is not None:
            ev["exception.message"] = _json(error.get("message"))
        if isinstance(error.get("stack_trace"), str):
            ev["exception.stacktrace"] = error["stack_trace"]
        if isinstance(name, str):
            ev["sentrial.error.source"] = name
        if parent_key:
            ev["sentrial.parent_span_id"] = str(parent_key)
        if isinstance(rec.get("id"), str):
            ev["sentrial.event.id"] = rec["id"]
        info.add_event(Event("exception", ev, timestamp=_ns(rec.get("ts"))))
        return []

    def _failed_llm_span(
        self, sid: str, info: _Session, rec: dict[str, Any], key: str, name: str, error: Mapping[str, Any]
    ) -> tuple[ReadableSpan, int]:
        """The span of an LLM call known only from its error event (``llm:<provider>:<model>``)."""
        _, provider, model = [*name.split(":", 2), "", ""][:3]
        metadata = _mapping(rec.get("metadata"))
        operation = _operation(metadata)
        model = str(metadata.get("model") or model or "unknown")
        trace = trace_id_for(sid)
        end = _ns(rec.get("ts")) or 0
        duration = _num(metadata.get("duration_ms"), float)
        start = end - int(duration * 1e6) if duration and duration > 0 else end
        attrs = self._common(sid, info, rec)
        attrs["gen_ai.operation.name"] = operation
        prov = _provider(metadata.get("provider") or provider)
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
            _ctx(trace, span_id_for(sid, key)),
            _ctx(trace, root_span_id(sid)),
            attrs,
            events,
            SpanKind.CLIENT,
            status,
            start,
            end,
        )

    def _root_span(self, sid: str, info: _Session, rec: dict[str, Any]) -> tuple[ReadableSpan, int]:
        trace = trace_id_for(sid)
        end = _ns(rec.get("ts")) or 0
        start = _ns(info.start)
        if start is None:  # the start record was not seen by this process (evicted, replayed spool)
            duration = _num(rec.get("duration_ms"), float)
            start = end - int(duration * 1e6) if duration and duration > 0 else end
        agent = info.agent_name or info.name
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.conversation.id": info.convo_id or sid,
            "sentrial.session.id": sid,
        }
        if agent:
            attrs["gen_ai.agent.name"] = agent
        if info.name:
            attrs["sentrial.session.name"] = info.name
        status_text = rec.get("status") or "success"
        attrs["sentrial.session.status"] = status_text
        if info.user_id:
            attrs["user.id"] = info.user_id
        if info.project_id:
            attrs["sentrial.project.id"] = info.project_id
        if info.parent:
            attrs["sentrial.parent_session.id"] = info.parent
        for field, attr in (
            ("prompt_tokens", "gen_ai.usage.input_tokens"),
            ("completion_tokens", "gen_ai.usage.output_tokens"),
        ):
            value = _num(rec.get(field), int)
            if value is not None:
                attrs[attr] = value
        cost = _num(rec.get("cost"), float)
        if cost is not None:
            attrs["sentrial.cost_usd"] = cost
        if info.metadata:
            _flat(attrs, "sentrial.metadata", info.metadata)
        if rec.get("custom_metrics"):
            _flat(attrs, "sentrial.metrics", rec["custom_metrics"])
        if rec.get("failure_reason"):
            attrs["sentrial.session.failure_reason"] = _json(rec["failure_reason"])
        if self.capture_content and rec.get("output") is not None:
            outs = output_messages(rec["output"], None, None)
            if outs:
                attrs["gen_ai.output.messages"] = _json(outs)
        if info.dropped:
            attrs["sentrial.dropped_events"] = info.dropped
        status = Status(StatusCode.UNSET)
        if status_text in ("error", "failure", "timeout"):
            attrs["error.type"] = (
                (info.last_error_type or "_OTHER") if status_text == "error" else status_text
            )
            reason = rec.get("failure_reason")
            status = Status(StatusCode.ERROR, _json(reason)[:1_000] if reason else status_text)
        links = []
        if info.parent:
            links.append(
                Link(
                    _ctx(trace_id_for(info.parent), root_span_id(info.parent)),
                    {"sentrial.link": "parent_session"},
                )
            )
        name = f"invoke_agent {agent}" if agent else "invoke_agent"
        span = ReadableSpan(
            name=name,
            context=_ctx(trace, root_span_id(sid)),
            parent=None,
            resource=self._resource,
            attributes=attrs,
            events=list(info.events),
            links=links,
            kind=SpanKind.INTERNAL,
            status=status,
            start_time=start,
            end_time=max(end, start),
            instrumentation_scope=self._scope,
        )
        weight = _size(attrs) + sum(_size(e.attributes or {}) for e in info.events)
        return span, weight
