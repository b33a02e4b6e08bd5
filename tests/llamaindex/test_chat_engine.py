"""Chat engines: one session per chat turn, closed when the streamed answer has been written."""

from __future__ import annotations

from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM

from tests.llamaindex.conftest import brief, events, sessions


def test_chat(li_client):
    engine = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=2))
    assert str(engine.chat("hello")) == "text text"
    (s,) = sessions(li_client)
    assert (s["name"], s["status"], s["output"]) == ("SimpleChatEngine.chat", "success", "text text")
    assert s["metadata"]["input"] == "hello"
    (llm,) = events(li_client, s["id"])
    assert brief(llm) == ("llm_call", "llm:mock:unknown")
    # MockLLM is a completion model: chat -> complete, recorded once (the innermost call)
    assert llm["span_id"].startswith("MockLLM.complete-")
    assert llm["input"]["messages"] == [{"role": "user", "content": "user: hello\nassistant: "}]
    assert llm["output"]["content"] == "text text"


def test_stream_chat_written_by_a_thread(li_client):
    engine = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=3))
    response = engine.stream_chat("hello")
    assert "".join(response.response_gen) == "text text text"
    (s,) = sessions(li_client)
    assert (s["name"], s["status"]) == ("SimpleChatEngine.stream_chat", "success")
    (llm,) = events(li_client, s["id"])
    # stream_chat -> stream_complete: the events of both arrive from the writer thread, after the
    # spans exited; one event, for the innermost call
    assert llm["span_id"].startswith("MockLLM.stream_complete-")
    assert llm["output"]["content"] == "text text"  # MockLLM's cumulative text lags one token
    assert llm["output"]["time_to_first_token_ms"] >= 0


async def test_astream_chat_with_context(li_client, index):
    engine = index.as_chat_engine(chat_mode="context", llm=MockLLM(max_tokens=2), similarity_top_k=1)
    response = await engine.astream_chat("Where is Paris?")
    chunks = [t async for t in response.async_response_gen()]
    assert "".join(chunks) == "text text"
    (s,) = sessions(li_client)
    assert (s["name"], s["status"]) == ("ContextChatEngine.astream_chat", "success")
    assert s["output"] == "text text"
    evs = events(li_client, s["id"])
    assert [brief(e) for e in evs] == [("tool_call", "retrieve"), ("llm_call", "llm:mock:unknown")]
    assert evs[0]["output"]["nodes"][0]["id"] == "node-paris"
    # astream -> astream_complete -> (lazily, in the writer task) stream_complete: one event
    assert evs[1]["span_id"].startswith("MockLLM.stream_complete-")
    assert "Paris is the capital of France." in evs[1]["input"]["messages"][0]["content"]


async def test_achat(li_client):
    engine = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=1))
    assert str(await engine.achat("hi")) == "text"
    (s,) = sessions(li_client)
    assert (s["name"], s["status"], s["output"]) == ("SimpleChatEngine.achat", "success", "text")
    assert [brief(e) for e in events(li_client, s["id"])] == [("llm_call", "llm:mock:unknown")]
