"""Sessions and events as GenAI-convention spans: names, attributes, parenting, errors, decisions,
deterministic ids. Real client and pipeline; the SDK's in-memory span exporter receives the spans."""

from __future__ import annotations

import json
import time

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import sentrial_integrations
from sentrial_integrations import estimate_cost
from sentrial_integrations.core.exporters.base import DROP, OK, RETRY
from sentrial_integrations.core.exporters.otlp import (
    OTLPExporter,
    input_messages,
    root_span_id,
    span_id_for,
    trace_id_for,
)
from sentrial_integrations.core.exporters.otlp import state as otlp_state
from tests.conftest import read_store
from tests.core.exporters.otlp.conftest import attrs, events, finished

T0 = 1_700_000_000.0


def ns(seconds: float) -> int:
    return int(seconds * 1e9)


def test_session_llm_tool_and_decision(otel_client, span_sink):
    before = time.time()
    s = otel_client.session(
        "support", metadata={"team": "billing", "tier": 2}, agent_name="helper", user_id="u-7", convo_id="c-1"
    )
    sid = s.id
    s.track_llm_call(
        "gpt-4o-mini",
        provider="openai",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
        ],
        response=None,
        tool_calls=[{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
        prompt_tokens=120,
        completion_tokens=30,
        cached_tokens=100,
        params={"temperature": 0.2, "max_tokens": 256, "stop": ["\n\n"], "tools": ["get_weather"]},
        response_model="gpt-4o-mini-2024-07-18",
        finish_reason="tool_calls",
        time_to_first_token_ms=80.0,
        metadata={"operation": "chat.completions.create", "response_id": "chatcmpl-9", "stream": True},
        duration_ms=250.0,
        start_time=T0,
        span_id="llm-1",
    )
    s.track_decision(
        "call get_weather",
        decision={"action": "tool_calls", "tool_calls": ["get_weather"]},
        alternatives=["get_weather", "search"],
        confidence=0.9,
        parent_span_id="llm-1",
        start_time=T0 + 0.25,
    )
    s.track_tool_call(
        "get_weather",
        {"city": "Paris"},
        "sunny",
        metadata={"tool_call_id": "call_1"},
        duration_ms=10.0,
        start_time=T0 + 0.3,
        span_id="tool-1",
    )
    s.close("success", output="It is sunny in Paris")
    after = time.time()

    spans = finished(otel_client, span_sink)
    assert sorted(spans) == ["chat gpt-4o-mini", "execute_tool get_weather", "invoke_agent helper"]
    root, llm, tool = (
        spans["invoke_agent helper"],
        spans["chat gpt-4o-mini"],
        spans["execute_tool get_weather"],
    )

    trace_id = trace_id_for(sid)
    assert {sp.context.trace_id for sp in spans.values()} == {trace_id}
    assert root.context.span_id == root_span_id(sid) and root.parent is None
    assert llm.context.span_id == span_id_for(sid, "llm-1") and llm.parent.span_id == root.context.span_id
    assert tool.context.span_id == span_id_for(sid, "tool-1") and tool.parent.span_id == root.context.span_id
    assert (root.kind, llm.kind, tool.kind) == (SpanKind.INTERNAL, SpanKind.CLIENT, SpanKind.INTERNAL)
    assert {sp.status.status_code for sp in spans.values()} == {StatusCode.UNSET}
    assert (llm.start_time, llm.end_time - llm.start_time) == (ns(T0), 250_000_000)
    assert (tool.start_time, tool.end_time - tool.start_time) == (ns(T0 + 0.3), 10_000_000)
    assert root.instrumentation_scope.name == "sentrial_integrations"
    assert root.instrumentation_scope.version == sentrial_integrations.__version__  # the installed package's

    cost = estimate_cost("gpt-4o-mini-2024-07-18", 120, 30, 100)
    assert attrs(llm) == {
        "gen_ai.conversation.id": "c-1",
        "gen_ai.agent.name": "helper",
        "sentrial.session.id": sid,
        "sentrial.event.id": f"{sid}.1",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.response.finish_reasons": ["tool_calls"],
        "gen_ai.response.id": "chatcmpl-9",
        "gen_ai.request.stream": True,
        "gen_ai.response.time_to_first_chunk": 0.08,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 256,
        "gen_ai.request.stop_sequences": ["\n\n"],
        "sentrial.cost_usd": cost,
        "gen_ai.input.messages": json.dumps(
            [
                {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
                {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
            ],
            separators=(",", ":"),
        ),
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [
                        {
                            "type": "tool_call",
                            "id": "call_1",
                            "name": "get_weather",
                            "arguments": {"city": "Paris"},
                        }
                    ],
                    "finish_reason": "tool_calls",
                }
            ],
            separators=(",", ":"),
        ),
    }
    assert attrs(tool) == {
        "gen_ai.conversation.id": "c-1",
        "gen_ai.agent.name": "helper",
        "sentrial.session.id": sid,
        "sentrial.event.id": f"{sid}.3",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.call.arguments": '{"city":"Paris"}',
        "gen_ai.tool.call.result": "sunny",
    }
    assert attrs(root) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.conversation.id": "c-1",
        "gen_ai.agent.name": "helper",
        "sentrial.session.id": sid,
        "sentrial.session.name": "support",
        "sentrial.session.status": "success",
        "user.id": "u-7",
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
        "sentrial.cost_usd": cost,
        "sentrial.metadata.team": "billing",
        "sentrial.metadata.tier": 2,
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": "It is sunny in Paris"}],
                    "finish_reason": "stop",
                }
            ],
            separators=(",", ":"),
        ),
    }
    assert events(root) == [
        (
            "sentrial.decision",
            {
                "sentrial.event.id": f"{sid}.2",
                "sentrial.parent_span_id": "llm-1",
                "sentrial.decision.confidence": 0.9,
                "sentrial.decision.alternatives": ["get_weather", "search"],
                "sentrial.decision.reasoning": "call get_weather",
                "sentrial.decision.choice": '{"action":"tool_calls","tool_calls":["get_weather"]}',
            },
        )
    ]
    assert root.events[0].timestamp == ns(T0 + 0.25)
    # The root spans the session: from its start to its close.
    assert ns(before) <= root.start_time <= root.end_time <= ns(after)


def test_nesting_follows_parent_span_id(otel_client, span_sink):
    with otel_client.session("nested", agent_name="a") as s:
        s.track_llm_call("gpt-4o", provider="openai", span_id="inner-llm", parent_span_id="outer-tool")
        s.track_tool_call("outer", {"q": 1}, span_id="outer-tool")
        s.track_tool_call("no-span-id", None, None)  # gets an id from its event id
    spans = finished(otel_client, span_sink)
    sid = s.id
    llm, outer, plain = spans["chat gpt-4o"], spans["execute_tool outer"], spans["execute_tool no-span-id"]
    assert llm.parent.span_id == outer.context.span_id == span_id_for(sid, "outer-tool")
    assert outer.parent.span_id == root_span_id(sid)
    assert plain.context.span_id == span_id_for(sid, f"event:{sid}.3")
    assert plain.parent.span_id == root_span_id(sid)


def test_errors(otel_client, span_sink):
    s = otel_client.session("failing", agent_name="bot")
    sid = s.id
    try:
        raise ValueError("bad city")
    except ValueError as exc:
        tool_error = exc
    # A failed tool, then the error event a framework records for it: one ERROR span, no duplicate.
    s.track_tool_call("get_weather", {"city": "?"}, error=tool_error, duration_ms=5.0, span_id="t1")
    s.track_error(tool_error, tool_name="get_weather", parent_span_id="t1")
    # An LLM call that failed before answering: only an error event, named after the call.
    s.track_error(
        {"message": "Rate limit reached", "type": "RateLimitError"},
        tool_name="llm:openai:gpt-4o-mini",
        parent_span_id="oai_1",
        metadata={
            "operation": "chat.completions.create",
            "model": "gpt-4o-mini",
            "duration_ms": 40.0,
            "status_code": 429,
        },
    )
    # An error not tied to any span.
    s.track_error(KeyError("missing"))
    s.close("error", failure_reason="KeyError: 'missing'")

    spans = finished(otel_client, span_sink)
    assert sorted(spans) == ["chat gpt-4o-mini", "execute_tool get_weather", "invoke_agent bot"]
    tool, llm, root = spans["execute_tool get_weather"], spans["chat gpt-4o-mini"], spans["invoke_agent bot"]

    assert (tool.status.status_code, tool.status.description) == (StatusCode.ERROR, "bad city")
    assert attrs(tool)["error.type"] == "ValueError"
    ((name, exc_attrs),) = events(tool)
    assert name == "exception"
    assert exc_attrs["exception.type"] == "ValueError" and exc_attrs["exception.message"] == "bad city"
    assert 'raise ValueError("bad city")' in exc_attrs["exception.stacktrace"]

    assert llm.kind == SpanKind.CLIENT
    assert llm.context.span_id == span_id_for(sid, "oai_1") and llm.parent.span_id == root_span_id(sid)
    assert (llm.status.status_code, llm.status.description) == (StatusCode.ERROR, "Rate limit reached")
    assert llm.end_time - llm.start_time == 40_000_000
    a = attrs(llm)
    assert {k: a[k] for k in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model")} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
    }
    assert (a["error.type"], a["http.response.status_code"]) == ("RateLimitError", 429)

    assert (root.status.status_code, root.status.description) == (StatusCode.ERROR, "KeyError: 'missing'")
    assert attrs(root)["error.type"] == "KeyError"
    assert attrs(root)["sentrial.session.status"] == "error"
    ((name, loose),) = events(root)
    assert name == "exception"
    assert (loose["exception.type"], loose["exception.message"]) == ("KeyError", "'missing'")
    assert loose["sentrial.event.id"] == f"{sid}.4"


@pytest.mark.parametrize(
    ("status", "error_type"), [("failure", "failure"), ("timeout", "timeout"), ("abandoned", None)]
)
def test_session_status(otel_client, span_sink, status, error_type):
    s = otel_client.session("run", agent_name="x")
    s.close(status, failure_reason="why" if error_type else None)
    (root,) = finished(otel_client, span_sink).values()
    assert attrs(root).get("error.type") == error_type
    assert root.status.status_code == (StatusCode.ERROR if error_type else StatusCode.UNSET)


def test_child_session_links_to_parent(otel_client, span_sink):
    with (
        otel_client.session("parent", agent_name="p") as parent,
        otel_client.session("child", agent_name="c") as child,
    ):
        pass
    spans = finished(otel_client, span_sink)
    root, sub = spans["invoke_agent p"], spans["invoke_agent c"]
    assert sub.context.trace_id == trace_id_for(child.id) != root.context.trace_id
    assert sub.parent is None
    assert [(ln.context.trace_id, ln.context.span_id) for ln in sub.links] == [
        (root.context.trace_id, root.context.span_id)
    ]
    assert attrs(sub)["sentrial.parent_session.id"] == parent.id


def test_capture_content_off(monkeypatch, otel_client, span_sink):
    monkeypatch.setenv("SENTRIAL_OTLP_CAPTURE_CONTENT", "false")  # read when the exporter starts
    client = type(otel_client)(
        local_path=otel_client.config.local_path + "2", otlp_endpoint="http://127.0.0.1:9"
    )
    try:
        with client.session("quiet", agent_name="q") as s:
            s.track_llm_call(
                "gpt-4o", messages=[{"role": "user", "content": "secret"}], response="secret answer"
            )
            s.track_tool_call("lookup", {"ssn": "secret"}, "secret result")
            s.track_decision("secret reasoning", decision="secret", alternatives=["a", "b"])
        spans = finished(client, span_sink)
    finally:
        client.shutdown(5)
    for span in spans.values():
        assert "secret" not in repr(attrs(span)) + repr(events(span))
    assert events(spans["invoke_agent q"])[0][1]["sentrial.decision.alternatives"] == ["a", "b"]


def test_local_store_receives_the_same_session(otel_client, span_sink):
    """Fan-out: the OTLP pipeline runs beside the embedded store."""
    with otel_client.session("both", agent_name="b") as s:
        s.track_tool_call("t", 1, 2)
    spans = finished(otel_client, span_sink)
    (stored,) = read_store(otel_client).list_sessions()
    assert (stored["id"], stored["name"], stored["status"], stored["event_count"]) == (
        s.id,
        "both",
        "success",
        1,
    )
    assert sorted(spans) == ["execute_tool t", "invoke_agent b"]


# --- the exporter on its own: records in, spans out ------------------------------------------------


def records(sid: str = "ses_fixed") -> list[dict]:
    return [
        {
            "kind": "session_start",
            "session_id": sid,
            "name": "r",
            "agent_name": "agent",
            "user_id": None,
            "parent_session_id": None,
            "convo_id": None,
            "metadata": {},
            "project_id": None,
            "ts": T0,
        },
        {
            "kind": "event",
            "id": f"{sid}.1",
            "session_id": sid,
            "seq": 1,
            "type": "llm_call",
            "name": "llm:openai:gpt-4o",
            "ts": T0 + 1,
            "duration_ms": 100.0,
            "span_id": "s1",
            "parent_span_id": None,
            "input": {"messages": "hi", "model": "gpt-4o", "provider": "openai", "params": None},
            "output": {
                "content": "yo",
                "tool_calls": None,
                "tokens": {"prompt": 1, "completion": 2, "total": 3},
                "cost_usd": None,
            },
            "error": None,
            "reasoning": None,
            "metadata": None,
            "model": "gpt-4o",
            "provider": "openai",
            "prompt_tokens": 1,
            "completion_tokens": 2,
            "total_tokens": 3,
            "cost": None,
            "decision": None,
            "alternatives": None,
            "confidence": None,
        },
        {
            "kind": "event",
            "id": f"{sid}.2",
            "session_id": sid,
            "seq": 2,
            "type": "decision",
            "name": "decision",
            "ts": T0 + 2,
            "duration_ms": None,
            "span_id": None,
            "parent_span_id": "s1",
            "input": None,
            "output": None,
            "error": None,
            "reasoning": "r",
            "metadata": None,
            "model": None,
            "provider": None,
            "prompt_tokens": None,
            "completion_tokens": None,
            "total_tokens": None,
            "cost": None,
            "decision": "d",
            "alternatives": None,
            "confidence": None,
        },
        {
            "kind": "session_close",
            "session_id": sid,
            "seq": 3,
            "status": "success",
            "ts": T0 + 3,
            "duration_ms": 3000.0,
            "output": None,
            "failure_reason": None,
            "custom_metrics": None,
            "prompt_tokens": 1,
            "completion_tokens": 2,
            "total_tokens": 3,
            "cost": None,
            "event_count": 2,
        },
    ]


def shape(spans) -> list[tuple]:
    return [
        (
            s.name,
            s.context.trace_id,
            s.context.span_id,
            s.parent.span_id if s.parent else None,
            s.start_time,
            s.end_time,
            attrs(s),
            events(s),
        )
        for s in spans
    ]


class FlakySink(InMemorySpanExporter):
    """Refuses the first export."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def export(self, spans):
        self.calls += 1
        if self.calls == 1:
            return SpanExportResult.FAILURE
        return super().export(spans)


def test_same_records_same_spans():
    a, b = InMemorySpanExporter(), InMemorySpanExporter()
    ra = OTLPExporter("http://x", span_exporter=a).export(records())
    rb = OTLPExporter("http://x", span_exporter=b).export(records())
    assert ra.outcomes == rb.outcomes == [OK] * 4
    assert shape(a.get_finished_spans()) == shape(b.get_finished_spans())
    assert [s.name for s in a.get_finished_spans()] == ["chat gpt-4o", "invoke_agent agent"]


def test_a_refused_batch_changes_no_state(otlp_receiver):
    """A retried batch is translated exactly as the first time (the root keeps its start and its decision)."""
    exporter = OTLPExporter(otlp_receiver.url)
    otlp_receiver.fail_next(503, retry_after="7")
    first = exporter.export(records())
    assert first.outcomes == [RETRY] * 4 and first.retry_after == 7.0
    second = exporter.export(records())
    assert second.outcomes == [OK] * 4
    exporter.close()
    fresh = InMemorySpanExporter()
    OTLPExporter("http://x", span_exporter=fresh).export(records())
    got = {s.name: s for s in otlp_receiver.spans}
    want = {s.name: s for s in fresh.get_finished_spans()}
    assert sorted(got) == sorted(want) == ["chat gpt-4o", "invoke_agent agent"]
    for name, w in want.items():
        g = got[name]
        assert (g.trace_id, g.span_id, g.parent_span_id) == (
            f"{w.context.trace_id:032x}",
            f"{w.context.span_id:016x}",
            f"{w.parent.span_id:016x}" if w.parent else "",
        )
        assert (g.start_ns, g.end_ns) == (w.start_time, w.end_time)
        assert g.events == events(w)


def test_refusing_sink_drops_and_goes_on():
    sink = FlakySink()
    exporter = OTLPExporter("http://x", span_exporter=sink)
    assert exporter.export(records("ses_a")).outcomes == [DROP] * 4
    assert exporter.export(records("ses_b")).outcomes == [OK] * 4
    assert [s.attributes["sentrial.session.id"] for s in sink.get_finished_spans()] == ["ses_b", "ses_b"]


def test_bounded_state(monkeypatch):
    monkeypatch.setattr(otlp_state, "MAX_SESSIONS", 3)
    monkeypatch.setattr(otlp_state, "MAX_ROOT_EVENTS", 2)
    sink = InMemorySpanExporter()
    exporter = OTLPExporter("http://x", span_exporter=sink)
    for i in range(10):  # sessions opened and never closed
        exporter.export(records(f"ses_{i}")[:1])
    assert list(exporter._sessions) == ["ses_7", "ses_8", "ses_9"]
    recs = records("ses_many")
    decision = recs[2]
    many = [dict(decision, id=f"ses_many.d{i}") for i in range(5)]
    exporter.export([recs[0], *many, recs[3]])
    (root,) = [s for s in sink.get_finished_spans() if s.name == "invoke_agent agent"]
    assert len(root.events) == 2 and attrs(root)["sentrial.dropped_events"] == 3


def test_close_without_start_uses_the_close_record():
    sink = InMemorySpanExporter()
    OTLPExporter("http://x", span_exporter=sink).export(records()[3:])
    (root,) = sink.get_finished_spans()
    assert root.name == "invoke_agent"
    assert (root.start_time, root.end_time) == (ns(T0 + 3) - 3_000_000_000, ns(T0 + 3))


def test_global_tracer_provider_untouched(otel_client, span_sink):
    before = trace_api.get_tracer_provider()
    with otel_client.session("g", agent_name="g"):
        pass
    assert finished(otel_client, span_sink)
    assert trace_api.get_tracer_provider() is before
    assert type(before).__name__ == "ProxyTracerProvider"


def test_message_shapes():
    assert input_messages("a prompt") == [
        {"role": "user", "parts": [{"type": "text", "content": "a prompt"}]}
    ]
    assert input_messages(
        [
            {"type": "human", "content": [{"type": "text", "text": "hi"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "2"},
        ]
    ) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "add", "arguments": {"a": 1}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "2"}]},
    ]


class RaisingSink(InMemorySpanExporter):
    def export(self, spans):
        raise RuntimeError("sink bug")


def test_sink_that_raises_drops_without_raising():
    assert OTLPExporter("http://x", span_exporter=RaisingSink()).export(records()).outcomes == [DROP] * 4


def test_a_chunk_that_cannot_be_encoded_is_dropped_not_retried(otlp_receiver, monkeypatch):
    exporter = OTLPExporter(otlp_receiver.url)
    translator = exporter._translator
    real_root_span = translator._root_span

    def poisoned(sid, info, rec):
        span, weight = real_root_span(sid, info, rec)
        if sid == "ses_bad":
            span._context = None  # the encoder cannot make a span without ids
        return span, weight

    monkeypatch.setattr(translator, "_root_span", poisoned)
    assert exporter.export(records("ses_bad")).outcomes == [DROP] * 4
    assert exporter.export(records("ses_good")).outcomes == [OK] * 4
    exporter.close()
    assert {s.attributes["sentrial.session.id"] for s in otlp_receiver.spans} == {"ses_good"}
