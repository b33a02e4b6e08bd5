"""A recorded answer for an OpenAI SDK request: which requests are LLM calls (:func:`request_kind`,
:func:`request_body`), whether the recording can answer one (:func:`unservable`) and what it lacks
(:func:`missing_fields`, served with stand-ins). Rendering it as the OpenAI wire shapes is
:mod:`.openai_wire`; serving it to the SDK is :mod:`.openai_adapter`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._common import recorded_output, recorded_tokens
from .fingerprint import TRUNCATED


class Answer:
    """A recorded answer, to be served for one request of ``kind`` (``body`` is the request)."""

    __slots__ = ("body", "event", "kind", "payload", "step")

    def __init__(self, kind: str, body: Mapping[str, Any], event: Mapping[str, Any], step: int) -> None:
        self.kind = kind
        self.body = body
        self.event = event
        self.step = step
        self.payload: bytes | list[bytes] | None = None  # the rendered body / SSE events


# --- which requests are LLM calls -------------------------------------------------------------------


def request_kind(url: Any) -> str | None:
    path = str(url or "").split("?", 1)[0].rstrip("/")
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/responses"):
        return "responses"
    if path.endswith("/completions"):
        return "completions"
    if path.endswith("/embeddings"):
        return "embeddings"
    return None


def request_body(options: Any) -> dict[str, Any] | None:
    data = getattr(options, "json_data", None)
    if not isinstance(data, Mapping):
        return None
    body = dict(data)
    extra = getattr(options, "extra_json", None)
    if isinstance(extra, Mapping):
        body.update(extra)
    return body


def missing_fields(kind: str, event: Mapping[str, Any]) -> list[str]:
    """What an answer of ``kind`` needs that the recorded event lacks (served with stand-ins)."""
    out = recorded_output(event)
    missing = []
    if recorded_tokens(event) is None:
        missing.append("usage")
    if out.get("finish_reason") is None:
        missing.append("finish_reason")
    if not (out.get("response_model") or event.get("model")):
        missing.append("model")
    meta = event.get("metadata")
    if not (isinstance(meta, Mapping) and meta.get("response_id")):
        missing.append("response_id")
    calls = out.get("tool_calls")
    if isinstance(calls, list) and any(isinstance(c, Mapping) and not c.get("id") for c in calls):
        missing.append("tool_call_ids")
    return missing


def unservable(kind: str, event: Mapping[str, Any]) -> str | None:
    """Why the recorded event cannot answer a request of ``kind`` (None when it can)."""
    out = event.get("output")
    if kind == "embeddings":
        return "the recording keeps only the number and size of the embedding vectors, not the vectors"
    if not isinstance(out, Mapping):
        return "the recorded LLM call has no output"
    content = out.get("content")
    if isinstance(content, str) and TRUNCATED.search(content):
        return "the recorded answer was truncated by the recorder (max_string_length)"
    return None
