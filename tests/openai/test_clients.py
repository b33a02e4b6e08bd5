"""Client kinds and client plumbing: Azure, subclasses, with_options, double wrapping, unwrap."""

from __future__ import annotations

from openai import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, OpenAI

from sentrial_integrations.openai import (
    instrument_openai,
    unwrap_openai,
    wrap_openai,
)
from tests.conftest import only_session, read_store
from tests.openai.helpers import USER_MSG, assert_same_items, expected_output, pop_timing, recorded_contents
from tests.servers.openai_server import chat


def azure(openai_server, cls=AzureOpenAI, api_version="2024-10-21"):
    return cls(
        azure_endpoint=openai_server.base_url, api_version=api_version, api_key="az-key", max_retries=0
    )


def test_azure_is_recorded_as_provider_azure_with_the_deployment_name(openai_server, local_client):
    openai_server.script(chat("From Azure"))
    client = wrap_openai(azure(openai_server), local_client)
    assert type(client) is AzureOpenAI
    resp = client.chat.completions.create(model="my-gpt4o-deployment", messages=USER_MSG)
    assert resp.choices[0].message.content == "From Azure"
    req = openai_server.requests[0]
    assert req["path"] == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert req["query"] == "api-version=2024-10-21"

    store = read_store(local_client)
    [event] = store.get_events(only_session(store)["id"])
    assert event["name"] == "llm:azure:my-gpt4o-deployment"
    assert event["provider"] == "azure"
    assert event["model"] == "gpt-4o-mini-2024-07-18"  # the model behind the deployment prices the call
    assert event["input"]["provider"] == "azure"
    assert pop_timing(event) == expected_output("From Azure")


def test_azure_stream_usage_follows_the_api_version(openai_server, local_client):
    openai_server.script(chat("new"), chat("new"), chat("old"))
    plain = azure(openai_server)
    new = wrap_openai(azure(openai_server), local_client)
    old = wrap_openai(azure(openai_server, api_version="2024-02-01"), local_client)
    a = list(plain.chat.completions.create(model="dep", messages=USER_MSG, stream=True))
    b = list(new.chat.completions.create(model="dep", messages=USER_MSG, stream=True))
    assert_same_items(a, b)
    list(old.chat.completions.create(model="dep", messages=USER_MSG, stream=True))
    assert openai_server.requests[1]["json"]["stream_options"] == {"include_usage": True}
    assert "stream_options" not in openai_server.requests[2]["json"]

    store = read_store(local_client)
    by_output = sorted(
        (e for s in store.list_sessions() for e in store.get_events(s["id"])), key=lambda e: e["ts"]
    )
    assert [e["output"]["tokens"]["total"] for e in by_output] == [17, None]


async def test_async_azure(openai_server, local_client):
    openai_server.script(chat("async azure"))
    client = wrap_openai(azure(openai_server, AsyncAzureOpenAI), local_client)
    assert type(client) is AsyncAzureOpenAI
    resp = await client.chat.completions.create(model="dep", messages=USER_MSG)
    assert resp.choices[0].message.content == "async azure"
    store = read_store(local_client)
    [event] = store.get_events(only_session(store)["id"])
    assert event["name"] == "llm:azure:dep"


class MyOpenAI(OpenAI):
    """A user subclass (its name says nothing about sync or async)."""


class MyAsync(AsyncOpenAI):
    pass


async def test_user_subclasses_are_told_apart_by_type(make_oai, openai_server, local_client):
    openai_server.script(chat("sync sub"), chat("async sub"))
    sync = wrap_openai(make_oai(MyOpenAI), local_client)
    asy = wrap_openai(make_oai(MyAsync), local_client)
    assert type(sync) is MyOpenAI and isinstance(sync, OpenAI)
    assert (
        sync.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG).choices[0].message.content
        == "sync sub"
    )
    resp = await asy.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    assert resp.choices[0].message.content == "async sub"
    assert recorded_contents(local_client) == ["async sub", "sync sub"]


def test_with_options_copies_stay_tracked(make_oai, openai_server, local_client):
    openai_server.script(chat("copy 1"), chat("copy 2"))
    wrapped = wrap_openai(make_oai(), local_client)
    copy1 = wrapped.with_options(timeout=30)
    copy2 = copy1.copy(max_retries=0)
    assert type(copy1) is OpenAI and copy1 is not wrapped and copy1.timeout == 30
    copy1.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    copy2.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    assert recorded_contents(local_client) == ["copy 1", "copy 2"]


def test_wrapping_twice_records_once(make_oai, openai_server, local_client):
    openai_server.script(chat("once"))
    client = make_oai()
    assert wrap_openai(wrap_openai(client, local_client), local_client) is client
    client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    store = read_store(local_client)
    assert only_session(store)["event_count"] == 1


def test_wrapping_an_instrumented_client_records_once(make_oai, openai_server, local_client):
    openai_server.script(chat("once"), chat("twice"))
    assert instrument_openai(local_client) is True
    client = wrap_openai(make_oai(), local_client)
    client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    make_oai().chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)  # instrumented only
    store = read_store(local_client)
    assert [s["event_count"] for s in store.list_sessions()] == [1, 1]


def test_unwrap_removes_exactly_what_wrap_added(make_oai, openai_server, local_client):
    openai_server.script(chat("recorded"), chat("not recorded"), chat("raw not recorded"))
    client = make_oai()
    before = {name: dict(vars(obj)) for name, obj in (("client", client), ("chat", client.chat.completions))}
    wrap_openai(client, local_client)
    assert "create" in vars(client.chat.completions)
    client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    raw_container = client.chat.completions.with_raw_response  # built while wrapped
    assert unwrap_openai(client) is client
    after_client = {k: v for k, v in vars(client).items() if k not in ("with_raw_response",)}
    assert set(after_client) == set(before["client"]) | {"embeddings", "responses", "completions"}
    assert set(vars(client.chat.completions)) - {"with_raw_response", "with_streaming_response"} == set(
        before["chat"]
    )
    assert client.copy.__func__ is OpenAI.copy
    client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    raw_container.create(model="gpt-4o-mini", messages=USER_MSG).parse()
    store = read_store(local_client)
    assert only_session(store)["event_count"] == 1


def test_not_an_openai_client_is_returned_untouched(local_client, caplog_sentrial):
    thing = object()
    assert wrap_openai(thing, local_client) is thing
    assert "not an OpenAI client" in caplog_sentrial.text
