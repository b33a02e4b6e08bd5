"""Real LangChain pieces for the tests: langchain-core's fake chat model (with tool calls, usage and
streaming of both), tools, a retriever, and helpers that summarise what the store recorded."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import tool

from sentrial_integrations.core.store import Store


class ChatFake(GenericFakeChatModel):
    """GenericFakeChatModel that agents can bind tools to, named so that LangChain reports
    provider "fake" and model "fake-1"; its stream also carries tool calls and usage."""

    model: str = "fake-1"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ChatFake:
        return self

    def _stream(
        self,
        messages: Any,
        stop: Any = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._generate(messages, stop=stop, **kwargs).generations[0].message
        assert isinstance(message, AIMessage)
        pieces = (
            re.split(r"(\s)", message.content) if isinstance(message.content, str) and message.content else []
        )
        for piece in pieces:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece, id=message.id))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        last = AIMessageChunk(
            content="",
            id=message.id,
            tool_call_chunks=[
                {"name": c["name"], "args": _json(c["args"]), "id": c["id"], "index": i}
                for i, c in enumerate(message.tool_calls)
            ],
            usage_metadata=message.usage_metadata,
            chunk_position="last",
        )
        chunk = ChatGenerationChunk(message=last)
        if run_manager:
            run_manager.on_llm_new_token("", chunk=chunk)
        yield chunk


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def ai(
    content: str = "", *calls: tuple[str, dict[str, Any], str], usage: tuple[int, int] | None = None
) -> AIMessage:
    """An AIMessage with tool calls ``(name, args, id)`` and usage ``(input, output)``."""
    return AIMessage(
        content=content,
        tool_calls=[{"name": n, "args": a, "id": i, "type": "tool_call"} for n, a, i in calls],
        usage_metadata=(
            {"input_tokens": usage[0], "output_tokens": usage[1], "total_tokens": usage[0] + usage[1]}
            if usage
            else None
        ),
    )


def model(*messages: AIMessage | str) -> ChatFake:
    return ChatFake(messages=iter(messages))


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool
def broken_tool(city: str) -> str:
    """Always fails."""
    raise ValueError(f"no weather for {city}")


class DocsRetriever(BaseRetriever):
    """A retriever over a fixed list of documents (keyword match)."""

    docs: list[Document]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = query.lower().split()
        return [d for d in self.docs if any(w in d.page_content.lower() for w in words)]


# --- reading the store -------------------------------------------------------------------------------


def brief(event: dict[str, Any]) -> tuple[Any, ...]:
    """(type, name) of an event: enough to assert the order of a session."""
    return (event["type"], event["name"])


def events_of(store: Store, session: dict[str, Any]) -> list[dict[str, Any]]:
    return store.get_events(session["id"])


def no_stack(error: dict[str, Any] | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {k: v for k, v in error.items() if k != "stack_trace"}


class ChatEcho(ChatFake):
    """A deterministic agent model for concurrent runs: asked "weather in <city>" it calls
    ``get_weather(city)``; given the tool's answer it replies "answer: <tool output>"."""

    model: str = "echo-1"
    messages: Iterator[AIMessage | str] = iter(())

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        from langchain_core.outputs import ChatGeneration, ChatResult

        last = messages[-1]
        if last.type == "tool":
            reply = ai(f"answer: {last.content}", usage=(20, 4))
        else:
            city = str(last.content).split()[-1]
            reply = ai("", ("get_weather", {"city": city}, f"call-{city}"), usage=(10, 3))
        return ChatResult(generations=[ChatGeneration(message=reply)])


def sessions_oldest_first(store: Store) -> list[dict[str, Any]]:
    return sorted(store.list_sessions(), key=lambda s: s["started_at"])
