"""LlamaIndex queries recorded as Sentrial sessions, with one line and no other code change — runs offline.

    python examples/llamaindex_query.py

The index is embedded with LlamaIndex's MockEmbedding and answered by its MockLLM, so no API key or
network is needed. Each query (and the streamed chat turn) becomes one session in the embedded store
(SENTRIAL_LOCAL_PATH, else the per-user store, see README); the script prints their ids and the command that
shows one. With real models only the ``Settings`` lines change (e.g. ``OpenAI(model="gpt-4o-mini")``).
"""

from __future__ import annotations

from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM

from sentrial_integrations import get_client
from sentrial_integrations.llamaindex import instrument, last_session_id

instrument()  # the one line: every query engine, chat engine, retriever and agent run is now recorded

Settings.embed_model = MockEmbedding(embed_dim=16)
Settings.llm = MockLLM(max_tokens=12)


def main() -> None:
    docs = [
        Document(text="The Eiffel Tower is in Paris. It is 330 metres tall.", id_="eiffel"),
        Document(text="The Brandenburg Gate is in Berlin. It was built in 1791.", id_="gate"),
    ]
    index = VectorStoreIndex.from_documents(docs)  # index building: not a session

    answer = index.as_query_engine(similarity_top_k=1).query("How tall is the Eiffel Tower?")
    print("answer:", answer)
    query_session = last_session_id()

    streaming = index.as_query_engine(similarity_top_k=1, streaming=True).query("When was the gate built?")
    print("streamed:", "".join(streaming.response_gen))  # the session closes once the stream is consumed
    stream_session = last_session_id()

    chat = index.as_chat_engine(chat_mode="context", similarity_top_k=1)
    reply = chat.stream_chat("Tell me about Paris.")
    print("chat:", "".join(reply.response_gen))
    chat_session = last_session_id()

    client = get_client()
    client.flush(10)  # at exit this happens on its own; here we want the sessions stored before printing
    print(f"store: {client.config.local_path}")
    for label, sid in (("query", query_session), ("streaming query", stream_session), ("chat", chat_session)):
        print(f"{label} session: {sid}")
    print(f"see one with: sentrial-integrations show {query_session}")


if __name__ == "__main__":
    main()
