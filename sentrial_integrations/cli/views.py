"""How a session and its events are shown: the JSON documents (``show --json``, ``export``), the
timeline's nesting and window, status and event-type styles, and the timeline bar."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

from ..core.format import iso
from ..core.model import (
    ABANDONED,
    DECISION,
    ERROR,
    FAILURE,
    LLM_CALL,
    RUNNING,
    STATE_CHANGE,
    SUCCESS,
    TIMEOUT,
    TOOL_CALL,
)
from ..core.store import session_duration_ms
from .common import CLIError

if TYPE_CHECKING:
    from .context import Ctx

STATUS_STYLE = {
    RUNNING: "yellow",
    SUCCESS: "green",
    FAILURE: "red",
    ERROR: "bold red",
    TIMEOUT: "magenta",
    ABANDONED: "dim",
}
STATUS_MARK = {RUNNING: "…", SUCCESS: "✓", FAILURE: "✗", ERROR: "✗", TIMEOUT: "⏱", ABANDONED: "–"}
TYPE_STYLE = {
    TOOL_CALL: "cyan",
    LLM_CALL: "magenta",
    DECISION: "blue",
    ERROR: "bold red",
    STATE_CHANGE: "green",
}

_SESSION_KEYS = (
    "id",
    "name",
    "status",
    "agent_name",
    "user_id",
    "parent_session_id",
    "project_id",
    "metadata",
    "started_at",
    "started_at_iso",
    "ended_at",
    "ended_at_iso",
    "duration_ms",
    "event_count",
    "error_count",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "failure_reason",
    "output",
    "custom_metrics",
)
_EVENT_KEYS = (
    "id",
    "session_id",
    "seq",
    "type",
    "name",
    "ts",
    "ts_iso",
    "offset_ms",
    "duration_ms",
    "depth",
    "span_id",
    "parent_span_id",
    "model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "error",
    "input",
    "output",
    "reasoning",
    "decision",
    "alternatives",
    "confidence",
    "metadata",
)


def session_json(s: dict[str, Any], now: float) -> dict[str, Any]:
    d = dict(s)
    d["started_at_iso"] = iso(d.get("started_at"))
    d["ended_at_iso"] = iso(d.get("ended_at"))
    if d.get("duration_ms") is None and d.get("status") != RUNNING:
        d["duration_ms"] = session_duration_ms(d, now)
    return {k: d.get(k) for k in _SESSION_KEYS}


def status_text(status: str | None) -> Text:
    st = status or RUNNING
    return Text(f"{STATUS_MARK.get(st, '?')} {st}", style=STATUS_STYLE.get(st, ""))


def event_depths(events: list[dict[str, Any]]) -> list[int]:
    """Nesting depth of each event: how many ancestors its ``parent_span_id`` chain has."""
    by_span: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.get("span_id") and e["span_id"] not in by_span:
            by_span[e["span_id"]] = e
    depths = []
    for e in events:
        depth = 0
        seen = {e.get("span_id")}
        parent = e.get("parent_span_id")
        while parent and parent in by_span and parent not in seen and depth < 64:
            seen.add(parent)
            depth += 1
            parent = by_span[parent].get("parent_span_id")
        depths.append(depth)
    return depths


def timeline_window(session: dict[str, Any], events: list[dict[str, Any]]) -> tuple[float, float]:
    """(origin, span in seconds) of a session's timeline: from its start (or its first event, if
    earlier) to the end of its last event (or its close, if later and real)."""
    starts = [e["ts"] for e in events if e.get("ts") is not None]
    if session.get("started_at") is not None:
        starts.append(session["started_at"])
    origin = min(starts) if starts else 0.0
    ends = [e["ts"] + (e.get("duration_ms") or 0.0) / 1000.0 for e in events if e.get("ts") is not None]
    if session.get("ended_at") is not None and session.get("status") not in (RUNNING, TIMEOUT):
        ends.append(session["ended_at"])
    end = max(ends) if ends else origin
    return origin, max(0.0, end - origin)


def event_json(e: dict[str, Any], origin: float, depth: int) -> dict[str, Any]:
    d = dict(e)
    d["ts_iso"] = iso(d.get("ts"))
    d["offset_ms"] = round((d["ts"] - origin) * 1000.0, 3) if d.get("ts") is not None else None
    d["depth"] = depth
    return {k: d.get(k) for k in _EVENT_KEYS}


def session_document(ctx: Ctx, sid: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(session view, events as JSON-ready dicts) for one session."""
    store = ctx.store()
    raw = store.get_session(sid)
    if raw is None:
        raise CLIError(f"no session {sid!r}")
    session = ctx.view_sessions([raw])[0]
    events = store.get_events(sid)
    origin, _ = timeline_window(session, events)
    depths = event_depths(events)
    return session, [event_json(e, origin, d) for e, d in zip(events, depths, strict=True)]


def bar(offset_s: float, dur_s: float | None, span_s: float, width: int) -> Text:
    """A ``width``-cell track with the event's extent drawn in it."""
    track = ["·"] * width
    if span_s <= 0:
        start, length = 0, 1
    else:
        start = min(width - 1, max(0, int(offset_s / span_s * width)))
        length = max(1, round((dur_s or 0.0) / span_s * width)) if dur_s else 1
        length = min(length, width - start)
    for i in range(start, start + length):
        track[i] = "█" if dur_s else "▏"
    text = Text("".join(track[:start]), style="dim")
    text.append("".join(track[start : start + length]))
    text.append("".join(track[start + length :]), style="dim")
    return text
