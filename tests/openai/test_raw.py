"""with_raw_response and with_streaming_response: still working, recorded from the parsed body."""

from __future__ import annotations

from openai._legacy_response import LegacyAPIResponse
from openai._response import APIResponse
from openai.types.chat import ChatCompletion

from sentrial_integrations.openai import wrap_openai
from tests.conftest import only_session, read_store
from tests.openai.helpers import (
    USER_MSG,
    assert_same,
    assert_same_items,
    collect_until_closed,
    expected_output,
    pop_timing,
    recorded_contents,
)
from tests.servers.openai_server import chat, responses_api

NO_TOKENS = {"prompt": None, "completion": None, "total": None}


def only_event(local_client):
    store = read_store(local_client)
    session = only_session(store)
    [event] = store.get_events(session["id"])
    return session, event


def test_raw_response_container_touched_before_wrapping(make_oai, openai_server, local_client):
    openai_server.script(chat("raw before"), chat("raw before"))
    plain = make_oai()
    client = make_oai()
    container = client.chat.completions.with_raw_response  # cached by the SDK, bound to the original create
    wrap_openai(client, local_client)
    assert client.chat.completions.with_raw_response is container

    a = plain.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER_MSG)
    b = container.create(model="gpt-4o-mini", messages=USER_MSG)
    assert type(b) is LegacyAPIResponse
    assert b.headers["x-request-id"]
    parsed = b.parse()
    assert type(parsed) is ChatCompletion
    assert b.parse() is parsed  # the SDK's cache still works
    assert_same(a.parse(), parsed)

    session, event = only_event(local_client)
    assert session["status"] == "success"
    assert pop_timing(event) == expected_output("raw before")
    assert event["metadata"] == {
        "operation": "chat.completions.create",
        "response_id": parsed.id,
        "raw_response": True,
    }


def test_client_level_raw_response_touched_before_and_after_wrapping(make_oai, openai_server, local_client):
    openai_server.script(chat("client raw before"), responses_api("client raw after"))
    client = make_oai()
    before = client.with_raw_response.chat.completions
    wrap_openai(client, local_client)
    before.create(model="gpt-4o-mini", messages=USER_MSG).parse()
    # built after wrapping (as langchain-openai does on every call)
    client.with_raw_response.responses.create(model="gpt-4o-mini", input="hi").parse()

    assert recorded_contents(local_client) == ["client raw after", "client raw before"]


def test_raw_response_never_parsed_is_recorded_from_its_body(make_oai, openai_server, local_client):
    openai_server.script(chat("read as json"))
    client = wrap_openai(make_oai(), local_client)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER_MSG)
    assert raw.http_response.json()["choices"][0]["message"]["content"] == "read as json"
    del raw
    collect_until_closed(local_client)

    _, event = only_event(local_client)
    assert pop_timing(event) == expected_output("read as json")


def test_raw_stream_is_not_changed_and_recorded(make_oai, openai_server, local_client):
    openai_server.script(chat("raw stream", chunk_size=3), chat("raw stream", chunk_size=3))
    plain = make_oai()
    client = wrap_openai(make_oai(), local_client)
    a = list(
        plain.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=USER_MSG, stream=True
        ).parse()
    )
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=USER_MSG, stream=True
    )
    b = list(raw.parse())
    assert_same_items(a, b)
    # the caller may read the raw bytes: nothing is added to a raw request
    assert openai_server.requests[0]["json"] == openai_server.requests[1]["json"]

    _, event = only_event(local_client)
    assert pop_timing(event, ttft=True) == expected_output("raw stream", tokens=NO_TOKENS, cost=None) | {
        "cost_usd": None
    }


def test_streaming_response_parsed(make_oai, openai_server, local_client):
    openai_server.script(chat("streamed body"), chat("streamed body"))
    plain = make_oai()
    client = wrap_openai(make_oai(), local_client)
    with plain.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=USER_MSG
    ) as resp:
        a = resp.parse()
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=USER_MSG
    ) as resp:
        assert type(resp) is APIResponse
        b = resp.parse()
    assert_same(a, b)
    _, event = only_event(local_client)
    assert pop_timing(event) == expected_output("streamed body")
    assert event["metadata"]["raw_response"] is True


def test_streaming_response_read_as_json_is_recorded_at_exit(make_oai, openai_server, local_client):
    openai_server.script(chat("json body"))
    client = wrap_openai(make_oai(), local_client)
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=USER_MSG
    ) as resp:
        assert resp.json()["choices"][0]["message"]["content"] == "json body"
    _, event = only_event(local_client)
    assert pop_timing(event) == expected_output("json body")


def test_streaming_response_of_a_stream(make_oai, openai_server, local_client):
    openai_server.script(chat("sse via streaming response"), chat("lines"))
    client = wrap_openai(make_oai(), local_client)
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=USER_MSG, stream=True
    ) as resp:
        chunks = list(resp.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "sse via streaming response"
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=USER_MSG, stream=True
    ) as resp:
        lines = list(resp.iter_lines())  # raw SSE lines: exactly what the server sent
    assert lines[-2] == "data: [DONE]"
    assert not any('"usage"' in line for line in lines)

    store = read_store(local_client)
    first, second = sorted(store.list_sessions(), key=lambda s: s["started_at"])
    [parsed] = store.get_events(first["id"])
    assert pop_timing(parsed, ttft=True)["content"] == "sse via streaming response"
    [unread] = store.get_events(second["id"])
    assert unread["output"]["content"] is None
    assert unread["output"]["partial"] is True
    assert unread["metadata"]["response_not_read"] is True
