"""Query engines and retrievers: one session per query, retrieval and LLM events, streaming."""

from __future__ import annotations

import gc

import pytest
from llama_index.core.llms import CompletionResponse, MockLLM
from llama_index.core.llms.callbacks import llm_completion_callback

from sentrial_integrations import SentrialClient
from sentrial_integrations.llamaindex.integration import INTEGRATION
from tests.llamaindex.conftest import brief, events, sessions

PARIS = {"id": "node-paris", "score": pytest.approx(1.0)}


def _check_query_session(client: SentrialClient, entry: str, question: str, *, streamed: bool) -> list[dict]:
    (s,) = sessions(client)
    assert s["name"] == entry
    assert s["status"] == "success"
    assert s["metadata"] == {"framework": "llamaindex", "entrypoint": entry, "input": question}
    assert s["custom_metrics"] == {"embedding_calls": 1, "embedded_texts": 1}
    evs = events(client, s["id"])
    assert [brief(e) for e in evs] == [("tool_call", "retrieve"), ("llm_call", "llm:mock:unknown")]
    retrieve, llm = evs
    assert retrieve["input"] == {"query": question}
    assert retrieve["output"] == {"nodes": [PARIS]}
    assert retrieve["metadata"] == {"kind": "retrieval", "retriever": "VectorIndexRetriever"}
    assert retrieve["span_id"].startswith("VectorIndexRetriever.")
    assert retrieve["parent_span_id"] is None
    assert retrieve["duration_ms"] >= 0
    assert llm["model"] == "unknown" and llm["provider"] == "mock"
    (message,) = llm["input"]["messages"]
    assert message["role"] == "user"
    assert "Paris is the capital of France." in message["content"] and question in message["content"]
    assert llm["input"]["model"] == "unknown" and llm["input"]["provider"] == "mock"
    out = llm["output"]
    # MockLLM(max_tokens=3) streams the deltas "text ", "text ", "text"; its cumulative ``text`` field
    # lags one token behind (a MockLLM quirk): the event records what the final response object says.
    assert out["content"] == ("text text" if streamed else "text text text")
    assert out["tool_calls"] is None
    assert out["tokens"] == {"prompt": None, "completion": None, "total": None}
    assert ("time_to_first_token_ms" in out) is streamed
    assert llm["parent_span_id"] is None
    assert llm["span_id"].startswith("MockLLM.")
    assert llm["ts"] >= retrieve["ts"]
    return evs


def test_sync_query(li_client, index):
    qe = index.as_query_engine(llm=MockLLM(max_tokens=3), similarity_top_k=1)
    response = qe.query("Where is Paris?")
    assert str(response) == "text text text"
    evs = _check_query_session(li_client, "RetrieverQueryEngine.query", "Where is Paris?", streamed=False)
    assert evs[1]["span_id"].startswith("MockLLM.complete-")  # the innermost call, not predict
    (s,) = sessions(li_client)
    assert s["output"] == "text text text"
    assert s["user_input"] == "Where is Paris?"  # userInput on the close


async def test_async_query(li_client, index):
    qe = index.as_query_engine(llm=MockLLM(max_tokens=3), similarity_top_k=1)
    response = await qe.aquery("Where is Paris?")
    assert str(response) == "text text text"
    evs = _check_query_session(li_client, "RetrieverQueryEngine.aquery", "Where is Paris?", streamed=False)
    # apredict -> acomplete -> complete: one event, the innermost call
    assert evs[1]["span_id"].startswith("MockLLM.complete-")


def test_streaming_query_closes_when_consumed(li_client, index):
    qe = index.as_query_engine(llm=MockLLM(max_tokens=3), similarity_top_k=1, streaming=True)
    response = qe.query("Where is Paris?")
    # The query returned before the LLM was called: the session is still open.
    assert [s["status"] for s in sessions(li_client)] == ["running"]
    assert list(response.response_gen) == ["text ", "text ", "text"]
    evs = _check_query_session(li_client, "RetrieverQueryEngine.query", "Where is Paris?", streamed=True)
    assert evs[1]["span_id"].startswith("MockLLM.stream_complete-")
    (s,) = sessions(li_client)
    assert s["output"] == "text text text"


async def test_async_streaming_query(li_client, index):
    qe = index.as_query_engine(llm=MockLLM(max_tokens=3), similarity_top_k=1, streaming=True)
    response = await qe.aquery("Where is Paris?")
    assert [s["status"] for s in sessions(li_client)] == ["running"]
    chunks = [t async for t in response.async_response_gen()]
    assert chunks == ["text ", "text ", "text"]
    evs = _check_query_session(li_client, "RetrieverQueryEngine.aquery", "Where is Paris?", streamed=True)
    # astream -> astream_complete -> (lazily) stream_complete: recorded once
    assert evs[1]["span_id"].startswith("MockLLM.stream_complete-")


def test_streaming_query_closed_early(li_client, index):
    qe = index.as_query_engine(llm=MockLLM(max_tokens=3), similarity_top_k=1, streaming=True)
    response = qe.query("Where is Paris?")
    gen = response.response_gen
    assert next(gen) == "text "
    gen.close()
    (s,) = sessions(li_client)
    assert s["status"] == "success"
    assert s["output"] == "text "
    evs = events(li_client, s["id"])
    assert [brief(e) for e in evs] == [("tool_call", "retrieve"), ("llm_call", "llm:mock:unknown")]
    assert evs[1]["output"]["partial"] is True
    assert evs[1]["output"]["content"] == ""  # MockLLM's first chunk has cumulative text ""
    assert evs[1]["error"] is None


def test_streaming_query_dropped_unconsumed(li_client, index):
    qe = index.as_query_engine(llm=MockLLM(max_tokens=3), similarity_top_k=1, streaming=True)
    response = qe.query("Where is Paris?")
    assert [s["status"] for s in sessions(li_client)] == ["running"]
    del response
    gc.collect()
    (s,) = sessions(li_client)
    assert s["status"] == "success"
    # the LLM was never called: only the retrieval happened
    assert [brief(e) for e in events(li_client, s["id"])] == [("tool_call", "retrieve")]


def test_retriever_is_a_run(li_client, index):
    nodes = index.as_retriever(similarity_top_k=2).retrieve("capitals")
    ids = [n.node.node_id for n in nodes]
    assert sorted(ids) == ["node-berlin", "node-paris"]
    (s,) = sessions(li_client)
    assert (s["name"], s["status"]) == ("VectorIndexRetriever.retrieve", "success")
    assert s["metadata"]["input"] == "capitals"
    (e,) = events(li_client, s["id"])
    assert brief(e) == ("tool_call", "retrieve")
    assert e["input"] == {"query": "capitals"}
    assert e["output"] == {"nodes": [{"id": i, "score": pytest.approx(1.0)} for i in ids]}


def test_index_building_records_nothing(li_client):
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding

    VectorStoreIndex.from_documents([Document(text="a b c")], embed_model=MockEmbedding(embed_dim=4))
    assert sessions(li_client) == []


def test_runs_join_the_current_session(li_client, index):
    qe = index.as_query_engine(llm=MockLLM(max_tokens=1), similarity_top_k=1)
    with li_client.session("my task") as outer:
        qe.query("one")
        qe.query("two")
        MockLLM(max_tokens=1).complete("stray call inside the session")
    (s,) = sessions(li_client)
    assert s["id"] == outer.id and s["name"] == "my task" and s["status"] == "success"
    evs = events(li_client, s["id"])
    assert [brief(e) for e in evs] == [
        ("tool_call", "retrieve"),
        ("llm_call", "llm:mock:unknown"),
        ("tool_call", "retrieve"),
        ("llm_call", "llm:mock:unknown"),
        ("llm_call", "llm:mock:unknown"),
    ]
    assert [e["input"]["query"] for e in evs if e["type"] == "tool_call"] == ["one", "two"]
    assert evs[-1]["input"]["messages"] == [{"role": "user", "content": "stray call inside the session"}]


def test_query_error_closes_with_error(li_client, index):
    class Broken(MockLLM):
        @llm_completion_callback()
        def complete(self, prompt, formatted=False, **kwargs):
            raise RuntimeError("model down")

    qe = index.as_query_engine(llm=Broken(), similarity_top_k=1)
    with pytest.raises(RuntimeError, match="model down"):
        qe.query("Where is Paris?")
    (s,) = sessions(li_client)
    assert s["status"] == "error"
    assert s["failure_reason"] == "RuntimeError: model down"
    evs = events(li_client, s["id"])
    assert [brief(e) for e in evs] == [
        ("tool_call", "retrieve"),
        ("llm_call", "llm:mock:unknown"),
        ("error", None),
    ]
    assert evs[1]["error"]["message"] == "model down" and evs[1]["error"]["type"] == "RuntimeError"
    assert evs[2]["error"]["message"] == "model down"
    assert evs[2]["parent_span_id"] == evs[1]["span_id"]
    assert s["error_count"] >= 1


class FailingStream(MockLLM):
    """Streams one chunk, then the connection breaks."""

    @llm_completion_callback()
    def stream_complete(self, prompt, formatted=False, **kwargs):
        def gen():
            yield CompletionResponse(text="par", delta="par")
            raise ConnectionError("stream broke")

        return gen()


def test_stream_failing_midway(li_client, index):
    qe = index.as_query_engine(llm=FailingStream(), similarity_top_k=1, streaming=True)
    response = qe.query("Where is Paris?")
    received = []
    with pytest.raises(ConnectionError, match="stream broke"):
        for chunk in response.response_gen:
            received.append(chunk)
    assert received == ["par"]
    (s,) = sessions(li_client)
    assert s["status"] == "error"
    assert s["failure_reason"] == "ConnectionError: stream broke"
    evs = events(li_client, s["id"])
    assert [brief(e) for e in evs] == [
        ("tool_call", "retrieve"),
        ("llm_call", "llm:mock:unknown"),
        ("error", None),
    ]
    llm, err = evs[1], evs[2]
    assert llm["output"]["content"] == "par"
    assert llm["error"]["type"] == "ConnectionError"
    assert err["error"]["message"] == "stream broke"
    assert err["parent_span_id"] == llm["span_id"]


def test_no_state_left_behind(li_client, index):
    qe = index.as_query_engine(llm=MockLLM(max_tokens=2), similarity_top_k=1)
    qe.query("a")
    list(index.as_query_engine(llm=MockLLM(max_tokens=2), streaming=True).query("b").response_gen)
    dropped = index.as_query_engine(llm=MockLLM(max_tokens=2), streaming=True).query("c")
    del dropped
    with li_client.session("stray"):
        stream = MockLLM(max_tokens=2).stream_complete("never read")
        del stream
    gc.collect()
    tracker = INTEGRATION.tracker
    assert tracker is not None
    assert tracker.runs == {} and tracker.spans == {}
    assert [s["status"] for s in sessions(li_client)] == ["success"] * 4
