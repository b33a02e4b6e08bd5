"""One normaliser for every record, on the client (end of the record builder) and on the local server.

A record that passes through :func:`normalize_record` can be stored in SQLite, sent as JSON and rendered by
every reader (CLI, dashboard, read API), whatever the caller or a remote client put into it:

* timestamps outside 1970..3000 and durations outside 0..~31 years are clamped;
* columns that hold numbers (tokens, cost, confidence, sequence) keep only finite numbers in range;
  anything else becomes ``None``;
* inside payloads: non-finite floats become the strings ``"NaN"`` / ``"Infinity"`` / ``"-Infinity"``,
  integers beyond 2^53 (what JSON readers keep exactly) become their decimal text, lone surrogates are
  replaced by U+FFFD, nesting past 64 levels is cut with a marker, and values that are not JSON
  become their ``repr``;
* short text fields (names, ids, reasons, error messages) that are not strings become their JSON text.

Every value that had to be clamped or dropped is noted, with its original text, under the key
``sentrial_normalized`` of the record's metadata (``custom_metrics`` for a close), so a reader shows
what happened. Clean records come back unchanged (the payload walk copies nothing when nothing changes).
"""

from __future__ import annotations

import json
import math
from typing import Any

from .. import model as M

MARKER_KEY = "sentrial_normalized"
DEPTH_MARKER = "[max depth reached]"

TS_MIN = 0.0  # 1970-01-01
TS_MAX = 32_503_680_000.0  # 3000-01-01: a reader adds durations to it and still gets a valid date
MAX_DURATION_MS = 1e12  # ~31 years
MAX_SAFE_INT = 2**53
MAX_COST = 1e12
MAX_DEPTH = 64
MAX_MARK_TEXT = 200

_PAYLOAD = {
    M.START_RECORD: ("metadata",),
    M.EVENT_RECORD: ("input", "output", "metadata", "decision", "alternatives", "state_change"),
    M.CLOSE_RECORD: ("output", "custom_metrics", "user_input", "assistant_output"),
}
_TEXT = {
    M.START_RECORD: (
        "session_id",
        "name",
        "agent_name",
        "user_id",
        "parent_session_id",
        "convo_id",
        "project_id",
    ),
    M.EVENT_RECORD: (
        "id",
        "session_id",
        "type",
        "name",
        "span_id",
        "parent_span_id",
        "reasoning",
        "model",
        "provider",
    ),
    M.CLOSE_RECORD: ("session_id", "status", "failure_reason"),
}
_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")
_MARK_HOME = {M.START_RECORD: "metadata", M.EVENT_RECORD: "metadata", M.CLOSE_RECORD: "custom_metrics"}


def normalize_record(rec: dict[str, Any], *, converted: bool = False) -> dict[str, Any]:
    """``rec`` made safe for the store, the wire and every reader (see the module text). Never raises.

    ``converted``: the payload fields are the record builder's converter output, already clean JSON
    (no lone surrogates, at most 64 levels, finite floats, integers within 2^53), so they are not walked
    again; only the columns and an LLM call's token counts (set outside the converter) are checked.
    """
    kind = rec.get("kind")
    marks: dict[str, str] = {}
    out = dict(rec)
    for key in _TEXT.get(kind, ()):  # type: ignore[arg-type]
        v = out.get(key)
        if v is not None and (type(v) is not str or not v.isascii()):
            out[key] = text_value(v)
    if "ts" in out:
        out["ts"] = _clamp(out["ts"], TS_MIN, TS_MAX, "ts", marks)
    if "duration_ms" in out:
        out["duration_ms"] = _clamp(out["duration_ms"], 0.0, MAX_DURATION_MS, "duration_ms", marks)
    if kind != M.START_RECORD:
        for key in _COUNTS:
            if out.get(key) is not None:
                out[key] = _count(out[key], key, marks)
        if out.get("cost") is not None:
            out["cost"] = _number(out["cost"], -MAX_COST, MAX_COST, "cost", marks)
    if kind == M.EVENT_RECORD:
        if out.get("seq") is not None:
            out["seq"] = _count(out["seq"], "seq", marks)
        if out.get("confidence") is not None:
            out["confidence"] = _number(out["confidence"], -MAX_COST, MAX_COST, "confidence", marks)
        if out.get("error") is not None:
            out["error"] = clean_error(out["error"])
    if kind == M.START_RECORD and not isinstance(out.get("metadata"), dict):
        out["metadata"] = {} if out.get("metadata") is None else {"value": out["metadata"]}
    if marks:  # noted in the record's metadata (custom_metrics for a close), before it is cleaned
        home = _MARK_HOME.get(kind, "metadata")  # type: ignore[arg-type]
        container = out.get(home)
        if container is None:
            container = {}
        elif not isinstance(container, dict):
            container = {"value": container}
        out[home] = {**container, MARKER_KEY: marks}
    if converted:
        output = out.get("output")
        if kind == M.EVENT_RECORD and type(output) is dict and type(output.get("tokens")) is dict:
            tokens = clean_value(output["tokens"])
            if tokens is not output["tokens"]:
                out["output"] = {**output, "tokens": tokens}
        return out
    for key in _PAYLOAD.get(kind, ()):  # type: ignore[arg-type]
        v = out.get(key)
        if v is not None:
            out[key] = clean_value(v)
    return out


def clean_value(value: Any, depth: int = 0) -> Any:
    """JSON data that every reader can take (see the module text); ``value`` itself when already clean."""
    t = type(value)
    if t is str:
        return value if value.isascii() else clean_text(value)
    if t is bool or value is None:
        return value
    if t is int:
        return value if -MAX_SAFE_INT <= value <= MAX_SAFE_INT else str(value)
    if t is float:
        if math.isfinite(value):
            return value
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if depth >= MAX_DEPTH:
        return DEPTH_MARKER
    if t is dict:
        changed = None
        for k, v in value.items():
            k2 = k if type(k) is str and k.isascii() else _key(k)
            tv = type(v)  # the common leaves inline: no call
            v2 = v if (tv is str and v.isascii()) or v is None or tv is bool else clean_value(v, depth + 1)
            if changed is None and (k2 is not k or v2 is not v):
                changed = {}
                for k0, v0 in value.items():  # the clean items before this one
                    if k0 is k:
                        break
                    changed[k0] = v0
            if changed is not None:
                changed[k2] = v2
        return value if changed is None else changed
    if t is list:
        out_l = None
        for i, v in enumerate(value):
            tv = type(v)
            v2 = v if (tv is str and v.isascii()) or v is None else clean_value(v, depth + 1)
            if v2 is not v and out_l is None:
                out_l = list(value[:i])
            if out_l is not None:
                out_l.append(v2)
        return value if out_l is None else out_l
    if t is tuple:
        return [clean_value(v, depth + 1) for v in value]
    if isinstance(value, (bool, int, float, str, dict, list)):  # subclasses: as their base type
        base: Any = next(b for b in (bool, int, float, str, dict, list) if isinstance(value, b))
        try:
            return clean_value(base(value), depth)
        except Exception:
            pass
    return clean_text(_repr(value))


def clean_text(s: str) -> str:
    """``s`` with lone surrogates (not encodable as UTF-8) replaced by U+FFFD."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def text_value(v: Any) -> str:
    """A text field's value as clean text: strings as they are, anything else as its JSON text."""
    if type(v) is str:
        return clean_text(v)
    try:
        text = json.dumps(clean_value(v), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        text = _repr(v)
    return clean_text(text)


def mark_text(v: Any) -> str:
    text = v if type(v) is str else _repr(v)
    text = clean_text(text)
    return text if len(text) <= MAX_MARK_TEXT else text[:MAX_MARK_TEXT] + "…"


def _key(k: Any) -> str:
    return clean_text(k) if type(k) is str else text_value(k)


def _repr(v: Any) -> str:
    try:
        r = repr(v)
        return r if type(r) is str else "<unrepresentable>"
    except Exception:
        return "<unrepresentable>"


def finite_float(v: Any) -> float | None:
    """``v`` as a finite float, else ``None`` (booleans, text that is not a number, NaN, infinities)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def _clamp(v: Any, lo: float, hi: float, key: str, marks: dict[str, str]) -> float | None:
    """A finite number within [lo, hi]; out of range: clamped; not a finite number: None. Both noted."""
    if v is None:
        return None
    if (type(v) is float or type(v) is int) and lo <= v <= hi:
        return float(v)
    f = finite_float(v)
    if f is None:
        marks[key] = f"{mark_text(v)} (not a finite number, dropped)"
        return None
    clamped = min(hi, max(lo, f))
    if clamped != f:
        marks[key] = f"{mark_text(v)} (out of range, clamped to {clamped:g})"
    return clamped


def _number(v: Any, lo: float, hi: float, key: str, marks: dict[str, str]) -> float | int | None:
    if (type(v) is float or type(v) is int) and lo <= v <= hi:
        return v  # type: ignore[no-any-return]
    f = finite_float(v)
    if f is None or not lo <= f <= hi:
        marks[key] = f"{mark_text(v)} (not a number in range, dropped)"
        return None
    return f


def _count(v: Any, key: str, marks: dict[str, str]) -> int | None:
    """An integer within [-2^53, 2^53] (floats with an integral value accepted), else None (noted)."""
    if type(v) is int and -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
        return v
    f = finite_float(v)
    if f is not None and f.is_integer() and -MAX_SAFE_INT <= f <= MAX_SAFE_INT and not isinstance(v, str):
        return int(f)
    marks[key] = f"{mark_text(v)} (not an integer in range, dropped)"
    return None


def clean_error(err: Any) -> Any:
    """An error value with a text ``message`` and ``type`` when it is an object; other values as text."""
    if isinstance(err, dict):
        out = clean_value(err)
        if not isinstance(out, dict):  # pragma: no cover - a dict stays a dict
            return {"message": text_value(out), "type": "Error"}
        for key in ("message", "type"):
            v = out.get(key)
            if v is not None and type(v) is not str:
                out = dict(out) if out is err else out
                out[key] = text_value(v)
        return out
    if type(err) is str:
        return clean_text(err)
    return {"message": text_value(err), "type": "Error"}
