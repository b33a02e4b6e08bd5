"""Record values as span attribute values: JSON text, checked numbers, flattened dicts, times."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def to_json(value: Any) -> str:
    """A string as it is, anything else as compact JSON (``str()`` when it cannot be encoded)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except Exception:
        return str(value)


def num(value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (int / float) if it is a number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        return None


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def str_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def flat(attrs: dict[str, Any], prefix: str, data: Any) -> None:
    """Top-level keys of a dict as ``prefix.key`` (primitives as they are, the rest as JSON)."""
    if not isinstance(data, Mapping):
        if data is not None:
            attrs[prefix] = to_json(data)
        return
    for key, value in list(data.items())[:64]:
        name = f"{prefix}.{key}"
        if isinstance(value, (str, bool, int, float)):
            attrs[name] = value
        elif value is not None:
            attrs[name] = to_json(value)


def size(attrs: Mapping[str, Any]) -> int:
    """The approximate encoded size of a span's (or a span event's) attributes."""
    n = 200
    for key, value in attrs.items():
        n += len(key) + (len(value) if isinstance(value, str) else 16)
    return n


def ns(seconds: Any) -> int | None:
    """Epoch seconds -> nanoseconds; None for anything but a number."""
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        return int(seconds * 1e9)
    return None
