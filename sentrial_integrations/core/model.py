"""The event model: what the caller enqueues (ops) and what the worker makes of them (records).

An *op* is a plain tuple built on the caller's thread: ``(kind, session_id, seq, ts_ns, payload)``.
A *record* is a JSON-safe dict built by the worker, the one shape every exporter, the outbox, the
SQLite store and the local server understand::

    {"kind": "session_start", "session_id", "name", "agent_name", "user_id", "parent_session_id",
     "metadata", "project_id", "ts"}
    {"kind": "event", "id", "session_id", "seq", "type", "name", "ts", "duration_ms", "span_id",
     "parent_span_id", "input", "output", "error", "reasoning", "metadata", "model", "provider",
     "prompt_tokens", "completion_tokens", "total_tokens", "cost", "decision", "alternatives",
     "confidence"}  (+ "cost_source", "unpriced" on llm_call events)
    {"kind": "session_close", "session_id", "seq", "status", "ts", "duration_ms", "output",
     "user_input", "assistant_output", "failure_reason", "custom_metrics", "prompt_tokens",
     "completion_tokens", "total_tokens", "cost", "unpriced_calls", "event_count"}

``type`` is one of ``tool_call``, ``decision``, ``llm_call``, ``error``, ``state_change`` (``input`` /
``output`` hold the state before / after, ``reasoning`` the reason). Times are epoch seconds.
"""

from __future__ import annotations

import traceback
from typing import Any

SESSION_START = 1
EVENT = 2
SESSION_CLOSE = 3
MARKER = 4

EVENT_TYPES = ("tool_call", "decision", "llm_call", "error", "state_change")
STATUSES = ("success", "failure", "error", "timeout", "abandoned")
OPEN_STATUS = "running"

# Bulky fields that may be cut to respect the per-event size cap.
BULKY_FIELDS = (
    "input",
    "output",
    "metadata",
    "reasoning",
    "error",
    "alternatives",
    "decision",
    "custom_metrics",
    "user_input",
    "assistant_output",
)


def event_id(session_id: str, seq: int) -> str:
    """Client event id: unique because session ids are random, and free to compute."""
    return f"{session_id}.{seq}"


def error_info(error: Any, error_type: str | None = None, with_stack: bool = True) -> dict[str, Any] | None:
    """``{"message", "type", "stack_trace"}`` from an exception, a string or a dict."""
    if error is None:
        return None
    if isinstance(error, BaseException):
        try:
            message = str(error)
        except Exception:
            message = f"<{type(error).__name__}: str() failed>"
        info: dict[str, Any] = {"message": message, "type": error_type or type(error).__name__}
        if with_stack:
            try:
                stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            except Exception:
                stack = None
            if stack:
                info["stack_trace"] = stack
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            info["status_code"] = status
        return info
    if isinstance(error, dict):
        info = dict(error)
        info.setdefault("message", str(error.get("message", "")))
        if error_type:
            info["type"] = error_type
        info.setdefault("type", "Error")
        return info
    try:
        message = str(error)
    except Exception:
        message = "<error>"
    return {"message": message, "type": error_type or "Error"}
