"""Over HTTP to the loopback Sentrial API: what an agent run puts on the wire."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent

from sentrial_integrations import SentrialClient
from sentrial_integrations.langchain import SentrialCallbackHandler

from .fakes import ai, broken_tool, get_weather, model


@pytest.fixture
def http_client(sentrial_api, tmp_path):
    client = SentrialClient(
        api_key="test-key", base_url=sentrial_api.url, spool_path=str(tmp_path / "wire-spool")
    )
    yield client
    client.shutdown(5)


def _session(api: Any) -> dict[str, Any]:
    sessions = list(api.sessions.values())
    assert len(sessions) == 1
    return sessions[0]


def test_agent_run_on_the_wire(http_client, sentrial_api):
    agent = create_agent(
        model(
            ai("let me check", ("get_weather", {"city": "Paris"}, "c1"), usage=(10, 3)),
            ai("It is sunny", usage=(20, 4)),
        ),
        [get_weather],
        name="weather_agent",
    )
    handler = SentrialCallbackHandler(http_client, metadata={"env": "test"}, user_id="u-42")
    agent.invoke(
        {"messages": [("user", "weather in Paris?")]},
        config={"callbacks": [handler], "configurable": {"thread_id": "t-9"}},
    )
    assert http_client.flush(10)

    s = _session(sentrial_api)
    body = dict(s["body"])
    body.pop("startedAt", None)  # added by the HTTP exporter when it knows the start time
    assert body == {
        "name": "weather_agent",
        "agentName": "weather_agent",
        "userId": "u-42",
        "metadata": {"thread_id": "t-9", "env": "test"},
        "convoId": "t-9",
    }
    events = s["events"]
    assert [(e["eventType"], e.get("toolName")) for e in events] == [
        ("tool_call", "llm:fake:fake-1"),
        ("llm_decision", None),
        ("tool_call", "get_weather"),
        ("tool_call", "llm:fake:fake-1"),
    ]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4]
    llm1, decision, tool, llm2 = events
    call = {"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}
    assert llm1["toolInput"] == {
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "model": "fake-1",
        "provider": "fake",
        "params": None,
    }
    assert llm1["toolOutput"] == {
        "content": "let me check",
        "tool_calls": [call],
        "tokens": {"prompt": 10, "completion": 3, "total": 13},
        "cost_usd": None,
    }
    assert llm1["tokenCount"] == 13
    assert llm1["metadata"] == {"langgraph_node": "model", "langgraph_step": 1}
    assert llm1["spanId"] and "parentSpanId" not in llm1
    assert decision["reasoning"] == "let me check"
    assert decision["decision"] == {"action": "tool_calls", "tool_calls": [call]}
    assert decision["parentSpanId"] == llm1["spanId"]
    assert tool["toolInput"] == {"city": "Paris"}
    assert tool["toolOutput"] == {"output": "sunny in Paris"}
    assert tool["spanId"] not in (None, llm1["spanId"])
    assert tool["durationMs"] >= 0
    assert llm2["toolOutput"]["content"] == "It is sunny"
    assert llm2["tokenCount"] == 24
    (close,) = s["closes"]
    assert close["status"] == "completed" and close["success"] is True
    assert close["sentrialStatus"] == "success"
    assert (close["promptTokens"], close["completionTokens"], close["totalTokens"]) == (30, 7, 37)
    assert close["assistantOutput"] == "It is sunny"


def test_failed_run_on_the_wire(http_client, sentrial_api):
    agent = create_agent(
        model(ai("", ("broken_tool", {"city": "Oslo"}, "c1"))), [broken_tool], name="fragile_agent"
    )
    with pytest.raises(ValueError):
        agent.invoke(
            {"messages": [("user", "weather in Oslo?")]},
            config={"callbacks": [SentrialCallbackHandler(http_client)]},
        )
    assert http_client.flush(10)
    s = _session(sentrial_api)
    events = s["events"]
    assert [(e["eventType"], e.get("toolName")) for e in events] == [
        ("tool_call", "llm:fake:fake-1"),
        ("llm_decision", None),
        ("tool_call", "broken_tool"),
        ("error", "broken_tool"),
    ]
    failed_tool, error = events[2], events[3]
    assert failed_tool["toolInput"] == {"city": "Oslo"}
    assert {k: failed_tool["toolError"][k] for k in ("message", "type")} == {
        "message": "no weather for Oslo",
        "type": "ValueError",
    }
    assert error["toolError"]["message"] == "no weather for Oslo"
    assert error["toolError"]["type"] == "ValueError"
    assert "Traceback" in error["toolError"]["stack_trace"]
    assert error["parentSpanId"] == failed_tool["spanId"]
    (close,) = s["closes"]
    assert (close["status"], close["success"], close["sentrialStatus"]) == ("failed", False, "error")
    assert close["failureReason"] == "ValueError: no weather for Oslo"
