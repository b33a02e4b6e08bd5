"""Zero-code LangChain tracing: with ``SENTRIAL_TRACING=true``, every LangChain run of the process is
recorded, without any import of ``sentrial_integrations`` in the user's code.

The package ships a ``.pth`` file whose single line is :data:`PTH_LINE`. Python runs it at start-up;
it does nothing unless ``SENTRIAL_TRACING`` is set, and then only calls :func:`install`, which waits
for ``langchain_core`` to be imported (a one-shot import hook, so processes that never use LangChain
pay nothing) and then registers the handler with langchain-core's configure hooks.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

__all__ = ["PTH_LINE", "enabled", "install"]

# The same test langchain-core applies to the variable (``env_var_is_set``): any value but these.
_OFF = ("", "0", "false", "False")

#: The line of the ``.pth`` file (``sentrial_integrations.pth`` in site-packages).
PTH_LINE = (
    "import os; os.environ.get('SENTRIAL_TRACING', '') not in ('', '0', 'false', 'False') "
    "and __import__('sentrial_integrations.langchain.autoload', fromlist=['install']).install()"
)

_logger = logging.getLogger("sentrial_integrations")
_TARGET = "langchain_core"


def enabled() -> bool:
    return os.environ.get("SENTRIAL_TRACING", "") not in _OFF


def _activate() -> None:
    try:
        from . import hook

        hook.register()
    except Exception as exc:  # never break the user's import of LangChain
        _logger.warning("Sentrial: could not enable LangChain tracing: %r", exc)


class _Loader(importlib.abc.Loader):
    """Runs the real loader, then registers the handler."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        result: ModuleType | None = self._inner.create_module(spec)
        return result

    def exec_module(self, module: ModuleType) -> None:
        # The module must see its real loader (importlib.resources and friends look at it).
        spec = getattr(module, "__spec__", None)
        if spec is not None:
            spec.loader = self._inner
        module.__loader__ = self._inner
        self._inner.exec_module(module)
        _activate()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Waits for the first import of ``langchain_core``, then removes itself."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _TARGET:
            return None
        _uninstall_finder()
        try:
            spec = importlib.util.find_spec(fullname)
        except Exception:
            return None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


def _uninstall_finder() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]


def install() -> None:
    """Record every LangChain run of this process (idempotent; cheap until LangChain is imported)."""
    try:
        if _TARGET in sys.modules:
            _activate()
        elif not any(isinstance(f, _Finder) for f in sys.meta_path):
            sys.meta_path.insert(0, _Finder())
    except Exception as exc:
        _logger.warning("Sentrial: could not enable LangChain tracing: %r", exc)
