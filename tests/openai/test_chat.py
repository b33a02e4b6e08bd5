"""Chat completions through wrap_openai: what the caller gets is unchanged, what is recorded is exact."""

from __future__ import annotations

import openai
import pytest
from openai import OpenAI, Stream
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from sentrial_integrations.openai import wrap_openai
from tests.conftest import only_session, read_store
from tests.openai.helpers import (
    USER_MSG,
    assert_same,
    assert_same_items,
    chat_tokens,
    expected_output,
    mini_cost,
    pop_timing,
)
from tests.servers.openai_server import chat, error

WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
    },
    {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
    },
]


def test_create_returns_the_same_and_records_one_llm_event(make_oai, openai_server, local_client):
    openai_server.script(chat("Hello there!"), chat("Hello there!"))
    plain = make_oai()
    wrapped = wrap_openai(make_oai(), local_client)
    assert type(wrapped) is OpenAI

    kwargs = {"model": "gpt-4o-mini", "messages": USER_MSG, "temperature": 0.2, "max_tokens": 50}
    a = plain.chat.completions.create(**kwargs)
    b = wrapped.chat.completions.create(**kwargs)

    assert type(b) is ChatCompletion
    assert_same(a, b)
    assert b._request_id is not None
    sent = [r["json"] for r in openai_server.requests]
    assert sent[0] == sent[1]  # the request itself is untouched

    store = read_store(local_client)
    session = only_session(store)
    assert session["name"] == "openai.chat.completions.create"
    assert session["status"] == "success"
    assert session["metadata"] == {"integration": "openai", "operation": "chat.completions.create"}
    assert (session["prompt_tokens"], session["completion_tokens"], session["total_tokens"]) == (12, 5, 17)
    assert session["cost"] == pytest.approx(mini_cost())
    [event] = store.get_events(session["id"])
    assert event["type"] == "llm_call"
    assert event["name"] == "llm:openai:gpt-4o-mini"
    assert event["model"] == "gpt-4o-mini-2024-07-18"
    assert event["provider"] == "openai"
    assert (event["prompt_tokens"], event["completion_tokens"], event["total_tokens"]) == (12, 5, 17)
    assert event["cost"] == pytest.approx(mini_cost())
    assert event["input"] == {
        "messages": USER_MSG,
        "model": "gpt-4o-mini",
        "provider": "openai",
        "params": {"temperature": 0.2, "max_tokens": 50},
    }
    assert pop_timing(event) == expected_output("Hello there!")
    assert event["metadata"] == {"operation": "chat.completions.create", "response_id": b.id}
    assert event["span_id"].startswith("oai_")
    assert event["parent_span_id"] is None
    assert event["error"] is None


def test_tool_calls_also_record_a_decision(make_oai, openai_server, local_client):
    openai_server.script(chat(tool_calls=[("get_weather", {"city": "Paris"}, "call_1")], completion_tokens=9))
    wrapped = wrap_openai(make_oai(), local_client)

    resp = wrapped.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG, tools=WEATHER_TOOLS)
    assert resp.choices[0].message.tool_calls[0].function.name == "get_weather"

    store = read_store(local_client)
    session = only_session(store)
    llm, decision = store.get_events(session["id"])
    calls = [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}]
    assert llm["type"] == "llm_call"
    assert llm["input"]["params"] == {"tools": WEATHER_TOOLS}
    assert pop_timing(llm) == expected_output(
        None,
        tool_calls=calls,
        finish_reason="tool_calls",
        tokens=chat_tokens(12, 9),
        cost=mini_cost(12, 9),
    )
    assert decision["type"] == "decision"
    assert decision["reasoning"] == "call get_weather"
    assert decision["decision"] == {"action": "tool_calls", "tool_calls": calls}
    assert decision["alternatives"] == ["get_weather", "get_time"]
    assert decision["parent_span_id"] == llm["span_id"]
    assert decision["metadata"] == {"operation": "chat.completions.create", "model": "gpt-4o-mini"}


def test_stream_chunks_are_identical_and_the_usage_chunk_stays_hidden(make_oai, openai_server, local_client):
    text = "Hello streaming world"
    openai_server.script(chat(text, chunk_size=5), chat(text, chunk_size=5))
    plain = make_oai()
    wrapped = wrap_openai(make_oai(), local_client, include_usage=True)

    kwargs = {"model": "gpt-4o-mini", "messages": USER_MSG, "stream": True}
    plain_stream = plain.chat.completions.create(**kwargs)
    wrapped_stream = wrapped.chat.completions.create(**kwargs)
    assert type(wrapped_stream) is Stream
    a = list(plain_stream)
    b = []
    for chunk in wrapped_stream:  # the usual user loop: every chunk has a choice
        assert isinstance(chunk, ChatCompletionChunk)
        _ = chunk.choices[0].delta
        b.append(chunk)
    assert_same_items(a, b)
    assert all(c.usage is None for c in b)

    plain_req, wrapped_req = (r["json"] for r in openai_server.requests)
    assert "stream_options" not in plain_req
    assert wrapped_req["stream_options"] == {"include_usage": True}
    assert {k: v for k, v in wrapped_req.items() if k != "stream_options"} == plain_req

    store = read_store(local_client)
    session = only_session(store)
    assert session["status"] == "success"
    [event] = store.get_events(session["id"])
    assert event["input"]["params"] == {"stream": True}
    assert pop_timing(event, ttft=True) == expected_output(text)
    assert event["metadata"] == {
        "operation": "chat.completions.create",
        "response_id": b[0].id,
        "stream": True,
    }


def test_stream_when_the_caller_asks_for_usage_itself(make_oai, openai_server, local_client):
    openai_server.script(
        chat("Hi", prompt_tokens=7, completion_tokens=2), chat("Hi", prompt_tokens=7, completion_tokens=2)
    )
    plain = make_oai()
    wrapped = wrap_openai(make_oai(), local_client)
    kwargs = {
        "model": "gpt-4o-mini",
        "messages": USER_MSG,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    a = list(plain.chat.completions.create(**kwargs))
    b = list(wrapped.chat.completions.create(**kwargs))
    assert_same_items(a, b)
    assert b[-1].choices == [] and b[-1].usage.total_tokens == 9  # the caller's own usage chunk is kept
    plain_req, wrapped_req = (r["json"] for r in openai_server.requests)
    assert plain_req == wrapped_req

    store = read_store(local_client)
    [event] = store.get_events(only_session(store)["id"])
    assert event["input"]["params"] == {"stream": True, "stream_options": {"include_usage": True}}
    assert pop_timing(event, ttft=True) == expected_output(
        "Hi", tokens=chat_tokens(7, 2), cost=mini_cost(7, 2)
    )


def test_an_explicit_include_usage_false_is_respected(make_oai, openai_server, local_client):
    openai_server.script(chat("Hi"))
    wrapped = wrap_openai(make_oai(), local_client)
    chunks = list(
        wrapped.chat.completions.create(
            model="gpt-4o-mini", messages=USER_MSG, stream=True, stream_options={"include_usage": False}
        )
    )
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert openai_server.requests[0]["json"]["stream_options"] == {"include_usage": False}

    store = read_store(local_client)
    [event] = store.get_events(only_session(store)["id"])
    assert pop_timing(event, ttft=True) == expected_output(
        "Hi", tokens={"prompt": None, "completion": None, "total": None}, cost=None
    ) | {"cost_usd": None}


def test_streamed_tool_calls(make_oai, openai_server, local_client):
    spec = [("get_weather", {"city": "Paris", "unit": "celsius"}, "call_7")]
    openai_server.script(chat(tool_calls=spec, chunk_size=6), chat(tool_calls=spec, chunk_size=6))
    plain = make_oai()
    wrapped = wrap_openai(make_oai(), local_client, include_usage=True)
    kwargs = {"model": "gpt-4o-mini", "messages": USER_MSG, "stream": True, "tools": WEATHER_TOOLS}

    assert_same_items(
        list(plain.chat.completions.create(**kwargs)), list(wrapped.chat.completions.create(**kwargs))
    )

    store = read_store(local_client)
    llm, decision = store.get_events(only_session(store)["id"])
    calls = [{"id": "call_7", "name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}]
    assert pop_timing(llm, ttft=True) == expected_output(None, tool_calls=calls, finish_reason="tool_calls")
    assert decision["decision"] == {"action": "tool_calls", "tool_calls": calls}
    assert decision["alternatives"] == ["get_weather", "get_time"]


def test_the_stream_helper(make_oai, openai_server, local_client):
    openai_server.script(chat("Streamed by the helper"), chat("Streamed by the helper"))
    plain = make_oai()
    wrapped = wrap_openai(make_oai(), local_client, include_usage=True)

    with plain.chat.completions.stream(model="gpt-4o-mini", messages=USER_MSG) as s:
        a = list(s)
        final_a = s.get_final_completion()
    with wrapped.chat.completions.stream(model="gpt-4o-mini", messages=USER_MSG) as s:
        b = list(s)
        final_b = s.get_final_completion()
    assert_same_items(a, b)
    assert_same(final_a, final_b)
    assert final_b.usage is None  # as unwrapped: the usage chunk we asked for never reached the helper

    store = read_store(local_client)
    [event] = store.get_events(only_session(store)["id"])
    assert pop_timing(event, ttft=True) == expected_output("Streamed by the helper")
    assert event["input"]["params"] == {"stream": True}


@pytest.mark.parametrize(
    ("status", "exc_type"), [(400, openai.BadRequestError), (500, openai.InternalServerError)]
)
def test_api_errors_are_recorded_and_the_same_exception_is_raised(
    make_oai, openai_server, local_client, status, exc_type
):
    openai_server.script(error(status, "nope"), error(status, "nope"))
    plain = make_oai()
    wrapped = make_oai()
    raised_by_sdk = []
    sdk_create = wrapped.chat.completions.create

    def spy(*args, **kwargs):  # the caller's own layer under ours: sees the SDK's exception object
        try:
            return sdk_create(*args, **kwargs)
        except Exception as exc:
            raised_by_sdk.append(exc)
            raise

    wrapped.chat.completions.create = spy
    wrap_openai(wrapped, local_client)

    with pytest.raises(exc_type) as plain_err:
        plain.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    with pytest.raises(exc_type) as wrapped_err:
        wrapped.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    exc = wrapped_err.value
    assert exc is raised_by_sdk[0]
    assert str(exc) == str(plain_err.value)
    assert exc.__cause__ is None and exc.__suppress_context__ is plain_err.value.__suppress_context__

    store = read_store(local_client)
    session = only_session(store)
    assert session["status"] == "error"
    assert session["failure_reason"] == f"{exc_type.__name__}: {exc}"
    assert session["error_count"] == 1
    [event] = store.get_events(session["id"])
    assert event["type"] == "error"
    assert event["name"] == "llm:openai:gpt-4o-mini"
    err = dict(event["error"])
    assert "spy" in err.pop("stack_trace")
    assert err == {"message": str(exc), "type": exc_type.__name__, "status_code": status}
    meta = dict(event["metadata"])
    assert meta.pop("duration_ms") > 0
    assert meta == {
        "operation": "chat.completions.create",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "status_code": status,
        "request_id": exc.request_id,
        "api_error_type": "invalid_request_error",
    }


def test_retries_inside_the_sdk_are_one_call(make_oai, openai_server, local_client):
    openai_server.script(error(500, "flaky", retry_after=0.01), chat("Recovered"))
    wrapped = wrap_openai(make_oai(max_retries=1), local_client)
    assert wrapped.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG).choices[
        0
    ].message.content == ("Recovered")
    assert len(openai_server.requests) == 2

    store = read_store(local_client)
    session = only_session(store)
    assert session["status"] == "success" and session["error_count"] == 0
    [event] = store.get_events(session["id"])
    assert pop_timing(event) == expected_output("Recovered")


def test_messages_given_as_a_generator_reach_both_the_api_and_the_record(
    make_oai, openai_server, local_client
):
    openai_server.script(chat("ok"))
    wrapped = wrap_openai(make_oai(), local_client)
    wrapped.chat.completions.create(model="gpt-4o-mini", messages=(m for m in USER_MSG))
    assert openai_server.requests[0]["json"]["messages"] == USER_MSG

    store = read_store(local_client)
    [event] = store.get_events(only_session(store)["id"])
    assert event["input"]["messages"] == USER_MSG
