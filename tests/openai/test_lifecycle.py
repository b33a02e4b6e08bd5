"""When and where events are recorded: stream endings, sessions, LLM claims, our own failures, HTTP."""

from __future__ import annotations

import gc
import json

import openai
import pytest
from openai import OpenAI

from sentrial_integrations import SentrialClient
from sentrial_integrations.core.context import LLMClaim, close_llm_claim, open_llm_claim, span
from sentrial_integrations.openai import calls as calls_module
from sentrial_integrations.openai import wrap_openai
from tests.conftest import only_session, read_store
from tests.openai.helpers import (
    USER_MSG,
    assert_same_items,
    collect_until_closed,
    expected_output,
    pop_timing,
)
from tests.servers.openai_server import chat, error, raw

TEXT = "one two three four"
NO_USAGE = {"tokens": {"prompt": None, "completion": None, "total": None}, "cost_usd": None}


def partial_output(content):
    return expected_output(content, finish_reason=None) | NO_USAGE | {"partial": True}


def single(local_client):
    store = read_store(local_client)
    session = only_session(store)
    events = store.get_events(session["id"])
    assert len(events) == 1, events
    return session, events[0]


def start_stream(local_client, make_oai, openai_server):
    openai_server.script(chat(TEXT, chunk_size=4))
    client = wrap_openai(make_oai(), local_client, include_usage=True)
    return client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG, stream=True)


def test_abandoned_stream_is_recorded_once_as_partial(make_oai, openai_server, local_client):
    stream = start_stream(local_client, make_oai, openai_server)
    next(stream)
    next(stream)
    del stream
    collect_until_closed(local_client)
    gc.collect()
    session, event = single(local_client)
    assert session["status"] == "abandoned"
    assert session["failure_reason"] == "the stream was garbage-collected before it was read to the end"
    assert pop_timing(event, ttft=True) == partial_output("one ")


def test_stream_never_read_and_dropped(make_oai, openai_server, local_client):
    stream = start_stream(local_client, make_oai, openai_server)
    del stream
    collect_until_closed(local_client)
    session, event = single(local_client)
    assert session["status"] == "abandoned"
    expected = partial_output(None)
    del expected["response_model"]  # no chunk arrived: the model that answered is unknown
    assert pop_timing(event) == expected


def test_close_before_the_end_is_partial_and_recorded_at_once(make_oai, openai_server, local_client):
    stream = start_stream(local_client, make_oai, openai_server)
    next(stream)
    next(stream)
    next(stream)
    stream.close()
    assert local_client.flush(5)
    session, event = single(local_client)
    assert session["status"] == "success"
    assert pop_timing(event, ttft=True) == partial_output("one two ")
    del stream
    gc.collect()
    assert single(local_client)[1]["id"] == event["id"]  # finalised exactly once


def test_context_manager_exit(make_oai, openai_server, local_client):
    with start_stream(local_client, make_oai, openai_server) as stream:
        next(stream)
        next(stream)
    _, event = single(local_client)
    assert pop_timing(event, ttft=True) == partial_output("one ")


def test_exhausted_then_closed_is_complete_and_recorded_once(make_oai, openai_server, local_client):
    with start_stream(local_client, make_oai, openai_server) as stream:
        chunks = list(stream)
    stream.close()
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == TEXT
    _, event = single(local_client)
    assert pop_timing(event, ttft=True) == expected_output(TEXT)


def test_break_out_of_the_loop_then_close(make_oai, openai_server, local_client):
    stream = start_stream(local_client, make_oai, openai_server)
    for chunk in stream:
        if chunk.choices[0].delta.content == "two ":
            break
    stream.close()
    _, event = single(local_client)
    assert pop_timing(event, ttft=True) == partial_output("one two ")


def sse(*payloads):
    return b"".join(
        b"data: " + (p if isinstance(p, bytes) else json.dumps(p).encode()) + b"\n\n" for p in payloads
    )


CHUNK = {
    "id": "c1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "delta": {"content": "partial "}, "finish_reason": None}],
}


def test_an_error_in_the_middle_of_a_stream(make_oai, openai_server, local_client):
    body = sse(CHUNK, {"error": {"message": "overloaded mid-stream", "type": "server_error"}})
    openai_server.script(
        raw(200, body, content_type="text/event-stream"), raw(200, body, content_type="text/event-stream")
    )
    plain = make_oai()
    client = wrap_openai(make_oai(), local_client)
    plain_chunks, wrapped_chunks = [], []
    with pytest.raises(openai.APIError) as plain_err:
        for c in plain.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG, stream=True):
            plain_chunks.append(c)
    with pytest.raises(openai.APIError) as err:
        for c in client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG, stream=True):
            wrapped_chunks.append(c)
    assert_same_items(plain_chunks, wrapped_chunks)
    assert type(err.value) is type(plain_err.value) and str(err.value) == "overloaded mid-stream"

    store = read_store(local_client)
    session = only_session(store)
    assert session["status"] == "error"
    assert session["failure_reason"] == "APIError: overloaded mid-stream"
    llm, failure = store.get_events(session["id"])
    assert pop_timing(llm, ttft=True) == partial_output("partial ")
    assert failure["type"] == "error"
    assert failure["error"]["message"] == "overloaded mid-stream"
    assert failure["parent_span_id"] == llm["span_id"]


def test_calls_without_a_session_get_one_each(make_oai, openai_server, local_client):
    openai_server.script(chat("first"), chat("second"))
    client = wrap_openai(
        make_oai(), local_client, session_name="support-bot", user_id="u-1", metadata={"env": "test"}
    )
    client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    store = read_store(local_client)
    sessions = sorted(store.list_sessions(), key=lambda s: s["started_at"])
    assert [s["name"] for s in sessions] == ["support-bot", "support-bot"]
    assert all(s["status"] == "success" and s["event_count"] == 1 and s["user_id"] == "u-1" for s in sessions)
    assert sessions[0]["metadata"] == {
        "integration": "openai",
        "operation": "chat.completions.create",
        "env": "test",
    }
    assert [store.get_events(s["id"])[0]["output"]["content"] for s in sessions] == ["first", "second"]


def test_calls_inside_a_session_join_it(make_oai, openai_server, local_client):
    openai_server.script(chat("first"), chat("second"))
    client = wrap_openai(make_oai(), local_client)
    with local_client.session("my agent") as s:
        client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
        with span("tool-span-1"):
            client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
        assert local_client.is_open(s.id)
    store = read_store(local_client)
    session = only_session(store)
    assert session["name"] == "my agent" and session["status"] == "success"
    assert session["total_tokens"] == 34
    first, second = store.get_events(session["id"])
    assert [first["output"]["content"], second["output"]["content"]] == ["first", "second"]
    assert first["parent_span_id"] is None
    assert second["parent_span_id"] == "tool-span-1"


def test_a_stream_inside_a_session_is_recorded_into_it(make_oai, openai_server, local_client):
    openai_server.script(chat("streamed in session"))
    client = wrap_openai(make_oai(), local_client)
    with local_client.session("streaming agent"):
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG, stream=True):
            pass
    store = read_store(local_client)
    session = only_session(store)
    assert session["event_count"] == 1
    assert store.get_events(session["id"])[0]["output"]["content"] == "streamed in session"


def test_an_outer_layer_claim_is_taken(make_oai, openai_server, local_client):
    openai_server.script(chat("claimed"))
    client = wrap_openai(make_oai(), SentrialClient(disabled=True))  # the claim decides where it records
    with local_client.session("langchain run") as s:
        claim = LLMClaim(s, "lc-llm-span", "lc-chain-span")
        token = open_llm_claim(claim)
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
        finally:
            close_llm_claim(token)
        assert claim.taken is True
    store = read_store(local_client)
    session = only_session(store)  # no session of our own
    [event] = store.get_events(session["id"])
    assert (event["span_id"], event["parent_span_id"]) == ("lc-llm-span", "lc-chain-span")
    assert event["output"]["content"] == "claimed"


def test_a_server_refusing_stream_options_gets_the_request_unchanged(make_oai, openai_server, local_client):
    refusal = error(400, "Unrecognized request argument supplied: stream_options")
    openai_server.script(chat("plain"), refusal, chat("plain"), chat("again"))
    plain = make_oai()
    client = wrap_openai(make_oai(), local_client, include_usage=True)
    a = list(plain.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG, stream=True))
    b = list(client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG, stream=True))
    assert_same_items(a, b)
    list(client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG, stream=True))
    sent = [r["json"].get("stream_options") for r in openai_server.requests]
    assert sent == [None, {"include_usage": True}, None, None]  # refused once, then never asked again

    store = read_store(local_client)
    sessions = store.list_sessions()
    assert [s["status"] for s in sessions] == ["success", "success"]
    assert sum(s["error_count"] for s in sessions) == 0


def test_our_own_failure_is_not_an_llm_error(
    make_oai, openai_server, local_client, monkeypatch, caplog_sentrial
):
    openai_server.script(chat("still fine"))

    def broken(resp):
        raise RuntimeError("mapping bug")

    monkeypatch.setitem(calls_module.RESULT_MAPPERS, "chat", broken)
    client = wrap_openai(make_oai(), local_client)
    resp = client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    assert resp.choices[0].message.content == "still fine"
    assert "mapping bug" in caplog_sentrial.text
    store = read_store(local_client)
    session = only_session(store)
    assert session["status"] == "success"
    assert session["event_count"] == 0 and session["error_count"] == 0


def test_recorded_over_http_to_the_sentrial_api(make_oai, openai_server, sentrial_api, tmp_path):
    openai_server.script(chat(tool_calls=[("get_weather", {"city": "Paris"}, "call_h")]))
    sentrial = SentrialClient(
        api_key="test-key", base_url=sentrial_api.url, spool_path=str(tmp_path / "http-spool")
    )
    try:
        client = wrap_openai(make_oai(), sentrial, session_name="http-run")
        client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG, temperature=0)
        assert sentrial.flush(10)
        assert sentrial_api.wait_for(
            lambda s: s.event_count == 2 and any(x["closes"] for x in s.sessions.values()), 10
        )
    finally:
        sentrial.shutdown(5)
    session = sentrial_api.session_by_name("http-run")
    assert session["body"]["metadata"] == {"integration": "openai", "operation": "chat.completions.create"}
    llm, decision = session["events"]
    calls = [{"id": "call_h", "name": "get_weather", "arguments": {"city": "Paris"}}]
    assert llm["eventType"] == "tool_call"
    assert llm["toolName"] == "llm:openai:gpt-4o-mini"
    assert llm["toolInput"] == {
        "messages": USER_MSG,
        "model": "gpt-4o-mini",
        "provider": "openai",
        "params": {"temperature": 0},
    }
    output = dict(llm["toolOutput"])
    assert output == expected_output(None, tool_calls=calls, finish_reason="tool_calls")
    assert llm["tokenCount"] == 17
    assert llm["estimatedCost"] == pytest.approx(output["cost_usd"])
    assert llm["spanId"].startswith("oai_")
    assert decision["eventType"] == "llm_decision"
    assert decision["reasoning"] == "call get_weather"
    assert decision["decision"] == {"action": "tool_calls", "tool_calls": calls}
    assert decision["parentSpanId"] == llm["spanId"]
    [close] = session["closes"]
    assert close["status"] == "completed" and close["totalTokens"] == 17


def test_isinstance_and_types_are_unchanged(make_oai, local_client):
    client = make_oai()
    completions_type = type(client.chat.completions)
    wrap_openai(client, local_client)
    assert type(client) is OpenAI and isinstance(client, OpenAI)
    assert type(client.chat.completions) is completions_type
