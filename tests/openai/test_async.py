"""AsyncOpenAI through wrap_openai: the same guarantees as the sync client."""

from __future__ import annotations

import asyncio
import gc
import inspect

import openai
import pytest
from openai import AsyncOpenAI, AsyncStream
from openai.types.chat import ChatCompletion

from sentrial_integrations.openai import wrap_openai
from tests.conftest import only_session, read_store
from tests.openai.helpers import (
    USER_MSG,
    acollect_until_closed,
    assert_same,
    assert_same_items,
    chat_tokens,
    expected_output,
    pop_timing,
)
from tests.servers.openai_server import chat, embeddings, error, responses_api


async def test_async_create(make_oai, openai_server, local_client):
    openai_server.script(chat("Async hello"), chat("Async hello"))
    plain = make_oai(AsyncOpenAI)
    wrapped = wrap_openai(make_oai(AsyncOpenAI), local_client)
    assert type(wrapped) is AsyncOpenAI
    assert inspect.iscoroutinefunction(wrapped.chat.completions.create)

    a = await plain.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    b = await wrapped.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    assert type(b) is ChatCompletion
    assert_same(a, b)

    store = read_store(local_client)
    [event] = store.get_events(only_session(store)["id"])
    assert event["name"] == "llm:openai:gpt-4o-mini"
    assert pop_timing(event) == expected_output("Async hello")


async def test_async_stream_is_identical_and_hides_the_usage_chunk(make_oai, openai_server, local_client):
    openai_server.script(chat("Async streaming", chunk_size=3), chat("Async streaming", chunk_size=3))
    plain = make_oai(AsyncOpenAI)
    wrapped = wrap_openai(make_oai(AsyncOpenAI), local_client, include_usage=True)

    a = [
        c
        async for c in await plain.chat.completions.create(
            model="gpt-4o-mini", messages=USER_MSG, stream=True
        )
    ]
    stream = await wrapped.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG, stream=True)
    assert type(stream) is AsyncStream
    b = []
    async for chunk in stream:
        _ = chunk.choices[0]
        b.append(chunk)
    assert_same_items(a, b)
    assert openai_server.requests[1]["json"]["stream_options"] == {"include_usage": True}

    store = read_store(local_client)
    session = only_session(store)
    assert session["status"] == "success"
    [event] = store.get_events(session["id"])
    assert pop_timing(event, ttft=True) == expected_output("Async streaming")


async def test_async_stream_closed_early_is_partial(make_oai, openai_server, local_client):
    openai_server.script(chat("one two three four", chunk_size=4))
    wrapped = wrap_openai(make_oai(AsyncOpenAI), local_client)
    async with await wrapped.chat.completions.create(
        model="gpt-4o-mini", messages=USER_MSG, stream=True
    ) as stream:
        await stream.__anext__()  # role chunk
        await stream.__anext__()  # "one "

    store = read_store(local_client)
    session = only_session(store)
    assert session["status"] == "success"
    [event] = store.get_events(session["id"])
    out = pop_timing(event, ttft=True)
    assert out == expected_output(
        "one ", finish_reason=None, tokens={"prompt": None, "completion": None, "total": None}, cost=None
    ) | {"cost_usd": None, "partial": True}


async def test_async_abandoned_stream_is_recorded_once_as_partial(make_oai, openai_server, local_client):
    openai_server.script(chat("one two three four", chunk_size=4))
    wrapped = wrap_openai(make_oai(AsyncOpenAI), local_client)
    stream = await wrapped.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG, stream=True)
    await stream.__anext__()
    await stream.__anext__()
    del stream
    await acollect_until_closed(local_client)
    gc.collect()

    store = read_store(local_client)
    session = only_session(store)
    assert session["status"] == "abandoned"
    [event] = store.get_events(session["id"])
    assert event["output"]["partial"] is True
    assert event["output"]["content"] == "one "


async def test_async_responses_stream_helper(make_oai, openai_server, local_client):
    openai_server.script(responses_api("Async responses"), responses_api("Async responses"))
    plain = make_oai(AsyncOpenAI)
    wrapped = wrap_openai(make_oai(AsyncOpenAI), local_client)
    async with plain.responses.stream(model="gpt-4o-mini", input="hi") as s:
        a = [e async for e in s]
    async with wrapped.responses.stream(model="gpt-4o-mini", input="hi") as s:
        b = [e async for e in s]
        final = await s.get_final_response()
    assert_same_items(a, b)
    assert final.output_text == "Async responses"

    store = read_store(local_client)
    [event] = store.get_events(only_session(store)["id"])
    assert pop_timing(event, ttft=True) == expected_output("Async responses", finish_reason="completed")


async def test_async_embeddings_and_raw_response(make_oai, openai_server, local_client):
    openai_server.script(embeddings(dim=4, prompt_tokens=2), chat("raw async"))
    wrapped = wrap_openai(make_oai(AsyncOpenAI), local_client)
    emb = await wrapped.embeddings.create(model="text-embedding-3-small", input="x")
    assert len(emb.data[0].embedding) == 4
    raw = await wrapped.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER_MSG)
    assert raw.headers["x-request-id"]
    assert raw.parse().choices[0].message.content == "raw async"

    store = read_store(local_client)
    emb_session, chat_session = sorted(store.list_sessions(), key=lambda s: s["started_at"])
    [emb_event] = store.get_events(emb_session["id"])
    assert emb_event["output"]["content"] == {"embeddings": 1, "dimensions": 4}
    assert emb_event["output"]["tokens"] == {"prompt": 2, "completion": None, "total": 2}
    [chat_event] = store.get_events(chat_session["id"])
    assert chat_event["metadata"]["raw_response"] is True
    assert pop_timing(chat_event) == expected_output("raw async", tokens=chat_tokens())


async def test_async_error_is_the_same_object(make_oai, openai_server, local_client):
    openai_server.script(error(400, "bad"))
    wrapped = make_oai(AsyncOpenAI)
    seen = []
    inner = wrapped.chat.completions.create

    async def spy(*args, **kwargs):
        try:
            return await inner(*args, **kwargs)
        except Exception as exc:
            seen.append(exc)
            raise

    wrapped.chat.completions.create = spy
    wrap_openai(wrapped, local_client)
    with pytest.raises(openai.BadRequestError) as err:
        await wrapped.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    assert err.value is seen[0]

    store = read_store(local_client)
    session = only_session(store)
    assert session["status"] == "error"
    [event] = store.get_events(session["id"])
    assert event["type"] == "error"
    assert event["error"]["status_code"] == 400


async def test_concurrent_async_calls_in_one_session(make_oai, openai_server, local_client):
    openai_server.script(*(chat(f"answer {i}") for i in range(5)))
    wrapped = wrap_openai(make_oai(AsyncOpenAI), local_client)
    async with local_client.session("agent run"):
        results = await asyncio.gather(
            *(
                wrapped.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}]
                )
                for i in range(5)
            )
        )
    assert len(results) == 5

    store = read_store(local_client)
    session = only_session(store)
    assert session["name"] == "agent run"
    assert session["event_count"] == 5 and session["total_tokens"] == 85
    events = store.get_events(session["id"])
    asked = sorted(e["input"]["messages"][0]["content"] for e in events)
    assert asked == [f"q{i}" for i in range(5)]
