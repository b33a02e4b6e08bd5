"""The one protocol every framework translator follows (modelled on sentry-python's ``Integration`` with
``DidNotEnable`` and OpenInference's idempotent ``instrument()`` / ``uninstrument()``).

A translator subclasses :class:`Integration`, names the distribution it instruments and the versions it
supports, and implements ``_instrument`` / ``_uninstrument``. Callers (the framework's public
``instrument()`` function, :func:`sentrial_integrations.auto_instrument`) use :meth:`Integration.instrument`:

* idempotent: a second call changes nothing and returns ``True``;
* version-gated: a framework outside ``supported`` is left alone, with one clear
  :class:`~sentrial_integrations.core.config.SentrialConfigWarning` saying which version was found and
  which are supported, instead of an ``ImportError`` from the framework's internals;
* never raises into the caller: a failure while patching is reported once and leaves the framework as
  it was; ``_instrument`` may raise :class:`DidNotEnable` with a reason to refuse cleanly.

:meth:`Integration.uninstrument` restores exactly what ``_instrument`` replaced and is idempotent too.
"""

from __future__ import annotations

import re
import threading
import warnings
from importlib import metadata
from typing import Any

from .log import logger, report_internal


class DidNotEnable(Exception):
    """Raised by ``_instrument`` when the framework cannot be instrumented here; the reason is the message."""


def release(version: str) -> tuple[int, ...]:
    """``"0.14.25rc1"`` → ``(0, 14, 25)``: the numeric release segment, enough to compare against the
    bounds in ``pyproject.toml`` (a dependency on ``packaging`` for this would be the only one)."""
    parts: list[int] = []
    for piece in version.split("."):
        m = re.match(r"\d+", piece)
        if m is None:
            break
        parts.append(int(m.group()))
        if m.end() != len(piece):
            break
    return tuple(parts)


class Integration:
    """Base class of a framework translator: ``name``, the distribution and versions it supports."""

    #: short name (``langchain``, ``openai``, ``llamaindex``), used in messages and by ``auto_instrument``
    name: str = ""
    #: the distribution whose installed version is checked (``langchain-core``)
    distribution: str = ""
    #: supported versions: ``(lowest, below)``; ``below`` excluded, ``None`` for no upper bound
    supported: tuple[str, str | None] = ("0", None)

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._on = False

    @property
    def instrumented(self) -> bool:
        return self._on

    def installed_version(self) -> str | None:
        try:
            return metadata.version(self.distribution)
        except Exception:  # not installed, or metadata unreadable
            return None

    def unsupported(self) -> str | None:
        """Why this process's framework version is not supported, else ``None`` (also when unknown)."""
        found = self.installed_version()
        if found is None:
            return None
        low, below = self.supported
        rel = release(found)
        if rel < release(low) or (below is not None and rel >= release(below)):
            span = f">={low}" + (f",<{below}" if below else "")
            return (
                f"Sentrial: {self.distribution} {found} is not supported by the {self.name} integration "
                f"(supported: {span}); it was not instrumented and nothing of it will be recorded"
            )
        return None

    def instrument(self, **options: Any) -> bool:
        """Instrument once; ``True`` if the framework is (now or already) instrumented."""
        from .config import SentrialConfigWarning

        with self._lock:
            if self._on:
                return True
            reason = self.unsupported()
            if reason is not None:
                warnings.warn(reason, SentrialConfigWarning, stacklevel=3)
                return False
            try:
                self._instrument(**options)
            except DidNotEnable as exc:
                warnings.warn(
                    f"Sentrial: the {self.name} integration was not enabled: {exc}",
                    SentrialConfigWarning,
                    stacklevel=3,
                )
                return False
            except Exception as exc:
                report_internal(f"the {self.name} integration's instrument()", exc)
                try:
                    self._uninstrument()
                except Exception:
                    pass
                return False
            self._on = True
            logger.debug("%s instrumented", self.name)
            return True

    def uninstrument(self) -> None:
        """Undo :meth:`instrument` exactly; nothing happens if it is not instrumented."""
        with self._lock:
            if not self._on:
                return
            self._on = False
            try:
                self._uninstrument()
            except Exception as exc:
                report_internal(f"the {self.name} integration's uninstrument()", exc)

    def _instrument(self, **options: Any) -> None:
        raise NotImplementedError

    def _uninstrument(self) -> None:
        raise NotImplementedError
