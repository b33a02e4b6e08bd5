"""Provider-neutral helpers the translators share: token usage and tool calls in any common shape."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _fields(obj: Any) -> Any:
    """A mapping view of ``obj``: itself, or a pydantic model's / plain object's attribute dicts.

    Looking up a missing attribute on a pydantic model goes through its slow ``__getattr__``;
    reading ``__dict__`` (and ``__pydantic_extra__`` for extra fields) is a dict lookup.
    """
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj
    d = getattr(obj, "__dict__", None)
    if type(d) is dict:
        extra = getattr(obj, "__pydantic_extra__", None)
        return {**d, **extra} if extra else d
    return None


def _get(obj: Any, *names: str) -> Any:
    """First attribute or key of ``obj`` among ``names`` that is not None."""
    fields = _fields(obj)
    for name in names:
        v = fields.get(name) if fields is not None else getattr(obj, name, None)
        if v is not None:
            return v
    return None


def _int(v: Any) -> int | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def parse_json_text(value: Any) -> Any:
    """Tool-call arguments as sent (a JSON text) → the data; anything else, or text that is not JSON,
    as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def normalize_usage(usage: Any) -> dict[str, int | None]:
    """Token usage from OpenAI (chat and responses), Anthropic, LangChain ``usage_metadata`` or
    Google shapes → ``{"prompt", "completion", "total", "cached", "reasoning"}`` (None when unknown)."""
    out: dict[str, int | None] = {
        "prompt": None,
        "completion": None,
        "total": None,
        "cached": None,
        "reasoning": None,
    }
    if usage is None:
        return out
    prompt = _int(_get(usage, "prompt_tokens", "input_tokens", "promptTokenCount", "prompt_token_count"))
    completion = _int(
        _get(usage, "completion_tokens", "output_tokens", "candidatesTokenCount", "candidates_token_count")
    )
    total = _int(_get(usage, "total_tokens", "totalTokenCount", "total_token_count"))
    details_in = _get(usage, "prompt_tokens_details", "input_tokens_details", "input_token_details")
    details_out = _get(usage, "completion_tokens_details", "output_tokens_details", "output_token_details")
    cached = _int(_get(details_in, "cached_tokens", "cache_read")) if details_in is not None else None
    if cached is None:
        cached = _int(_get(usage, "cache_read_input_tokens", "cached_content_token_count"))
    # Anthropic reports cached and cache-creation tokens apart from input_tokens.
    cache_creation = _int(_get(usage, "cache_creation_input_tokens"))
    if (
        prompt is not None
        and _get(usage, "cache_read_input_tokens") is not None
        and _get(usage, "input_tokens") is not None
    ):
        prompt += (cached or 0) + (cache_creation or 0)
    reasoning = _int(_get(details_out, "reasoning_tokens", "reasoning")) if details_out is not None else None
    if total is None and (prompt is not None or completion is not None):
        total = (prompt or 0) + (completion or 0)
    out.update(prompt=prompt, completion=completion, total=total, cached=cached, reasoning=reasoning)
    return out


def normalize_tool_calls(calls: Any) -> list[dict[str, Any]]:
    """Tool calls from OpenAI (``function.name/arguments``), the Responses API (``function_call``
    items), LangChain (``name/args/id``) or LlamaIndex (``tool_name/tool_kwargs/tool_id``) →
    ``[{"id", "name", "arguments"}]`` with arguments parsed from JSON when they are a string."""
    if not calls:
        return []
    out = []
    for call in calls:
        fn = _get(call, "function")
        name = _get(fn, "name") if fn is not None else None
        args = _get(fn, "arguments") if fn is not None else None
        if name is None:
            name = _get(call, "name", "tool_name")
            args = _get(call, "args", "arguments", "tool_kwargs", "input")
        call_id = _get(call, "id", "call_id", "tool_id", "tool_call_id")
        out.append({"id": call_id, "name": name, "arguments": parse_json_text(args)})
    return out


def decision_from_tool_calls(calls: list[dict[str, Any]], text: Any = None) -> tuple[str, dict[str, Any]]:
    """The reasoning and decision of a model response that calls tools."""
    names = ", ".join(str(c.get("name")) for c in calls)
    reasoning = text if isinstance(text, str) and text.strip() else f"call {names}"
    return reasoning, {"action": "tool_calls", "tool_calls": calls}
