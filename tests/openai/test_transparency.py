"""What the caller sees is what it would see without us: stream chunks the server sent on its own,
chunks carrying more than usage, and class patches made after ``wrap_openai``.

Counterparts of openai-python's own tests that failed with the wrapper on
(``tests/lib/chat/test_completions_streaming.py::test_parse_pydantic_model``,
``tests/lib/chat/test_stream_moderation.py``, ``tests/lib/test_runner_eager_control.py``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest import mock

import httpx
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.resources.chat.completions import AsyncCompletions, Completions
from openai.resources.responses import Responses
from openai.types.chat import ChatCompletion

from sentrial_integrations.openai import instrument_openai, wrap_openai
from tests.conftest import only_session, read_store
from tests.openai.helpers import USER_MSG, assert_same, assert_same_items, chat_tokens
from tests.servers.openai_server import chat, raw

MODEL = "gpt-4o-mini-2024-07-18"
USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
MODERATION = {
    "input": {"type": "error", "code": "unavailable", "message": "moderation was not run"},
    "output": {"type": "error", "code": "unavailable", "message": "moderation was not run"},
}


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fixed",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": choices,
        **extra,
    }


def sse_stream(*, usage_extra: dict[str, Any] | None = None, choices: int = 1) -> Any:
    """A recorded-style stream whose server sends the usage chunk unasked (as proxies and the SDK's
    own fixtures do); ``usage_extra`` puts more fields on that chunk; ``choices`` as ``n``."""
    chunks = []
    for index in range(choices):
        chunks += [
            _chunk([{"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]),
            _chunk([{"index": index, "delta": {"content": '{"city": '}, "finish_reason": None}]),
            _chunk([{"index": index, "delta": {"content": '"Paris"}'}, "finish_reason": None}]),
            _chunk([{"index": index, "delta": {}, "finish_reason": "stop"}]),
        ]
    chunks.append(_chunk([], usage=USAGE, **(usage_extra or {})))
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return raw(200, body, content_type="text/event-stream")


def _helper_run(client: OpenAI) -> tuple[list[Any], Any]:
    with client.chat.completions.stream(model="gpt-4o-mini", messages=USER_MSG) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    return events, final


@pytest.mark.parametrize("choices", [1, 2], ids=["one-choice", "multiple-choices"])
@pytest.mark.parametrize("layer", ["wrap_openai", "instrument_openai"])
def test_a_usage_chunk_the_server_sent_unasked_reaches_the_caller(
    make_oai, openai_server, local_client, layer, choices
):
    """openai-python ``test_completions_streaming.py::test_parse_pydantic_model[_multiple_choices]``."""
    openai_server.script(sse_stream(choices=choices), sse_stream(choices=choices))
    events_a, final_a = _helper_run(make_oai())
    if layer == "wrap_openai":
        traced = wrap_openai(make_oai(), local_client)
    else:
        instrument_openai(local_client)
        traced = make_oai()
    events_b, final_b = _helper_run(traced)

    assert [e.type for e in events_b] == [e.type for e in events_a]
    assert sum(e.type == "chunk" for e in events_b) == 4 * choices + 1  # the usage chunk is one of them
    assert len(final_b.choices) == choices
    assert final_a.usage is not None and final_a.usage.total_tokens == 14
    assert_same(final_a, final_b)
    plain_req, wrapped_req = (r["json"] for r in openai_server.requests)
    assert plain_req == wrapped_req and "stream_options" not in wrapped_req  # nothing added

    store = read_store(local_client)
    [event] = store.get_events(only_session(store)["id"])
    content = '{"city": "Paris"}'
    assert event["output"]["content"] == (content if choices == 1 else [content] * choices)
    assert event["output"]["tokens"] == chat_tokens(11, 3, cached=None, reasoning=None)
    assert "usage_unavailable" not in event["metadata"]


@pytest.mark.parametrize(
    "extra", [{"moderation": MODERATION}, {"x_gateway_cost": 0.0001}], ids=["moderation", "provider-field"]
)
def test_a_usage_chunk_carrying_anything_else_is_never_hidden(make_oai, openai_server, local_client, extra):
    # include_usage=True: we ask for usage (and would hide the chunk it causes) — not this one
    openai_server.script(sse_stream(usage_extra=extra), sse_stream(usage_extra=extra))
    kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "messages": USER_MSG, "stream": True}
    a = list(make_oai().chat.completions.create(**kwargs))
    b = list(wrap_openai(make_oai(), local_client, include_usage=True).chat.completions.create(**kwargs))
    assert_same_items(a, b)
    assert b[-1].choices == [] and b[-1].usage is not None
    key = next(iter(extra))
    assert getattr(b[-1], key) is not None
    assert openai_server.requests[1]["json"]["stream_options"] == {"include_usage": True}


def test_usage_is_asked_for_only_on_endpoints_known_to_send_it_only_when_asked(openai_server, local_client):
    """api.openai.com (reached here through a loopback proxy): asked and hidden. Any other endpoint:
    the request is sent as the caller wrote it, and the record says why it has no usage."""
    proxy = openai_server.url.rsplit("/v1", 1)[0]
    openai_server.script(chat("Hi"), chat("Hi"), chat("Hi"))
    kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "messages": USER_MSG, "stream": True}

    official = OpenAI(
        api_key="sk-test",
        base_url="http://api.openai.com/v1",
        max_retries=0,
        http_client=httpx.Client(proxy=proxy),
    )
    plain_official = OpenAI(
        api_key="sk-test",
        base_url="http://api.openai.com/v1",
        max_retries=0,
        http_client=httpx.Client(proxy=proxy),
    )
    a = list(plain_official.chat.completions.create(**kwargs))
    b = list(wrap_openai(official, local_client).chat.completions.create(**kwargs))
    assert_same_items(a, b)  # the usage chunk our option caused stays hidden
    assert openai_server.requests[1]["json"]["stream_options"] == {"include_usage": True}
    assert "api.openai.com" in openai_server.requests[1]["path"]

    other = wrap_openai(OpenAI(api_key="sk-test", base_url=openai_server.url, max_retries=0), local_client)
    list(other.chat.completions.create(**kwargs))
    assert "stream_options" not in openai_server.requests[2]["json"]

    store = read_store(local_client)
    first, second = sorted(store.list_sessions(), key=lambda s: s["started_at"])
    [asked] = store.get_events(first["id"])
    [not_asked] = store.get_events(second["id"])
    assert asked["output"]["tokens"]["total"] == 17
    assert "usage_unavailable" not in asked["metadata"]
    assert not_asked["output"]["tokens"]["total"] is None
    assert not_asked["metadata"]["usage_unavailable"] == "stream without stream_options.include_usage"


def _fake_completion(text: str) -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1,
            "model": MODEL,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
        }
    )


def test_a_class_patch_made_after_wrap_openai_applies(make_oai, openai_server, local_client, monkeypatch):
    client = wrap_openai(make_oai(), local_client)
    assert type(client) is OpenAI
    seen: list[Any] = []

    def fake_create(self: Any, **kwargs: Any) -> ChatCompletion:
        seen.append((self, kwargs["model"]))
        return _fake_completion("from the patch")

    monkeypatch.setattr(type(client.chat.completions), "create", fake_create)
    out = client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    assert out.choices[0].message.content == "from the patch"
    assert seen == [(client.chat.completions, "gpt-4o-mini")]
    assert openai_server.requests == []  # no real request went out
    monkeypatch.undo()

    openai_server.script(chat("real"))
    real = client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    assert real.choices[0].message.content == "real"
    store = read_store(local_client)
    contents = [store.get_events(s["id"])[0]["output"]["content"] for s in store.list_sessions()]
    assert sorted(contents) == ["from the patch", "real"]  # both still recorded


def test_mock_patch_object_on_the_resource_class_applies(make_oai, openai_server, local_client):
    client = wrap_openai(make_oai(), local_client)
    with mock.patch.object(Responses, "create", autospec=True) as create:
        create.return_value = "patched"
        assert client.responses.create(model="gpt-4o-mini", input="hi") == "patched"
        assert create.call_args.args == (client.responses,)
    with mock.patch.object(Completions, "create", return_value=_fake_completion("mocked")):
        assert client.with_options(timeout=5).chat.completions.create(
            model="gpt-4o-mini", messages=USER_MSG
        ).choices[0].message.content == ("mocked")
    assert openai_server.requests == []


async def test_a_class_patch_applies_to_a_wrapped_async_client(make_oai, openai_server, local_client):
    client = wrap_openai(make_oai(AsyncOpenAI), local_client)
    assert type(client) is AsyncOpenAI

    async def fake_create(self: Any, **kwargs: Any) -> ChatCompletion:
        return _fake_completion("async patch")

    with mock.patch.object(AsyncCompletions, "create", fake_create):
        out = await client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    assert out.choices[0].message.content == "async patch"
    assert openai_server.requests == []
    store = read_store(local_client)
    assert store.get_events(only_session(store)["id"])[0]["output"]["content"] == "async patch"


def test_async_calls_make_no_blocking_call_on_the_event_loop(make_oai, openai_server):
    """Under blockbuster (as langchain-core's suite runs): a client wrapped by the program, recording
    into the default client, records async calls without touching the file system on the loop."""
    from blockbuster import BlockBuster

    from sentrial_integrations import get_client

    openai_server.script(chat("warm"), chat("traced"))
    client = wrap_openai(make_oai(AsyncOpenAI))  # no client: the process-wide one

    async def main() -> str | None:
        await make_oai(AsyncOpenAI).chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
        bb = BlockBuster()
        bb.activate()
        try:
            out = await client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
        finally:
            bb.deactivate()
        return out.choices[0].message.content

    assert asyncio.run(main()) == "traced"
    store = read_store(get_client())
    [event] = store.get_events(only_session(store)["id"])
    assert event["output"]["content"] == "traced"


@pytest.mark.parametrize(
    ("raw", "asked"), [("true", True), ("ON", True), ("0", False), ("no", False), ("maybe", False)]
)
def test_sentrial_openai_include_usage_decides_for_unknown_endpoints(
    make_oai, openai_server, local_client, monkeypatch, raw, asked
):
    from sentrial_integrations import SentrialConfigWarning

    monkeypatch.setenv("SENTRIAL_OPENAI_INCLUDE_USAGE", raw)
    openai_server.script(chat("Hi"))
    client = make_oai()
    if raw == "maybe":  # not a boolean: one warning, then decided per endpoint (loopback: not asked)
        with pytest.warns(SentrialConfigWarning, match="SENTRIAL_OPENAI_INCLUDE_USAGE='maybe'"):
            wrapped = wrap_openai(client, local_client)
            list(wrapped.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG, stream=True))
    else:
        wrapped = wrap_openai(client, local_client)
        list(wrapped.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG, stream=True))
    sent = openai_server.requests[0]["json"].get("stream_options")
    assert sent == ({"include_usage": True} if asked else None)
    store = read_store(local_client)
    [event] = store.get_events(only_session(store)["id"])
    assert (event["output"]["tokens"]["total"] == 17) is asked
