"""``auto_instrument()``: every supported framework of the process at once; ``uninstrument_all()``.

* LangChain / LangGraph: the configure hook of :mod:`sentrial_integrations.langchain` with
  ``SENTRIAL_TRACING=true`` set for the process, so every run gets a Sentrial handler (unless it
  already has one).
* OpenAI: :func:`sentrial_integrations.openai.instrument_openai` (the SDK's resource classes), so every
  ``OpenAI`` / ``AsyncOpenAI`` / Azure client, including those made inside LangChain and LlamaIndex,
  is recorded.
* LlamaIndex: :func:`sentrial_integrations.llamaindex.instrument` (root dispatcher handlers).

Nothing is imported here: a framework already imported is instrumented at once, one that is installed
but not imported yet is instrumented right after its first import (a one-shot import hook), so a
program pays nothing for the frameworks it does not use. All integrations record into the default
client (:func:`sentrial_integrations.get_client`; choose it with ``configure(...)``).

When LangChain or LlamaIndex drives an OpenAI client, both layers see the call; it is recorded once,
by the OpenAI layer, under the framework's span (the :class:`~sentrial_integrations.core.context.LLMClaim`
protocol: the innermost layer with the exact request and usage wins).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["FRAMEWORKS", "auto_instrument", "instrumented", "uninstrument_all"]

_logger = logging.getLogger("sentrial_integrations")

#: framework name -> the module whose import triggers it
FRAMEWORKS = {"langchain": "langchain_core", "openai": "openai", "llamaindex": "llama_index.core"}

_TRACING_VAR = "SENTRIAL_TRACING"
_lock = threading.RLock()
_active: dict[str, str] = {}  # framework -> "instrumented" | "on import"
_saved_tracing: list[str | None] = []  # SENTRIAL_TRACING before we set it (one entry while active)


# --- post-import hooks ------------------------------------------------------------------------------


class _Loader(importlib.abc.Loader):
    """Runs the real loader, then the callback (the module sees its real loader)."""

    def __init__(self, inner: Any, callback: Callable[[ModuleType], None]) -> None:
        self._inner = inner
        self._callback = callback

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        result: ModuleType | None = self._inner.create_module(spec)
        return result

    def exec_module(self, module: ModuleType) -> None:
        spec = getattr(module, "__spec__", None)
        if spec is not None:
            spec.loader = self._inner
        try:
            module.__loader__ = self._inner
        except Exception:
            pass
        self._inner.exec_module(module)
        try:
            self._callback(module)
        except Exception as exc:  # never break the user's import
            _logger.warning("Sentrial: could not instrument %s: %r", module.__name__, exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Waits for the first import of each watched module, wraps its loader, then forgets it."""

    def __init__(self) -> None:
        self.pending: dict[str, Callable[[ModuleType], None]] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.pending:
            return None
        with _lock:
            callback = self.pending.pop(fullname, None)
        if callback is None:
            return None
        try:
            spec = importlib.util.find_spec(fullname)  # the other finders (we no longer watch it)
        except Exception:
            spec = None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, callback)
        return spec


_finder = _Finder()


def _when_imported(module_name: str, callback: Callable[[ModuleType], None]) -> bool:
    """Run ``callback`` now if the module is imported, else right after its first import.
    Returns True if it ran now."""
    module = sys.modules.get(module_name)
    if module is not None:
        callback(module)
        return True
    with _lock:
        _finder.pending[module_name] = callback
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)
    return False


def _installed(module_name: str) -> bool:
    if module_name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module_name) is not None
    except Exception:  # a parent package that fails to import, an odd finder...
        return False


# --- one framework each -----------------------------------------------------------------------------


def _langchain_on(_module: ModuleType | None = None) -> None:
    from .langchain import hook

    hook.register()


def _openai_on(_module: ModuleType) -> None:
    from .openai import instrument_openai

    instrument_openai()


def _llamaindex_on(_module: ModuleType) -> None:
    from .llamaindex import instrument

    instrument()


_ON: dict[str, Callable[[ModuleType], None]] = {
    "langchain": _langchain_on,
    "openai": _openai_on,
    "llamaindex": _llamaindex_on,
}


def _guarded(name: str) -> Callable[[ModuleType], None]:
    def run(module: ModuleType) -> None:
        with _lock:
            if name not in _active:  # uninstrumented before the import happened
                return
            _active[name] = "instrumented"
        _ON[name](module)

    return run


def auto_instrument(
    *, langchain: bool = True, openai: bool = True, llamaindex: bool = True
) -> dict[str, str]:
    """Record every supported framework of the process: LangChain/LangGraph runs, OpenAI clients,
    LlamaIndex runs. Idempotent. Never imports a framework: one imported later is instrumented on
    its first import.

    Returns ``{framework: "instrumented" | "on import"}`` for the frameworks that are installed.
    """
    wanted = {"langchain": langchain, "openai": openai, "llamaindex": llamaindex}
    with _lock:
        for name, on in wanted.items():
            if not on or name in _active:
                continue
            module_name = FRAMEWORKS[name]
            if not _installed(module_name):
                continue
            try:
                if name == "langchain":
                    if not _saved_tracing:
                        _saved_tracing.append(os.environ.get(_TRACING_VAR))
                    os.environ[_TRACING_VAR] = "true"
                _active[name] = "on import"
                _when_imported(module_name, _guarded(name))
            except Exception as exc:
                _active.pop(name, None)
                _logger.warning("Sentrial: could not instrument %s: %r", name, exc)
        return dict(_active)


def instrumented() -> dict[str, str]:
    """What :func:`auto_instrument` has done so far: ``{framework: "instrumented" | "on import"}``."""
    with _lock:
        return dict(_active)


def uninstrument_all() -> None:
    """Undo :func:`auto_instrument` (and ``instrument_openai()`` / LlamaIndex ``instrument()`` made
    directly): restore the OpenAI classes, remove the LlamaIndex handlers, stop the LangChain hook
    from adding handlers, and forget frameworks still waiting for their import."""
    with _lock:
        for name in list(_active):
            _finder.pending.pop(FRAMEWORKS[name], None)
        _active.clear()
        if not _finder.pending and _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
        if _saved_tracing:
            previous = _saved_tracing.pop()
            if previous is None:
                os.environ.pop(_TRACING_VAR, None)
            else:
                os.environ[_TRACING_VAR] = previous
    if "openai" in sys.modules:
        try:
            from .openai import uninstrument_openai

            uninstrument_openai()
        except Exception as exc:
            _logger.warning("Sentrial: could not uninstrument openai: %r", exc)
    if "llama_index.core" in sys.modules:
        try:
            from .llamaindex import uninstrument

            uninstrument()
        except Exception as exc:
            _logger.warning("Sentrial: could not uninstrument llamaindex: %r", exc)
