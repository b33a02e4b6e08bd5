"""The fingerprint of an LLM request: model + messages + offered tools, in a form that does not depend
on which layer recorded it (the OpenAI SDK, LangChain, LlamaIndex) or on which OpenAI endpoint carries it.

A recorded ``llm_call`` event and a live request body are both reduced to a :class:`Fingerprint`;
:func:`difference` says in one line where two fingerprints first differ (``None`` when they match).

What is compared, and what is not (on purpose, so an agent's code can change without the model's
answers changing):

* the model name as requested (not the dated name the provider answered with);
* each message's role, its text (text parts joined; other parts as canonical JSON) and the names and
  arguments of the tool calls it carries — not tool-call ids (a replay serves the recorded ids, an older
  recording may have none), not the ``name`` field LangChain adds to messages;
* the names of the offered tools — not their descriptions or schemas.

Recorded text cut by the recorder (``…[truncated N chars]``) matches any text that starts with what
was kept. Pure functions, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: the mark the recorder leaves at the end of a string it cut (``max_string_length``)
TRUNCATED = re.compile(r"…\[truncated \d+ chars\]$")
#: content blocks that are not text: a message's tool calls and reasoning, compared as calls (or not at all)
NOT_TEXT_BLOCKS = frozenset(
    {
        "function_call",
        "custom_tool_call",
        "tool_call",
        "tool_call_chunk",
        "invalid_tool_call",
        "server_tool_call",
        "tool_use",
        "reasoning",
    }
)
_ROLES = {
    "human": "user",
    "ai": "assistant",
    "developer": "system",
    "function": "tool",
    "chatbot": "assistant",
}


@dataclass(frozen=True)
class Message:
    role: str
    text: str
    calls: tuple[tuple[str, str], ...] = ()


@dataclass
class Fingerprint:
    model: str | None
    messages: list[Message]
    tools: tuple[str, ...] | None  # None: not known (an older or partial recording)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [
                {"role": m.role, "text": m.text, "tool_calls": [list(c) for c in m.calls]}
                for m in self.messages
            ],
            "tools": list(self.tools) if self.tools is not None else None,
        }


def canonical_json(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _text(content: Any) -> str:
    """The text of a message's content: a string, or its text parts joined (other parts as JSON)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        content = [content]
    if isinstance(content, (list, tuple)):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, Mapping):
                text = part.get("text")
                if isinstance(text, str) and part.get("type") in (None, "text", "input_text", "output_text"):
                    out.append(text)
                elif part.get("type") not in NOT_TEXT_BLOCKS:
                    out.append(canonical_json(dict(part)))
            else:
                out.append(str(part))
        return "".join(out)
    return str(content)


def _call(call: Any) -> tuple[str, str] | None:
    if not isinstance(call, Mapping):
        return None
    fn = call.get("function")
    if isinstance(fn, Mapping):
        name, args = fn.get("name"), fn.get("arguments")
    else:
        name = call.get("name")
        args = call.get("arguments", call.get("args", call.get("input")))
    if name is None:
        return None
    return str(name), canonical_json(args if args is not None else {})


def _calls(calls: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(calls, (list, tuple)):
        return ()
    return tuple(c for c in (_call(x) for x in calls) if c is not None)


def _role(value: Any) -> str:
    role = str(value or "user").lower()
    return _ROLES.get(role, role)


def _chat_message(m: Any) -> Message | None:
    if isinstance(m, str):
        return Message("user", m)
    if not isinstance(m, Mapping):
        return None
    role = _role(m.get("role") or m.get("type"))
    calls = _calls(m.get("tool_calls"))
    fc = m.get("function_call")
    if not calls and isinstance(fc, Mapping):
        one = _call({"function": fc})
        calls = (one,) if one else ()
    return Message(role, _text(m.get("content")), calls)


def _responses_items(items: Any) -> list[Message]:
    if isinstance(items, str):
        return [Message("user", items)]
    out: list[Message] = []
    for item in items if isinstance(items, (list, tuple)) else ():
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        if kind in ("function_call", "custom_tool_call"):
            args = item.get("arguments") if kind == "function_call" else item.get("input")
            one = _call({"name": item.get("name"), "arguments": args})
            calls = (one,) if one else ()
            if out and out[-1].role == "assistant":  # the calls of the assistant turn just before
                out[-1] = Message("assistant", out[-1].text, out[-1].calls + calls)
            else:
                out.append(Message("assistant", "", calls))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            out.append(Message("tool", _text(item.get("output"))))
        elif kind in (None, "message"):
            msg = _chat_message(item)
            if msg is not None:
                out.append(msg)
        else:  # reasoning items and the like: their content, as canonical JSON
            out.append(Message(str(kind), canonical_json(dict(item))))
    return out


def tool_names(tools: Any) -> tuple[str, ...] | None:
    if tools is None:
        return None
    names = []
    for tool in tools if isinstance(tools, (list, tuple)) else ():
        if isinstance(tool, str):  # LlamaIndex records the offered tools by name
            names.append(tool)
            continue
        if isinstance(tool, Mapping):
            fn = tool.get("function")
            name = fn.get("name") if isinstance(fn, Mapping) else tool.get("name") or tool.get("type")
        else:
            name = getattr(tool, "name", None)
        if name is not None:
            names.append(str(name))
    return tuple(sorted(names))


def of_request(kind: str, body: Mapping[str, Any]) -> Fingerprint:
    """The fingerprint of an OpenAI request body (``kind``: chat | responses | completions | embeddings)."""
    model = body.get("model")
    messages: list[Message]
    if kind == "responses":
        messages = []
        instructions = body.get("instructions")
        if isinstance(instructions, str) and instructions:
            messages.append(Message("system", instructions))
        messages.extend(_responses_items(body.get("input")))
    elif kind in ("completions", "embeddings"):
        key = "prompt" if kind == "completions" else "input"
        value = body.get(key)
        messages = [Message("user", v if isinstance(v, str) else canonical_json(v)) for v in _as_list(value)]
    else:
        messages = [m for m in (_chat_message(x) for x in _as_list(body.get("messages"))) if m is not None]
    tools = body.get("tools")
    return Fingerprint(
        model if isinstance(model, str) else None,
        messages,
        tool_names(tools) if tools is not None else (),
    )


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _lc_message(item: Any) -> Message | None:
    """One message of LangChain's serialised form (``{"lc": 1, "id": [..., "HumanMessage"], "kwargs": ...}``)."""
    if not isinstance(item, Mapping):
        return None
    inner = item.get("kwargs")
    kwargs: Mapping[str, Any] = inner if isinstance(inner, Mapping) else item
    ids = item.get("id")
    role = kwargs.get("type") or kwargs.get("role")
    if role is None and isinstance(ids, list) and ids:
        role = str(ids[-1]).replace("MessageChunk", "").replace("Message", "").lower()
    if role == "chat":
        role = kwargs.get("role")
    calls = kwargs.get("tool_calls")
    if not calls:
        extra = kwargs.get("additional_kwargs")
        calls = extra.get("tool_calls") if isinstance(extra, Mapping) else None
    return Message(_role(role), _text(kwargs.get("content")), _calls(calls))


def of_langchain_prompt(prompt: str) -> Fingerprint:
    """The fingerprint of a LangChain cache key's prompt: the chat messages serialised by
    ``langchain_core.load.dumps``, or a plain LLM's prompt text. Model and tools are not known."""
    try:
        data = json.loads(prompt)
    except ValueError:
        data = None
    if isinstance(data, list) and all(isinstance(x, Mapping) for x in data):
        messages = [m for m in (_lc_message(x) for x in data) if m is not None]
    else:
        messages = [Message("user", prompt)]
    return Fingerprint(None, messages, None)


def recorded_kind(event: Mapping[str, Any]) -> str | None:
    """The OpenAI endpoint a recorded LLM event was made with, when the OpenAI layer recorded it."""
    meta = event.get("metadata")
    op = meta.get("operation") if isinstance(meta, Mapping) else None
    if not isinstance(op, str):
        return None
    if op.startswith("chat."):
        return "chat"
    head = op.split(".", 1)[0]
    return head if head in ("responses", "embeddings", "completions") else None


def of_event(event: Mapping[str, Any]) -> Fingerprint:
    """The fingerprint of a recorded ``llm_call`` event (its ``input``: messages, model, params)."""
    inp = event.get("input")
    inp = inp if isinstance(inp, Mapping) else {}
    params = inp.get("params")
    params = params if isinstance(params, Mapping) else {}
    kind = recorded_kind(event) or "chat"
    messages = inp.get("messages")
    body: dict[str, Any] = {**params, "model": inp.get("model")}
    if kind == "responses":
        body["input"] = messages
    elif kind == "completions":
        body["prompt"] = messages
    elif kind == "embeddings":
        body["input"] = messages
    else:
        if isinstance(messages, Mapping):  # LlamaIndex / custom layers sometimes record {"messages": [...]}
            messages = messages.get("messages")
        body["messages"] = messages
    fp = of_request(kind, body)
    if "tools" not in params:
        fp.tools = None if not params else ()
    return fp


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_matches(recorded: str, live: str) -> bool:
    if recorded == live:
        return True
    m = TRUNCATED.search(recorded)
    return m is not None and live.startswith(recorded[: m.start()])


def _message_difference(i: int, rec: Message, live: Message) -> str | None:
    where = f"messages[{i}]"
    if rec.role != live.role:
        return f"{where}: role {rec.role!r} was recorded, the request has {live.role!r}"
    if not _text_matches(rec.text, live.text):
        return f"{where} ({rec.role}): recorded {_short(rec.text)!r}, the request has {_short(live.text)!r}"
    if rec.calls != live.calls:
        return (
            f"{where} ({rec.role}): recorded tool calls {[c[0] for c in rec.calls]} "
            f"{[c[1] for c in rec.calls]}, the request has {[c[0] for c in live.calls]} "
            f"{[c[1] for c in live.calls]}"
        )
    return None


def _same_messages(a: list[Message], b: list[Message]) -> bool:
    if len(a) != len(b):
        return False
    return all(_message_difference(0, x, y) is None for x, y in zip(a, b, strict=True))


def difference(recorded: Fingerprint, live: Fingerprint) -> str | None:
    """Where ``live`` first differs from ``recorded`` (one line), or None when they match."""
    if recorded.model is not None and live.model is not None and recorded.model != live.model:
        return f"model: recorded {recorded.model!r}, the request has {live.model!r}"
    rec_msgs, live_msgs = recorded.messages, live.messages
    for i, (rec, now) in enumerate(zip(rec_msgs, live_msgs, strict=False)):
        diff = _message_difference(i, rec, now)
        if diff is None:
            continue
        if _same_messages(rec_msgs[i:], live_msgs[i + 1 :]):
            return f"messages[{i}]: the request has an extra {now.role} message {_short(now.text)!r}"
        if _same_messages(rec_msgs[i + 1 :], live_msgs[i:]):
            return (
                f"messages[{i}]: the recorded {rec.role} message {_short(rec.text)!r} is not in the request"
            )
        return diff
    if len(recorded.messages) != len(live.messages):
        n = min(len(recorded.messages), len(live.messages))
        if len(live.messages) > n:
            extra = live.messages[n]
            return (
                f"messages: {len(recorded.messages)} recorded, the request has {len(live.messages)}"
                f" (first extra: {extra.role} {_short(extra.text, 60)!r})"
            )
        return f"messages: {len(recorded.messages)} recorded, the request has {len(live.messages)}"
    if recorded.tools is not None and live.tools is not None and recorded.tools != live.tools:
        return f"tools: recorded {list(recorded.tools)}, the request offers {list(live.tools or ())}"
    return None
