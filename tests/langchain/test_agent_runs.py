"""Agent runs (langchain ``create_agent`` on LangGraph) recorded by SentrialCallbackHandler: the exact
sessions and events in the embedded store, for sync, async, streaming, batch and failure paths."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent

from sentrial_integrations.langchain import SentrialCallbackHandler
from tests.conftest import only_session, read_store

from .fakes import ChatEcho, ChatFake, ai, brief, broken_tool, get_weather, model, no_stack

QUESTION = {"messages": [("user", "weather in Paris?")]}
CONFIG_EXTRA: dict[str, Any] = {
    "configurable": {"thread_id": "t-1"},
    "metadata": {"team": "search"},
    "tags": ["prod"],
}


def weather_agent(*, stream_usage: bool = True) -> Any:
    m = model(
        ai("let me check", ("get_weather", {"city": "Paris"}, "c1"), usage=(10, 3)),
        ai("It is sunny", usage=(20, 4)),
    )
    return create_agent(m, [get_weather], name="weather_agent", system_prompt="be brief")


def assert_weather_session(client: Any, *, streamed: bool = False) -> None:
    store = read_store(client)
    s = only_session(store)
    assert s["name"] == "weather_agent"
    assert s["agent_name"] == "weather_agent"
    assert s["status"] == "success"
    assert s["failure_reason"] is None
    assert s["metadata"] == {"team": "search", "thread_id": "t-1", "env": "test", "tags": ["prod"]}
    assert (s["prompt_tokens"], s["completion_tokens"], s["total_tokens"]) == (30, 7, 37)
    assert s["output"] == "It is sunny"
    events = store.get_events(s["id"])
    assert [brief(e) for e in events] == [
        ("llm_call", "llm:fake:fake-1"),
        ("decision", "decision"),
        ("tool_call", "get_weather"),
        ("llm_call", "llm:fake:fake-1"),
    ]
    llm1, decision, tool, llm2 = events
    call = {"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}
    system = {"role": "system", "content": "be brief"}
    user = {"role": "user", "content": "weather in Paris?"}
    assert llm1["input"] == {
        "messages": [system, user],
        "model": "fake-1",
        "provider": "fake",
        "params": None,
    }
    ttft1 = llm1["output"].pop("time_to_first_token_ms", None)
    assert llm1["output"] == {
        "content": "let me check",
        "tool_calls": [call],
        "tokens": {"prompt": 10, "completion": 3, "total": 13},
        "cost_usd": None,
    }
    assert (llm1["model"], llm1["provider"]) == ("fake-1", "fake")
    assert (llm1["prompt_tokens"], llm1["completion_tokens"], llm1["total_tokens"]) == (10, 3, 13)
    assert llm1["metadata"] == {"langgraph_node": "model", "langgraph_step": 1}
    assert llm1["parent_span_id"] is None and llm1["span_id"]
    assert llm1["duration_ms"] >= 0

    assert decision["reasoning"] == "let me check"
    assert decision["decision"] == {"action": "tool_calls", "tool_calls": [call]}
    assert decision["parent_span_id"] == llm1["span_id"]

    assert tool["input"] == {"city": "Paris"}
    assert tool["output"] == "sunny in Paris"
    assert tool["error"] is None
    assert tool["metadata"] == {"tool_call_id": "c1", "langgraph_node": "tools", "langgraph_step": 2}
    assert tool["parent_span_id"] is None and tool["span_id"] not in (None, llm1["span_id"])

    assert llm2["input"]["messages"] == [
        system,
        user,
        {"role": "assistant", "content": "let me check", "tool_calls": [call], "name": "weather_agent"},
        {"role": "tool", "content": "sunny in Paris", "tool_call_id": "c1", "name": "get_weather"},
    ]
    ttft2 = llm2["output"].pop("time_to_first_token_ms", None)
    assert llm2["output"] == {
        "content": "It is sunny",
        "tool_calls": None,
        "tokens": {"prompt": 20, "completion": 4, "total": 24},
        "cost_usd": None,
    }
    if streamed:
        assert isinstance(ttft1, float) and isinstance(ttft2, float)
        assert 0 <= ttft1 <= llm1["duration_ms"] and 0 <= ttft2 <= llm2["duration_ms"]
    else:
        assert ttft1 is None and ttft2 is None


def handler_for(client: Any) -> SentrialCallbackHandler:
    return SentrialCallbackHandler(client, metadata={"env": "test"})


def test_sync_invoke_is_one_complete_session(local_client):
    handler = handler_for(local_client)
    result = weather_agent().invoke(QUESTION, config={"callbacks": [handler], **CONFIG_EXTRA})
    assert result["messages"][-1].content == "It is sunny"
    assert_weather_session(local_client)
    assert handler._runs == {}


async def test_async_invoke_is_one_complete_session(local_client):
    handler = handler_for(local_client)
    result = await weather_agent().ainvoke(QUESTION, config={"callbacks": [handler], **CONFIG_EXTRA})
    assert result["messages"][-1].content == "It is sunny"
    assert_weather_session(local_client)
    assert handler._runs == {}


def test_stream_records_usage_and_time_to_first_token(local_client):
    handler = handler_for(local_client)
    chunks = list(
        weather_agent().stream(
            QUESTION, config={"callbacks": [handler], **CONFIG_EXTRA}, stream_mode="messages"
        )
    )
    text = "".join(str(msg.content) for msg, meta in chunks if meta["langgraph_node"] == "model")
    assert text == "let me checkIt is sunny"
    assert_weather_session(local_client, streamed=True)
    assert handler._runs == {}


async def test_astream_records_usage_and_time_to_first_token(local_client):
    handler = handler_for(local_client)
    chunks = [
        c
        async for c in weather_agent().astream(
            QUESTION, config={"callbacks": [handler], **CONFIG_EXTRA}, stream_mode="messages"
        )
    ]
    assert chunks
    assert_weather_session(local_client, streamed=True)


def _assert_echo_sessions(client: Any, cities: list[str]) -> None:
    store = read_store(client)
    sessions = store.list_sessions()
    assert len(sessions) == len(cities)
    seen = []
    for s in sessions:
        events = store.get_events(s["id"])
        assert s["status"] == "success"
        assert [brief(e) for e in events] == [
            ("llm_call", "llm:echo:echo-1"),
            ("decision", "decision"),
            ("tool_call", "get_weather"),
            ("llm_call", "llm:echo:echo-1"),
        ]
        city = events[0]["input"]["messages"][0]["content"].split()[-1]
        seen.append(city)
        # Every event of the session belongs to the same run: nothing mixed across runs.
        assert events[1]["decision"]["tool_calls"] == [
            {"id": f"call-{city}", "name": "get_weather", "arguments": {"city": city}}
        ]
        assert events[2]["input"] == {"city": city}
        assert events[2]["output"] == f"sunny in {city}"
        assert events[3]["output"]["content"] == f"answer: sunny in {city}"
        assert s["output"] == f"answer: sunny in {city}"
        assert (s["prompt_tokens"], s["completion_tokens"]) == (30, 7)
    assert sorted(seen) == sorted(cities)


CITIES = ["Paris", "Oslo", "Lima", "Rome", "Cairo", "Quito", "Delhi", "Tokyo"]


def test_batch_of_concurrent_runs_on_one_handler(local_client):
    handler = SentrialCallbackHandler(local_client)
    agent = create_agent(ChatEcho(), [get_weather], name="echo_agent")
    results = agent.batch(
        [{"messages": [("user", f"weather in {c}")]} for c in CITIES],
        config={"callbacks": [handler], "max_concurrency": 4},
    )
    assert [r["messages"][-1].content for r in results] == [f"answer: sunny in {c}" for c in CITIES]
    _assert_echo_sessions(local_client, CITIES)
    assert handler._runs == {}


async def test_concurrent_async_runs_on_one_handler(local_client):
    handler = SentrialCallbackHandler(local_client)
    agent = create_agent(ChatEcho(), [get_weather], name="echo_agent")
    results = await asyncio.gather(
        *(
            agent.ainvoke({"messages": [("user", f"weather in {c}")]}, config={"callbacks": [handler]})
            for c in CITIES
        )
    )
    assert [r["messages"][-1].content for r in results] == [f"answer: sunny in {c}" for c in CITIES]
    more = await agent.abatch([{"messages": [("user", "weather in Bern")]}], config={"callbacks": [handler]})
    assert more[0]["messages"][-1].content == "answer: sunny in Bern"
    _assert_echo_sessions(local_client, [*CITIES, "Bern"])
    assert handler._runs == {}


def test_tool_that_raises_is_a_failed_tool_call_plus_an_error(local_client):
    handler = SentrialCallbackHandler(local_client)
    agent = create_agent(
        model(ai("", ("broken_tool", {"city": "Paris"}, "c9"), usage=(8, 2)), ai("sorry")),
        [broken_tool],
        name="a",
    )
    with pytest.raises(ValueError, match="no weather for Paris"):
        agent.invoke(QUESTION, config={"callbacks": [handler]})
    store = read_store(local_client)
    s = only_session(store)
    assert s["status"] == "error"
    assert s["failure_reason"] == "ValueError: no weather for Paris"
    events = store.get_events(s["id"])
    assert [brief(e) for e in events] == [
        ("llm_call", "llm:fake:fake-1"),
        ("decision", "decision"),
        ("tool_call", "broken_tool"),
        ("error", "broken_tool"),
    ]
    assert events[1]["reasoning"] == "call broken_tool"
    tool, error = events[2], events[3]
    assert tool["input"] == {"city": "Paris"}
    assert tool["output"] is None
    assert no_stack(tool["error"]) == {"message": "no weather for Paris", "type": "ValueError"}
    assert no_stack(error["error"]) == {"message": "no weather for Paris", "type": "ValueError"}
    assert "broken_tool" in error["error"]["stack_trace"]
    assert error["parent_span_id"] == tool["span_id"]
    assert (s["event_count"], s["error_count"]) == (4, 2)
    assert handler._runs == {}


def test_model_error_propagates_unchanged_and_closes_the_session_as_error(local_client):
    failure = RuntimeError("model down")

    def responses():
        yield ai("", ("get_weather", {"city": "Paris"}, "c1"))
        raise failure

    failing = create_agent(ChatFake(messages=responses()), [get_weather], name="failing_agent")
    handler = SentrialCallbackHandler(local_client)
    with pytest.raises(RuntimeError) as info:
        failing.invoke(QUESTION, config={"callbacks": [handler]})
    assert info.value is failure

    store = read_store(local_client)
    s = only_session(store)
    assert (s["name"], s["status"], s["failure_reason"]) == (
        "failing_agent",
        "error",
        "RuntimeError: model down",
    )
    events = store.get_events(s["id"])
    assert [brief(e) for e in events] == [
        ("llm_call", "llm:fake:fake-1"),
        ("decision", "decision"),
        ("tool_call", "get_weather"),
        ("llm_call", "llm:fake:fake-1"),
        ("error", "ChatFake"),  # once, although the error crossed the model node and the graph
    ]
    failed = events[3]
    assert no_stack(failed["error"]) == {"message": "model down", "type": "RuntimeError"}
    assert failed["output"]["content"] is None
    assert no_stack(events[4]["error"]) == {"message": "model down", "type": "RuntimeError"}
    assert events[4]["parent_span_id"] == failed["span_id"]
    assert handler._runs == {}


def test_two_invokes_are_two_sessions(local_client):
    handler = SentrialCallbackHandler(local_client, session_name="support")
    agent = create_agent(ChatEcho(), [get_weather], name="echo_agent")
    agent.invoke({"messages": [("user", "weather in Oslo")]}, config={"callbacks": [handler]})
    agent.invoke({"messages": [("user", "weather in Lima")]}, config={"callbacks": [handler]})
    store = read_store(local_client)
    sessions = store.list_sessions()
    assert [s["name"] for s in sessions] == ["support", "support"]
    assert [s["agent_name"] for s in sessions] == ["echo_agent", "echo_agent"]
    assert all(s["status"] == "success" and s["event_count"] == 4 for s in sessions)
    assert sessions[0]["id"] != sessions[1]["id"]


def test_two_invokes_inside_client_session_are_one_session(local_client):
    handler = SentrialCallbackHandler(local_client)
    agent = create_agent(ChatEcho(), [get_weather], name="echo_agent")
    with local_client.session("conversation", metadata={"user": "u1"}) as conv:
        agent.invoke({"messages": [("user", "weather in Oslo")]}, config={"callbacks": [handler]})
        agent.invoke({"messages": [("user", "weather in Lima")]}, config={"callbacks": [handler]})
        assert local_client.is_open(conv.id)  # the runs joined it: they do not close it
    store = read_store(local_client)
    s = only_session(store)
    assert (s["id"], s["name"], s["status"], s["metadata"]) == (
        conv.id,
        "conversation",
        "success",
        {"user": "u1"},
    )
    events = store.get_events(s["id"])
    assert [e["type"] for e in events] == ["llm_call", "decision", "tool_call", "llm_call"] * 2
    assert [e["input"] for e in events if e["type"] == "tool_call"] == [{"city": "Oslo"}, {"city": "Lima"}]
    assert (s["prompt_tokens"], s["completion_tokens"]) == (60, 14)


def test_handler_given_a_session_joins_it_across_runs(local_client):
    conv = local_client.session("chat with u2")
    handler = SentrialCallbackHandler(local_client, session=conv)
    agent = create_agent(ChatEcho(), [get_weather], name="echo_agent")
    agent.invoke({"messages": [("user", "weather in Oslo")]}, config={"callbacks": [handler]})
    agent.invoke({"messages": [("user", "weather in Lima")]}, config={"callbacks": [handler]})
    assert local_client.is_open(conv.id)
    conv.close("success")
    # and by id
    handler_by_id = SentrialCallbackHandler(local_client, session=local_client.create_session("by id"))
    agent.invoke({"messages": [("user", "weather in Rome")]}, config={"callbacks": [handler_by_id]})
    store = read_store(local_client)
    sessions = {s["name"]: s for s in store.list_sessions()}
    assert set(sessions) == {"chat with u2", "by id"}
    assert sessions["chat with u2"]["event_count"] == 8
    assert sessions["chat with u2"]["status"] == "success"
    assert sessions["by id"]["event_count"] == 4
    assert sessions["by id"]["status"] == "running"


def test_parallel_tool_calls_are_separate_spans(local_client):
    handler = SentrialCallbackHandler(local_client)
    agent = create_agent(
        model(
            ai("two cities", ("get_weather", {"city": "Paris"}, "p"), ("get_weather", {"city": "Oslo"}, "o")),
            ai("done"),
        ),
        [get_weather],
        name="parallel",
    )
    agent.invoke({"messages": [("user", "Paris and Oslo?")]}, config={"callbacks": [handler]})
    store = read_store(local_client)
    s = only_session(store)
    events = store.get_events(s["id"])
    assert [e["type"] for e in events] == ["llm_call", "decision", "tool_call", "tool_call", "llm_call"]
    tools = events[2:4]
    assert sorted((t["input"]["city"], t["output"], t["metadata"]["tool_call_id"]) for t in tools) == [
        ("Oslo", "sunny in Oslo", "o"),
        ("Paris", "sunny in Paris", "p"),
    ]
    assert tools[0]["span_id"] != tools[1]["span_id"]
    assert [len(events[1]["decision"]["tool_calls"]), events[1]["reasoning"]] == [2, "two cities"]
