"""``tools="recorded"`` for LlamaIndex: a ``FunctionTool`` called with the recorded input returns the
recorded result instead of running its function.

The tool's own ``call`` / ``acall`` still run (so LlamaIndex's instrumentation spans, and the tracing
built on them, fire as usual); only the function they call is answered from the recording. While a
block with ``tools="recorded"`` is active, ``FunctionTool.call`` / ``acall`` are wrapped at class level;
a tool instance served from the recording gets its function wrapped too, and every wrapped function is
put back when the last such block ends. The recorded value travels in a context variable, so
concurrent calls of one tool do not see each other's answers. LlamaIndex LLMs need nothing here:
``llama-index-llms-openai`` is answered at the OpenAI SDK layer.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.util
import threading
from typing import Any

from ._common import NOT_SERVED, recorded_tool_result
from ._patches import Counted, wrapping

_lock = threading.Lock()  # guards _hooked (and the install count)
_hooked: list[tuple[Any, str, Any]] = []  # (tool instance, attribute, original function)
_serving: contextvars.ContextVar[tuple[bool, Any]] = contextvars.ContextVar(
    "sentrial_replay_tool_value", default=NOT_SERVED
)


def available() -> bool:
    try:
        return importlib.util.find_spec("llama_index.core") is not None
    except (ImportError, ValueError):
        return False


def _answer(tool: Any, kwargs: dict[str, Any]) -> tuple[bool, Any]:
    def describe() -> tuple[str, Any]:
        meta = getattr(tool, "metadata", None)
        return str(meta.get_name() if meta is not None else ""), dict(kwargs)

    return recorded_tool_result(describe)


def _hook(tool: Any) -> None:
    """Wrap this tool's functions so that a value set in ``_serving`` is returned instead of running."""
    with _lock:
        if any(t is tool for t, _, _ in _hooked):
            return
        for attr in ("_fn", "_async_fn"):
            fn = getattr(tool, attr, None)
            if fn is None:
                continue
            if attr == "_async_fn":

                async def served_async(*a: Any, __fn: Any = fn, **k: Any) -> Any:
                    value = _serving.get()
                    if value[0]:
                        _serving.set(NOT_SERVED)
                        return value[1]
                    return await __fn(*a, **k)

                setattr(tool, attr, functools.wraps(fn)(served_async))
            else:

                def served_sync(*a: Any, __fn: Any = fn, **k: Any) -> Any:
                    value = _serving.get()
                    if value[0]:
                        _serving.set(NOT_SERVED)
                        return value[1]
                    return __fn(*a, **k)

                setattr(tool, attr, functools.wraps(fn)(served_sync))
            _hooked.append((tool, attr, fn))


def _wrap_call(orig: Any) -> Any:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = orig.__get__(self, type(self))
        served = _answer(self, kwargs)
        if not served[0]:
            return bound(*args, **kwargs)
        _hook(self)
        token = _serving.set(served)
        try:
            return bound(*args, **kwargs)
        finally:
            _serving.reset(token)

    return call


def _wrap_acall(orig: Any) -> Any:
    async def acall(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = orig.__get__(self, type(self))
        served = _answer(self, kwargs)
        if not served[0]:
            return await bound(*args, **kwargs)
        _hook(self)
        token = _serving.set(served)
        try:
            return await bound(*args, **kwargs)
        finally:
            try:
                _serving.reset(token)
            except ValueError:
                _serving.set(NOT_SERVED)

    return acall


def _unhook() -> None:
    """Put back every tool function :func:`_hook` wrapped (``_lock`` held)."""
    for tool, attr, fn in _hooked:
        try:
            setattr(tool, attr, fn)
        except Exception:
            pass
    _hooked.clear()


_tools = Counted.patching(
    lambda: wrapping("llama_index.core.tools", ("FunctionTool",), {"call": _wrap_call, "acall": _wrap_acall}),
    after_restore=_unhook,
    lock=_lock,
)
install_tools = _tools.install
uninstall_tools = _tools.uninstall
