"""Replay for any LangChain chat model (or LLM) through LangChain's public cache interface.

While a replay block is active, the process-wide LLM cache (``langchain_core.globals.set_llm_cache``)
is a :class:`ReplayCache`: a lookup made in the replay's context is matched against the recorded LLM
calls (on the messages; LangChain's cache key does not carry the model name or tools in a stable form)
and answered with the recorded message — content, tool calls with their ids, usage, finish reason and
model — so a non-OpenAI model replays too, with the callbacks (and so the tracing) of a cache hit.

Models backed by the OpenAI SDK (``ChatOpenAI``, ``AzureChatOpenAI``) are left to the OpenAI adapter,
which serves them at the HTTP layer with the SDK's own types and streams. A cache the application had
set keeps working: every lookup this cache does not answer, and every update, is passed to it; lookups
outside a replay's context are only passed on. The previous cache is put back when the last block ends.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._common import current, recorded_output, recorded_tokens, recorded_tool_result, token_counts
from ._patches import Counted, wrapping

_state: dict[str, Any] = {}


def available() -> bool:
    try:
        return importlib.util.find_spec("langchain_core") is not None
    except (ImportError, ValueError):
        return False


def _openai_backed(llm_string: str) -> bool:
    """Is the model behind this cache key one of langchain-openai's (served by the OpenAI adapter)?"""
    head = llm_string.split("---", 1)[0]
    try:
        data = json.loads(head)
    except ValueError:
        data = None
    ids = data.get("id") if isinstance(data, dict) else None
    if isinstance(ids, list):
        return any("openai" in str(part).lower() for part in ids[:-1])
    return "openai-chat" in llm_string


def _usage(event: Mapping[str, Any]) -> dict[str, Any] | None:
    tokens = recorded_tokens(event)
    if tokens is None:
        return None
    prompt, completion, total = token_counts(tokens)
    usage: dict[str, Any] = {"input_tokens": prompt, "output_tokens": completion, "total_tokens": total}
    if tokens.get("cached") is not None:
        usage["input_token_details"] = {"cache_read": int(tokens["cached"])}
    if tokens.get("reasoning") is not None:
        usage["output_token_details"] = {"reasoning": int(tokens["reasoning"])}
    return usage


def generations(event: Mapping[str, Any], chat: bool) -> list[Any]:
    """The recorded answer as LangChain generations (a chat message, or text for a plain LLM)."""
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, Generation

    out = recorded_output(event)
    content = out.get("content")
    if not chat:
        return [Generation(text=content if isinstance(content, str) else str(content or ""))]
    calls = []
    for i, c in enumerate(out.get("tool_calls") or []):
        if isinstance(c, Mapping):
            args = c.get("arguments")
            calls.append(
                {
                    "name": str(c.get("name") or ""),
                    "args": args if isinstance(args, dict) else {"input": args} if args is not None else {},
                    "id": c.get("id") or f"call_replay_{i}",
                    "type": "tool_call",
                }
            )
    meta: dict[str, Any] = {}
    if out.get("finish_reason") is not None:
        meta["finish_reason"] = out["finish_reason"]
    model = out.get("response_model") or event.get("model")
    if model:
        meta["model_name"] = model
    kwargs: dict[str, Any] = {"tool_calls": calls, "response_metadata": meta}
    usage = _usage(event)
    if usage is not None:
        kwargs["usage_metadata"] = usage
    if not isinstance(content, (str, list)):
        content = "" if content is None else str(content)
    return [ChatGeneration(message=AIMessage(content=content, **kwargs))]


def _make_cache_class() -> type:
    from langchain_core.caches import BaseCache

    class ReplayCache(BaseCache):
        """Answers lookups in a replay's context from the recording; passes everything else on."""

        def __init__(self, previous: Any) -> None:
            self.previous = previous

        def _answer(self, prompt: str, llm_string: str) -> list[Any] | None:
            rp = current.get()
            if rp is None or _openai_backed(llm_string):
                return None
            step = rp.langchain_answer(prompt)  # may raise ReplayMismatch (raise mode)
            if step is None:
                return None
            try:
                return generations(step.event, chat=prompt.lstrip().startswith("[{"))
            except Exception as exc:  # our own failure: the model answers instead
                rp.serve_failed(
                    step.number, f"internal error while building the answer: {type(exc).__name__}"
                )
                return None

        def lookup(self, prompt: str, llm_string: str) -> Sequence[Any] | None:
            got = self._answer(prompt, llm_string)
            if got is not None:
                return got
            return self.previous.lookup(prompt, llm_string) if self.previous is not None else None

        async def alookup(self, prompt: str, llm_string: str) -> Sequence[Any] | None:
            got = self._answer(prompt, llm_string)
            if got is not None:
                return got
            return await self.previous.alookup(prompt, llm_string) if self.previous is not None else None

        def update(self, prompt: str, llm_string: str, return_val: Sequence[Any]) -> None:
            if self.previous is not None:
                self.previous.update(prompt, llm_string, return_val)

        async def aupdate(self, prompt: str, llm_string: str, return_val: Sequence[Any]) -> None:
            if self.previous is not None:
                await self.previous.aupdate(prompt, llm_string, return_val)

        def clear(self, **kwargs: Any) -> None:
            if self.previous is not None:
                self.previous.clear(**kwargs)

        async def aclear(self, **kwargs: Any) -> None:
            if self.previous is not None:
                await self.previous.aclear(**kwargs)

    return ReplayCache


def _set_cache() -> bool:
    """Make the replay cache the process-wide LLM cache; False when LangChain is not installed."""
    if not available():
        return False
    try:
        from langchain_core.globals import get_llm_cache, set_llm_cache

        previous = get_llm_cache()
        cache = _make_cache_class()(previous)
        set_llm_cache(cache)
    except Exception:
        return False
    _state.update(previous=previous, ours=cache)
    return True


def _unset_cache() -> None:
    """Put the application's own cache (or none) back, unless another one was set after ours."""
    try:
        from langchain_core.globals import get_llm_cache, set_llm_cache

        if get_llm_cache() is _state.get("ours"):
            set_llm_cache(_state.get("previous"))
    except Exception:
        pass
    _state.clear()


_cache = Counted(_set_cache, _unset_cache)
#: Set the replay cache (once, counted); False when LangChain is not installed.
install = _cache.install
#: Undo one :func:`install`; the last one puts the application's own cache (or none) back.
uninstall = _cache.uninstall


# --- tools="recorded": LangChain tool results from the recording --------------------------------------------

_NOT_ARGS = frozenset({"config", "run_manager", "callbacks"})


def _tool_input(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """What the tracer records as a LangChain tool's input: its arguments (or its one string input)."""
    named = {k: v for k, v in kwargs.items() if k not in _NOT_ARGS}
    if args and not named:
        return args[0] if len(args) == 1 else list(args)
    return named


def _recorded_result(tool: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[bool, Any]:
    return recorded_tool_result(lambda: (str(getattr(tool, "name", "")), _tool_input(args, kwargs)))


def _wrap_sync(orig: Any) -> Any:
    @functools.wraps(orig)
    def _run(self: Any, *args: Any, **kwargs: Any) -> Any:
        served, value = _recorded_result(self, args, kwargs)
        return value if served else orig(self, *args, **kwargs)

    return _run


def _wrap_async(orig: Any) -> Any:
    @functools.wraps(orig)
    async def _arun(self: Any, *args: Any, **kwargs: Any) -> Any:
        served, value = _recorded_result(self, args, kwargs)
        return value if served else await orig(self, *args, **kwargs)

    return _arun


_tools = Counted.patching(
    lambda: wrapping(
        "langchain_core.tools", ("StructuredTool", "Tool"), {"_run": _wrap_sync, "_arun": _wrap_async}
    )
)
#: Serve ``StructuredTool`` / ``Tool`` results (what ``@tool`` makes) from the recording (counted).
install_tools = _tools.install
uninstall_tools = _tools.uninstall
