"""Where a top-level LangChain run records (``langchain/runs.py`` on ``core.runs.open_run``): another
integration's current run is joined, the handler's own session is current only inside a non-model run,
and the session the run opened carries the run's metadata, agent, user and thread."""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.runnables import RunnableLambda

from sentrial_integrations.core.context import current_session, peek_llm_claim
from sentrial_integrations.core.runs import open_run
from sentrial_integrations.langchain import SentrialCallbackHandler
from tests.conftest import only_session, read_store

from .fakes import ChatEcho, ChatFake, ai, get_weather


def test_a_run_of_another_integration_that_is_current_is_joined(local_client):
    outer = open_run(local_client, "llamaindex query", integration="llamaindex")
    outer.make_current()
    try:
        agent = create_agent(ChatEcho(), [get_weather], name="echo_agent")
        handler = SentrialCallbackHandler(local_client)
        agent.invoke({"messages": [("user", "weather in Oslo")]}, config={"callbacks": [handler]})
        assert handler.last_session_id == outer.session_id
        assert local_client.is_open(outer.session_id)  # joined: the LangChain run does not close it
    finally:
        outer.close("success")
    store = read_store(local_client)
    s = only_session(store)
    assert (s["id"], s["name"], s["status"], s["event_count"]) == (
        outer.session_id,
        "llamaindex query",
        "success",
        4,
    )


def test_an_owned_session_is_current_inside_a_chain_run_only(local_client):
    seen: list[Any] = []

    def body(x: str) -> str:
        session = current_session()
        seen.append(session.id if session is not None else None)
        return x.upper()

    handler = SentrialCallbackHandler(
        local_client, metadata={"team": "a"}, user_id="u-1", session_name="named"
    )
    out = RunnableLambda(body).invoke(
        "hi",
        config={
            "callbacks": [handler],
            "run_name": "shout",
            "metadata": {"thread_id": 42, "tenant": "t", "ls_internal": 1},
            "tags": ["x"],
        },
    )
    assert out == "HI"
    assert seen == [handler.last_session_id]  # current in the run's body ...
    assert current_session() is None  # ... and released when the run ended
    store = read_store(local_client)
    s = only_session(store)
    assert (s["name"], s["agent_name"], s["user_id"], s["status"], s["output"]) == (
        "named",
        "shout",
        "u-1",
        "success",
        "HI",
    )
    assert s["metadata"] == {"tenant": "t", "thread_id": 42, "team": "a", "tags": ["x"]}
    assert s["convo_id"] == "42"


def test_a_model_run_at_the_top_makes_no_session_current(local_client):
    seen: list[Any] = []

    class ChatSeeing(ChatFake):
        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
            claim = peek_llm_claim()
            seen.append((current_session(), claim.session.id if claim is not None else None))
            return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    handler = SentrialCallbackHandler(local_client)
    reply = ChatSeeing(messages=iter([ai("hello")])).invoke("hi", config={"callbacks": [handler]})
    assert reply.content == "hello"
    # the session reaches the model's code through the LLM-call claim, not as the current session
    assert seen == [(None, handler.last_session_id)]
    assert current_session() is None
    s = only_session(read_store(local_client))
    assert (s["id"], s["status"], s["output"], s["event_count"]) == (
        handler.last_session_id,
        "success",
        "hello",
        1,
    )
