"""``auto_instrument()``: every supported framework of the process at once; ``uninstrument_all()``.

Each framework is switched on and off through its ``Integration`` object (:data:`INTEGRATIONS`), the
same object its own ``instrument()`` function uses, so both ways share one state and one version gate.

* LangChain / LangGraph: the configure hook of :mod:`sentrial_integrations.langchain`, switched on
  for the whole process (as ``SENTRIAL_TRACING=true`` would, without writing to ``os.environ``: a
  subprocess inherits nothing), so every run gets a Sentrial handler (unless it already has one).
  The hook is registered when LangChain imports its configure-hook module itself.
* OpenAI: :func:`sentrial_integrations.openai.instrument_openai` (the SDK's resource classes), so every
  ``OpenAI`` / ``AsyncOpenAI`` / Azure client, including those made inside LangChain and LlamaIndex,
  is recorded.
* LlamaIndex: :func:`sentrial_integrations.llamaindex.instrument` (root dispatcher handlers), on the
  first import of ``llama_index.core`` or of ``workflows`` (llama-index-workflows used on its own;
  the handlers then import ``llama_index.core``, which must be installed).

Nothing is imported here: a framework already imported is instrumented at once, one that is installed
but not imported yet is instrumented right after its first import (a one-shot import hook), so a
program pays nothing for the frameworks it does not use. All integrations record into the default
client (:func:`sentrial_integrations.get_client`; choose it with ``configure(...)``).

When LangChain or LlamaIndex drives an OpenAI client, both layers see the call; it is recorded once,
by the OpenAI layer, under the framework's span (the :class:`~sentrial_integrations.core.context.LLMClaim`
protocol: the innermost layer with the exact request and usage wins).
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

from .importhook import cancel, when_imported

if TYPE_CHECKING:
    from ..core.integration import Integration

__all__ = ["FRAMEWORKS", "INTEGRATIONS", "auto_instrument", "instrumented", "integration", "uninstrument_all"]

_logger = logging.getLogger("sentrial_integrations")

#: framework name -> the module whose import triggers it
FRAMEWORKS = {"langchain": "langchain_core", "openai": "openai", "llamaindex": "llama_index.core"}

#: framework name -> further modules whose first import also triggers it
_ALSO = {"llamaindex": ("workflows",)}  # llama-index-workflows without llama_index.core

_lock = threading.RLock()
_active: dict[str, str] = {}  # framework -> "instrumented" | "on import"


def _installed(module_name: str) -> bool:
    if module_name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module_name) is not None
    except Exception:  # a parent package that fails to import, an odd finder...
        return False


# --- one framework each -----------------------------------------------------------------------------


#: framework name -> the module of its :class:`~sentrial_integrations.core.integration.Integration`
#: (``INTEGRATION``); importing it imports nothing of the framework
INTEGRATIONS = {
    "langchain": "sentrial_integrations.langchain.integration",
    "openai": "sentrial_integrations.openai.integration",
    "llamaindex": "sentrial_integrations.llamaindex.integration",
}


def integration(name: str) -> Integration:
    """The integration object of ``name`` (``langchain``, ``openai``, ``llamaindex``)."""
    return importlib.import_module(INTEGRATIONS[name]).INTEGRATION  # type: ignore[no-any-return]


def _guarded(name: str) -> Callable[[ModuleType], None]:
    def run(module: ModuleType) -> None:
        with _lock:
            if _active.get(name) != "on import":  # uninstrumented meanwhile, or done by another trigger
                return
            if module.__name__ != FRAMEWORKS[name] and FRAMEWORKS[name] in sys.modules:
                return  # imported while the main module imports: its own trigger follows
            _active[name] = "instrumented"
            for other in (*_ALSO.get(name, ()), FRAMEWORKS[name]):
                if other != module.__name__:
                    cancel(other)
        if not integration(name).instrument():  # refused (an unsupported version, said in a warning)
            with _lock:
                if _active.get(name) == "instrumented":
                    del _active[name]

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
                _active[name] = "on import"
                triggers = [module_name, *(m for m in _ALSO.get(name, ()) if _installed(m))]
                for trigger in triggers:
                    if when_imported(trigger, _guarded(name)) or _active.get(name) != "on import":
                        break
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
            for module_name in (FRAMEWORKS[name], *_ALSO.get(name, ())):
                cancel(module_name)
        _active.clear()
    for name, module_name in INTEGRATIONS.items():
        if module_name in sys.modules:  # never imported: that integration was never instrumented
            integration(name).uninstrument()
