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

from . import _patches

_lock = threading.Lock()
_installed = 0
_class_patches: list[tuple[type, str, Any, Any]] = []
_hooked: list[tuple[Any, str, Any]] = []  # (tool instance, attribute, original function)
_NOTHING: tuple[bool, Any] = (False, None)
_serving: contextvars.ContextVar[tuple[bool, Any]] = contextvars.ContextVar(
    "sentrial_replay_tool_value", default=_NOTHING
)


def available() -> bool:
    try:
        return importlib.util.find_spec("llama_index.core") is not None
    except (ImportError, ValueError):
        return False


def _answer(tool: Any, kwargs: dict[str, Any]) -> tuple[bool, Any]:
    from .openai_adapter import current

    rp = current.get()
    if rp is None or getattr(rp, "tools", "live") != "recorded":
        return _NOTHING
    try:
        meta = getattr(tool, "metadata", None)
        name = meta.get_name() if meta is not None else ""
        step = rp.tool_answer(str(name), dict(kwargs))
    except Exception:
        return _NOTHING
    if step is None:
        return _NOTHING
    return True, step.event.get("output")


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
                        _serving.set(_NOTHING)
                        return value[1]
                    return await __fn(*a, **k)

                setattr(tool, attr, functools.wraps(fn)(served_async))
            else:

                def served_sync(*a: Any, __fn: Any = fn, **k: Any) -> Any:
                    value = _serving.get()
                    if value[0]:
                        _serving.set(_NOTHING)
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
                _serving.set(_NOTHING)

    return acall


def install_tools() -> bool:
    global _installed
    with _lock:
        if _installed:
            _installed += 1
            return True
        if not available():
            return False
        try:
            from llama_index.core.tools import FunctionTool
        except Exception:
            return False
        patches = []
        for name, wrap in (("call", _wrap_call), ("acall", _wrap_acall)):
            orig = FunctionTool.__dict__.get(name)
            if orig is not None:
                patches.append((FunctionTool, name, orig, wrap(orig)))
        _patches.apply(patches)
        _class_patches[:] = patches
        _installed = 1
        return True


def uninstall_tools() -> None:
    global _installed
    with _lock:
        if _installed == 0:
            return
        _installed -= 1
        if _installed:
            return
        _patches.restore(_class_patches)
        for tool, attr, fn in _hooked:
            try:
                setattr(tool, attr, fn)
            except Exception:
                pass
        _hooked.clear()
