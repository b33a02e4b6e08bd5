"""Any LangChain chat model replays through LangChain's public cache interface: here langchain-core's
own fake chat model (no OpenAI involved), recorded in a ``create_agent`` run and re-run with a model
that would answer differently — the recorded answers win, with their tool-call ids and usage."""

from __future__ import annotations

import pytest
from langchain.agents import create_agent
from langchain_core.caches import InMemoryCache
from langchain_core.globals import get_llm_cache, set_llm_cache

from sentrial_integrations import replay
from sentrial_integrations.langchain import SentrialCallbackHandler
from sentrial_integrations.rerun import ReplayMismatch
from tests.conftest import read_store
from tests.langchain.fakes import ai, get_weather, model

QUESTION = {"messages": [("user", "weather in Paris?")]}


def agent(*answers, system_prompt: str = "be brief"):
    return create_agent(model(*answers), [get_weather], name="weather_agent", system_prompt=system_prompt)


def good_agent():
    return agent(
        ai("let me check", ("get_weather", {"city": "Paris"}, "c1"), usage=(10, 3)),
        ai("It is sunny", usage=(20, 4)),
    )


def wrong_agent(**kw):
    """A model that would answer something else: only the recording can make this run say "It is sunny"."""
    return agent(ai("I do not know", usage=(1, 1)), ai("still no idea", usage=(1, 1)), **kw)


@pytest.fixture
def recorded(local_client) -> str:
    result = good_agent().invoke(QUESTION, config={"callbacks": [SentrialCallbackHandler(local_client)]})
    assert result["messages"][-1].content == "It is sunny"
    (session,) = read_store(local_client).list_sessions()
    return str(session["id"])


def test_a_fake_chat_model_is_answered_from_the_recording(recorded, local_client):
    handler = SentrialCallbackHandler(local_client)
    with replay(recorded, store=local_client.config.local_path, client=local_client) as rp:
        result = wrong_agent().invoke(QUESTION, config={"callbacks": [handler]})
    messages = result["messages"]
    assert messages[-1].content == "It is sunny"
    assert messages[1].tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "c1", "type": "tool_call"}
    ]
    usage = messages[1].usage_metadata or {}
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (10, 3, 13)
    assert messages[2].content == "sunny in Paris"  # the tool ran live
    assert rp.served == [1, 4]
    store = read_store(local_client)
    new, old = store.get_events(rp.session_id), store.get_events(recorded)
    assert [(e["type"], e["name"]) for e in new] == [(e["type"], e["name"]) for e in old]
    assert [e["total_tokens"] for e in new] == [e["total_tokens"] for e in old]


def test_a_changed_system_prompt_raises(recorded, local_client):
    with (
        pytest.raises(ReplayMismatch) as info,
        replay(recorded, store=local_client.config.local_path, client=local_client, on_mismatch="raise"),
    ):
        wrong_agent(system_prompt="be verbose").invoke(QUESTION)
    assert info.value.step == 1
    assert info.value.difference == "messages[0] (system): recorded 'be brief', the request has 'be verbose'"


def test_live_lets_the_model_answer_from_the_diverging_step(recorded, local_client):
    with replay(recorded, store=local_client.config.local_path, client=local_client) as rp:
        result = wrong_agent(system_prompt="be verbose").invoke(QUESTION)
    assert result["messages"][-1].content == "I do not know"
    assert (rp.served, rp.live_at_step) == ([], 1)


def test_the_applications_cache_is_kept_and_restored(recorded, local_client):
    mine = InMemoryCache()
    set_llm_cache(mine)
    try:
        with replay(recorded, store=local_client.config.local_path, client=local_client):
            assert get_llm_cache() is not mine
            good_agent().invoke(QUESTION)
        assert get_llm_cache() is mine
    finally:
        set_llm_cache(None)


def test_no_cache_is_left_behind(recorded, local_client):
    assert get_llm_cache() is None
    with replay(recorded, store=local_client.config.local_path, client=local_client):
        pass
    assert get_llm_cache() is None
