"""Workflow agents driven by llama-index-llms-openai against the scripted OpenAI server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent, ReActAgent
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai import OpenAI

from tests.llamaindex.conftest import brief, events, sessions, tool_round
from tests.servers.openai_server import ScriptedOpenAIServer, chat, error

RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def explode(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"exploded: {reason}")


def make_llm(server: ScriptedOpenAIServer, **kwargs: Any) -> OpenAI:
    return OpenAI(model="gpt-4o-mini", api_base=server.url, api_key="sk-test", max_retries=0, **kwargs)


def make_agent(server: ScriptedOpenAIServer, **kwargs: Any) -> FunctionAgent:
    tools = [FunctionTool.from_defaults(add), FunctionTool.from_defaults(explode)]
    return FunctionAgent(tools=tools, llm=make_llm(server, **kwargs))


NO_TOKENS = {"prompt": None, "completion": None, "total": None}
PARAMS = {"tools": ["add", "explode"], "tool_choice": "auto", "parallel_tool_calls": True}


async def test_function_agent_tool_call(li_client, openai_server):
    openai_server.script(chat(tool_calls=[("add", {"a": 2, "b": 3}, "call_add")]), chat("The answer is 5"))
    result = await make_agent(openai_server).run("What is 2+3?")
    assert str(result) == "The answer is 5"

    (s,) = sessions(li_client)
    assert (s["name"], s["agent_name"], s["status"]) == ("FunctionAgent.run", "Agent", "success")
    assert s["metadata"] == {
        "framework": "llamaindex",
        "entrypoint": "FunctionAgent.run",
        "input": "What is 2+3?",
    }
    assert s["output"] == "The answer is 5"
    evs = events(li_client, s["id"])
    assert [brief(e) for e in evs] == tool_round("add")
    first, decision, tool, final = evs
    call = {"id": "call_add", "name": "add", "arguments": {"a": 2, "b": 3}}

    assert first["input"] == {
        "messages": [{"role": "user", "content": "What is 2+3?"}],
        "model": "gpt-4o-mini",
        "provider": "openai",
        "params": PARAMS,
    }
    out = dict(first["output"])
    assert out.pop("time_to_first_token_ms") >= 0  # FunctionAgent streams
    assert out == {
        "content": "",
        "tool_calls": [call],
        "tokens": NO_TOKENS,
        "cost_usd": None,
        "finish_reason": "tool_calls",
        "response_model": RESPONSE_MODEL,
    }
    assert first["model"] == RESPONSE_MODEL and first["provider"] == "openai"
    assert first["span_id"].startswith("OpenAI.astream_chat-") and first["parent_span_id"] is None

    assert decision["reasoning"] == "call add"
    assert decision["decision"] == {"action": "tool_calls", "tool_calls": [call]}
    assert decision["parent_span_id"] == first["span_id"]

    assert tool["input"] == {"a": 2, "b": 3}
    assert tool["output"] == 5
    assert tool["error"] is None
    assert tool["span_id"].startswith("FunctionTool.acall-") and tool["parent_span_id"] is None
    assert tool["duration_ms"] >= 0

    assert final["input"]["messages"] == [
        {"role": "user", "content": "What is 2+3?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": "5", "tool_call_id": "call_add"},
    ]
    assert final["output"]["content"] == "The answer is 5"
    assert final["output"]["tool_calls"] is None
    assert final["output"]["finish_reason"] == "stop"
    assert first["ts"] <= decision["ts"] <= tool["ts"] <= final["ts"]


async def test_stream_usage_is_recorded_when_requested(li_client, openai_server):
    openai_server.script(chat(tool_calls=[("add", {"a": 1, "b": 1}, "c1")]), chat("2", prompt_tokens=20))
    agent = make_agent(openai_server, additional_kwargs={"stream_options": {"include_usage": True}})
    await agent.run("1+1?")
    (s,) = sessions(li_client)
    llms = [e for e in events(li_client, s["id"]) if e["type"] == "llm_call"]
    assert [e["output"]["tokens"] for e in llms] == [
        {"prompt": 12, "completion": 5, "total": 17, "cached": 0, "reasoning": 0},
        {"prompt": 20, "completion": 5, "total": 25, "cached": 0, "reasoning": 0},
    ]
    assert [(e["prompt_tokens"], e["completion_tokens"], e["total_tokens"]) for e in llms] == [
        (12, 5, 17),
        (20, 5, 25),
    ]
    assert all(e["cost"] and e["cost"] > 0 for e in llms)
    assert (s["prompt_tokens"], s["completion_tokens"], s["total_tokens"]) == (32, 10, 42)
    assert [r["json"].get("stream_options") for r in openai_server.requests] == [{"include_usage": True}] * 2


async def test_tool_that_raises(li_client, openai_server):
    openai_server.script(chat(tool_calls=[("explode", {"reason": "test"}, "call_x")]), chat("It failed."))
    result = await make_agent(openai_server).run("Try it")
    assert str(result) == "It failed."

    (s,) = sessions(li_client)
    assert s["status"] == "success"  # the agent handled the tool error and answered
    evs = events(li_client, s["id"])
    assert [brief(e) for e in evs] == tool_round("explode", ("error", "explode"))
    tool, err = evs[2], evs[3]
    assert tool["input"] == {"reason": "test"}
    assert tool["output"] is None
    assert tool["error"]["type"] == "ValueError" and tool["error"]["message"] == "exploded: test"
    assert "Traceback" in tool["error"]["stack_trace"]
    assert err["error"]["type"] == "ValueError" and err["error"]["message"] == "exploded: test"
    assert err["parent_span_id"] == tool["span_id"]
    assert s["error_count"] == 2
    # the agent told the model about the failure
    assert evs[4]["input"]["messages"][-1] == {
        "role": "tool",
        "content": "exploded: test",
        "tool_call_id": "call_x",
    }


async def test_llm_error_fails_the_session(li_client, openai_server):
    openai_server.script(error(400, "bad request"))
    with pytest.raises(Exception, match="bad request") as info:
        await make_agent(openai_server).run("hello")
    (s,) = sessions(li_client)
    assert s["status"] == "error"
    assert s["failure_reason"] == f"{type(info.value).__name__}: {info.value}"
    evs = events(li_client, s["id"])
    assert [brief(e) for e in evs] == [("llm_call", "llm:openai:gpt-4o-mini"), ("error", None)]
    assert evs[0]["error"]["type"] == "BadRequestError"
    assert evs[0]["output"]["content"] is None
    assert evs[1]["error"]["type"] == "BadRequestError"
    assert evs[1]["parent_span_id"] == evs[0]["span_id"]


async def test_react_agent_decision_from_parsed_action(li_client, openai_server):
    thought = 'Thought: I need to add.\nAction: add\nAction Input: {"a": 2, "b": 3}'
    openai_server.script(chat(thought), chat("Thought: I can answer.\nAnswer: 5"))
    agent = ReActAgent(tools=[FunctionTool.from_defaults(add)], llm=make_llm(openai_server))
    assert str(await agent.run("What is 2+3?")) == "5"
    (s,) = sessions(li_client)
    assert (s["name"], s["status"], s["output"]) == ("ReActAgent.run", "success", "5")
    evs = events(li_client, s["id"])
    assert [brief(e) for e in evs] == tool_round("add")
    assert evs[0]["output"]["content"] == thought
    assert evs[0]["output"]["tool_calls"] is None
    assert evs[1]["reasoning"] == thought
    (call,) = evs[1]["decision"]["tool_calls"]
    assert (call["name"], call["arguments"]) == ("add", {"a": 2, "b": 3})
    assert evs[2]["input"] == {"a": 2, "b": 3} and evs[2]["output"] == 5


async def test_concurrent_runs_keep_their_own_sessions(li_client, openai_server):
    # one scripted server per run, so that each run's answers do not depend on the interleaving
    with ScriptedOpenAIServer() as second, ScriptedOpenAIServer() as third:
        openai_server.script(chat(tool_calls=[("add", {"a": 1, "b": 2}, "one")]), chat("three"))
        second.script(chat(tool_calls=[("add", {"a": 10, "b": 20}, "two")]), chat("thirty"))
        third.script(chat("no tools used"))
        a, b, c = make_agent(openai_server), make_agent(second), make_agent(third)
        results = await asyncio.gather(a.run("1+2"), b.run("10+20"), c.run("no tools please"))
    assert [str(r) for r in results] == ["three", "thirty", "no tools used"]
    by_input = {s["metadata"]["input"]: s for s in sessions(li_client)}
    assert set(by_input) == {"1+2", "10+20", "no tools please"}
    for question, (args, answer) in {
        "1+2": ({"a": 1, "b": 2}, "three"),
        "10+20": ({"a": 10, "b": 20}, "thirty"),
    }.items():
        s = by_input[question]
        assert s["status"] == "success" and s["output"] == answer
        evs = events(li_client, s["id"])
        assert [brief(e) for e in evs] == tool_round("add")
        assert evs[0]["input"]["messages"] == [{"role": "user", "content": question}]
        assert evs[2]["input"] == args
        assert evs[3]["output"]["content"] == answer
    s = by_input["no tools please"]
    assert [brief(e) for e in events(li_client, s["id"])] == [("llm_call", "llm:openai:gpt-4o-mini")]


async def test_agent_workflow_streamed_events(li_client, openai_server):
    from llama_index.core.agent.workflow import AgentWorkflow

    math = FunctionAgent(
        name="math",
        description="Does math.",
        tools=[FunctionTool.from_defaults(add)],
        llm=make_llm(openai_server),
    )
    workflow = AgentWorkflow(agents=[math], root_agent="math")
    openai_server.script(chat(tool_calls=[("add", {"a": 2, "b": 3}, "c1")]), chat("5"))
    handler = workflow.run(user_msg="2+3?")
    seen = [type(ev).__name__ async for ev in handler.stream_events()]
    assert "ToolCallResult" in seen
    assert str(await handler) == "5"
    (s,) = sessions(li_client)
    assert (s["name"], s["agent_name"], s["status"], s["output"]) == (
        "AgentWorkflow.run",
        "math",
        "success",
        "5",
    )
    assert [brief(e) for e in events(li_client, s["id"])] == tool_round("add")


async def test_cancelled_run_is_abandoned(li_client, openai_server):
    from llama_index.core.agent.workflow import AgentInput

    openai_server.script(chat("too late", delay=1.0))
    handler = make_agent(openai_server).run("slow question")
    async for ev in handler.stream_events():
        if isinstance(ev, AgentInput):  # the run has started; the model has not answered
            await handler.cancel_run()
            break
    (s,) = sessions(li_client)
    assert (s["name"], s["status"]) == ("FunctionAgent.run", "abandoned")
    assert s["failure_reason"] == "workflow cancelled by user"
