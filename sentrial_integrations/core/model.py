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
     "completion_tokens", "total_tokens", "cost", "unpriced_calls"}

``type`` is one of ``tool_call``, ``decision``, ``llm_call``, ``error``, ``state_change`` (``input`` /
``output`` hold the state before / after, ``reasoning`` the reason). Times are epoch seconds.
"""

from __future__ import annotations

import os
import traceback
from typing import Any, TypedDict

SESSION_START = 1
EVENT = 2
SESSION_CLOSE = 3
MARKER = 4

# --- record kinds (``record["kind"]``) --------------------------------------------------------------
START_RECORD = "session_start"
EVENT_RECORD = "event"
CLOSE_RECORD = "session_close"
RECORD_KINDS = (START_RECORD, EVENT_RECORD, CLOSE_RECORD)
#: the name of an error event an LLM call left behind: ``llm:<provider>:<model>``
LLM_ERROR_PREFIX = "llm:"

# --- event types ----------------------------------------------------------------------------------
TOOL_CALL = "tool_call"
DECISION = "decision"
LLM_CALL = "llm_call"
ERROR = "error"
STATE_CHANGE = "state_change"
EVENT_TYPES = (TOOL_CALL, DECISION, LLM_CALL, ERROR, STATE_CHANGE)

# --- session statuses ------------------------------------------------------------------------------
SUCCESS = "success"
FAILURE = "failure"
TIMEOUT = "timeout"
ABANDONED = "abandoned"
#: the statuses a session closes with (``ERROR`` doubles as the event type's name)
STATUSES = (SUCCESS, FAILURE, ERROR, TIMEOUT, ABANDONED)
#: what readers show for a session that has not closed yet
RUNNING = "running"
#: every status a reader can show, in the order the CLI and the dashboard list them
ALL_STATUSES = (RUNNING, *STATUSES)

# --- metadata keys that translators write and exporters / readers read ------------------------------
#: ``metadata["kind"]`` on a ``tool_call`` event says what the call stands for
META_KIND = "kind"
#: a retriever's call (a LangChain retriever run, a LlamaIndex retrieval); OTLP exports it as ``retrieval``
KIND_RETRIEVAL = "retrieval"
#: ``metadata["operation"]`` on an ``llm_call`` event: the API operation (``chat.completions.create``)
META_OPERATION = "operation"
#: operations that are not chat: an ``embeddings.*`` prefix, and the legacy text completion
OP_EMBEDDINGS_PREFIX = "embeddings"
OP_TEXT_COMPLETION = "completions.create"
#: ``metadata["integration"]`` / ``["framework"]``: which translator opened a session
META_INTEGRATION = "integration"
META_FRAMEWORK = "framework"

#: message ``role`` / ``type`` values translators record -> chat roles (LangChain records message
#: types: ``human``, ``ai``, ``AIMessageChunk``, ``function``)
MESSAGE_ROLES = {"human": "user", "ai": "assistant", "AIMessageChunk": "assistant", "function": "tool"}

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


class SessionStartRecord(TypedDict, total=False):
    kind: str  # "session_start"
    session_id: str
    name: str
    agent_name: str | None
    user_id: str | None
    parent_session_id: str | None
    metadata: dict[str, Any] | None
    project_id: str | None
    ts: float


class EventRecord(TypedDict, total=False):
    kind: str  # "event"
    id: str
    session_id: str
    seq: int
    type: str  # one of EVENT_TYPES
    name: str
    ts: float
    duration_ms: float | None
    span_id: str | None
    parent_span_id: str | None
    input: Any
    output: Any
    error: dict[str, Any] | None
    reasoning: str | None
    metadata: dict[str, Any] | None
    model: str | None
    provider: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cost: float | None
    cost_source: str | None
    unpriced: bool
    decision: Any
    alternatives: Any
    confidence: float | None


class SessionCloseRecord(TypedDict, total=False):
    kind: str  # "session_close"
    session_id: str
    seq: int
    status: str  # one of STATUSES
    ts: float
    duration_ms: float | None
    output: Any
    user_input: Any
    assistant_output: Any
    failure_reason: str | None
    custom_metrics: dict[str, Any] | None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: float
    unpriced_calls: int


def event_id(session_id: str, seq: int) -> str:
    """Client event id: unique because session ids are random, and free to compute."""
    return f"{session_id}.{seq}"


def fork_suffix() -> str:
    """Appended to the event ids of a forked child: events it records into a session inherited from its
    parent reuse the parent's sequence numbers, and the suffix keeps their ids (idempotency keys) apart.
    The client (the id ``track_*`` returns) and the record builder (the stored id) both use it."""
    return f"-{os.getpid()}"


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
