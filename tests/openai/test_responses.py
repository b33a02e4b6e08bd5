"""The Responses API (create, parse, streams) and embeddings / legacy completions through wrap_openai."""

from __future__ import annotations

import pytest
from openai import Stream
from openai.types import Completion, CreateEmbeddingResponse
from openai.types.responses import Response

from sentrial_integrations.openai import wrap_openai
from tests.conftest import only_session, read_store
from tests.openai.helpers import (
    assert_same,
    assert_same_items,
    chat_tokens,
    expected_output,
    pop_timing,
)
from tests.servers.openai_server import DEFAULT_COMPLETION_MODEL, completion, embeddings, responses_api

QUESTION = "What is the capital of France?"
FN_TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {}},
        "strict": False,
    },
    {
        "type": "function",
        "name": "search",
        "parameters": {"type": "object", "properties": {}},
        "strict": False,
    },
]


def test_responses_create(make_oai, openai_server, local_client):
    spec = responses_api("Paris.", input_tokens=20, output_tokens=7, cached_tokens=4, reasoning_tokens=2)
    openai_server.script(
        spec, responses_api("Paris.", input_tokens=20, output_tokens=7, cached_tokens=4, reasoning_tokens=2)
    )
    plain = make_oai()
    wrapped = wrap_openai(make_oai(), local_client)
    kwargs = {"model": "gpt-4o-mini", "input": QUESTION, "instructions": "Be brief", "max_output_tokens": 100}

    a = plain.responses.create(**kwargs)
    b = wrapped.responses.create(**kwargs)
    assert type(b) is Response
    assert_same(a, b)

    store = read_store(local_client)
    session = only_session(store)
    assert session["name"] == "openai.responses.create"
    [event] = store.get_events(session["id"])
    assert event["name"] == "llm:openai:gpt-4o-mini"
    assert event["input"] == {
        "messages": QUESTION,
        "model": "gpt-4o-mini",
        "provider": "openai",
        "params": {"instructions": "Be brief", "max_output_tokens": 100},
    }
    cost = round((16 * 0.15 + 4 * 0.075 + 7 * 0.60) / 1_000_000, 10)
    assert pop_timing(event) == expected_output(
        "Paris.", finish_reason="completed", tokens=chat_tokens(20, 7, cached=4, reasoning=2), cost=cost
    )
    assert event["metadata"] == {"operation": "responses.create", "response_id": b.id}


def test_responses_function_calls_record_a_decision(make_oai, openai_server, local_client):
    openai_server.script(responses_api(tool_calls=[("get_weather", {"city": "Paris"}, "call_r1")]))
    wrapped = wrap_openai(make_oai(), local_client)
    wrapped.responses.create(
        model="gpt-4o-mini", input=[{"role": "user", "content": QUESTION}], tools=FN_TOOLS
    )

    store = read_store(local_client)
    llm, decision = store.get_events(only_session(store)["id"])
    calls = [{"id": "call_r1", "name": "get_weather", "arguments": {"city": "Paris"}}]
    assert llm["input"]["messages"] == [{"role": "user", "content": QUESTION}]
    assert pop_timing(llm) == expected_output(None, tool_calls=calls, finish_reason="completed")
    assert decision["decision"] == {"action": "tool_calls", "tool_calls": calls}
    assert decision["alternatives"] == ["get_weather", "search"]
    assert decision["parent_span_id"] == llm["span_id"]


def test_responses_stream_events_are_identical(make_oai, openai_server, local_client):
    openai_server.script(responses_api("Paris is the capital."), responses_api("Paris is the capital."))
    plain = make_oai()
    wrapped = wrap_openai(make_oai(), local_client)

    a = list(plain.responses.create(model="gpt-4o-mini", input=QUESTION, stream=True))
    stream = wrapped.responses.create(model="gpt-4o-mini", input=QUESTION, stream=True)
    assert type(stream) is Stream
    b = list(stream)
    assert_same_items(a, b)
    plain_req, wrapped_req = (r["json"] for r in openai_server.requests)
    assert plain_req == wrapped_req  # usage always arrives in response.completed: nothing added

    store = read_store(local_client)
    [event] = store.get_events(only_session(store)["id"])
    assert pop_timing(event, ttft=True) == expected_output("Paris is the capital.", finish_reason="completed")
    assert event["metadata"]["stream"] is True


def test_responses_stream_helper(make_oai, openai_server, local_client):
    openai_server.script(
        responses_api("Paris.", tool_calls=[("search", {"q": "x"}, "call_s")]),
        responses_api("Paris.", tool_calls=[("search", {"q": "x"}, "call_s")]),
    )
    plain = make_oai()
    wrapped = wrap_openai(make_oai(), local_client)
    with plain.responses.stream(model="gpt-4o-mini", input=QUESTION, tools=FN_TOOLS) as s:
        a = list(s)
        final_a = s.get_final_response()
    with wrapped.responses.stream(model="gpt-4o-mini", input=QUESTION, tools=FN_TOOLS) as s:
        b = list(s)
        final_b = s.get_final_response()
    assert_same_items(a, b)
    assert_same(final_a, final_b)

    store = read_store(local_client)
    llm, decision = store.get_events(only_session(store)["id"])
    calls = [{"id": "call_s", "name": "search", "arguments": {"q": "x"}}]
    assert pop_timing(llm, ttft=True) == expected_output(
        "Paris.", tool_calls=calls, finish_reason="completed"
    )
    assert decision["decision"]["tool_calls"] == calls


def test_embeddings(make_oai, openai_server, local_client):
    openai_server.script(embeddings(dim=8, prompt_tokens=3), embeddings(dim=8, prompt_tokens=3))
    plain = make_oai()
    wrapped = wrap_openai(make_oai(), local_client)
    a = plain.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    b = wrapped.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    assert type(b) is CreateEmbeddingResponse
    assert_same(a, b)
    assert b.data[1].embedding == a.data[1].embedding

    store = read_store(local_client)
    session = only_session(store)
    assert session["name"] == "openai.embeddings.create"
    [event] = store.get_events(session["id"])
    assert event["name"] == "llm:openai:text-embedding-3-small"
    assert event["input"] == {
        "messages": ["alpha", "beta"],
        "model": "text-embedding-3-small",
        "provider": "openai",
        "params": {},
    }
    assert event["cost"] == pytest.approx(3 * 0.02 / 1_000_000)
    assert pop_timing(event) == {
        "content": {"embeddings": 2, "dimensions": 8},
        "tool_calls": None,
        "tokens": {"prompt": 3, "completion": None, "total": 3},
        "cost_usd": event["cost"],
        "response_model": "text-embedding-3-small",
    }


def test_legacy_completions(make_oai, openai_server, local_client):
    openai_server.script(completion("Hi there"), completion("Hi there"))
    plain = make_oai()
    wrapped = wrap_openai(make_oai(), local_client)
    a = plain.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=5)
    b = wrapped.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=5)
    assert type(b) is Completion
    assert_same(a, b)

    store = read_store(local_client)
    [event] = store.get_events(only_session(store)["id"])
    assert event["input"] == {
        "messages": "Say hi",
        "model": "gpt-3.5-turbo-instruct",
        "provider": "openai",
        "params": {"max_tokens": 5},
    }
    cost = round((12 * 1.5 + 5 * 2.0) / 1_000_000, 10)  # gpt-3.5-turbo-instruct: $1.50 / $2.00 per 1M
    assert pop_timing(event) == expected_output(
        "Hi there",
        tokens={"prompt": 12, "completion": 5, "total": 17},
        cost=cost,
        model=DEFAULT_COMPLETION_MODEL,
    )


def test_legacy_completions_stream_hides_the_usage_chunk(make_oai, openai_server, local_client):
    openai_server.script(
        completion("Hi there friend", chunk_size=3), completion("Hi there friend", chunk_size=3)
    )
    plain = make_oai()
    wrapped = wrap_openai(make_oai(), local_client, include_usage=True)
    a = list(plain.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", stream=True))
    b = list(wrapped.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", stream=True))
    assert_same_items(a, b)
    assert all(c.choices for c in b)
    assert openai_server.requests[1]["json"]["stream_options"] == {"include_usage": True}

    store = read_store(local_client)
    [event] = store.get_events(only_session(store)["id"])
    cost = round((12 * 1.5 + 5 * 2.0) / 1_000_000, 10)  # gpt-3.5-turbo-instruct: $1.50 / $2.00 per 1M
    assert pop_timing(event, ttft=True) == expected_output(
        "Hi there friend",
        tokens={"prompt": 12, "completion": 5, "total": 17},
        cost=cost,
        model=DEFAULT_COMPLETION_MODEL,
    )
