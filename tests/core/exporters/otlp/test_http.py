"""Real OTLP/HTTP round trips: ``SentrialClient(local_path=..., otlp_endpoint=...)`` delivers to the
local store and, as protobuf ``ExportTraceServiceRequest``s, to a loopback receiver."""

from __future__ import annotations

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from sentrial_integrations import SentrialClient
from sentrial_integrations.core.exporters.base import OK, RETRY
from sentrial_integrations.core.exporters.otlp import OTLPExporter, root_span_id, span_id_for, trace_id_for
from tests.conftest import read_store
from tests.servers.otlp_receiver import OTLPReceiver


def _client(tmp_path, rx, **kw) -> SentrialClient:
    return SentrialClient(
        local_path=str(tmp_path / "fan.db"), spool_path=str(tmp_path / "spool"), otlp_endpoint=rx.url, **kw
    )


def _session(client: SentrialClient) -> str:
    with client.session("fan-out", agent_name="fan", metadata={"env": "test"}) as s:
        s.track_llm_call(
            "gpt-4o-mini",
            provider="openai",
            messages=[{"role": "user", "content": "2+2?"}],
            response="4",
            prompt_tokens=9,
            completion_tokens=1,
            span_id="llm",
            duration_ms=20.0,
        )
        s.track_tool_call("calc", {"expr": "2+2"}, 4, span_id="tool", parent_span_id="llm", duration_ms=1.0)
        s.track_decision("answer directly", decision="4", parent_span_id="llm")
    return s.id


def test_store_and_collector_at_once(tmp_path, monkeypatch, otlp_receiver):
    monkeypatch.setenv("SENTRIAL_OTLP_HEADERS", "Authorization=Bearer otel-secret, x-team=agents")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "weather-bot")
    client = _client(tmp_path, otlp_receiver)
    try:
        sid = _session(client)
        store = read_store(client)  # flushes both destinations
    finally:
        client.shutdown(5)

    (stored,) = store.list_sessions()
    assert (stored["id"], stored["status"], stored["event_count"], stored["total_tokens"]) == (
        sid,
        "success",
        3,
        10,
    )
    assert [e["type"] for e in store.get_events(sid)] == ["llm_call", "tool_call", "decision"]

    spans = {s.name: s for s in otlp_receiver.spans}
    assert sorted(spans) == ["chat gpt-4o-mini", "execute_tool calc", "invoke_agent fan"]
    root, llm, tool = spans["invoke_agent fan"], spans["chat gpt-4o-mini"], spans["execute_tool calc"]
    trace = f"{trace_id_for(sid):032x}"
    assert {s.trace_id for s in spans.values()} == {trace}
    assert (root.span_id, root.parent_span_id) == (f"{root_span_id(sid):016x}", "")
    assert (llm.span_id, llm.parent_span_id) == (f"{span_id_for(sid, 'llm'):016x}", root.span_id)
    assert (tool.span_id, tool.parent_span_id) == (f"{span_id_for(sid, 'tool'):016x}", llm.span_id)
    assert (root.kind, llm.kind, tool.kind) == (
        Span.SPAN_KIND_INTERNAL,
        Span.SPAN_KIND_CLIENT,
        Span.SPAN_KIND_INTERNAL,
    )
    assert llm.end_ns - llm.start_ns == 20_000_000
    assert {
        k: llm.attributes[k]
        for k in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model")
    } == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
    }
    assert (llm.attributes["gen_ai.usage.input_tokens"], llm.attributes["gen_ai.usage.output_tokens"]) == (
        9,
        1,
    )
    assert root.attributes["gen_ai.conversation.id"] == sid
    assert root.attributes["sentrial.metadata.env"] == "test"
    assert root.status_code == Status.STATUS_CODE_UNSET
    assert [name for name, _ in root.events] == ["sentrial.decision"]
    assert root.resource["service.name"] == "weather-bot"
    assert root.scope == "sentrial_integrations"

    headers = {k.lower(): v for k, v in otlp_receiver.requests[0]["headers"].items()}
    assert otlp_receiver.requests[0]["path"] == "/v1/traces"
    assert headers["authorization"] == "Bearer otel-secret" and headers["x-team"] == "agents"
    assert headers["content-type"] == "application/x-protobuf"


def test_retried_after_503_without_duplicates(tmp_path, otlp_receiver):
    otlp_receiver.fail_next(503, retry_after="0")
    client = _client(tmp_path, otlp_receiver)
    try:
        sid = _session(client)
        assert client.flush(15)
    finally:
        client.shutdown(5)
    assert otlp_receiver.refused == 1
    ids = sorted(s.span_id for s in otlp_receiver.spans)
    expected = [
        f"{span_id_for(sid, 'llm'):016x}",
        f"{span_id_for(sid, 'tool'):016x}",
        f"{root_span_id(sid):016x}",
    ]
    assert ids == sorted(expected)


def test_refused_batch_is_dropped_and_later_data_flows(tmp_path, otlp_receiver):
    otlp_receiver.fail_next(400)
    client = _client(tmp_path, otlp_receiver)
    try:
        with client.session("first", agent_name="one"):
            pass
        assert client.flush(10)
        with client.session("second", agent_name="two"):
            pass
        assert client.flush(10)
    finally:
        client.shutdown(5)
    assert otlp_receiver.refused == 1
    assert [s.name for s in otlp_receiver.spans] == ["invoke_agent two"]


def test_gzip(tmp_path, monkeypatch, otlp_receiver):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    client = _client(tmp_path, otlp_receiver)
    try:
        with client.session("zipped", agent_name="z"):
            pass
        assert client.flush(10)
    finally:
        client.shutdown(5)
    assert otlp_receiver.requests[0]["headers"].get("Content-Encoding") == "gzip"
    assert [s.name for s in otlp_receiver.spans] == ["invoke_agent z"]


def test_unreachable_endpoint_is_retried_not_raised():
    with OTLPReceiver() as rx:
        url = rx.url
    # nobody listens there any more
    exporter = OTLPExporter(url, timeout=2.0)
    start = {"kind": "session_start", "session_id": "s", "name": "n", "ts": 1.0}
    close = {"kind": "session_close", "session_id": "s", "seq": 1, "status": "success", "ts": 2.0}
    result = exporter.export([start, close])
    assert result.outcomes == [RETRY, RETRY]
    assert exporter.export([start]).outcomes == [OK]  # no span to send: nothing to fail
    exporter.close()


def test_full_traces_url_is_kept(tmp_path, otlp_receiver):
    exporter = OTLPExporter(otlp_receiver.url + "/v1/traces/")
    assert exporter.url == otlp_receiver.url + "/v1/traces"
    exporter.close()
