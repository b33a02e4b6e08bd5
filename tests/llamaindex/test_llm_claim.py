"""The LLM-call claim: an inner layer (the OpenAI wrapper) that takes it records the call, we do not.

The inner layer is played by a CustomLLM whose provider call takes the claim, and by an httpx request
hook on the real OpenAI client: the claim must be visible exactly where the HTTP request is sent.
"""

from __future__ import annotations

from typing import Any

import httpx
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.llms import (
    ChatMessage,
    CompletionResponse,
    CompletionResponseGen,
    CustomLLM,
    LLMMetadata,
)
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai import OpenAI
from pydantic import PrivateAttr

from sentrial_integrations.core.context import LLMClaim, take_llm_claim
from tests.llamaindex.conftest import brief, events, sessions, tool_round
from tests.servers.openai_server import chat


def _record_as_inner_layer(claim: LLMClaim, text: str) -> None:
    """What the OpenAI wrapper does with a claim: record the call into the claim's session."""
    assert claim.session is not None
    claim.session.track_llm_call(
        "inner-model",
        provider="inner",
        messages=[{"role": "user", "content": "as seen by the inner layer"}],
        response=text,
        prompt_tokens=3,
        completion_tokens=2,
        span_id=claim.span_id,
        parent_span_id=claim.parent_span_id,
    )


class ClaimingLLM(CustomLLM):
    """Its "provider call" takes the claim, as the OpenAI wrapper would, then answers "hi"."""

    _claims: list[LLMClaim | None] = PrivateAttr(default_factory=list)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="claiming-model")

    def _provider_call(self) -> None:
        claim = take_llm_claim()
        self._claims.append(claim)
        if claim is not None:
            _record_as_inner_layer(claim, "hi")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self._provider_call()
        return CompletionResponse(text="hi")

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        def gen() -> CompletionResponseGen:
            self._provider_call()  # lazily, when the consumer pulls the first chunk
            yield CompletionResponse(text="h", delta="h")
            yield CompletionResponse(text="hi", delta="i")

        return gen()


def _inner_only(client: Any, session_id: str) -> dict:
    (e,) = events(client, session_id)
    assert brief(e) == ("llm_call", "llm:inner:inner-model")
    assert e["output"]["content"] == "hi"
    assert e["prompt_tokens"] == 3
    return e


def test_claim_taken_by_inner_layer_sync(li_client, index):
    llm = ClaimingLLM()
    index.as_query_engine(llm=llm, similarity_top_k=1).query("q")
    (s,) = sessions(li_client)
    (claim,) = llm._claims
    assert claim is not None
    assert claim.session is not None and claim.session.id == s["id"]
    assert claim.span_id is not None and claim.span_id.startswith("ClaimingLLM.complete-")
    assert claim.parent_span_id is None
    llm_events = [e for e in events(li_client, s["id"]) if e["type"] == "llm_call"]
    assert len(llm_events) == 1  # recorded by the inner layer only
    assert llm_events[0]["name"] == "llm:inner:inner-model"
    assert llm_events[0]["span_id"] == claim.span_id


def test_claim_visible_in_a_lazily_consumed_stream(li_client, index):
    llm = ClaimingLLM()
    response = index.as_query_engine(llm=llm, similarity_top_k=1, streaming=True).query("q")
    assert llm._claims == []  # nothing called yet
    assert "".join(response.response_gen) == "hi"
    (s,) = sessions(li_client)
    assert s["status"] == "success"
    (claim,) = llm._claims
    assert claim is not None and claim.span_id is not None
    assert claim.span_id.startswith("ClaimingLLM.stream_complete-")
    llm_events = [e for e in events(li_client, s["id"]) if e["type"] == "llm_call"]
    assert [e["name"] for e in llm_events] == ["llm:inner:inner-model"]


async def test_nested_calls_expose_the_innermost_claim(li_client):
    """chat -> complete and achat -> chat -> complete: the provider sees the claim of complete."""
    llm = ClaimingLLM()
    with li_client.session("nested") as session:
        llm.chat([ChatMessage(role="user", content="x")])
        await llm.achat([ChatMessage(role="user", content="y")])
    assert [c.span_id.split("-")[0] if c and c.span_id else None for c in llm._claims] == [
        "ClaimingLLM.complete",
        "ClaimingLLM.complete",
    ]
    evs = events(li_client, session.id)
    assert [brief(e) for e in evs] == [("llm_call", "llm:inner:inner-model")] * 2


def test_untaken_claim_does_not_leak(li_client):
    """After a call, no claim is left for an unrelated provider call in the same context."""
    llm = ClaimingLLM()
    with li_client.session("s"):
        llm.complete("x")
    assert take_llm_claim() is None


async def test_claim_visible_in_the_openai_http_request(li_client, openai_server):
    """FunctionAgent streams through llama-index-llms-openai: the request hook runs where the HTTP call
    is made (inside the LLM's async generator, after its span exited) and must find the claim."""
    seen: list[tuple[str, LLMClaim | None]] = []

    async def on_request(request: httpx.Request) -> None:
        claim = take_llm_claim()
        seen.append((request.url.path, claim))
        if claim is not None:
            _record_as_inner_layer(claim, "recorded by the inner layer")

    openai_server.script(chat(tool_calls=[("add", {"a": 2, "b": 3}, "c1")]), chat("5"))

    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    async with httpx.AsyncClient(event_hooks={"request": [on_request]}) as http:
        llm = OpenAI(
            model="gpt-4o-mini",
            api_base=openai_server.url,
            api_key="sk-test",
            max_retries=0,
            async_http_client=http,
        )
        agent = FunctionAgent(tools=[FunctionTool.from_defaults(add)], llm=llm)
        assert str(await agent.run("2+3?")) == "5"

    (s,) = sessions(li_client)
    assert s["status"] == "success"
    assert [path for path, _ in seen] == ["/v1/chat/completions"] * 2
    claims = [c for _, c in seen]
    assert all(c is not None and c.span_id and c.span_id.startswith("OpenAI.astream_chat-") for c in claims)
    assert all(c is not None and c.session is not None and c.session.id == s["id"] for c in claims)
    evs = events(li_client, s["id"])
    # one event per LLM call (the inner layer's); the decision is left to the layer that took the claim
    assert [brief(e) for e in evs] == [
        ("llm_call", "llm:inner:inner-model"),
        ("tool_call", "add"),
        ("llm_call", "llm:inner:inner-model"),
    ]
    assert [e["span_id"] for e in evs if e["type"] == "llm_call"] == [c.span_id for c in claims if c]


async def test_with_the_openai_integration_one_call_is_one_event(li_client, openai_server):
    """Both integrations active: the OpenAI wrapper takes each claim and records the call; LlamaIndex
    records the run, the tool call, and no LLM event of its own."""
    from sentrial_integrations.openai import instrument_openai, uninstrument_openai

    openai_server.script(chat(tool_calls=[("add", {"a": 2, "b": 3}, "c1")]), chat("5"))

    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    instrument_openai(li_client, include_usage=True)  # the agent streams: ask the loopback server for usage
    try:
        llm = OpenAI(model="gpt-4o-mini", api_base=openai_server.url, api_key="sk-test", max_retries=0)
        assert str(await FunctionAgent(tools=[FunctionTool.from_defaults(add)], llm=llm).run("2+3?")) == "5"
    finally:
        uninstrument_openai()
    (s,) = sessions(li_client)  # the wrapper recorded into the LlamaIndex run's session
    assert (s["name"], s["status"]) == ("FunctionAgent.run", "success")
    evs = events(li_client, s["id"])
    assert [brief(e) for e in evs] == tool_round("add")
    first, decision, _, final = evs
    # recorded by the wrapper (it asks for stream usage itself) under the LlamaIndex LLM spans
    assert first["span_id"].startswith("OpenAI.astream_chat-") and final["span_id"].startswith(
        "OpenAI.astream_chat-"
    )
    assert decision["parent_span_id"] == first["span_id"]
    assert first["output"]["tokens"]["total"] == 17 and final["output"]["content"] == "5"
