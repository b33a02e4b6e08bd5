"""OpenAI requests and responses → the fields of a Sentrial LLM event (pure functions, no I/O).

Everything here runs on the caller's thread, so it only reads attributes and builds small dicts:
no serialisation and no deep copies (the core snapshots and serialises in the background).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.record.llm import normalize_tool_calls, normalize_usage, parse_json_text

try:  # the SDK's "argument not given" markers (omit / NOT_GIVEN)
    from openai._types import NotGiven, Omit

    _UNSET: tuple[type, ...] = (NotGiven, Omit)
except Exception:  # pragma: no cover - very old or very new SDK
    _UNSET = ()


class Op:
    """One SDK method that makes an LLM call and is traced."""

    __slots__ = ("async_cls", "input_key", "kind", "method", "module", "name", "path", "sync_cls")

    def __init__(
        self,
        kind: str,
        path: tuple[str, ...],
        method: str,
        input_key: str,
        module: str,
        sync_cls: str,
        async_cls: str,
    ) -> None:
        self.kind = kind  # chat | responses | embeddings | completions
        self.path = path  # attribute path from the client to the resource
        self.method = method
        self.name = ".".join((*path, method))  # "chat.completions.create"
        self.input_key = input_key  # the keyword argument that holds the prompt
        self.module = module
        self.sync_cls = sync_cls
        self.async_cls = async_cls

    def __repr__(self) -> str:
        return f"Op({self.name})"


_CHAT = "openai.resources.chat.completions.completions"
_RESPONSES = "openai.resources.responses.responses"

#: The traced methods. ``chat.completions.stream()`` and ``responses.stream()`` go through ``create``.
OPS: tuple[Op, ...] = (
    Op("chat", ("chat", "completions"), "create", "messages", _CHAT, "Completions", "AsyncCompletions"),
    Op("chat", ("chat", "completions"), "parse", "messages", _CHAT, "Completions", "AsyncCompletions"),
    Op("responses", ("responses",), "create", "input", _RESPONSES, "Responses", "AsyncResponses"),
    Op("responses", ("responses",), "parse", "input", _RESPONSES, "Responses", "AsyncResponses"),
    Op(
        "embeddings",
        ("embeddings",),
        "create",
        "input",
        "openai.resources.embeddings",
        "Embeddings",
        "AsyncEmbeddings",
    ),
    Op(
        "completions",
        ("completions",),
        "create",
        "prompt",
        "openai.resources.completions",
        "Completions",
        "AsyncCompletions",
    ),
)

# Keyword arguments that are not model parameters (or are recorded elsewhere, or may carry secrets).
_NOT_PARAMS = frozenset({"model", "extra_headers", "extra_query", "extra_body", "timeout"})


def is_unset(value: Any) -> bool:
    return isinstance(value, _UNSET)


def _schema_name(value: type) -> dict[str, Any]:
    return {"type": "json_schema", "class": getattr(value, "__qualname__", repr(value))}


def request_params(kwargs: Mapping[str, Any], input_key: str) -> dict[str, Any]:
    """The model parameters of a call: every given keyword except the input, model and transport options."""
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in _NOT_PARAMS or key == input_key or isinstance(value, _UNSET):
            continue
        if isinstance(value, type):  # response_format=MyModel, text_format=MyModel
            value = _schema_name(value)
        out[key] = value
    return out


def offered_tool_names(tools: Any) -> list[str] | None:
    """Names of the tools a request offered (chat ``function.name`` or responses ``name``)."""
    if not isinstance(tools, (list, tuple)) or not tools:
        return None
    names = []
    for tool in tools:
        if isinstance(tool, Mapping):
            fn = tool.get("function")
            name = fn.get("name") if isinstance(fn, Mapping) else tool.get("name")
            if name is None:
                name = tool.get("type")
        else:
            name = getattr(tool, "name", None) or getattr(tool, "type", None)
        if isinstance(name, str):
            names.append(name)
    return names or None


_NO_USAGE: dict[str, int | None] = {
    "prompt": None,
    "completion": None,
    "total": None,
    "cached": None,
    "reasoning": None,
}


def openai_usage(usage: Any) -> dict[str, int | None]:
    """Token usage of an OpenAI ``CompletionUsage`` / ``ResponseUsage`` (fast path: direct attributes),
    else whatever :func:`normalize_usage` understands (dicts, other providers' shapes)."""
    if usage is None:
        return _NO_USAGE
    d = getattr(usage, "__dict__", None)
    if d is None or isinstance(usage, Mapping):
        return normalize_usage(usage)
    if "prompt_tokens" in d:  # chat / completions / embeddings
        prompt, completion = d.get("prompt_tokens"), d.get("completion_tokens")
        details_in, details_out = d.get("prompt_tokens_details"), d.get("completion_tokens_details")
    elif "input_tokens" in d:  # responses
        prompt, completion = d.get("input_tokens"), d.get("output_tokens")
        details_in, details_out = d.get("input_tokens_details"), d.get("output_tokens_details")
    else:
        return normalize_usage(usage)
    total = d.get("total_tokens")
    if total is None and (prompt is not None or completion is not None):
        total = (prompt or 0) + (completion or 0)
    cached = getattr(details_in, "cached_tokens", None) if details_in is not None else None
    reasoning = getattr(details_out, "reasoning_tokens", None) if details_out is not None else None
    return {
        "prompt": prompt,
        "completion": completion,
        "total": total,
        "cached": cached,
        "reasoning": reasoning,
    }


class Result:
    """What one model response contributes to the LLM event."""

    __slots__ = (
        "content",
        "error",
        "finish_reason",
        "metadata",
        "response_id",
        "response_model",
        "tool_calls",
        "usage",
    )

    def __init__(self) -> None:
        self.content: Any = None
        self.tool_calls: list[dict[str, Any]] = []
        self.finish_reason: str | None = None
        self.usage: dict[str, int | None] = _NO_USAGE
        self.response_model: str | None = None
        self.response_id: str | None = None
        self.metadata: dict[str, Any] = {}
        self.error: dict[str, Any] | None = None  # a response that reports failure in its body


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def chat_message_fields(msg: Any, res: Result) -> Any:
    """Content and tool calls of one assistant message; returns the content."""
    content = getattr(msg, "content", None)
    if content is None:
        audio = getattr(msg, "audio", None)
        transcript = getattr(audio, "transcript", None) if audio is not None else None
        if isinstance(transcript, str):
            content = transcript
    refusal = getattr(msg, "refusal", None)
    if refusal:
        res.metadata["refusal"] = refusal
    return content


def chat_result(resp: Any) -> Result:
    """A ``ChatCompletion`` (or ``ParsedChatCompletion``)."""
    res = Result()
    choices = getattr(resp, "choices", None) or []
    if choices:
        first = choices[0]
        msg = getattr(first, "message", None)
        if len(choices) == 1:
            res.content = chat_message_fields(msg, res)
        else:
            res.content = [chat_message_fields(getattr(c, "message", None), res) for c in choices]
        res.finish_reason = _str(getattr(first, "finish_reason", None))
        calls = getattr(msg, "tool_calls", None)
        if calls:
            res.tool_calls = normalize_tool_calls(calls)
        fc = getattr(msg, "function_call", None)
        if fc is not None:
            res.tool_calls.append(
                {
                    "id": None,
                    "name": getattr(fc, "name", None),
                    "arguments": parse_json_text(getattr(fc, "arguments", None)),
                }
            )
    res.usage = openai_usage(getattr(resp, "usage", None))
    res.response_model = _str(getattr(resp, "model", None))
    res.response_id = _str(getattr(resp, "id", None))
    return res


def responses_tool_calls(items: Any) -> list[dict[str, Any]]:
    """``function_call`` and ``custom_tool_call`` output items → ``[{id, name, arguments}]``."""
    out = []
    for item in items or ():
        kind = getattr(item, "type", None)
        if kind == "function_call":
            args = getattr(item, "arguments", None)
        elif kind == "custom_tool_call":
            args = getattr(item, "input", None)
        else:
            continue
        out.append(
            {
                "id": getattr(item, "call_id", None),
                "name": getattr(item, "name", None),
                "arguments": parse_json_text(args),
            }
        )
    return out


def responses_result(resp: Any) -> Result:
    """A Responses API ``Response`` (or ``ParsedResponse``)."""
    res = Result()
    try:
        text = resp.output_text
    except Exception:
        text = None
    res.content = text if text else None
    res.tool_calls = responses_tool_calls(getattr(resp, "output", None))
    status = _str(getattr(resp, "status", None))
    details = getattr(resp, "incomplete_details", None)
    reason = getattr(details, "reason", None) if details is not None else None
    res.finish_reason = _str(reason) or status
    res.usage = openai_usage(getattr(resp, "usage", None))
    res.response_model = _str(getattr(resp, "model", None))
    res.response_id = _str(getattr(resp, "id", None))
    err = getattr(resp, "error", None)
    if err is not None and status == "failed":
        res.error = {
            "message": str(getattr(err, "message", None) or "the response failed"),
            "type": str(getattr(err, "code", None) or "response_failed"),
        }
    return res


def completions_result(resp: Any) -> Result:
    """A legacy ``Completion``."""
    res = Result()
    choices = getattr(resp, "choices", None) or []
    if choices:
        res.content = (
            getattr(choices[0], "text", None)
            if len(choices) == 1
            else [getattr(c, "text", None) for c in choices]
        )
        res.finish_reason = _str(getattr(choices[0], "finish_reason", None))
    res.usage = openai_usage(getattr(resp, "usage", None))
    res.response_model = _str(getattr(resp, "model", None))
    res.response_id = _str(getattr(resp, "id", None))
    return res


def embeddings_result(resp: Any) -> Result:
    """A ``CreateEmbeddingResponse``: the vectors are summarised (count, dimensions), never copied."""
    res = Result()
    data = getattr(resp, "data", None) or []
    dims = None
    if data:
        vec = getattr(data[0], "embedding", None)
        if isinstance(vec, list):
            dims = len(vec)
    res.content = {"embeddings": len(data), "dimensions": dims}
    res.usage = openai_usage(getattr(resp, "usage", None))
    res.response_model = _str(getattr(resp, "model", None))
    return res


RESULT_MAPPERS = {
    "chat": chat_result,
    "responses": responses_result,
    "completions": completions_result,
    "embeddings": embeddings_result,
}
