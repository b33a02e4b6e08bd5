"""Pure translation helpers: LangChain objects (messages, LLM results, tool outputs, run metadata) → the
plain values the core records. No LangChain import: everything is read by attribute or key, so this
module works across langchain-core versions and costs nothing to import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..core.record.llm import normalize_tool_calls, normalize_usage
from ..core.record.serialize import Owned

_ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "function",
    "developer": "developer",
}

# Invocation parameters that say nothing about the request (or are recorded elsewhere).
_PARAMS_SKIPPED = frozenset(
    {
        "_type",
        "model",
        "model_name",
        "model_id",
        "api_key",
        "openai_api_key",
        "base_url",
        "openai_api_base",
        "openai_organization",
        "default_headers",
        "default_query",
        "http_client",
        "http_async_client",
    }
)

# Run metadata LangChain and LangGraph add on their own; they do not describe the user's session.
_INTERNAL_PREFIXES = ("ls_", "lc_", "langgraph_", "__")
_INTERNAL_KEYS = frozenset({"checkpoint_ns", "checkpoint_id", "thread_ts"})


class LazyMessages:
    """The input messages of a model call, converted to ``[{"role", "content", ...}]`` later.

    The pipeline worker converts any object with a ``model_dump`` method by calling it (the same
    protocol it uses for pydantic models), so the per-message work happens off the caller's thread.
    Only the list is copied on the caller's thread; message objects are immutable in practice.
    """

    __slots__ = ("messages",)

    def __init__(self, messages: Sequence[Any]) -> None:
        self.messages = list(messages)

    def model_dump(self, **_: Any) -> list[Any]:
        return [message_dict(m) for m in self.messages]

    def __repr__(self) -> str:
        return f"LazyMessages({len(self.messages)} messages)"


def message_dict(message: Any) -> Any:
    """A LangChain message as an OpenAI-style dict (role, content, tool_calls, tool_call_id, name)."""
    mtype = getattr(message, "type", None)
    if not isinstance(mtype, str) or not hasattr(message, "content"):
        return message  # a dict or a string already; the worker converts whatever it is
    role = _ROLES.get(mtype) or getattr(message, "role", None) or mtype
    out: dict[str, Any] = {"role": role, "content": message.content}
    calls = getattr(message, "tool_calls", None)
    if calls:
        out["tool_calls"] = normalize_tool_calls(calls)
    call_id = getattr(message, "tool_call_id", None)
    if call_id:
        out["tool_call_id"] = call_id
    name = getattr(message, "name", None)
    if name:
        out["name"] = name
    if mtype == "tool" and getattr(message, "status", None) == "error":
        out["status"] = "error"
    return out


def llm_params(invocation_params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The request parameters worth keeping (temperature, max_tokens, tools, ...)."""
    if not invocation_params:
        return None
    kept = {k: v for k, v in invocation_params.items() if k not in _PARAMS_SKIPPED and v is not None}
    return kept or None


def request_model(metadata: Mapping[str, Any] | None, invocation_params: Mapping[str, Any] | None) -> Any:
    if metadata:
        name = metadata.get("ls_model_name")
        if name:
            return name
    if invocation_params:
        return (
            invocation_params.get("model")
            or invocation_params.get("model_name")
            or invocation_params.get("model_id")
            or invocation_params.get("deployment_name")
        )
    return None


class LLMOutput:
    """What one model response says: text, tool calls, usage, model, finish reason."""

    __slots__ = ("content", "finish_reason", "provider", "response_model", "tool_calls", "usage")

    def __init__(self) -> None:
        self.content: Any = None
        self.tool_calls: list[dict[str, Any]] = []
        self.usage: dict[str, int | None] | None = None
        self.response_model: Any = None
        self.provider: Any = None
        self.finish_reason: Any = None


def llm_output(response: Any) -> LLMOutput:
    """Read an ``LLMResult`` (chat or text model, streamed or not)."""
    out = LLMOutput()
    generations = getattr(response, "generations", None)
    gen = generations[0][0] if generations and generations[0] else None
    llm_out = getattr(response, "llm_output", None) or {}
    usage_src: Any = None
    if gen is not None:
        message = getattr(gen, "message", None)
        if message is not None:
            content = message.content
            out.content = content if type(content) is str else (gen.text or content)
            calls = getattr(message, "tool_calls", None)
            if calls:
                out.tool_calls = normalize_tool_calls(calls)
            usage_src = getattr(message, "usage_metadata", None)
            meta = getattr(message, "response_metadata", None) or {}
            out.response_model = meta.get("model_name") or meta.get("model")
            out.provider = meta.get("model_provider")
            out.finish_reason = meta.get("finish_reason") or meta.get("stop_reason")
        else:
            out.content = gen.text
        if out.finish_reason is None:
            info = getattr(gen, "generation_info", None)
            if info:
                out.finish_reason = info.get("finish_reason")
    if usage_src is None and isinstance(llm_out, dict):
        usage_src = llm_out.get("token_usage") or llm_out.get("usage")
    if usage_src:
        out.usage = usage_metadata(usage_src) if type(usage_src) is dict else None
        if out.usage is None:
            out.usage = normalize_usage(usage_src)
    if out.response_model is None and isinstance(llm_out, dict):
        out.response_model = llm_out.get("model_name") or llm_out.get("model")
    return out


def usage_metadata(usage: dict[str, Any]) -> dict[str, int | None] | None:
    """Fast path for LangChain's ``UsageMetadata`` (input/output/total tokens, cache and reasoning
    details); None for any other shape (then :func:`normalize_usage` reads it)."""
    prompt = usage.get("input_tokens")
    if type(prompt) is not int:
        return None
    completion = usage.get("output_tokens")
    total = usage.get("total_tokens")
    details_in = usage.get("input_token_details")
    details_out = usage.get("output_token_details")
    return {
        "prompt": prompt,
        "completion": completion,
        "total": total if total is not None else prompt + (completion or 0),
        "cached": details_in.get("cache_read") if type(details_in) is dict else None,
        "reasoning": details_out.get("reasoning") if type(details_out) is dict else None,
    }


def partial_text(response: Any) -> Any:
    """The text a failed (streamed) model call produced before it failed, if any."""
    generations = getattr(response, "generations", None)
    if not generations or not generations[0]:
        return None
    text = getattr(generations[0][0], "text", None)
    return text or None


def tool_output(output: Any) -> tuple[Any, dict[str, Any] | None]:
    """A tool's result as (recorded output, error) — a ``ToolMessage`` gives its content (and artifact);
    ``status="error"`` makes it an error."""
    if getattr(output, "type", None) == "tool" and hasattr(output, "tool_call_id"):
        content = output.content
        artifact = getattr(output, "artifact", None)
        recorded: Any = content if artifact is None else {"content": content, "artifact": artifact}
        if getattr(output, "status", None) == "error":
            message = content if isinstance(content, str) else str(content)
            return recorded, {"message": message, "type": "ToolError"}
        return recorded, None
    return output, None


def documents_output(documents: Sequence[Any]) -> dict[str, Any]:
    ids = []
    for doc in documents:
        doc_id = getattr(doc, "id", None)
        if doc_id is None:
            meta = getattr(doc, "metadata", None) or {}
            doc_id = meta.get("id") or meta.get("source")
        ids.append(doc_id)
    return {"count": len(documents), "ids": ids}


def session_metadata(
    handler_metadata: Mapping[str, Any] | None,
    run_metadata: Mapping[str, Any] | None,
    tags: Sequence[str] | None,
) -> dict[str, Any]:
    """The session's metadata: the handler's, then the run's own keys (LangChain internals dropped), tags."""
    out: dict[str, Any] = {}
    if run_metadata:
        for k, v in run_metadata.items():
            if type(k) is str and (k.startswith(_INTERNAL_PREFIXES) or k in _INTERNAL_KEYS):
                continue
            out[k] = v
    if handler_metadata:
        for k, v in handler_metadata.items():
            out.setdefault(k, v)
    if tags:
        out["tags"] = list(tags)
    return out


def event_metadata(metadata: Mapping[str, Any] | None, extra: dict[str, Any] | None = None) -> Any:
    """Per-event metadata: where in a LangGraph graph the event happened (and ``extra``)."""
    out = extra
    if metadata:
        node = metadata.get("langgraph_node")
        if node is not None:
            out = dict(out) if out else {}
            out["langgraph_node"] = node
            step = metadata.get("langgraph_step")
            if step is not None:
                out["langgraph_step"] = step
    return Owned(out) if out else None


def final_output(outputs: Any) -> str | None:
    """The answer of a finished run as text, when there is an obvious one."""
    if isinstance(outputs, str):
        return outputs
    if isinstance(outputs, Mapping):
        messages = outputs.get("messages")
        if isinstance(messages, list) and messages:
            content = getattr(messages[-1], "content", None)
            if isinstance(content, str):
                return content
            return None
        for key in ("output", "answer", "result"):
            value = outputs.get(key)
            if isinstance(value, str):
                return value
        return None
    content = getattr(outputs, "content", None)
    return content if isinstance(content, str) else None


_control_flow: dict[type, int] = {}
NOT_CONTROL, BUBBLE_UP, INTERRUPT = 0, 1, 2


def control_flow(error: BaseException) -> int:
    """LangGraph's control-flow exceptions are not failures: ``GraphInterrupt`` (a human-in-the-loop
    pause) → INTERRUPT, other ``GraphBubbleUp`` (e.g. ``ParentCommand``) → BUBBLE_UP."""
    t = type(error)
    kind = _control_flow.get(t)
    if kind is None:
        names = {c.__name__ for c in t.__mro__}
        kind = (
            INTERRUPT if "GraphInterrupt" in names else BUBBLE_UP if "GraphBubbleUp" in names else NOT_CONTROL
        )
        if len(_control_flow) < 1_000:
            _control_flow[t] = kind
    return kind


def interrupts(error: BaseException) -> list[dict[str, Any]]:
    """The ``Interrupt`` values a ``GraphInterrupt`` carries."""
    items = error.args[0] if error.args else None
    out = []
    if isinstance(items, (list, tuple)):
        for item in items:
            out.append({"value": getattr(item, "value", item), "id": getattr(item, "id", None)})
    return out


def run_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if serialized:
        name = serialized.get("name")
        if isinstance(name, str) and name:
            return name
        ident = serialized.get("id")
        if isinstance(ident, list) and ident and isinstance(ident[-1], str):
            return ident[-1]
    return default


def error_text(error: BaseException) -> str:
    try:
        message = str(error)
    except Exception:
        message = ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
