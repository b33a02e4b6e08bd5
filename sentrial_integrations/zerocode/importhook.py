"""Run a callback right after a module's first import (a one-shot import hook), or now if imported.

Used by the zero-code paths so a process pays nothing for frameworks it never imports. The module
always sees its real loader; a failing callback never breaks the user's import.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["cancel", "when_imported"]

# Loaded at start-up by the zero-code ``.pth`` line: stdlib modules that Python has loaded already
# only (no ``logging``, no ``importlib.abc``: the finder and loader protocols need no base class).
_lock = threading.RLock()


def _warn(message: str, *args: Any) -> None:
    import logging

    logging.getLogger("sentrial_integrations").warning(message, *args)


class _Loader:
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
            _warn("Sentrial: could not instrument %s: %r", module.__name__, exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Finder:
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
        spec.loader = _Loader(spec.loader, callback)  # type: ignore[assignment]
        return spec


_finder = _Finder()


def when_imported(module_name: str, callback: Callable[[ModuleType], None]) -> bool:
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


def cancel(module_name: str) -> None:
    """Forget a callback still waiting for ``module_name``; drop the hook when none is left."""
    with _lock:
        _finder.pending.pop(module_name, None)
        if not _finder.pending and _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
