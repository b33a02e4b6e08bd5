"""instrument() / uninstrument(): idempotent, reversible, never in the way of the host program."""

from __future__ import annotations

import logging

from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.llms import MockLLM

from sentrial_integrations import SentrialClient, get_client
from sentrial_integrations.llamaindex import instrument, is_instrumented, uninstrument
from sentrial_integrations.llamaindex import tracker as tracker_module
from tests.llamaindex.conftest import brief, events, sessions


def _ours(handlers: list) -> list:
    return [h for h in handlers if type(h).__name__ in ("SentrialSpanHandler", "SentrialEventHandler")]


def test_instrument_twice_records_each_call_once(local_client, index):
    try:
        instrument(local_client)
        instrument(local_client)
        instrument()
        d = get_dispatcher()
        assert len(_ours(d.span_handlers)) == 1 and len(_ours(d.event_handlers)) == 1
        index.as_query_engine(llm=MockLLM(max_tokens=1), similarity_top_k=1).query("once")
    finally:
        uninstrument()
    (s,) = sessions(local_client)
    assert [brief(e) for e in events(local_client, s["id"])] == [
        ("tool_call", "retrieve"),
        ("llm_call", "llm:mock:unknown"),
    ]


def test_uninstrument_restores_the_dispatcher(local_client, index):
    d = get_dispatcher()
    before = (list(d.span_handlers), list(d.event_handlers))
    instrument(local_client)
    assert is_instrumented()
    uninstrument()
    uninstrument()  # a second call is a no-op
    assert not is_instrumented()
    assert (d.span_handlers, d.event_handlers) == before
    assert _ours(d.span_handlers) == [] and _ours(d.event_handlers) == []
    index.as_query_engine(llm=MockLLM(max_tokens=1), similarity_top_k=1).query("not recorded")
    assert sessions(local_client) == []


def test_uninstrument_closes_runs_still_open(local_client, index):
    instrument(local_client)
    try:
        response = index.as_query_engine(llm=MockLLM(max_tokens=2), streaming=True).query("pending")
    finally:
        uninstrument()
    assert "".join(response.response_gen) == "text text"  # the user's stream still works
    (s,) = sessions(local_client)
    assert s["status"] == "abandoned"
    assert s["failure_reason"] == "LlamaIndex instrumentation was removed while the run was in progress"


def test_default_client(index):
    instrument()
    try:
        index.as_query_engine(llm=MockLLM(max_tokens=1), similarity_top_k=1).query("default client")
    finally:
        uninstrument()
    (s,) = sessions(get_client())
    assert (s["name"], s["status"]) == ("RetrieverQueryEngine.query", "success")


def test_internal_errors_never_reach_the_user(li_client, index, monkeypatch, caplog_sentrial):
    def broken(self, *args):
        raise RuntimeError("bug in the tracker")

    monkeypatch.setattr(tracker_module.Tracker, "_record_llm", broken)
    response = index.as_query_engine(llm=MockLLM(max_tokens=1), similarity_top_k=1).query("still works")
    assert str(response) == "text"
    (s,) = sessions(li_client)
    assert s["status"] == "success"
    assert [brief(e) for e in events(li_client, s["id"])] == [("tool_call", "retrieve")]
    # a stream's bookkeeping survives the failure: its session still closes when it is consumed
    streaming = index.as_query_engine(llm=MockLLM(max_tokens=2), similarity_top_k=1, streaming=True)
    assert "".join(streaming.query("stream").response_gen) == "text text"
    assert [x["status"] for x in sessions(li_client)] == ["success", "success"]
    assert any(
        r.levelno == logging.WARNING and "bug in the tracker" in r.getMessage()
        for r in caplog_sentrial.records
    )


async def test_events_reach_the_sentrial_api(sentrial_api, tmp_path, openai_server):
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.tools import FunctionTool
    from llama_index.llms.openai import OpenAI

    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    client = SentrialClient(api_key="test-key", base_url=sentrial_api.url, spool_path=str(tmp_path / "spool"))
    instrument(client)
    try:
        openai_server.script(chat_tool_call(), final_answer())
        llm = OpenAI(model="gpt-4o-mini", api_base=openai_server.url, api_key="sk-test", max_retries=0)
        await FunctionAgent(tools=[FunctionTool.from_defaults(add)], llm=llm).run("2+3?")
    finally:
        uninstrument()
    assert client.flush(10)
    client.shutdown(5)
    session = sentrial_api.session_by_name("FunctionAgent.run")
    assert session is not None
    evs = sentrial_api.events_for(session["id"])
    assert [(e["eventType"], e.get("toolName")) for e in evs] == [
        ("tool_call", "llm:openai:gpt-4o-mini"),
        ("llm_decision", None),
        ("tool_call", "add"),
        ("tool_call", "llm:openai:gpt-4o-mini"),
    ]
    assert evs[2]["toolInput"] == {"a": 2, "b": 3}
    assert [c["status"] for c in session["closes"]] == ["completed"]


def chat_tool_call():
    from tests.servers.openai_server import chat

    return chat(tool_calls=[("add", {"a": 2, "b": 3}, "c1")])


def final_answer():
    from tests.servers.openai_server import chat

    return chat("5")
