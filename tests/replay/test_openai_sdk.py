"""The OpenAI SDK under ``replay``: answers are the SDK's own types, rebuilt from what the OpenAI
integration recorded (ids, finish reasons, tool-call ids, usage, the model); streams are re-streamed
chunk by chunk with the recorded usage; sync and async; chat, responses and legacy completions."""

from __future__ import annotations

from typing import Any

import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

from sentrial_integrations import replay
from sentrial_integrations.openai import wrap_openai
from sentrial_integrations.rerun import ReplayMismatch
from tests.conftest import read_store
from tests.servers.openai_server import chat, completion, responses_api

MESSAGES = [{"role": "user", "content": "weather in Paris?"}]
TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {}}}},
    }
]


def sdk(server: Any, cls: type = OpenAI) -> Any:
    return cls(base_url=server.url, api_key="sk-test", max_retries=0)


def record(local_client: Any, server: Any, body: Any) -> str:
    """Run ``body(client)`` against the scripted server inside one session; its id."""
    oai = wrap_openai(sdk(server), local_client)
    with local_client.session("sdk-run") as s:
        body(oai)
    store = read_store(local_client)
    store.close()
    server.reset()
    return s.id


def first_call(oai: Any) -> Any:
    return oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS)


@pytest.fixture
def tool_call_recording(local_client, openai_server) -> str:
    openai_server.script(
        chat(
            tool_calls=[("get_weather", {"city": "Paris"}, "call_abc")],
            prompt_tokens=21,
            completion_tokens=7,
            cached_tokens=3,
        )
    )
    return record(local_client, openai_server, first_call)


def test_chat_completion_is_rebuilt_as_the_sdks_type(tool_call_recording, local_client, openai_server):
    store = read_store(local_client)
    (llm,) = [e for e in store.get_events(tool_call_recording) if e["type"] == "llm_call"]
    openai_server.stop()
    oai = sdk(openai_server)  # an unwrapped client, made before the block
    with replay(tool_call_recording, store=store.path, client=local_client) as rp:
        resp = first_call(oai)
    assert isinstance(resp, ChatCompletion)
    assert resp.id == llm["metadata"]["response_id"]
    assert resp.model == "gpt-4o-mini-2024-07-18"
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_abc",
        "get_weather",
        '{"city":"Paris"}',
    )
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (21, 7, 28)
    assert (
        resp.usage.prompt_tokens_details is not None and resp.usage.prompt_tokens_details.cached_tokens == 3
    )
    assert rp.served == [1] and rp.missing == {}


def test_raw_response_helpers_are_served_too(tool_call_recording, local_client, openai_server):
    openai_server.stop()
    oai = sdk(openai_server)
    with replay(tool_call_recording, store=read_store(local_client).path, client=local_client):
        raw = oai.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS
        )
    assert raw.headers["x-sentrial-replay-step"] == "1"
    assert isinstance(raw.parse(), ChatCompletion)


@pytest.mark.parametrize(
    ("request_args", "difference"),
    [
        ({"model": "gpt-4o-mini"}, "tools: recorded ['get_weather'], the request offers []"),
        ({"model": "gpt-4o", "tools": TOOLS}, "model: recorded 'gpt-4o-mini', the request has 'gpt-4o'"),
    ],
    ids=["changed tool list", "changed model"],
)
def test_a_changed_request_is_a_mismatch(
    request_args, difference, tool_call_recording, local_client, openai_server
):
    openai_server.stop()
    oai = sdk(openai_server)
    with (
        pytest.raises(ReplayMismatch) as info,
        replay(
            tool_call_recording, store=read_store(local_client).path, client=local_client, on_mismatch="raise"
        ),
    ):
        oai.chat.completions.create(messages=MESSAGES, **request_args)
    assert info.value.step == 1
    assert info.value.difference == difference


def stream_text(oai: Any) -> Any:
    return list(
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )


@pytest.fixture
def text_recording(local_client, openai_server) -> str:
    openai_server.script(chat("It is sunny in Paris", prompt_tokens=9, completion_tokens=5))
    return record(local_client, openai_server, stream_text)


def test_a_stream_is_replayed_chunk_by_chunk_with_the_recorded_usage(
    text_recording, local_client, openai_server
):
    openai_server.stop()
    oai = sdk(openai_server)
    with replay(text_recording, store=read_store(local_client).path, client=local_client) as rp:
        chunks = stream_text(oai)
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert texts == ["It ", "is ", "sunny ", "in ", "Paris"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (9, 5, 14)
    assert rp.served == [1] and rp.missing == {}


def test_a_stream_without_include_usage_has_no_usage_chunk(text_recording, local_client, openai_server):
    openai_server.stop()
    oai = sdk(openai_server)
    with replay(text_recording, store=read_store(local_client).path, client=local_client):
        chunks = list(oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "It is sunny in Paris"


async def test_async_stream_and_async_client(text_recording, local_client, openai_server):
    openai_server.stop()
    oai = sdk(openai_server, AsyncOpenAI)
    async with replay(text_recording, store=read_store(local_client).path, client=local_client) as rp:
        stream = await oai.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "It is sunny in Paris"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 14
    assert rp.served == [1]


def test_the_responses_api(local_client, openai_server):
    def body(oai: Any) -> None:
        oai.responses.create(model="gpt-4o-mini", input="weather in Paris?", instructions="be brief")

    openai_server.script(responses_api("Sunny.", input_tokens=8, output_tokens=2))
    sid = record(local_client, openai_server, body)
    openai_server.stop()
    oai = sdk(openai_server)
    with replay(sid, store=read_store(local_client).path, client=local_client) as rp:
        resp = oai.responses.create(model="gpt-4o-mini", input="weather in Paris?", instructions="be brief")
    assert isinstance(resp, Response)
    assert resp.output_text == "Sunny."
    assert resp.usage is not None and (resp.usage.input_tokens, resp.usage.output_tokens) == (8, 2)
    assert rp.served == [1]


def test_a_responses_stream(local_client, openai_server):
    def body(oai: Any) -> None:
        list(oai.responses.create(model="gpt-4o-mini", input="hi", stream=True))

    openai_server.script(responses_api("Hello there", input_tokens=3, output_tokens=2))
    sid = record(local_client, openai_server, body)
    openai_server.stop()
    oai = sdk(openai_server)
    with replay(sid, store=read_store(local_client).path, client=local_client):
        events = list(oai.responses.create(model="gpt-4o-mini", input="hi", stream=True))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert deltas == ["Hello ", "there"]
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "Hello there"
    assert events[-1].response.usage is not None and events[-1].response.usage.total_tokens == 5


def test_legacy_completions(local_client, openai_server):
    def body(oai: Any) -> None:
        oai.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")

    openai_server.script(completion("hi there"))
    sid = record(local_client, openai_server, body)
    openai_server.stop()
    oai = sdk(openai_server)
    with replay(sid, store=read_store(local_client).path, client=local_client):
        resp = oai.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")
    assert isinstance(resp, Completion)
    assert resp.choices[0].text == "hi there"


def test_embeddings_are_not_recorded_so_they_go_live(local_client, openai_server):
    def body(oai: Any) -> None:
        oai.embeddings.create(model="text-embedding-3-small", input="hello")

    sid = record(local_client, openai_server, body)
    oai = sdk(openai_server)
    with replay(sid, store=read_store(local_client).path, client=local_client) as rp:
        resp = oai.embeddings.create(model="text-embedding-3-small", input="hello")
    assert len(resp.data) == 1
    assert len(openai_server.requests) == 1
    assert rp.live_at_step == 1
    assert rp.live_reason is not None and "vectors" in rp.live_reason


async def test_concurrent_replays_and_code_outside_them_do_not_mix(local_client, openai_server):
    import asyncio

    def ask(text: str) -> Any:
        def body(oai: Any) -> None:
            oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])

        return body

    openai_server.script(chat("answer one"))
    first = record(local_client, openai_server, ask("one"))
    openai_server.script(chat("answer two"))
    second = record(local_client, openai_server, ask("two"))
    path = read_store(local_client).path
    oai = sdk(openai_server, AsyncOpenAI)
    gate = asyncio.Event()
    entered = [asyncio.Event(), asyncio.Event()]

    async def rerun(sid: str, text: str, i: int) -> tuple[str | None, Any]:
        async with replay(sid, store=path, client=local_client) as rp:
            entered[i].set()
            await gate.wait()  # both blocks are open at once
            resp = await oai.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
            )
        return resp.choices[0].message.content, rp

    async def outside() -> str | None:
        await gate.wait()
        resp = await oai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
        return resp.choices[0].message.content

    openai_server.script(chat("from the server"))
    tasks = [
        asyncio.ensure_future(rerun(first, "one", 0)),
        asyncio.ensure_future(rerun(second, "two", 1)),
        asyncio.ensure_future(outside()),
    ]
    await entered[0].wait()
    await entered[1].wait()
    gate.set()
    (one, rp1), (two, rp2), live = await asyncio.gather(*tasks)
    assert (one, two, live) == ("answer one", "answer two", "from the server")
    assert rp1.served == rp2.served == [1]
    assert len(openai_server.requests) == 1  # only the call outside both blocks
