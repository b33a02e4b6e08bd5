"""Single LangChain components and special events: retrievers, custom decisions, AgentExecutor-style
actions, LangGraph interrupts, the LLM-call claim, nesting, text LLMs, and the handler's robustness."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest
from langchain.agents import create_agent
from langchain_core.agents import AgentAction, AgentFinish
from langchain_core.callbacks import CallbackManager
from langchain_core.callbacks.manager import dispatch_custom_event
from langchain_core.documents import Document
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from sentrial_integrations.core.context import LLMClaim, peek_llm_claim, take_llm_claim
from sentrial_integrations.langchain import SentrialCallbackHandler, alog_decision, log_decision
from tests.conftest import only_session, read_store

from .fakes import ChatFake, DocsRetriever, ai, brief, get_weather, model, no_stack, sessions_oldest_first

DOCS = [
    Document(id="d1", page_content="Paris weather is mild"),
    Document(page_content="Paris has museums", metadata={"source": "guide.txt"}),
    Document(id="d3", page_content="Oslo is cold"),
]


def test_retriever_is_a_tool_call_with_query_count_and_ids(local_client):
    handler = SentrialCallbackHandler(local_client)
    retriever = DocsRetriever(docs=DOCS)
    docs = retriever.invoke("paris", config={"callbacks": [handler]})
    assert [d.page_content for d in docs] == ["Paris weather is mild", "Paris has museums"]
    store = read_store(local_client)
    s = only_session(store)
    assert (s["name"], s["status"]) == ("DocsRetriever", "success")
    (event,) = store.get_events(s["id"])
    assert brief(event) == ("tool_call", "DocsRetriever")
    assert event["input"] == {"query": "paris"}
    assert event["output"] == {"count": 2, "ids": ["d1", "guide.txt"]}
    assert event["metadata"] == {"kind": "retrieval"}
    assert event["span_id"] and event["parent_span_id"] is None


def test_retriever_inside_a_chain_nests_and_its_error_is_recorded(local_client):
    handler = SentrialCallbackHandler(local_client)

    class Failing(DocsRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
            raise ConnectionError("index offline")

    chain = RunnableLambda(lambda q: DocsRetriever(docs=DOCS).invoke(q)) | RunnableLambda(
        lambda docs: Failing(docs=[]).invoke("again")
    )
    with pytest.raises(ConnectionError):
        chain.invoke("oslo", config={"callbacks": [handler], "run_name": "rag"})
    store = read_store(local_client)
    s = only_session(store)
    assert (s["name"], s["status"], s["failure_reason"]) == ("rag", "error", "ConnectionError: index offline")
    events = store.get_events(s["id"])
    assert [brief(e) for e in events] == [
        ("tool_call", "DocsRetriever"),
        ("tool_call", "Failing"),
        ("error", "Failing"),
    ]
    assert events[0]["output"] == {"count": 1, "ids": ["d3"]}
    assert no_stack(events[1]["error"]) == {"message": "index offline", "type": "ConnectionError"}
    assert events[2]["parent_span_id"] == events[1]["span_id"]
    assert handler._runs == {}


class _RagState(TypedDict):
    question: str
    context: str


def test_retriever_events_are_marked_as_retrievals(local_client):
    """A retriever run's events carry ``metadata["kind"] == "retrieval"`` (the OTLP exporter keys on it),
    inside a chain and inside a LangGraph node (with the node's metadata); a tool's do not."""
    handler = SentrialCallbackHandler(local_client)

    class Failing(DocsRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
            raise ConnectionError("index offline")

    @tool
    def lookup(city: str) -> str:
        """Looks a city up."""
        return f"{city}: found"

    chain = (
        RunnableLambda(lambda q: q.lower())
        | DocsRetriever(docs=DOCS)
        | RunnableLambda(lambda docs: lookup.invoke({"city": docs[0].page_content.split()[0]}))
    )
    assert chain.invoke("PARIS", config={"callbacks": [handler], "run_name": "rag"}) == "Paris: found"

    def retrieve(state: _RagState) -> dict[str, str]:
        docs = DocsRetriever(docs=DOCS).invoke(state["question"])
        return {"context": " / ".join(d.page_content for d in docs)}

    graph = StateGraph(_RagState)
    graph.add_node("retrieve", retrieve)
    graph.add_edge(START, "retrieve")
    graph.add_edge("retrieve", END)
    app = graph.compile(name="rag_graph")
    out = app.invoke({"question": "oslo", "context": ""}, config={"callbacks": [handler]})
    assert out["context"] == "Oslo is cold"

    with pytest.raises(ConnectionError):
        Failing(docs=[]).invoke("x", config={"callbacks": [handler]})

    store = read_store(local_client)
    rag, rag_graph, failing = sessions_oldest_first(store)
    assert (rag["name"], rag_graph["name"], failing["name"]) == ("rag", "rag_graph", "Failing")

    events = store.get_events(rag["id"])
    assert [brief(e) for e in events] == [("tool_call", "DocsRetriever"), ("tool_call", "lookup")]
    assert events[0]["metadata"] == {"kind": "retrieval"}
    assert events[0]["output"] == {"count": 2, "ids": ["d1", "guide.txt"]}
    assert not (events[1]["metadata"] or {}).get("kind")  # a tool is not a retrieval

    (event,) = store.get_events(rag_graph["id"])
    assert brief(event) == ("tool_call", "DocsRetriever")
    assert event["metadata"] == {"kind": "retrieval", "langgraph_node": "retrieve", "langgraph_step": 1}

    events = store.get_events(failing["id"])
    assert [brief(e) for e in events] == [("tool_call", "Failing"), ("error", "Failing")]
    assert no_stack(events[0]["error"]) == {"message": "index offline", "type": "ConnectionError"}
    assert events[0]["metadata"] == events[1]["metadata"] == {"kind": "retrieval"}
    assert failing["status"] == "error"
    assert handler._runs == {}


def test_custom_decision_event_from_a_tool(local_client):
    @tool
    def choose_route(city: str) -> str:
        """Pick a route."""
        log_decision(
            "the coast road is shorter today",
            decision={"route": "coast"},
            alternatives=["mountain pass", "highway"],
            confidence=0.8,
        )
        dispatch_custom_event("sentrial_decision", "plain text reasoning")
        dispatch_custom_event("something_else", {"ignored": True})
        return "coast"

    handler = SentrialCallbackHandler(local_client)
    choose_route.invoke({"city": "Nice"}, config={"callbacks": [handler]})
    log_decision("outside any run: ignored, no exception")
    store = read_store(local_client)
    s = only_session(store)
    events = store.get_events(s["id"])
    assert [brief(e) for e in events] == [
        ("tool_call", "choose_route"),
        ("decision", "decision"),
        ("decision", "decision"),
    ]
    tool_event, explicit, plain = events
    assert (tool_event["input"], tool_event["output"]) == ({"city": "Nice"}, "coast")
    assert explicit["reasoning"] == "the coast road is shorter today"
    assert explicit["decision"] == {"route": "coast"}
    assert explicit["alternatives"] == ["mountain pass", "highway"]
    assert explicit["confidence"] == 0.8
    assert explicit["parent_span_id"] == tool_event["span_id"]
    assert plain["reasoning"] == "plain text reasoning"


async def test_custom_decision_event_async(local_client):
    async def node(x: str) -> str:
        await alog_decision("async reasoning", confidence=0.5)
        return x

    handler = SentrialCallbackHandler(local_client)
    await RunnableLambda(node).ainvoke("x", config={"callbacks": [handler], "run_name": "step"})
    store = read_store(local_client)
    s = only_session(store)
    (decision,) = store.get_events(s["id"])
    assert (decision["type"], decision["reasoning"], decision["confidence"]) == (
        "decision",
        "async reasoning",
        0.5,
    )


def test_agent_executor_actions_and_finish_are_decisions(local_client):
    """AgentExecutor (langchain-classic) reports on_agent_action / on_agent_finish on its chain run."""
    handler = SentrialCallbackHandler(local_client)
    manager = CallbackManager.configure(inheritable_callbacks=[handler])
    run = manager.on_chain_start(None, {"input": "weather?"}, name="AgentExecutor")
    run.on_agent_action(AgentAction("get_weather", {"city": "Paris"}, "I should look up the weather"))
    get_weather.invoke({"city": "Paris"}, config={"callbacks": run.get_child()})
    run.on_agent_finish(AgentFinish({"output": "sunny"}, "Final Answer: sunny"))
    run.on_chain_end({"output": "sunny"})
    store = read_store(local_client)
    s = only_session(store)
    assert (s["name"], s["status"], s["output"]) == ("AgentExecutor", "success", "sunny")
    events = store.get_events(s["id"])
    assert [brief(e) for e in events] == [
        ("decision", "decision"),
        ("tool_call", "get_weather"),
        ("decision", "decision"),
    ]
    assert events[0]["reasoning"] == "I should look up the weather"
    assert events[0]["decision"] == {"action": "tool", "tool": "get_weather", "tool_input": {"city": "Paris"}}
    assert events[2]["reasoning"] == "Final Answer: sunny"
    assert events[2]["decision"] == {"action": "finish", "return_values": {"output": "sunny"}}


def test_tool_returning_an_error_tool_message(local_client):
    @tool(response_format="content_and_artifact")
    def lookup(key: str) -> tuple[str, dict[str, Any]]:
        """Look up a key."""
        return f"value of {key}", {"raw": [1, 2]}

    @tool
    def failing_lookup(key: str) -> ToolMessage:
        """Look up a key, unsuccessfully."""
        return ToolMessage("key not found", tool_call_id="t2", status="error")

    handler = SentrialCallbackHandler(local_client)
    chain = RunnableLambda(
        lambda x: [
            lookup.invoke({"type": "tool_call", "name": "lookup", "args": {"key": "a"}, "id": "t1"}),
            failing_lookup.invoke({"key": "b"}),
        ]
    )
    chain.invoke("go", config={"callbacks": [handler], "run_name": "lookups"})
    store = read_store(local_client)
    s = only_session(store)
    assert s["status"] == "success"  # the chain itself went on: a tool's error message is not a crash
    events = store.get_events(s["id"])
    assert [brief(e) for e in events] == [
        ("tool_call", "lookup"),
        ("tool_call", "failing_lookup"),
        ("error", "failing_lookup"),
    ]
    assert events[0]["output"] == {"content": "value of a", "artifact": {"raw": [1, 2]}}
    assert events[0]["metadata"] == {"tool_call_id": "t1"}
    assert events[1]["output"] == "key not found"
    assert events[1]["error"] == {"message": "key not found", "type": "ToolError"}
    assert events[2]["error"] == {"message": "key not found", "type": "ToolError"}


class _State(TypedDict):
    request: str
    approved: str


def _approval_graph() -> Any:
    def ask(state: _State) -> dict[str, str]:
        answer = interrupt({"question": f"approve {state['request']}?"})
        return {"approved": answer}

    graph = StateGraph(_State)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph.compile(checkpointer=InMemorySaver(), name="approval")


def test_langgraph_interrupt_is_not_an_error(local_client):
    handler = SentrialCallbackHandler(local_client)
    app = _approval_graph()
    config: Any = {"callbacks": [handler], "configurable": {"thread_id": "thread-7"}}
    first = app.invoke({"request": "refund", "approved": ""}, config)
    assert first["__interrupt__"][0].value == {"question": "approve refund?"}
    resumed = app.invoke(Command(resume="yes"), config)
    assert resumed == {"request": "refund", "approved": "yes"}

    store = read_store(local_client)
    paused, done = sessions_oldest_first(store)
    assert (paused["name"], paused["status"], paused["failure_reason"]) == ("approval", "success", None)
    assert paused["custom_metrics"] == {"interrupts": 1}
    assert paused["error_count"] == 0
    (event,) = store.get_events(paused["id"])
    assert brief(event) == ("decision", "decision")
    assert event["reasoning"] == "ask: interrupted, waiting for input"
    assert event["decision"]["action"] == "interrupt"
    assert event["decision"]["node"] == "ask"
    assert [i["value"] for i in event["decision"]["interrupts"]] == [{"question": "approve refund?"}]
    # the resumed run is the next session of the same thread
    assert (done["status"], done["event_count"], done["custom_metrics"]) == ("success", 0, None)
    assert paused["metadata"]["thread_id"] == done["metadata"]["thread_id"] == "thread-7"
    assert handler._runs == {}


class ChatClaiming(ChatFake):
    """Plays the inner layer of the LLM-call claim (what the OpenAI wrapper does inside the model)."""

    claims: list[Any] = []

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        claim = take_llm_claim()
        self.claims.append(claim)
        if claim is not None:
            claim.session.track_llm_call(
                "inner-model",
                provider="inner",
                response="from the inner layer",
                span_id=claim.span_id,
                parent_span_id=claim.parent_span_id,
            )
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    async def _agenerate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return self._generate(messages, stop=stop, **kwargs)


@pytest.mark.parametrize("mode", ["sync", "async", "stream"])
async def test_llm_claim_taken_by_inner_layer_means_one_llm_event(local_client, mode):
    m = ChatClaiming(
        messages=iter(
            [ai("", ("get_weather", {"city": "Oslo"}, "c1"), usage=(5, 1)), ai("cold", usage=(9, 1))]
        ),
        claims=[],
    )
    claims = m.claims
    agent = create_agent(m, [get_weather], name="claims")
    handler = SentrialCallbackHandler(local_client)
    config: Any = {"callbacks": [handler]}
    if mode == "sync":
        agent.invoke({"messages": [("user", "Oslo?")]}, config)
    elif mode == "async":
        await agent.ainvoke({"messages": [("user", "Oslo?")]}, config)
    else:
        list(agent.stream({"messages": [("user", "Oslo?")]}, config, stream_mode="messages"))
    assert len(claims) == 2 and all(isinstance(c, LLMClaim) for c in claims)
    assert all(c.taken for c in claims)

    store = read_store(local_client)
    s = only_session(store)
    events = store.get_events(s["id"])
    # one LLM event per model call (the inner layer's), in the claim's session and span
    assert [brief(e) for e in events] == [
        ("llm_call", "llm:inner:inner-model"),
        ("tool_call", "get_weather"),
        ("llm_call", "llm:inner:inner-model"),
    ]
    assert [claims[0].session.id, claims[1].session.id] == [s["id"], s["id"]]
    assert [events[0]["span_id"], events[2]["span_id"]] == [claims[0].span_id, claims[1].span_id]
    assert claims[0].span_id != claims[1].span_id
    # no claim is left usable in the caller's context once the run is over
    assert take_llm_claim() is None
    leftover = peek_llm_claim()
    assert leftover is None or leftover.taken


def test_llm_claim_not_taken_means_the_handler_records(local_client):
    claims: list[Any] = []

    class ChatPeeking(ChatFake):
        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> ChatResult:
            claims.append(peek_llm_claim())
            return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    handler = SentrialCallbackHandler(local_client)
    ChatPeeking(messages=iter([ai("hi", usage=(3, 1))])).invoke("hello", config={"callbacks": [handler]})
    assert len(claims) == 1 and claims[0] is not None and claims[0].taken is True  # released after the run
    store = read_store(local_client)
    s = only_session(store)
    (event,) = store.get_events(s["id"])
    assert brief(event) == (
        "llm_call",
        "llm:peeking:fake-1",
    )  # provider from the class name, as LangChain says
    assert event["span_id"] == claims[0].span_id
    assert (s["name"], s["status"], s["output"]) == ("ChatPeeking", "success", "hi")
    assert event["input"]["messages"] == [{"role": "user", "content": "hello"}]


def test_model_stream_as_the_top_level_run(local_client):
    handler = SentrialCallbackHandler(local_client)
    m = model(ai("hello big world", usage=(4, 3)))
    text = "".join(str(c.content) for c in m.stream("hi", config={"callbacks": [handler]}))
    assert text == "hello big world"
    store = read_store(local_client)
    s = only_session(store)
    (event,) = store.get_events(s["id"])
    assert event["output"]["content"] == "hello big world"
    assert event["output"]["tokens"] == {"prompt": 4, "completion": 3, "total": 7}
    assert isinstance(event["output"]["time_to_first_token_ms"], float)
    assert (s["status"], s["output"], s["total_tokens"]) == ("success", "hello big world", 7)


def test_text_llm_calls(local_client):
    handler = SentrialCallbackHandler(local_client)
    llm = FakeListLLM(responses=["forty-two"])
    assert llm.invoke("what is the answer?", config={"callbacks": [handler]}) == "forty-two"
    store = read_store(local_client)
    s = only_session(store)
    (event,) = store.get_events(s["id"])
    assert event["type"] == "llm_call"
    assert event["input"]["messages"] == ["what is the answer?"]
    assert event["output"]["content"] == "forty-two"
    assert s["name"] == "FakeListLLM"


def test_nested_agent_inside_a_tool_nests_under_the_tool(local_client):
    inner = create_agent(model(ai("inner answer", usage=(2, 2))), [], name="inner_agent")

    @tool
    def ask_expert(question: str) -> str:
        """Ask the expert agent."""
        return str(inner.invoke({"messages": [("user", question)]})["messages"][-1].content)

    outer = create_agent(
        model(ai("", ("ask_expert", {"question": "why?"}, "q1")), ai("done")), [ask_expert], name="outer"
    )
    handler = SentrialCallbackHandler(local_client)
    outer.invoke({"messages": [("user", "go")]}, config={"callbacks": [handler]})
    store = read_store(local_client)
    s = only_session(store)
    events = store.get_events(s["id"])
    assert [brief(e) for e in events] == [
        ("llm_call", "llm:fake:fake-1"),
        ("decision", "decision"),
        ("tool_call", "ask_expert"),  # events are ordered by start time: the tool starts first
        ("llm_call", "llm:fake:fake-1"),
        ("llm_call", "llm:fake:fake-1"),
    ]
    tool_event = events[2]
    nested = events[3]
    assert nested["output"]["content"] == "inner answer"
    assert nested["parent_span_id"] == tool_event["span_id"]
    assert tool_event["output"] == "inner answer"
    assert events[0]["parent_span_id"] is None and events[4]["parent_span_id"] is None


def test_abandoned_stream_is_closed_and_released(local_client):
    handler = SentrialCallbackHandler(local_client)
    agent = create_agent(
        model(ai("", ("get_weather", {"city": "Rome"}, "c1")), ai("warm")), [get_weather], name="streamer"
    )
    stream = agent.stream({"messages": [("user", "Rome?")]}, config={"callbacks": [handler]})
    next(stream)
    stream.close()
    store = read_store(local_client)
    s = only_session(store)
    assert (s["status"], s["failure_reason"]) == ("abandoned", "GeneratorExit")
    assert handler._runs == {}


class _BrokenClient:
    """A client whose every call fails: the handler must swallow it and LangChain must not notice."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"client.{name} is broken")


def test_handler_never_raises_into_langchain(local_client, caplog_sentrial):
    agent = create_agent(
        model(ai("", ("get_weather", {"city": "Paris"}, "c1")), ai("ok")), [get_weather], name="x"
    )
    handler = SentrialCallbackHandler(_BrokenClient())  # type: ignore[arg-type]
    result = agent.invoke({"messages": [("user", "Paris?")]}, config={"callbacks": [handler]})
    assert result["messages"][-1].content == "ok"
    messages = [r.getMessage() for r in caplog_sentrial.records]
    # one report per callback that failed, naming it and the error
    assert (
        "Sentrial: internal error in LangChain handler on_chain_start: "
        "RuntimeError('client.create_session is broken') (nothing was raised to your code)"
    ) in messages
    assert any(
        m.startswith("Sentrial: internal error in LangChain handler on_chat_model_start: ") for m in messages
    )

    # unknown runs and odd arguments are ignored
    from uuid import uuid4

    good = SentrialCallbackHandler(local_client)
    good.on_llm_end(object(), run_id=uuid4())
    good.on_tool_end(None, run_id=uuid4())
    good.on_chain_error(ValueError("x"), run_id=uuid4())
    good.on_llm_new_token("x", run_id=uuid4())
    good.on_custom_event("sentrial_decision", {"reasoning": "r"}, run_id=uuid4())
    good.on_chat_model_start(None, None, run_id=uuid4())  # type: ignore[arg-type]  # malformed: logged
    assert read_store(local_client).list_sessions() == []


def test_outputs_are_untouched(local_client):
    """The handler does not change what the model, the tools and the agent return."""
    reply = AIMessage(
        content="same",
        tool_calls=[],
        usage_metadata={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
    )
    with_handler = ChatFake(messages=iter([reply])).invoke(
        "x", config={"callbacks": [SentrialCallbackHandler(local_client)]}
    )
    without = ChatFake(messages=iter([reply])).invoke("x")
    assert with_handler.content == without.content == "same"
    assert with_handler.usage_metadata == without.usage_metadata
    assert isinstance(ChatResult(generations=[ChatGeneration(message=reply)]), ChatResult)


def test_interrupt_inside_a_tool(local_client):
    @tool
    def wire_money(amount: int) -> str:
        """Send money, after a human approves."""
        if interrupt({"approve": amount}) != "yes":
            return "cancelled"
        return f"sent {amount}"

    agent = create_agent(
        model(ai("", ("wire_money", {"amount": 50}, "w1")), ai("sent")),
        [wire_money],
        name="banker",
        checkpointer=InMemorySaver(),
    )
    handler = SentrialCallbackHandler(local_client)
    config: Any = {"callbacks": [handler], "configurable": {"thread_id": "bank-1"}}
    first = agent.invoke({"messages": [("user", "send 50")]}, config)
    assert first["__interrupt__"][0].value == {"approve": 50}
    agent.invoke(Command(resume="yes"), config)
    store = read_store(local_client)
    paused, resumed = sessions_oldest_first(store)
    assert (paused["status"], paused["error_count"], paused["custom_metrics"]) == (
        "success",
        0,
        {"interrupts": 1},
    )
    events = store.get_events(paused["id"])
    assert [brief(e) for e in events] == [
        ("llm_call", "llm:fake:fake-1"),
        ("decision", "decision"),
        ("decision", "decision"),
    ]
    assert events[2]["decision"]["interrupts"][0]["value"] == {"approve": 50}
    resumed_events = store.get_events(resumed["id"])
    assert [brief(e) for e in resumed_events] == [
        ("tool_call", "wire_money"),
        ("llm_call", "llm:fake:fake-1"),
    ]
    assert resumed_events[0]["output"] == "sent 50"
    assert resumed["status"] == "success"
    assert handler._runs == {}


@pytest.mark.parametrize("use_async", [False, True])
async def test_other_integrations_see_the_session_and_the_tool_span(local_client, use_async):
    """What another integration (e.g. the OpenAI wrapper) sees when called inside a tool's body."""
    from sentrial_integrations import current_session
    from sentrial_integrations.core.context import current_span_id

    seen: list[Any] = []

    def body(city: str) -> str:
        session = current_session()
        seen.append((session.id if session else None, current_span_id()))
        assert session is not None
        session.track_tool_call("inner_http_call", {"url": f"/weather/{city}"}, {"status": 200})
        return city

    if use_async:

        async def abody(city: str) -> str:
            return body(city)

        lookup = tool("lookup", description="Look up.")(abody)
    else:
        lookup = tool("lookup", description="Look up.")(body)
    agent = create_agent(model(ai("", ("lookup", {"city": "Rome"}, "l1")), ai("ok")), [lookup], name="ctx")
    handler = SentrialCallbackHandler(local_client)
    if use_async:
        await agent.ainvoke({"messages": [("user", "Rome")]}, config={"callbacks": [handler]})
    else:
        agent.invoke({"messages": [("user", "Rome")]}, config={"callbacks": [handler]})
    store = read_store(local_client)
    s = only_session(store)
    events = store.get_events(s["id"])
    assert [brief(e) for e in events] == [
        ("llm_call", "llm:fake:fake-1"),
        ("decision", "decision"),
        ("tool_call", "lookup"),
        ("tool_call", "inner_http_call"),
        ("llm_call", "llm:fake:fake-1"),
    ]
    assert seen == [(s["id"], events[2]["span_id"])]
    assert events[3]["parent_span_id"] == events[2]["span_id"]
    # nothing of the run is left current in the caller's context afterwards
    assert current_session() is None
    assert current_span_id() is None


def test_failed_call_with_claim_taken_is_recorded_once(local_client):
    """The inner layer records a failed call (LLM event + error); LangChain may wrap the exception it
    re-raises, and the handler must not add a second error for it."""

    class WrappedError(Exception):
        pass

    class ChatClaimingFailure(ChatFake):
        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> ChatResult:
            claim = take_llm_claim()
            assert claim is not None and claim.session is not None
            inner = ConnectionError("HTTP 500 from provider")
            claim.session.track_llm_call("inner-model", provider="inner", error=inner, span_id=claim.span_id)
            claim.session.track_error(inner, tool_name="llm:inner:inner-model", parent_span_id=claim.span_id)
            raise WrappedError("provider failed") from inner

    agent = create_agent(ChatClaimingFailure(messages=iter([])), [get_weather], name="claims")
    with pytest.raises(WrappedError):
        agent.invoke(
            {"messages": [("user", "x")]}, config={"callbacks": [SentrialCallbackHandler(local_client)]}
        )
    store = read_store(local_client)
    s = only_session(store)
    assert (s["status"], s["failure_reason"]) == ("error", "WrappedError: provider failed")
    events = store.get_events(s["id"])
    assert [brief(e) for e in events] == [
        ("llm_call", "llm:inner:inner-model"),
        ("error", "llm:inner:inner-model"),
    ]
