"""A LlamaIndex ``FunctionAgent`` on llama-index-llms-openai, recorded against the scripted OpenAI server
and re-run under ``replay`` with the server switched off: its LLM is answered through the OpenAI layer."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai import OpenAI

from sentrial_integrations import replay
from sentrial_integrations.rerun import ReplayMismatch
from tests.conftest import read_store
from tests.llamaindex import conftest as llamaindex_fixtures
from tests.servers.openai_server import chat

STEPS = [
    ("llm_call", "llm:openai:gpt-4o-mini"),
    ("decision", "decision"),
    ("tool_call", "add"),
    ("llm_call", "llm:openai:gpt-4o-mini"),
]


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def make_agent(url: str, system_prompt: str | None = None) -> FunctionAgent:
    llm = OpenAI(model="gpt-4o-mini", api_base=url, api_key="sk-test", max_retries=0)
    return FunctionAgent(tools=[FunctionTool.from_defaults(add)], llm=llm, system_prompt=system_prompt)


#: ``local_client`` with the LlamaIndex integration installed (the LlamaIndex tests' fixture)
li_client = llamaindex_fixtures.li_client


@pytest.fixture
async def recorded(li_client, openai_server) -> str:
    openai_server.script(chat(tool_calls=[("add", {"a": 2, "b": 3}, "call_add")]), chat("The answer is 5"))
    result = await make_agent(openai_server.url).run("What is 2+3?")
    assert str(result) == "The answer is 5"
    store = read_store(li_client)
    (session,) = store.list_sessions()
    return str(session["id"])


def steps(store: Any, sid: str) -> list[tuple[str, str]]:
    return [(e["type"], e["name"]) for e in store.get_events(sid)]


async def test_function_agent_replays_offline(recorded, li_client, openai_server):
    url = openai_server.url
    openai_server.stop()
    store_path = li_client.config.local_path
    async with replay(recorded, store=store_path, client=li_client) as rp:
        result = await make_agent(url).run("What is 2+3?")
    assert str(result) == "The answer is 5"
    assert rp.served == [1, 4]
    assert rp.missing == {1: ["usage", "response_id"], 4: ["usage", "response_id"]}  # a stream without usage
    store = read_store(li_client)
    assert rp.session_id is not None
    assert steps(store, rp.session_id) == steps(store, recorded) == STEPS
    session = store.get_session(rp.session_id)
    assert session is not None and session["metadata"]["replay_of"] == recorded


async def test_function_agent_with_a_changed_system_prompt_raises_at_step_one(
    recorded, li_client, openai_server
):
    url = openai_server.url
    openai_server.stop()
    with pytest.raises(ReplayMismatch) as info:
        async with replay(recorded, store=li_client.config.local_path, client=li_client, on_mismatch="raise"):
            await make_agent(url, system_prompt="You are a calculator.").run("What is 2+3?")
    assert info.value.step == 1
    assert (
        info.value.difference
        == "messages[0]: the request has an extra system message 'You are a calculator.'"
    )


async def test_function_agent_goes_live_from_the_changed_step(recorded, li_client, openai_server):
    openai_server.reset()
    openai_server.script(chat("Five"))
    async with replay(recorded, store=li_client.config.local_path, client=li_client, until=3) as rp:
        result = await make_agent(openai_server.url).run("What is 2+3?")
    assert str(result) == "Five"
    assert (rp.served, rp.live_at_step) == ([1], 4)
    assert len(openai_server.requests) == 1


async def test_recorded_tools_serve_the_function_tools_result(recorded, li_client, openai_server):
    url = openai_server.url
    openai_server.stop()
    calls: list[tuple[int, int]] = []

    def add(a: int, b: int) -> int:  # changed code: would give another answer, and it must not run
        """Add two numbers."""
        calls.append((a, b))
        return a * b

    tool = FunctionTool.from_defaults(add)
    original_fn = tool._async_fn
    llm = OpenAI(model="gpt-4o-mini", api_base=url, api_key="sk-test", max_retries=0)
    agent = FunctionAgent(tools=[tool], llm=llm)
    async with replay(
        recorded, store=li_client.config.local_path, client=li_client, tools="recorded", on_mismatch="raise"
    ) as rp:
        result = await agent.run("What is 2+3?")
    assert str(result) == "The answer is 5"
    assert calls == []
    assert (rp.served, rp.served_tools) == ([1, 4], [3])
    store = read_store(li_client)
    assert steps(store, rp.session_id) == STEPS  # the tool step is still traced
    assert store.get_events(rp.session_id)[2]["output"] == 5
    assert tool._async_fn is original_fn and FunctionTool.acall is not None  # put back after the block
    assert tool.call(a=2, b=3).raw_output == 6  # and outside the block the tool runs


async def test_function_agent_with_a_changed_system_prompt_goes_live(recorded, li_client, openai_server):
    openai_server.reset()
    openai_server.script(chat(tool_calls=[("add", {"a": 2, "b": 3}, "call_live")]), chat("Five, live"))
    async with replay(recorded, store=li_client.config.local_path, client=li_client) as rp:
        result = await make_agent(openai_server.url, system_prompt="You are a calculator.").run(
            "What is 2+3?"
        )
    assert str(result) == "Five, live"
    assert (rp.served, rp.live_at_step, rp.live_calls) == ([], 1, 2)
    assert [r["json"]["messages"][0]["content"] for r in openai_server.requests] == [
        "You are a calculator."
    ] * 2
