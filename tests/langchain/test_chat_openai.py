"""ChatOpenAI (langchain-openai) against the scripted OpenAI-compatible server on loopback: JSON and
SSE answers, tool calls, the usage chunk, and an HTTP 500."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_openai import ChatOpenAI

from sentrial_integrations.core.record.pricing import estimate_cost
from sentrial_integrations.langchain import SentrialCallbackHandler
from tests.conftest import only_session, read_store
from tests.servers.openai_server import chat, error

from .fakes import brief, get_weather, no_stack

MODEL = "gpt-4o-mini-2024-07-18"


def openai_model(server: Any, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini", base_url=server.url, api_key="sk-test", max_retries=0, temperature=0, **kwargs
    )


def script_weather(server: Any) -> None:
    server.script(
        chat(
            tool_calls=[("get_weather", {"city": "Paris"}, "call_1")], prompt_tokens=12, completion_tokens=5
        ),
        chat("It is sunny in Paris", prompt_tokens=30, completion_tokens=6, cached_tokens=10),
    )


def assert_openai_session(client: Any, *, streamed: bool) -> None:
    store = read_store(client)
    s = only_session(store)
    assert (s["name"], s["status"], s["output"]) == ("weather_agent", "success", "It is sunny in Paris")
    events = store.get_events(s["id"])
    assert [brief(e) for e in events] == [
        ("llm_call", "llm:openai:gpt-4o-mini"),
        ("decision", "decision"),
        ("tool_call", "get_weather"),
        ("llm_call", "llm:openai:gpt-4o-mini"),
    ]
    first, decision, tool, second = events
    call = {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    assert first["input"]["messages"] == [{"role": "user", "content": "weather in Paris?"}]
    assert first["input"]["provider"] == "openai"
    assert first["input"]["params"]["temperature"] == 0
    assert (first["model"], first["provider"]) == (MODEL, "openai")
    assert first["output"]["tool_calls"] == [call]
    assert first["output"]["content"] == ""
    assert first["output"]["finish_reason"] == "tool_calls"
    assert first["output"]["response_model"] == MODEL
    assert first["output"]["tokens"] == {
        "prompt": 12,
        "completion": 5,
        "total": 17,
        "cached": 0,
        "reasoning": 0,
    }
    assert decision["decision"] == {"action": "tool_calls", "tool_calls": [call]}
    assert decision["reasoning"] == "call get_weather"
    assert (tool["input"], tool["output"]) == ({"city": "Paris"}, "sunny in Paris")
    assert second["output"]["content"] == "It is sunny in Paris"
    assert second["output"]["finish_reason"] == "stop"
    assert second["output"]["tokens"] == {
        "prompt": 30,
        "completion": 6,
        "total": 36,
        "cached": 10,
        "reasoning": 0,
    }
    assert (second["prompt_tokens"], second["completion_tokens"], second["total_tokens"]) == (30, 6, 36)
    cost = estimate_cost(MODEL, 30, 6, 10)
    assert cost is not None and second["cost"] == pytest.approx(cost)
    assert (s["prompt_tokens"], s["completion_tokens"], s["total_tokens"]) == (42, 11, 53)
    for event in (first, second):
        ttft = event["output"].get("time_to_first_token_ms")
        if streamed:
            assert isinstance(ttft, float) and 0 <= ttft <= event["duration_ms"]
        else:
            assert ttft is None


def test_chat_openai_agent_json(local_client, openai_server):
    script_weather(openai_server)
    agent = create_agent(openai_model(openai_server), [get_weather], name="weather_agent")
    handler = SentrialCallbackHandler(local_client)
    result = agent.invoke({"messages": [("user", "weather in Paris?")]}, config={"callbacks": [handler]})
    assert result["messages"][-1].content == "It is sunny in Paris"
    assert all(not r["json"].get("stream") for r in openai_server.requests)
    assert_openai_session(local_client, streamed=False)


def test_chat_openai_agent_streaming_carries_usage(local_client, openai_server):
    script_weather(openai_server)
    agent = create_agent(openai_model(openai_server, stream_usage=True), [get_weather], name="weather_agent")
    handler = SentrialCallbackHandler(local_client)
    chunks = list(
        agent.stream(
            {"messages": [("user", "weather in Paris?")]},
            config={"callbacks": [handler]},
            stream_mode="messages",
        )
    )
    assert chunks
    requests = openai_server.requests
    assert all(
        r["json"].get("stream") and r["json"]["stream_options"] == {"include_usage": True} for r in requests
    )
    assert_openai_session(local_client, streamed=True)


async def test_chat_openai_agent_async_streaming(local_client, openai_server):
    script_weather(openai_server)
    agent = create_agent(openai_model(openai_server, stream_usage=True), [get_weather], name="weather_agent")
    handler = SentrialCallbackHandler(local_client)
    chunks = [
        c
        async for c in agent.astream(
            {"messages": [("user", "weather in Paris?")]},
            config={"callbacks": [handler]},
            stream_mode="messages",
        )
    ]
    assert chunks
    assert_openai_session(local_client, streamed=True)


def test_chat_openai_http_500_propagates_and_closes_as_error(local_client, openai_server):
    openai_server.script(error(500, "upstream exploded", type="server_error"))
    agent = create_agent(openai_model(openai_server), [get_weather], name="weather_agent")
    handler = SentrialCallbackHandler(local_client)
    with pytest.raises(Exception) as info:
        agent.invoke({"messages": [("user", "weather in Paris?")]}, config={"callbacks": [handler]})
    raised = info.value
    assert "upstream exploded" in str(raised)

    store = read_store(local_client)
    s = only_session(store)
    assert s["status"] == "error"
    assert s["failure_reason"] == f"{type(raised).__name__}: {raised}"
    events = store.get_events(s["id"])
    assert [brief(e) for e in events] == [("llm_call", "llm:openai:gpt-4o-mini"), ("error", "ChatOpenAI")]
    failed, err = events
    expected = {"message": str(raised), "type": type(raised).__name__}
    assert {k: v for k, v in no_stack(failed["error"]).items() if k != "status_code"} == expected  # type: ignore[union-attr]
    assert {k: v for k, v in no_stack(err["error"]).items() if k != "status_code"} == expected  # type: ignore[union-attr]
    assert failed["output"]["tokens"] == {"prompt": None, "completion": None, "total": None}
    assert err["parent_span_id"] == failed["span_id"]
