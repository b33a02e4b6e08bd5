"""Fixtures for the LlamaIndex integration: an instrumented client and a small offline index."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import TextNode

from sentrial_integrations import SentrialClient
from sentrial_integrations.llamaindex import instrument, uninstrument
from tests.conftest import read_store


@pytest.fixture
def li_client(local_client: SentrialClient) -> Iterator[SentrialClient]:
    """``local_client`` with the LlamaIndex integration installed (removed after the test)."""
    instrument(local_client)
    try:
        yield local_client
    finally:
        uninstrument()


@pytest.fixture
def index() -> VectorStoreIndex:
    """Two nodes with fixed ids, embedded by MockEmbedding (built before instrumenting or not: it
    records nothing either way)."""
    nodes = [
        TextNode(id_="node-paris", text="Paris is the capital of France."),
        TextNode(id_="node-berlin", text="Berlin is the capital of Germany."),
    ]
    return VectorStoreIndex(nodes=nodes, embed_model=MockEmbedding(embed_dim=8))


def sessions(client: SentrialClient) -> list[dict[str, Any]]:
    """All sessions, oldest first."""
    store = read_store(client)
    return sorted(store.list_sessions(), key=lambda s: s["started_at"])


def events(client: SentrialClient, session_id: str) -> list[dict[str, Any]]:
    return read_store(client).get_events(session_id)


def brief(e: dict[str, Any]) -> tuple[str, str | None]:
    return (e["type"], e["name"])


GPT = ("llm_call", "llm:openai:gpt-4o-mini")


def tool_round(tool: str, *after_tool: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    """The events of an agent's tool round on gpt-4o-mini: the model asks for ``tool`` (a call and its
    decision), the tool runs (then ``after_tool``), the model answers."""
    return [GPT, ("decision", "decision"), ("tool_call", tool), *after_tool, GPT]
