"""Class-attribute patches the replay adapters install and take back: ``(cls, name, original, ours)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Patch = tuple[type, str, Any, Any]


def apply(patches: Sequence[Patch]) -> None:
    for cls, name, _orig, ours in patches:
        setattr(cls, name, ours)


def restore(patches: list[Patch]) -> None:
    """Put each original back, unless someone patched the attribute again after us (theirs stays)."""
    for cls, name, orig, ours in patches:
        if cls.__dict__.get(name) is ours:
            setattr(cls, name, orig)
    patches.clear()
