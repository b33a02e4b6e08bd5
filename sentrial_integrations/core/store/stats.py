"""Statistics over the sessions a filter selects: per tool and per model (count, error rate, latency
percentiles, tokens, cost), the slowest steps with their share of the session, the idle gaps between
steps, and a summary (``sentrial-integrations stats``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .. import model as M
from ..format import iso
from .queries import SessionFilter, event_timings, session_duration_ms

if TYPE_CHECKING:
    from . import Store


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..1) of ``values``."""
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def compute_stats(
    store: Store,
    flt: SessionFilter,
    top: int,
    now: float,
    view: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The statistics of the sessions ``flt`` selects (as ``view`` shows them, e.g. with live totals),
    listing the ``top`` slowest steps and longest gaps; ``now`` ends running sessions."""
    listed = store.list_sessions(flt)
    sessions = {s["id"]: s for s in (view(listed) if view is not None else listed)}
    rows = [r for r in event_timings(store, flt) if r["session_id"] in sessions]

    def group(kind: str, key: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            if r["type"] == kind:
                groups.setdefault(key(r), []).append(r)
        result = []
        for name, items in groups.items():
            lat = [float(r["duration_ms"]) for r in items if r["duration_ms"] is not None]
            errors = sum(1 for r in items if r["error"] is not None)
            tokens = [r["total_tokens"] for r in items if r["total_tokens"] is not None]
            costs = [r["cost"] for r in items if r["cost"] is not None]
            entry: dict[str, Any] = {
                "name": name,
                "count": len(items),
                "errors": errors,
                "error_rate": errors / len(items),
                "p50_ms": percentile(lat, 0.5),
                "p95_ms": percentile(lat, 0.95),
                "max_ms": max(lat) if lat else None,
                "total_ms": sum(lat) if lat else None,
                "total_tokens": sum(tokens) if tokens else None,
                "cost": sum(costs) if costs else None,
            }
            if kind == "llm_call":
                pts = [r["prompt_tokens"] for r in items if r["prompt_tokens"] is not None]
                cts = [r["completion_tokens"] for r in items if r["completion_tokens"] is not None]
                entry["provider"] = next((r["provider"] for r in items if r["provider"]), None)
                entry["prompt_tokens"] = sum(pts) if pts else None
                entry["completion_tokens"] = sum(cts) if cts else None
            result.append(entry)
        result.sort(key=lambda g: (-(g["total_ms"] or 0.0), -g["count"], g["name"]))
        return result

    tools = group("tool_call", lambda r: r["name"] or "(unnamed)")
    models = group("llm_call", lambda r: r["model"] or r["name"] or "unknown")

    def step_ref(r: dict[str, Any]) -> dict[str, Any]:
        s = sessions[r["session_id"]]
        return {
            "session_id": r["session_id"],
            "session_name": s.get("name"),
            "seq": r["seq"],
            "type": r["type"],
            "name": r["name"] or r["type"],
            "ts": r["ts"],
            "ts_iso": iso(r["ts"]),
        }

    windows: dict[str, list[float]] = {}
    for r in rows:
        if r["ts"] is not None:
            end = r["ts"] + (r["duration_ms"] or 0.0) / 1000.0
            w = windows.setdefault(r["session_id"], [r["ts"], end])
            w[0], w[1] = min(w[0], r["ts"]), max(w[1], end)

    def session_span_ms(sid: str) -> float | None:
        s = sessions[sid]
        recorded = session_duration_ms(s, now) if s.get("status") not in (M.RUNNING, M.TIMEOUT) else None
        w = windows.get(sid)
        if w is not None and s.get("started_at") is not None:
            w = [min(w[0], s["started_at"]), w[1]]
        spans = [v for v in (recorded, (w[1] - w[0]) * 1000.0 if w else None) if v]
        return max(spans) if spans else None

    slowest = []
    timed = sorted((r for r in rows if r["duration_ms"] is not None), key=lambda r: -float(r["duration_ms"]))
    for r in timed[:top]:
        ref = step_ref(r)
        ref["duration_ms"] = float(r["duration_ms"])
        total = session_span_ms(r["session_id"])
        ref["share_of_session"] = (ref["duration_ms"] / total) if total else None
        slowest.append(ref)

    gaps: list[dict[str, Any]] = []
    idle_total = 0.0
    prev: dict[str, Any] | None = None
    prev_end = 0.0
    for r in rows:
        if r["ts"] is None:
            continue
        end = r["ts"] + (r["duration_ms"] or 0.0) / 1000.0
        if prev is not None and prev["session_id"] == r["session_id"]:
            gap_ms = round((r["ts"] - prev_end) * 1000.0, 3)  # µs: below that it is float noise
            if gap_ms > 0:
                idle_total += gap_ms
                gaps.append({"gap_ms": gap_ms, "after": step_ref(prev), "before": step_ref(r)})
            if end >= prev_end:
                prev, prev_end = r, end
        else:
            prev, prev_end = r, end
    gaps.sort(key=lambda g: -g["gap_ms"])

    by_status: dict[str, int] = {}
    for s in sessions.values():
        by_status[s.get("status") or "running"] = by_status.get(s.get("status") or "running", 0) + 1
    costs = [r["cost"] for r in rows if r["type"] == "llm_call" and r["cost"] is not None]
    tokens = [r["total_tokens"] for r in rows if r["type"] == "llm_call" and r["total_tokens"] is not None]
    error_types: dict[str, int] = {}
    for r in rows:
        if r["type"] == "error" or r["error"] is not None:
            error_types[r["name"] or r["type"]] = error_types.get(r["name"] or r["type"], 0) + 1
    return {
        "summary": {
            "sessions": len(sessions),
            "by_status": dict(sorted(by_status.items())),
            "events": len(rows),
            "errors": sum(error_types.values()),
            "errors_by_step": dict(sorted(error_types.items(), key=lambda kv: (-kv[1], kv[0]))),
            "total_tokens": sum(tokens) if tokens else None,
            "cost": sum(costs) if costs else None,
            "idle_ms": round(idle_total, 3),
        },
        "tools": tools,
        "models": models,
        "slowest": slowest,
        "gaps": gaps[:top],
    }
