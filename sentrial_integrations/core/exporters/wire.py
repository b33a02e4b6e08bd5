"""Mapping between records (see :mod:`.model`) and the Sentrial public SDK API's JSON bodies.

Used in both directions: the HTTP exporter turns records into request bodies, and the local server
(``sentrial-integrations serve``) turns request bodies back into records for the SQLite store.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from .. import model as M

WIRE_EVENT_TYPES = ("tool_call", "llm_decision", "error")
LLM_PREFIX = M.LLM_ERROR_PREFIX
# A state change travels as a tool_call named "state_change" with the public API's stateBefore /
# stateAfter fields: the public API accepts only the three event types above, and would refuse (400)
# an eventType "state_change". Inbound, both forms are read back as a state_change event.
STATE_CHANGE = "state_change"


# Timestamps outside this range are refused on the way in (and clamped by the record normaliser).
TS_MIN = 0.0  # 1970-01-01T00:00:00Z
TS_MAX = 32_503_680_000.0  # 3000-01-01T00:00:00Z


def iso(ts: float) -> str:
    """ISO-8601 UTC with microseconds (a timestamp out of range is clamped into it)."""
    if not isinstance(ts, (int, float)) or not TS_MIN <= ts <= TS_MAX:
        ts = TS_MIN if not isinstance(ts, (int, float)) or ts != ts or ts < TS_MIN else TS_MAX
    return (
        _dt.datetime.fromtimestamp(ts, _dt.timezone.utc)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def _or(value: float | None, default: float) -> float:
    """``value`` unless it is missing (``0.0``, the epoch, is a valid time: not ``value or default``)."""
    return default if value is None else value


def parse_iso(value: Any) -> float | None:
    """Epoch seconds from an ISO-8601 date-time (naive means UTC) or a number of epoch seconds.

    None for anything else, including non-finite numbers and instants outside 1970..3000.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        ts = float(value) if -1e300 < value < 1e300 else float("nan")
    elif not isinstance(value, str) or not value or len(value) > 64:
        return None
    else:
        try:
            dt = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=_dt.timezone.utc)
            ts = dt.timestamp()
        except (ValueError, OverflowError, OSError):
            return None
    return ts if TS_MIN <= ts <= TS_MAX else None


def session_body(rec: dict[str, Any]) -> dict[str, Any]:
    metadata = dict(rec.get("metadata") or {})
    if rec.get("project_id") and "project_id" not in metadata:
        metadata["project_id"] = rec["project_id"]
    body: dict[str, Any] = {
        "name": rec["name"],
        "agentName": rec.get("agent_name") or rec["name"],
        "userId": rec.get("user_id") or "anonymous",
        "metadata": metadata,
        "startedAt": iso(rec["ts"]),  # extension: when the session really started (queued or spooled sends)
    }
    if rec.get("parent_session_id"):
        body["parentSessionId"] = rec["parent_session_id"]
    if rec.get("convo_id"):
        body["convoId"] = rec["convo_id"]
    return body


def event_body(
    rec: dict[str, Any], server_session_id: str, parent_server_id: str | None = None
) -> dict[str, Any]:
    etype = rec["type"]
    body: dict[str, Any] = {
        "sessionId": server_session_id,
        "eventId": rec["id"],
        "sequence": rec["seq"],
        "timestamp": iso(rec["ts"]),
    }
    if etype == "decision":
        body["eventType"] = "llm_decision"
        body["reasoning"] = rec.get("reasoning") or ""
        body["alternativesConsidered"] = rec.get("alternatives")
        body["confidence"] = rec.get("confidence")
        if rec.get("decision") is not None:
            body["decision"] = rec["decision"]
    elif etype == "error":
        body["eventType"] = "error"
        body["toolError"] = rec.get("error") or {"message": "", "type": "Error"}
        if rec.get("name"):
            body["toolName"] = rec["name"]
    elif etype == STATE_CHANGE:
        body["eventType"] = "tool_call"
        body["toolName"] = STATE_CHANGE
        body["stateBefore"] = _as_object(rec.get("input"), "state")
        body["stateAfter"] = _as_object(rec.get("output"), "state")
        body["toolInput"], body["toolOutput"] = body["stateBefore"], body["stateAfter"]
        if rec.get("reasoning"):
            body["reasoning"] = rec["reasoning"]
    else:  # tool_call and llm_call
        body["eventType"] = "tool_call"
        body["toolName"] = rec.get("name") or "tool"
        body["toolInput"] = _as_object(rec.get("input"), "input")
        body["toolOutput"] = _as_object(rec.get("output"), "output")
        if rec.get("error"):
            body["toolError"] = rec["error"]
        if rec.get("reasoning"):
            body["reasoning"] = rec["reasoning"]
        if rec.get("total_tokens") is not None:
            body["tokenCount"] = rec["total_tokens"]
        if rec.get("cost") is not None:
            body["estimatedCost"] = rec["cost"]
        # extensions: how the cost was obtained, or that it is unknown (see core/pricing.py)
        if rec.get("cost_source"):
            body["costSource"] = rec["cost_source"]
        if rec.get("unpriced"):
            body["unpriced"] = True
    if rec.get("span_id"):
        body["spanId"] = rec["span_id"]
    if rec.get("parent_span_id"):
        body["parentSpanId"] = rec["parent_span_id"]
    if rec.get("duration_ms") is not None:
        body["durationMs"] = rec["duration_ms"]
    if rec.get("metadata"):
        body["metadata"] = rec["metadata"]
    return body


def close_body(rec: dict[str, Any]) -> dict[str, Any]:
    success = rec["status"] == "success"
    body: dict[str, Any] = {"status": "completed" if success else "failed", "success": success}
    if not success:
        body["failureReason"] = rec.get("failure_reason") or rec["status"]
    for src, dst in (
        ("duration_ms", "durationMs"),
        ("prompt_tokens", "promptTokens"),
        ("completion_tokens", "completionTokens"),
        ("total_tokens", "totalTokens"),
        ("cost", "estimatedCost"),
        ("custom_metrics", "customMetrics"),
    ):
        if rec.get(src) is not None:
            body[dst] = rec[src]
    if rec.get("user_input") is not None:
        body["userInput"] = _as_text(rec["user_input"])
    if rec.get("assistant_output") is not None:
        body["assistantOutput"] = _as_text(rec["assistant_output"])
    elif isinstance(rec.get("output"), str):
        body["assistantOutput"] = rec["output"]
    if rec.get("unpriced_calls"):
        body["unpricedCalls"] = rec["unpriced_calls"]  # extension: LLM calls whose cost is unknown
    body["sentrialStatus"] = rec["status"]  # the exact status; the public API only knows completed/failed
    return body


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _as_object(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    return {key: value}


# --- reverse direction (local server) -------------------------------------------------------------


def record_from_session_body(body: dict[str, Any], session_id: str, ts: float) -> dict[str, Any]:
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    return {
        "kind": M.START_RECORD,
        "session_id": session_id,
        "name": body.get("name"),
        "agent_name": body.get("agentName"),
        "user_id": body.get("userId"),
        "parent_session_id": body.get("parentSessionId"),
        "convo_id": body.get("convoId"),
        "metadata": metadata,
        "project_id": (metadata or {}).get("project_id"),
        "ts": _or(parse_iso(body.get("startedAt")), ts),
    }


def record_from_event_body(
    body: dict[str, Any], event_id: str, session_id: str, seq: int, ts: float
) -> dict[str, Any]:
    wire_type = body.get("eventType")
    name = body.get("toolName")
    out = body.get("toolOutput")
    rec: dict[str, Any] = {
        "kind": M.EVENT_RECORD,
        "id": event_id,
        "session_id": session_id,
        "seq": body.get("sequence") if isinstance(body.get("sequence"), int) else seq,
        "ts": _or(parse_iso(body.get("timestamp")), ts),
        "duration_ms": body.get("durationMs"),
        "span_id": body.get("spanId"),
        "parent_span_id": body.get("parentSpanId"),
        "input": body.get("toolInput"),
        "output": out,
        "error": body.get("toolError"),
        "reasoning": body.get("reasoning"),
        "metadata": body.get("metadata"),
        "model": None,
        "provider": None,
        "prompt_tokens": None,
        "completion_tokens": None,
        "total_tokens": body.get("tokenCount"),
        "cost": body.get("estimatedCost"),
        "decision": body.get("decision"),
        "alternatives": body.get("alternativesConsidered"),
        "confidence": body.get("confidence"),
        "name": name,
    }
    if wire_type == "llm_decision":
        rec["type"] = "decision"
    elif wire_type == "error":
        rec["type"] = "error"
    elif wire_type == STATE_CHANGE or (name == STATE_CHANGE and "stateAfter" in body):
        rec["type"] = STATE_CHANGE
        rec["input"] = body.get("stateBefore", rec["input"])
        rec["output"] = body.get("stateAfter", rec["output"])
    elif isinstance(name, str) and name.startswith(LLM_PREFIX):
        rec["type"] = "llm_call"
        parts = name.split(":", 2)
        rec["provider"] = parts[1] if len(parts) > 1 else None
        rec["model"] = parts[2] if len(parts) > 2 else None
        tokens = out.get("tokens") if isinstance(out, dict) else None
        if isinstance(tokens, dict):
            rec["prompt_tokens"] = tokens.get("prompt")
            rec["completion_tokens"] = tokens.get("completion")
            rec["total_tokens"] = tokens.get("total", rec["total_tokens"])
        if rec["cost"] is None and isinstance(out, dict):
            rec["cost"] = out.get("cost_usd")
        rec["cost_source"] = body.get("costSource") if isinstance(body.get("costSource"), str) else None
        rec["unpriced"] = body.get("unpriced") is True
    else:
        rec["type"] = "tool_call"
    return rec


def record_from_close_body(body: dict[str, Any], session_id: str, ts: float) -> dict[str, Any]:
    metrics = body.get("customMetrics") if isinstance(body.get("customMetrics"), dict) else None
    status = "success" if body.get("success", body.get("status") == "completed") else "failure"
    if body.get("sentrialStatus") in M.STATUSES:
        status = body["sentrialStatus"]
    return {
        "kind": M.CLOSE_RECORD,
        "session_id": session_id,
        "status": status,
        "ts": ts,
        "duration_ms": body.get("durationMs"),
        "output": body.get("assistantOutput"),
        "user_input": body.get("userInput"),
        "assistant_output": body.get("assistantOutput"),
        "unpriced_calls": body.get("unpricedCalls") if isinstance(body.get("unpricedCalls"), int) else None,
        "failure_reason": body.get("failureReason"),
        "custom_metrics": metrics,
        "prompt_tokens": body.get("promptTokens"),
        "completion_tokens": body.get("completionTokens"),
        "total_tokens": body.get("totalTokens"),
        "cost": body.get("estimatedCost"),
    }
