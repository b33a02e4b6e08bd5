"""A LangChain ``create_agent`` agent on ChatOpenAI, recorded against the scripted OpenAI server and
re-run under ``replay``: answered from the recording at the OpenAI SDK's request layer, tools live."""

from __future__ import annotations

import pytest
from openai._base_client import AsyncAPIClient, SyncAPIClient

from sentrial_integrations import replay
from sentrial_integrations.core.store import Store
from sentrial_integrations.rerun import ReplayMismatch
from tests.conftest import read_store
from tests.servers.openai_server import chat

from . import helpers
from .conftest import assert_no_server
from .helpers import FINAL, QUESTION, run, session_ids, steps, weather_agent

RECORDED_STEPS = [
    ("llm_call", "llm:openai:gpt-4o-mini"),
    ("decision", "decision"),
    ("tool_call", "get_weather"),
    ("llm_call", "llm:openai:gpt-4o-mini"),
]


def strict(recorded, client, **kw):
    """A replay of ``recorded`` that raises on the first mismatch."""
    return replay(recorded.session_id, store=recorded.store_path, client=client, on_mismatch="raise", **kw)


def rerun_session(client, original: str) -> tuple[Store, dict]:
    store = read_store(client)
    (new,) = [sid for sid in session_ids(store) if sid != original]
    session = store.get_session(new)
    assert session is not None
    return store, session


def test_offline_rerun_gives_the_same_answer_and_steps_with_no_server(recorded, local_client, openai_server):
    openai_server.stop()
    assert_no_server(recorded.url)
    agent = weather_agent(recorded.url)  # built after the recording, pointing at a dead server
    with replay(recorded.session_id, store=recorded.store_path, client=local_client) as rp:
        result = run(agent, local_client)
    assert result["messages"][-1].content == FINAL
    assert rp.served == [1, 4]
    assert (rp.live_at_step, rp.live_reason, rp.live_calls) == (None, None, 0)
    store, session = rerun_session(local_client, recorded.session_id)
    assert steps(store, session["id"]) == steps(store, recorded.session_id) == RECORDED_STEPS
    assert session["metadata"] == {"replay_of": recorded.session_id, "replay_on_mismatch": "live"}
    assert session["status"] == "success"
    assert session["custom_metrics"]["replay_served_steps"] == [1, 4]
    assert session["custom_metrics"]["replay_live_at_step"] is None
    # the recorded usage is served, so tokens and cost of the re-run equal the original's
    original = store.get_session(recorded.session_id)
    assert original is not None
    for key in ("prompt_tokens", "completion_tokens", "total_tokens", "cost"):
        assert session[key] == original[key], key
    rerun_events, original_events = store.get_events(session["id"]), store.get_events(recorded.session_id)
    for new, old in zip(rerun_events, original_events, strict=True):
        assert new["input"] == old["input"]
        assert (
            new["output"]["tool_calls"] == old["output"]["tool_calls"] if new["type"] == "llm_call" else True
        )
        if new["type"] == "llm_call":
            assert new["output"]["tokens"] == old["output"]["tokens"]
            assert new["output"]["finish_reason"] == old["output"]["finish_reason"]
            assert new["model"] == old["model"] == "gpt-4o-mini-2024-07-18"


def test_rerun_makes_zero_requests_to_a_running_server(recorded, local_client, openai_server):
    with replay(recorded.session_id, store=recorded.store_path, client=local_client):
        result = run(weather_agent(openai_server.url), local_client)
    assert result["messages"][-1].content == FINAL
    assert openai_server.requests == []


def test_the_sdk_is_restored_exactly_after_the_block(recorded, local_client, openai_server):
    from sentrial_integrations.rerun import openai_adapter

    targets = openai_adapter._targets()
    assert targets is not None
    patched = [(api, "request") for api, _, _, _ in targets] + [(cls, name) for _, cls, name, _ in targets]
    before = {(cls, name): cls.__dict__[name] for cls, name in patched}
    with replay(recorded.session_id, store=recorded.store_path, client=local_client):
        assert SyncAPIClient.__dict__["request"] is not before[(SyncAPIClient, "request")]
        assert AsyncAPIClient.__dict__["request"] is not before[(AsyncAPIClient, "request")]
    after = {(cls, name): cls.__dict__[name] for cls, name in patched}
    assert after == before
    # outside the block the same agent talks to the server again
    openai_server.script(chat(FINAL))
    result = run(weather_agent(openai_server.url, tools=[]), local_client)
    assert result["messages"][-1].content == FINAL
    assert len(openai_server.requests) == 1


def test_changed_system_prompt_raises_at_step_one(recorded, local_client, openai_server):
    openai_server.stop()
    agent = weather_agent(recorded.url, system_prompt="be verbose")
    with pytest.raises(ReplayMismatch) as info, strict(recorded, local_client):
        run(agent, local_client)
    exc = info.value
    assert exc.step == 1
    assert exc.event_id == f"{recorded.session_id}.1"
    assert exc.difference == "messages[0] (system): recorded 'be brief', the request has 'be verbose'"
    assert "step 1" in str(exc)
    _, session = rerun_session(local_client, recorded.session_id)
    assert session["status"] == "error"
    assert "ReplayMismatch" in session["failure_reason"]


def test_a_changed_tool_answer_raises_at_the_second_llm_step(
    recorded, local_client, openai_server, monkeypatch
):
    openai_server.stop()
    monkeypatch.setitem(helpers._weather, "Paris", "rainy in Paris")  # the agent's code changed
    with pytest.raises(ReplayMismatch) as info, strict(recorded, local_client) as rp:
        run(weather_agent(recorded.url), local_client)
    assert info.value.step == 4
    assert info.value.difference == (
        "messages[3] (tool): recorded 'sunny in Paris', the request has 'rainy in Paris'"
    )
    assert rp.served == [1]


def test_live_continues_against_the_server_from_the_diverging_step(
    recorded, local_client, openai_server, monkeypatch
):
    monkeypatch.setitem(helpers._weather, "Paris", "rainy in Paris")
    openai_server.script(chat("Take an umbrella", prompt_tokens=31, completion_tokens=4))
    with replay(recorded.session_id, store=recorded.store_path, client=local_client) as rp:
        result = run(weather_agent(openai_server.url), local_client)
    assert result["messages"][-1].content == "Take an umbrella"
    assert rp.served == [1]
    assert rp.live_at_step == 4
    assert rp.live_reason is not None and "rainy in Paris" in rp.live_reason
    assert rp.live_calls == 1
    (request,) = openai_server.requests  # only the diverging call reached the server
    assert request["json"]["messages"][-1] == {
        "content": "rainy in Paris",
        "role": "tool",
        "tool_call_id": "call_1",
    }
    store, session = rerun_session(local_client, recorded.session_id)
    assert steps(store, session["id"]) == RECORDED_STEPS
    assert session["custom_metrics"]["replay_live_at_step"] == 4


def test_changed_system_prompt_goes_live_from_step_one(recorded, local_client, openai_server):
    helpers.script_weather(openai_server)
    with replay(recorded.session_id, store=recorded.store_path, client=local_client) as rp:
        result = run(weather_agent(openai_server.url, system_prompt="be verbose"), local_client)
    assert result["messages"][-1].content == FINAL
    assert (rp.served, rp.live_at_step, rp.live_calls) == ([], 1, 2)
    assert len(openai_server.requests) == 2


def test_until_answers_up_to_a_step_then_goes_live(recorded, local_client, openai_server):
    openai_server.script(chat("Live answer"))
    with replay(recorded.session_id, store=recorded.store_path, client=local_client, until=3) as rp:
        result = run(weather_agent(openai_server.url), local_client)
    assert result["messages"][-1].content == "Live answer"
    assert rp.served == [1]
    assert rp.live_at_step == 4 and rp.live_reason == "step 4 comes after until=3"
    assert len(openai_server.requests) == 1


def test_until_accepts_an_event_id(recorded, local_client, openai_server):
    openai_server.stop()
    with (
        pytest.raises(ReplayMismatch) as info,
        strict(recorded, local_client, until=f"{recorded.session_id}.2"),
    ):
        run(weather_agent(recorded.url), local_client)
    assert info.value.step == 4


def test_a_longer_run_than_recorded_raises_past_the_end(recorded, local_client, openai_server):
    openai_server.stop()
    agent = weather_agent(recorded.url)
    with pytest.raises(ReplayMismatch) as info, strict(recorded, local_client):
        run(agent, local_client)
        run(agent, local_client)  # a second question: the recording has no answer for it
    assert info.value.step is None
    assert "past the end of the recording" in str(info.value)


def test_streamed_agent_replays_chunk_by_chunk_with_usage(recorded, local_client, openai_server):
    openai_server.stop()
    agent = weather_agent(recorded.url, stream_usage=True)
    with replay(recorded.session_id, store=recorded.store_path, client=local_client) as rp:
        chunks = [
            msg
            for msg, meta in agent.stream(QUESTION, config={"callbacks": []}, stream_mode="messages")
            if meta.get("langgraph_node") == "model"
        ]
    assert rp.served == [1, 4]
    final = [c for c in chunks if isinstance(c.content, str) and c.content]
    assert [c.content for c in final] == ["It ", "is ", "sunny ", "in ", "Paris ", "today"]
    usages = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert [(u["input_tokens"], u["output_tokens"]) for u in usages] == [(12, 5), (30, 6)]
    assert usages[1]["input_token_details"]["cache_read"] == 10
    calls = [tc for c in chunks for tc in (c.tool_call_chunks or [])]
    assert calls[0]["name"] == "get_weather" and calls[0]["id"] == "call_1"


async def test_async_agent_replays(recorded, local_client, openai_server):
    openai_server.stop()
    agent = weather_agent(recorded.url)
    from sentrial_integrations.langchain import SentrialCallbackHandler

    async with replay(recorded.session_id, store=recorded.store_path, client=local_client) as rp:
        result = await agent.ainvoke(QUESTION, config={"callbacks": [SentrialCallbackHandler(local_client)]})
    assert result["messages"][-1].content == FINAL
    assert rp.served == [1, 4]
    store, session = rerun_session(local_client, recorded.session_id)
    assert steps(store, session["id"]) == RECORDED_STEPS


def test_recorded_tools_serve_the_recorded_tool_result(recorded, local_client, openai_server, monkeypatch):
    openai_server.stop()
    monkeypatch.setitem(helpers._weather, "Paris", "rainy in Paris")  # would change the run if it ran
    with replay(
        recorded.session_id,
        store=recorded.store_path,
        client=local_client,
        tools="recorded",
        on_mismatch="raise",
    ) as rp:
        result = run(weather_agent(recorded.url), local_client)
    assert result["messages"][-1].content == FINAL
    assert result["messages"][2].content == "sunny in Paris"  # the recorded tool result
    assert (rp.served, rp.served_tools, rp.live_tools) == ([1, 4], [3], [])
    store, session = rerun_session(local_client, recorded.session_id)
    assert steps(store, session["id"]) == RECORDED_STEPS  # the tool step is still traced
    tool_event = store.get_events(session["id"])[2]
    assert (tool_event["input"], tool_event["output"]) == ({"city": "Paris"}, "sunny in Paris")
    assert session["custom_metrics"]["replay_served_tool_steps"] == [3]


def test_recorded_tools_run_live_for_another_input(recorded, local_client, openai_server):
    from langchain_core.tools import StructuredTool

    before = (StructuredTool.__dict__["_run"], StructuredTool.__dict__["_arun"])
    openai_server.script(chat(tool_calls=[("get_weather", {"city": "Lyon"}, "call_9")]), chat("done"))
    with replay(
        recorded.session_id, store=recorded.store_path, client=local_client, tools="recorded", until=0
    ) as rp:
        result = run(weather_agent(openai_server.url), local_client)
    assert result["messages"][2].content == "no idea about Lyon"  # ran live
    assert (rp.served_tools, rp.live_tools) == ([], ["get_weather"])
    assert (StructuredTool.__dict__["_run"], StructuredTool.__dict__["_arun"]) == before


def test_chat_openai_on_the_responses_api_replays(local_client, openai_server):
    from tests.servers.openai_server import responses_api

    openai_server.script(
        responses_api(tool_calls=[("get_weather", {"city": "Paris"}, "call_1")]), responses_api("It is sunny")
    )
    agent = weather_agent(openai_server.url, use_responses_api=True)
    first = run(agent, local_client)
    (original,) = read_store(local_client).list_sessions()
    url = openai_server.url
    openai_server.stop()
    with replay(
        original["id"], store=local_client.config.local_path, client=local_client, on_mismatch="raise"
    ) as rp:
        again = run(weather_agent(url, use_responses_api=True), local_client)
    assert rp.served == [1, 4]
    assert again["messages"][-1].text == first["messages"][-1].text == "It is sunny"
    assert again["messages"][1].tool_calls[0]["args"] == {"city": "Paris"}
    store, session = rerun_session(local_client, original["id"])
    assert steps(store, session["id"]) == steps(store, original["id"]) == RECORDED_STEPS


def test_until_accepts_a_step_number_as_text(recorded):
    rp = replay(recorded.session_id, store=recorded.store_path, until="3")
    assert rp.until == 3
