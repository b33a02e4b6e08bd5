"""How values go into the store's columns and come back out: JSON text, cleaned numbers and times, and
session and event rows as the readers' dicts."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..files import UnsafeFileError, ensure_private_file
from ..record.normalize import (
    MAX_COST,
    MAX_DURATION_MS,
    MAX_SAFE_INT,
    TS_MAX,
    TS_MIN,
    clean_error,
    clean_text,
    clean_value,
    text_value,
)

try:  # optional accelerator
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None  # type: ignore[assignment]

PAYLOAD_FIELDS = ("input", "output", "reasoning", "metadata", "decision", "alternatives", "confidence")
SUMMED = ("prompt_tokens", "completion_tokens", "total_tokens", "cost")


class StoreError(Exception):
    """The store is missing, unreadable or not a Sentrial store."""


def decode_text(raw: bytes) -> str:
    """The connection's text factory: text that is not UTF-8 reads as text, never an error."""
    return raw.decode("utf-8", "replace")


def create_private_file(path: str) -> None:
    """Create ``path`` (and its directory) readable by the owner only, or check the file already there.

    Raises :class:`StoreError` naming the file and the fix when it is a symlink, another user's, or
    writable by group or others (see :mod:`.core.files`).
    """
    try:
        ensure_private_file(path)
    except UnsafeFileError as exc:
        raise StoreError(f"Sentrial store: {exc}") from None


def dumps(value: Any) -> str | None:
    if value is None:
        return None
    if _orjson is not None:
        try:
            return _orjson.dumps(value).decode("utf-8")
        except TypeError:
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | None) -> Any:
    """Stored JSON text as data every reader can take (bad JSON comes back as its text, never raises)."""
    if text is None:
        return None
    if not isinstance(text, str):
        return clean_column("", text)
    try:
        return clean_value(json.loads(text))
    except (ValueError, RecursionError):
        return clean_value(text)


_TS_COLUMNS = frozenset({"started_at", "ended_at", "ts"})
_COUNT_COLUMNS = ("event_count", "error_count", "unpriced_calls")
_INT_COLUMNS = frozenset({"prompt_tokens", "completion_tokens", "total_tokens", "seq", *_COUNT_COLUMNS})


def clean_column(name: str, v: Any) -> Any:
    """A column's value as readers expect it: times within 1970..3000, finite numbers, text for text."""
    if v is None:
        return None
    t = type(v)
    if name in _TS_COLUMNS or name == "duration_ms" or name == "cost":
        if t is str or t is bytes or v != v or v in (float("inf"), float("-inf")):
            return None
        if name == "duration_ms":
            return min(max(float(v), 0.0), MAX_DURATION_MS)
        if name == "cost":
            return float(v) if -MAX_COST <= v <= MAX_COST else None
        return min(max(float(v), TS_MIN), TS_MAX)
    if name in _INT_COLUMNS:
        if t is int and -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
            return v
        if t is float and v == v and v.is_integer() and -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
            return int(v)
        return 0 if name in _COUNT_COLUMNS else None
    if t is bytes:
        return v.decode("utf-8", "replace")
    if t is str:
        return v if v.isascii() else clean_text(v)
    return v if t is int or t is float else str(v)


def sql_total(column: str, llm: bool = False) -> str:
    """SQL for the sum of ``column`` (of LLM calls only if ``llm``): NULL when there is none, and a float
    rather than SQLite's integer-overflow error when the values are huge (readers clean it up)."""
    value = f"CASE WHEN type = 'llm_call' THEN {column} END" if llm else column
    return f"CASE WHEN count({value}) THEN total({value}) END"


def clean_row(row: sqlite3.Row) -> dict[str, Any]:
    return {k: clean_column(k, row[k]) for k in row.keys()}  # noqa: SIM118 - sqlite3.Row


def session_dict(row: sqlite3.Row) -> dict[str, Any]:
    d = clean_row(row)
    d["metadata"] = loads(d.get("metadata")) or {}
    if not isinstance(d["metadata"], dict):
        d["metadata"] = {"value": d["metadata"]}
    d["output"] = loads(d.get("output"))
    d["custom_metrics"] = loads(d.get("custom_metrics"))
    if "user_input" in d:
        d["user_input"] = loads(d.get("user_input"))
    return d


def event_dict(row: sqlite3.Row) -> dict[str, Any]:
    d = clean_row(row)
    payload = loads(d.pop("payload", None)) or {}
    if isinstance(payload, dict):
        for k in (*PAYLOAD_FIELDS, "error"):
            if k == "error":
                d["error"] = payload.get("error") if payload.get("error") is not None else d.get("error")
            else:
                d[k] = payload.get(k)
    d["confidence"] = clean_column("cost", d.get("confidence"))
    if d.get("reasoning") is not None and not isinstance(d["reasoning"], str):
        d["reasoning"] = text_value(d["reasoning"])
    if d.get("error") is not None:
        d["error"] = clean_error(d["error"])
    return d
