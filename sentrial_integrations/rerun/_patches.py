"""What the replay adapters install while a replay block is active, and take back after the last one.

:class:`Counted` is the install count every adapter keeps: the first :meth:`Counted.install` sets up,
nested / concurrent blocks only count, the last :meth:`Counted.uninstall` takes down. Most set-ups are
class-attribute patches, ``(cls, name, original, ours)``: :meth:`Counted.patching` makes such a counter
from a function that returns the patches to apply (None when the framework is missing).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Patch = tuple[type, str, Any, Any]


def apply(patches: Sequence[Patch]) -> None:
    for cls, name, _orig, ours in patches:
        setattr(cls, name, ours)


def wrapping(
    module: str, classes: Sequence[str], wrappers: Mapping[str, Callable[[Any], Any]]
) -> list[Patch] | None:
    """Patches wrapping each named class's own method ``name`` in ``wrappers[name](original)`` (a method
    the class only inherits is left alone); None when ``module`` or a class cannot be imported."""
    try:
        found = [getattr(importlib.import_module(module), name) for name in classes]
    except Exception:
        return None
    patches: list[Patch] = []
    for cls in found:
        for name, wrap in wrappers.items():
            orig = cls.__dict__.get(name)
            if orig is not None:
                patches.append((cls, name, orig, wrap(orig)))
    return patches


def restore(patches: list[Patch]) -> None:
    """Put each original back, unless someone patched the attribute again after us (theirs stays)."""
    for cls, name, orig, ours in patches:
        if cls.__dict__.get(name) is ours:
            setattr(cls, name, orig)
    patches.clear()


class Counted:
    """An install count: ``setup()`` (False: nothing installed) on the first install, ``teardown()`` when
    the last one is undone. ``lock`` guards the count, and whatever the adapter shares with set-up and
    tear-down (a new lock when not given)."""

    def __init__(
        self,
        setup: Callable[[], bool],
        teardown: Callable[[], None],
        lock: threading.Lock | None = None,
    ) -> None:
        self._setup = setup
        self._teardown = teardown
        self.lock = lock if lock is not None else threading.Lock()
        self.count = 0

    @classmethod
    def patching(
        cls,
        make: Callable[[], Sequence[Patch] | None],
        after_restore: Callable[[], None] | None = None,
        lock: threading.Lock | None = None,
    ) -> Counted:
        """A count whose set-up applies the patches ``make()`` returns (None: not installed) and whose
        tear-down restores them (then calls ``after_restore``)."""
        applied: list[Patch] = []

        def setup() -> bool:
            patches = make()
            if patches is None:
                return False
            apply(patches)
            applied[:] = patches
            return True

        def teardown() -> None:
            restore(applied)
            if after_restore is not None:
                after_restore()

        return cls(setup, teardown, lock)

    def install(self) -> bool:
        """Install (once, counted); False when the set-up could not install anything."""
        with self.lock:
            if self.count:
                self.count += 1
                return True
            if not self._setup():
                return False
            self.count = 1
            return True

    def uninstall(self) -> None:
        """Undo one :meth:`install`; the last one tears down."""
        with self.lock:
            if self.count == 0:
                return
            self.count -= 1
            if self.count:
                return
            self._teardown()

    @property
    def installed(self) -> bool:
        return self.count > 0
