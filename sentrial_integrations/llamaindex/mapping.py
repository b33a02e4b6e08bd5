"""LlamaIndex objects → Sentrial event fields.

Two kinds of helpers live here:

* cheap readers that run on the caller's thread when an event is recorded (model and provider
  names, token usage, tool calls, finish reason): attribute reads on objects LlamaIndex already built;
* :class:`Lazy` values, which defer the real conversion (chat messages, call parameters, tool
  outputs, run outputs) to the pipeline worker: the core's converter calls ``model_dump`` on any
  object that has one, so a ``Lazy`` runs its function there, off the caller's thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..core.record.llm import normalize_tool_calls, normalize_usage
from ..core.record.providers import canonical

_USAGE_KEYS = ("prompt_tokens", "input_tokens", "completion_tokens", "output_tokens", "total_tokens")


class Lazy:
    """A value converted on the pipeline worker: ``fn(*args)`` runs when the event is serialised."""

    __slots__ = ("args", "fn")

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn = fn
        self.args = args

    def model_dump(self, *_: Any, **__: Any) -> Any:
        return self.fn(*self.args)

    def __repr__(self) -> str:
        return "<unavailable>"


# --- names -----------------------------------------------------------------------------------------


def model_name(model_dict: Any) -> str:
    """The model of an LLM from its ``to_payload()`` dict (``model_name``, else ``model``)."""
    if isinstance(model_dict, Mapping):
        for key in ("model_name", "model"):
            v = model_dict.get(key)
            if isinstance(v, str) and v:
                return v
    return "unknown"


def provider_name(model_dict: Any) -> str | None:
    """``openai_llm`` → ``openai``, ``MockLLM`` → ``mock``, ``Anthropic`` → ``anthropic``."""
    if not isinstance(model_dict, Mapping):
        return None
    cn = model_dict.get("class_name")
    if not isinstance(cn, str) or not cn:
        return None
    low = cn.lower()
    for suffix in ("_llm", "llm"):
        if low.endswith(suffix) and len(low) > len(suffix):
            low = low[: -len(suffix)]
            break
    low = low.strip("_")
    return canonical(low) or low or None  # ``canonical`` has no name for ``unknown``: kept as it is


def query_text(q: Any) -> Any:
    """The text of a ``str`` or ``QueryBundle``."""
    if isinstance(q, str):
        return q
    text = getattr(q, "query_str", None)
    return text if isinstance(text, str) else None


# --- LLM responses (caller's thread: attribute reads only) -----------------------------------------


def response_text(response: Any) -> str | None:
    """Text of a ``ChatResponse`` (its message content) or a ``CompletionResponse``."""
    if response is None:
        return None
    message = getattr(response, "message", None)
    if message is not None:
        try:
            content = message.content
        except Exception:
            content = None
        return content if isinstance(content, str) else None
    text = getattr(response, "text", None)
    return text if isinstance(text, str) else None


def response_tool_calls(response: Any) -> list[dict[str, Any]]:
    """Tool calls of a ``ChatResponse``: ``ToolCallBlock``s, else ``additional_kwargs["tool_calls"]``."""
    message = getattr(response, "message", None)
    if message is None:
        return []
    blocks = getattr(message, "blocks", None) or ()
    calls = [b for b in blocks if getattr(b, "block_type", None) == "tool_call"]
    if not calls:
        extra = getattr(message, "additional_kwargs", None)
        if isinstance(extra, Mapping):
            calls = extra.get("tool_calls") or []
    if not calls:
        return []
    return normalize_tool_calls(calls)


def _raw_get(raw: Any, name: str) -> Any:
    if isinstance(raw, Mapping):
        return raw.get(name)
    return getattr(raw, name, None)


def usage_object(response: Any) -> Any:
    """The provider usage object carried by one response or stream chunk, if any."""
    if response is None:
        return None
    raw = getattr(response, "raw", None)
    if raw is not None:
        for name in ("usage", "usage_metadata"):
            u = _raw_get(raw, name)
            if u is not None:
                return u
        message = _raw_get(raw, "message")  # Anthropic stream start events carry message.usage
        if message is not None and not isinstance(message, str):
            u = _raw_get(message, "usage")
            if u is not None:
                return u
    extra = getattr(response, "additional_kwargs", None)
    if isinstance(extra, Mapping) and any(k in extra for k in _USAGE_KEYS):
        return extra
    return None


def merge_usage(objects: Sequence[Any]) -> dict[str, int | None]:
    """Token counts from the usage objects seen in a call (later non-empty values win)."""
    out = normalize_usage(None)  # every count None
    for u in objects:
        try:
            n = normalize_usage(u)
        except Exception:
            continue
        for k, v in n.items():
            if v is not None and (k != "total" or v):
                out[k] = v
    p, c = out["prompt"], out["completion"]
    if p is not None or c is not None:
        out["total"] = max(out["total"] or 0, (p or 0) + (c or 0))
    return out


def finish_reason(*responses: Any) -> str | None:
    """``choices[0].finish_reason`` (OpenAI) or ``stop_reason`` (Anthropic) of the latest response having one."""
    for response in responses:
        raw = getattr(response, "raw", None) if response is not None else None
        if raw is None:
            continue
        choices = _raw_get(raw, "choices")
        if choices:
            try:
                fr = _raw_get(choices[0], "finish_reason")
            except Exception:
                fr = None
            if isinstance(fr, str) and fr:
                return fr
        for key in ("stop_reason", "finish_reason"):
            fr = _raw_get(raw, key)
            if isinstance(fr, str) and fr:
                return fr
    return None


def response_model(*responses: Any) -> str | None:
    for response in responses:
        raw = getattr(response, "raw", None) if response is not None else None
        if raw is None:
            continue
        m = _raw_get(raw, "model")
        if isinstance(m, str) and m:
            return m
    return None


# --- worker-side conversions (wrapped in Lazy) -----------------------------------------------------


def messages_json(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """``ChatMessage``s → ``[{"role", "content", "tool_calls"?, "tool_call_id"?}]``."""
    out = []
    for m in messages:
        role = getattr(m, "role", None)
        role = getattr(role, "value", role)
        try:
            content = m.content
        except Exception:
            content = None
        d: dict[str, Any] = {"role": role, "content": content}
        calls = response_tool_calls(_AsResponse(m))
        if calls:
            d["tool_calls"] = calls
        extra = getattr(m, "additional_kwargs", None)
        if isinstance(extra, Mapping):
            call_id = extra.get("tool_call_id")
            if call_id is not None:
                d["tool_call_id"] = call_id
            name = extra.get("name")
            if isinstance(name, str):
                d["name"] = name
        out.append(d)
    return out


class _AsResponse:
    __slots__ = ("message",)

    def __init__(self, message: Any) -> None:
        self.message = message


def prompt_json(prompt: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": prompt}]


_NOT_PARAMS = frozenset(("formatted",))


def has_params(kwargs: Mapping[str, Any] | None) -> bool:
    return bool(kwargs) and any(k not in _NOT_PARAMS for k in kwargs)  # type: ignore[union-attr]


def params_json(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Call keyword arguments, with tool schemas reduced to their names."""
    out: dict[str, Any] = {}
    for k, v in kwargs.items():
        if k == "tools" and isinstance(v, (list, tuple)):
            out["tools"] = [_tool_spec_name(t) for t in v]
        elif k not in _NOT_PARAMS:
            out[k] = v
    return out


def _tool_spec_name(spec: Any) -> Any:
    if isinstance(spec, Mapping):
        fn = spec.get("function")
        if isinstance(fn, Mapping) and fn.get("name"):
            return fn.get("name")
        if spec.get("name"):
            return spec.get("name")
    meta = getattr(spec, "metadata", None)
    name = getattr(meta, "name", None)
    if isinstance(name, str):
        return name
    return spec


def tool_output_json(output: Any) -> Any:
    """A ``ToolOutput`` → the tool function's raw return value (else its text content)."""
    raw = getattr(output, "raw_output", None)
    if raw is not None:
        return raw
    content = getattr(output, "content", None)
    if content is not None:
        return content
    return output


def nodes_json(nodes: Sequence[Any]) -> list[dict[str, Any]]:
    """Retrieved ``NodeWithScore``s → ``[{"id", "score"}]`` (attribute reads: cheap on the caller's thread)."""
    out = []
    for n in nodes:
        node = getattr(n, "node", None)
        out.append({"id": getattr(node, "node_id", None), "score": getattr(n, "score", None)})
    return out


def run_output_json(result: Any, streamed: list[str] | None) -> Any:
    """What a run returned: a response text, an agent's answer, a workflow result."""
    if streamed is not None:
        return "".join(streamed)
    if result is None:
        return None
    if isinstance(result, (str, int, float, bool)):
        return result
    text = getattr(result, "response_txt", _MISSING)  # a streaming response that was not wrapped
    if text is not _MISSING:
        return text
    inner = getattr(result, "result", _MISSING)  # a workflow StopEvent
    if inner is not _MISSING:
        result = inner
        if result is None or isinstance(result, (str, int, float, bool)):
            return result
    response = getattr(result, "response", _MISSING)  # Response, AgentChatResponse, AgentOutput
    if response is not _MISSING:
        if isinstance(response, str) or response is None:
            return response
        content = getattr(response, "content", None)  # AgentOutput.response is a ChatMessage
        if isinstance(content, str):
            return content
        return str(response)
    return result


_MISSING: Any = object()


def tool_input(bound_args: Any, skip: str | None) -> dict[str, Any]:
    """The call arguments of a tool span: keyword arguments flattened, positional ones under ``args``."""
    out: dict[str, Any] = {}
    try:
        params = bound_args.signature.parameters
        for name, value in bound_args.arguments.items():
            if name == skip:
                continue
            p = params.get(name)
            kind = p.kind if p is not None else None
            if kind is not None and kind == p.VAR_KEYWORD and isinstance(value, Mapping):
                for k, v in value.items():
                    if k != skip:
                        out[k] = v
            elif kind is not None and kind == p.VAR_POSITIONAL:
                if value:
                    out["args"] = list(value)
            else:
                out[name] = value
    except Exception:
        pass
    return out
