"""Compare two sessions: their steps aligned, the first divergence, what changed and what it cost.

:func:`diff_sessions` aligns the two step sequences on the longest common subsequence of
(step type, step name), so a swapped tool or an extra LLM call shows up as a removed and/or added step
while everything around it stays paired. Paired steps are compared on what they carry — an LLM call's
model, prompt (as a text diff), answer and tool calls (as a JSON diff); a tool's arguments (JSON diff),
result and error; a decision's choice — ignoring ids, timestamps, spans and durations. Every row has
the deltas (B − A) of tokens, cost and duration; so do the totals. Rows that are not the same also carry
each side's comparable contents (``a_content`` / ``b_content``: model, prompt, answer, tool calls; a
tool's arguments and result; ...), for a side-by-side view.

Two sessions are *structurally equal* when every step pairs with one of the same type and name (their
contents may differ): ``sentrial-integrations diff A B`` exits 0 then, 1 when they diverge.

Pure functions over session/event dicts (as the store, ``show --json`` or ``export`` give them).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..core.model import DECISION, LLM_CALL, TOOL_CALL
from ..core.record.llm import parse_json_text

__all__ = ["align", "diff_sessions", "json_diff", "text_diff"]

_MAX_DP_CELLS = 4_000_000  # above this, the middle part is aligned with difflib's matcher instead


# --- alignment ------------------------------------------------------------------------------------------


def step_key(event: Mapping[str, Any]) -> tuple[str, str]:
    etype = str(event.get("type") or "")
    return etype, str(event.get("name") or etype)


def align(a: Sequence[Any], b: Sequence[Any]) -> list[tuple[int | None, int | None]]:
    """Index pairs aligning ``a`` and ``b`` on a longest common subsequence: ``(i, j)`` paired,
    ``(i, None)`` only in ``a``, ``(None, j)`` only in ``b``; in order of both sequences. Where a run
    of steps only in ``a`` meets a run only in ``b``, the ``a`` ones come first."""
    n, m = len(a), len(b)
    start = 0
    while start < n and start < m and a[start] == b[start]:
        start += 1
    end_a, end_b = n, m
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    pairs: list[tuple[int | None, int | None]] = [(i, i) for i in range(start)]
    pairs.extend(_align_middle(a, b, start, end_a, start, end_b))
    pairs.extend((end_a + k, end_b + k) for k in range(n - end_a))
    return pairs


def _align_middle(
    a: Sequence[Any], b: Sequence[Any], a0: int, a1: int, b0: int, b1: int
) -> list[tuple[int | None, int | None]]:
    n, m = a1 - a0, b1 - b0
    if n == 0 or m == 0:
        return [(a0 + i, None) for i in range(n)] + [(None, b0 + j) for j in range(m)]
    matches: list[tuple[int, int]] = []
    if n * m <= _MAX_DP_CELLS:
        # lengths[i][j]: LCS length of a[a0+i:a1] and b[b0+j:b1]
        lengths = [[0] * (m + 1) for _ in range(n + 1)]
        for i in range(n - 1, -1, -1):
            row, below = lengths[i], lengths[i + 1]
            ai = a[a0 + i]
            for j in range(m - 1, -1, -1):
                row[j] = below[j + 1] + 1 if ai == b[b0 + j] else max(below[j], row[j + 1])
        i = j = 0
        while i < n and j < m:
            if a[a0 + i] == b[b0 + j]:
                matches.append((a0 + i, b0 + j))
                i += 1
                j += 1
            elif lengths[i + 1][j] >= lengths[i][j + 1]:
                i += 1
            else:
                j += 1
    else:
        sm = difflib.SequenceMatcher(None, list(a[a0:a1]), list(b[b0:b1]), autojunk=False)
        for blk in sm.get_matching_blocks():
            matches.extend((a0 + blk.a + k, b0 + blk.b + k) for k in range(blk.size))
    out: list[tuple[int | None, int | None]] = []
    pa, pb = a0, b0
    for i, j in [*matches, (a1, b1)]:
        out.extend((x, None) for x in range(pa, i))
        out.extend((None, y) for y in range(pb, j))
        if i < a1:
            out.append((i, j))
        pa, pb = i + 1, j + 1
    return out


# --- content comparison ---------------------------------------------------------------------------------


def text_diff(a: str, b: str, label_a: str = "a", label_b: str = "b") -> list[str]:
    """A unified diff of two texts, line by line (no trailing newlines); empty when equal."""
    if a == b:
        return []
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(
            a.splitlines(), b.splitlines(), fromfile=label_a, tofile=label_b, lineterm="", n=2
        )
    ]


def json_diff(a: Any, b: Any, path: str = "$") -> list[dict[str, Any]]:
    """Where two JSON values differ: ``[{"path", "change": changed|added|removed, "a", "b"}]``."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out: list[dict[str, Any]] = []
        for key in [*a, *(k for k in b if k not in a)]:
            sub = f"{path}.{key}"
            if key not in b:
                out.append({"path": sub, "change": "removed", "a": a[key], "b": None})
            elif key not in a:
                out.append({"path": sub, "change": "added", "a": None, "b": b[key]})
            else:
                out.extend(json_diff(a[key], b[key], sub))
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = []
        for k in range(max(len(a), len(b))):
            sub = f"{path}[{k}]"
            if k >= len(b):
                out.append({"path": sub, "change": "removed", "a": a[k], "b": None})
            elif k >= len(a):
                out.append({"path": sub, "change": "added", "a": None, "b": b[k]})
            else:
                out.extend(json_diff(a[k], b[k], sub))
        return out
    if a == b and type(a) is type(b):
        return []
    return [{"path": path, "change": "changed", "a": a, "b": b}]


def _calls(calls: Any) -> list[dict[str, Any]]:
    """Tool calls without their ids (ids are per run)."""
    out = []
    for c in calls if isinstance(calls, list) else []:
        if isinstance(c, Mapping):
            inner = c.get("function")
            fn = inner if isinstance(inner, Mapping) else c
            out.append(
                {"name": fn.get("name"), "arguments": parse_json_text(fn.get("arguments", fn.get("args")))}
            )
    return out


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, Mapping) and isinstance(p.get("text"), str):
                parts.append(p["text"])
            elif isinstance(p, str):
                parts.append(p)
            else:
                parts.append(json.dumps(p, sort_keys=True, default=str))
        return "".join(parts)
    return json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)


def prompt_text(messages: Any) -> str:
    """An LLM call's messages as text: one ``[role]`` header per message, its text, its tool calls."""
    if isinstance(messages, Mapping) and "messages" in messages:
        messages = messages.get("messages")
    if isinstance(messages, str):
        return messages
    lines: list[str] = []
    for m in messages if isinstance(messages, list) else []:
        if not isinstance(m, Mapping):
            lines.append(str(m))
            continue
        lines.append(f"[{m.get('role') or m.get('type') or 'message'}]")
        text = _content_text(m.get("content"))
        if text:
            lines.extend(text.splitlines() or [""])
        for c in _calls(m.get("tool_calls")):
            lines.append(f"→ {c['name']}({json.dumps(c['arguments'], sort_keys=True, default=str)})")
    return "\n".join(lines)


def _io(event: Mapping[str, Any]) -> dict[str, Any]:
    """The comparable contents of a step, by aspect."""
    etype = event.get("type")
    inp, out = event.get("input"), event.get("output")
    if etype == LLM_CALL:
        inp = inp if isinstance(inp, Mapping) else {"messages": inp}
        out = out if isinstance(out, Mapping) else {"content": out}
        return {
            "model": inp.get("model") or event.get("model"),
            "prompt": prompt_text(inp.get("messages")),
            "answer": _content_text(out.get("content")),
            "tool_calls": _calls(out.get("tool_calls")),
            "error": _error(event),
        }
    if etype == TOOL_CALL:
        return {"arguments": parse_json_text(inp), "result": out, "error": _error(event)}
    if etype == DECISION:
        decision = event.get("decision")
        if isinstance(decision, Mapping):
            decision = {**decision, "tool_calls": _calls(decision.get("tool_calls"))}
        return {"decision": decision, "reasoning": event.get("reasoning") or ""}
    return {"error": _error(event), "input": inp, "output": out}


def _error(event: Mapping[str, Any]) -> Any:
    err = event.get("error")
    if isinstance(err, Mapping):
        return {"type": err.get("type"), "message": err.get("message")}
    return err


def compare_steps(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """What differs between two paired steps: ``{aspect: text diff lines | JSON diff list}``."""
    ia, ib = _io(a), _io(b)
    changes: dict[str, Any] = {}
    for key in ia:
        va, vb = ia[key], ib.get(key)
        if va == vb:
            continue
        if isinstance(va, str) and isinstance(vb, str):
            changes[key] = text_diff(va, vb, "A", "B")
        else:
            changes[key] = json_diff(va, vb)
    return changes


# --- numbers ----------------------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _delta(a: Any, b: Any) -> float | None:
    va, vb = _num(a), _num(b)
    if va is None and vb is None:
        return None
    return (vb or 0.0) - (va or 0.0)


def _tokens(e: Mapping[str, Any] | None) -> Any:
    return e.get("total_tokens") if e is not None else None


def _step_deltas(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, float | None]:
    def get(e: Mapping[str, Any] | None, key: str) -> Any:
        return e.get(key) if e is not None else None

    return {
        "tokens": _delta(_tokens(a), _tokens(b)),
        "cost": _delta(get(a, "cost"), get(b, "cost")),
        "duration_ms": _delta(get(a, "duration_ms"), get(b, "duration_ms")),
    }


def _sum(events: Sequence[Mapping[str, Any]], key: str, only: str | None = None) -> float | None:
    values = [_num(e.get(key)) for e in events if only is None or e.get("type") == only]
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _session_duration(session: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> float | None:
    d = _num(session.get("duration_ms"))
    if d is not None:
        return d
    starts = [e["ts"] for e in events if isinstance(e.get("ts"), (int, float))]
    ends = [
        e["ts"] + (_num(e.get("duration_ms")) or 0.0) / 1000.0
        for e in events
        if isinstance(e.get("ts"), (int, float))
    ]
    if not starts:
        return None
    return (max(ends) - min(starts)) * 1000.0


def _side(session: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    tokens = _num(session.get("total_tokens"))
    cost = _num(session.get("cost"))
    return {
        "id": session.get("id"),
        "name": session.get("name"),
        "status": session.get("status"),
        "metadata": session.get("metadata"),
        "steps": len(events),
        "tokens": tokens if tokens is not None else _sum(events, "total_tokens", LLM_CALL),
        "cost": cost if cost is not None else _sum(events, "cost", LLM_CALL),
        "duration_ms": _session_duration(session, events),
    }


# --- the diff ---------------------------------------------------------------------------------------------


def _summary(row: dict[str, Any]) -> str:
    kind = row["kind"]
    if kind == "removed":
        return f"step {row['a_step']} ({row['type']} {row['name']}) is only in A"
    if kind == "added":
        return f"step {row['b_step']} ({row['type']} {row['name']}) is only in B"
    aspects = ", ".join(row["changes"])
    return f"step {row['a_step']} of A / {row['b_step']} of B ({row['type']} {row['name']}): {aspects} differ"


def diff_sessions(
    a_session: Mapping[str, Any],
    a_events: Sequence[Mapping[str, Any]],
    b_session: Mapping[str, Any],
    b_events: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The comparison of two sessions (events in step order) as a JSON-ready dict."""
    keys_a = [step_key(e) for e in a_events]
    keys_b = [step_key(e) for e in b_events]
    rows: list[dict[str, Any]] = []
    for i, j in align(keys_a, keys_b):
        ea = a_events[i] if i is not None else None
        eb = b_events[j] if j is not None else None
        etype, name = step_key(ea if ea is not None else eb)  # type: ignore[arg-type]
        row: dict[str, Any] = {
            "kind": "same",
            "a_step": i + 1 if i is not None else None,
            "b_step": j + 1 if j is not None else None,
            "type": etype,
            "name": name,
            "deltas": _step_deltas(ea, eb),
            "changes": {},
        }
        if ea is None:
            row["kind"] = "added"
        elif eb is None:
            row["kind"] = "removed"
        else:
            row["changes"] = compare_steps(ea, eb)
            if row["changes"]:
                row["kind"] = "changed"
        if row["kind"] != "same":  # side by side: what each step carried
            row["a_content"] = _io(ea) if ea is not None else None
            row["b_content"] = _io(eb) if eb is not None else None
        rows.append(row)
    first = next((r for r in rows if r["kind"] != "same"), None)
    first_structural = next((r for r in rows if r["kind"] in ("added", "removed")), None)
    side_a, side_b = _side(a_session, a_events), _side(b_session, b_events)
    totals = {
        key: {"a": side_a[key], "b": side_b[key], "delta": _delta(side_a[key], side_b[key])}
        for key in ("steps", "tokens", "cost", "duration_ms")
    }

    def divergence(r: dict[str, Any] | None) -> dict[str, Any] | None:
        if r is None:
            return None
        return {
            "row": rows.index(r) + 1,
            "kind": r["kind"],
            "a_step": r["a_step"],
            "b_step": r["b_step"],
            "type": r["type"],
            "name": r["name"],
            "summary": _summary(r),
        }

    return {
        "a": side_a,
        "b": side_b,
        "structurally_equal": first_structural is None,
        "equal": first is None,
        "first_divergence": divergence(first),
        "first_structural_divergence": divergence(first_structural),
        "counts": {
            k: sum(1 for r in rows if r["kind"] == k) for k in ("same", "changed", "removed", "added")
        },
        "rows": rows,
        "totals": totals,
    }
