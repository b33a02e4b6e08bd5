"""Recorded messages (OpenAI, LangChain, LlamaIndex shapes, or a prompt) in the GenAI semantic conventions'
message shapes: ``{"role", "parts": [...]}`` (``gen_ai.input.messages`` / ``gen_ai.output.messages``).

The role names translators record are mapped through :data:`..model.MESSAGE_ROLES`: this module knows no
framework's names itself."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ... import model as M
from .values import mapping, to_json


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    if isinstance(content, (list, tuple)):
        parts: list[dict[str, Any]] = []
        for item in content:
            if isinstance(item, str):
                parts.append({"type": "text", "content": item})
            elif isinstance(item, Mapping):
                text = item.get("text")
                if text is None and isinstance(item.get("content"), str):
                    text = item.get("content")
                if isinstance(text, str):
                    parts.append({"type": "text", "content": text})
                else:
                    parts.append({"type": str(item.get("type") or "data"), "content": to_json(item)})
        return parts
    return [{"type": "text", "content": to_json(content)}]


def _tool_call_parts(calls: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if not isinstance(calls, (list, tuple)):
        return parts
    for call in calls:
        if not isinstance(call, Mapping):
            continue
        fn = mapping(call.get("function")) or call
        args = fn.get("arguments", fn.get("args"))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                pass
        parts.append({"type": "tool_call", "id": call.get("id"), "name": fn.get("name"), "arguments": args})
    return parts


def input_messages(messages: Any) -> list[dict[str, Any]]:
    """Recorded messages (OpenAI, LangChain, LlamaIndex shapes, or a prompt) as GenAI input messages."""
    if messages is None:
        return []
    if isinstance(messages, str):
        return [{"role": "user", "parts": _text_parts(messages)}]
    if isinstance(messages, Mapping):
        messages = [messages]
    if not isinstance(messages, (list, tuple)):
        return [{"role": "user", "parts": _text_parts(messages)}]
    out: list[dict[str, Any]] = []
    for m in messages:
        if not isinstance(m, Mapping):
            out.append({"role": "user", "parts": _text_parts(m)})
            continue
        role = str(m.get("role") or m.get("type") or "user")
        role = M.MESSAGE_ROLES.get(role, role)
        if role == "tool":
            call_id = m.get("tool_call_id") or m.get("call_id") or m.get("id")
            parts = [{"type": "tool_call_response", "id": call_id, "response": m.get("content")}]
        else:
            parts = _text_parts(m.get("content"))
            parts.extend(_tool_call_parts(m.get("tool_calls")))
        out.append({"role": role, "parts": parts})
    return out


def output_messages(content: Any, tool_calls: Any, finish_reason: Any) -> list[dict[str, Any]]:
    """A response (text and / or tool calls) as one GenAI output message."""
    parts = _text_parts(content)
    parts.extend(_tool_call_parts(tool_calls))
    if not parts:
        return []
    reason = finish_reason if isinstance(finish_reason, str) else ("tool_call" if tool_calls else "stop")
    return [{"role": "assistant", "parts": parts, "finish_reason": reason}]
