"""Framework runs as OpenTelemetry traces: ``auto_instrument()`` with ``SENTRIAL_OTLP_ENDPOINT`` set, a
LangChain agent and a LlamaIndex agent on OpenAI clients (scripted loopback server). Each LLM call is
one ``chat`` span (recorded by the OpenAI layer), under the session's ``invoke_agent`` span. A retriever
of either framework is a ``retrieval`` span."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.base_retriever import BaseRetriever as LlamaRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai import OpenAI as LlamaOpenAI
from opentelemetry.trace import SpanKind, StatusCode

from sentrial_integrations import auto_instrument, get_client, uninstrument_all
from sentrial_integrations.core.exporters.otlp import root_span_id, trace_id_for
from tests.core.exporters.otlp.conftest import attrs, events
from tests.servers.openai_server import chat

RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@pytest.fixture
def instrumented(monkeypatch, span_sink) -> Iterator[None]:
    monkeypatch.setenv("SENTRIAL_OTLP_ENDPOINT", "http://127.0.0.1:9")  # the sink replaces the transport
    monkeypatch.setenv("SENTRIAL_DELIVERY", "thread")  # the sink is an object in this process
    auto_instrument()
    try:
        yield
    finally:
        uninstrument_all()


def _spans(sink, names: list[str]):
    """The finished spans, in order, after checking their names; every span but the root (last) is a
    child of the root, in the root's trace."""
    assert get_client().flush(10)
    spans = sink.get_finished_spans()
    assert [s.name for s in spans] == names
    *children, root = spans
    sid = attrs(root)["sentrial.session.id"]
    assert (root.context.trace_id, root.context.span_id) == (trace_id_for(sid), root_span_id(sid))
    for child in children:
        assert (child.context.trace_id, child.parent.span_id) == (root.context.trace_id, root.context.span_id)
    return spans


def _check_chat(span, root, tokens: tuple[int, int]) -> None:
    assert (span.name, span.kind, span.status.status_code) == (
        "chat gpt-4o-mini",
        SpanKind.CLIENT,
        StatusCode.UNSET,
    )
    assert span.context.trace_id == root.context.trace_id
    a = attrs(span)
    assert {k: a[k] for k in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model")} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
    }
    assert a["gen_ai.response.model"] == RESPONSE_MODEL
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == tokens


def test_langchain_agent_on_openai(instrumented, span_sink, openai_server):
    openai_server.script(
        chat(
            tool_calls=[("get_weather", {"city": "Paris"}, "call_w")], prompt_tokens=11, completion_tokens=3
        ),
        chat("It is sunny in Paris", prompt_tokens=21, completion_tokens=4),
    )
    model = ChatOpenAI(model="gpt-4o-mini", base_url=openai_server.url, api_key="sk-test", max_retries=0)
    agent = create_agent(model, [get_weather], name="weather_agent")
    agent.invoke({"messages": [("user", "weather in Paris?")]})

    first, tool, final, root = _spans(
        span_sink,
        ["chat gpt-4o-mini", "execute_tool get_weather", "chat gpt-4o-mini", "invoke_agent weather_agent"],
    )
    _check_chat(first, root, (11, 3))
    _check_chat(final, root, (21, 4))
    assert attrs(tool)["gen_ai.tool.call.arguments"] == '{"city":"Paris"}'
    assert attrs(tool)["gen_ai.tool.call.id"] == "call_w"
    assert (attrs(root)["gen_ai.usage.input_tokens"], attrs(root)["gen_ai.usage.output_tokens"]) == (32, 7)
    ((name, decision),) = events(root)
    assert name == "sentrial.decision" and decision["sentrial.decision.reasoning"] == "call get_weather"


async def test_llamaindex_agent_on_openai(instrumented, span_sink, openai_server, monkeypatch):
    # LlamaIndex streams; the loopback server is not a known endpoint, so say it sends usage only when asked
    monkeypatch.setenv("SENTRIAL_OPENAI_INCLUDE_USAGE", "true")
    openai_server.script(
        chat(tool_calls=[("add", {"a": 2, "b": 3}, "call_add")], prompt_tokens=30, completion_tokens=6),
        chat("The answer is 5", prompt_tokens=40, completion_tokens=7),
    )
    llm = LlamaOpenAI(model="gpt-4o-mini", api_base=openai_server.url, api_key="sk-test", max_retries=0)
    await FunctionAgent(tools=[FunctionTool.from_defaults(add)], llm=llm).run("What is 2+3?")

    first, tool, final, root = _spans(
        span_sink, ["chat gpt-4o-mini", "execute_tool add", "chat gpt-4o-mini", "invoke_agent Agent"]
    )
    _check_chat(first, root, (30, 6))
    _check_chat(final, root, (40, 7))
    assert attrs(first)["gen_ai.request.stream"] is True  # FunctionAgent streams
    assert attrs(tool)["gen_ai.tool.call.result"] == "5"
    assert attrs(root)["sentrial.session.name"] == "FunctionAgent.run"


# --- retrievers -----------------------------------------------------------------------------------

CITIES = ["Paris is mild", "Oslo is cold"]


class CityRetriever(BaseRetriever):
    """A LangChain retriever: the cities whose text has a word of the query."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = query.lower().split()
        return [Document(page_content=c) for c in CITIES if any(w in c.lower() for w in words)]


class LlamaCityRetriever(LlamaRetriever):
    """The same retriever for LlamaIndex."""

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        words = query_bundle.query_str.lower().split()
        return [
            NodeWithScore(node=TextNode(text=c), score=1.0)
            for c in CITIES
            if any(w in c.lower() for w in words)
        ]


def _check_retrieval(span, name: str) -> None:
    assert (span.name, span.kind, span.status.status_code) == (
        f"retrieval {name}",
        SpanKind.INTERNAL,
        StatusCode.UNSET,
    )
    a = attrs(span)
    assert (a["gen_ai.operation.name"], a["gen_ai.tool.name"]) == ("retrieval", name)
    assert "gen_ai.tool.type" not in a  # a retrieval is not a function tool


def test_langchain_retriever_is_a_retrieval_span(instrumented, span_sink):
    docs = CityRetriever().invoke("weather in paris")
    assert [d.page_content for d in docs] == ["Paris is mild"]
    retrieval, _root = _spans(span_sink, ["retrieval CityRetriever", "invoke_agent CityRetriever"])
    _check_retrieval(retrieval, "CityRetriever")
    assert attrs(retrieval)["gen_ai.tool.call.arguments"] == '{"query":"weather in paris"}'


def test_llamaindex_retriever_is_a_retrieval_span(instrumented, span_sink):
    nodes = LlamaCityRetriever().retrieve("weather in oslo")
    assert [n.node.get_content() for n in nodes] == ["Oslo is cold"]
    retrieval, _root = _spans(span_sink, ["retrieval retrieve", "invoke_agent LlamaCityRetriever.retrieve"])
    _check_retrieval(retrieval, "retrieve")
    assert attrs(retrieval)["gen_ai.tool.call.arguments"] == '{"query":"weather in oslo"}'
