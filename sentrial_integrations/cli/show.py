"""``sentrial-integrations show``: a session's header (status, metadata, totals) and its timeline."""

from __future__ import annotations

import argparse
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from ..core.format import (
    error_message,
    fmt_cost,
    fmt_duration,
    fmt_tokens,
    local_time,
    one_line,
    unpriced_note,
)
from ..core.model import DECISION, ERROR, RUNNING, STATE_CHANGE
from ..core.store import session_duration_ms
from .common import add_command, add_json, add_session_id
from .context import Ctx
from .views import TYPE_STYLE, bar, session_document, session_json, status_text, timeline_window


def add_show(sub: Any, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        common,
        "show",
        _cmd_show,
        help="a session's header and timeline",
        description="Show one session: its header (status, metadata, totals) and the timeline of its events.",
    )
    add_session_id(p)
    add_json(p, "print {session, events} as JSON")


def _cmd_show(args: argparse.Namespace, ctx: Ctx) -> int:
    sid = ctx.resolve(args.id)
    session, events = session_document(ctx, sid)
    if args.json:
        ctx.print_json({"session": session_json(session, ctx.now), "events": events})
        return 0
    out = ctx.out
    print_header(ctx, session)
    if not events:
        out.print(Text("\nNo events recorded.", style="dim"))
        return 0
    _, span = timeline_window(session, events)
    headers = ("offset", "duration", "timeline", "type", "step", "tokens", "cost")
    cells: list[list[Text]] = []
    for e in events:
        dur_ms = e.get("duration_ms")
        cells.append(
            [
                Text("+" + fmt_duration(e["offset_ms"])),
                Text(fmt_duration(dur_ms) if dur_ms is not None else ""),
                Text(""),
                Text(e["type"], style=TYPE_STYLE.get(e["type"], "")),
                Text(""),
                Text(fmt_tokens(e.get("total_tokens")) if e.get("total_tokens") is not None else ""),
                Text(fmt_cost(e.get("cost")) if e.get("cost") is not None else ""),
            ]
        )
    fixed = sum(max([len(headers[i])] + [row[i].cell_len for row in cells]) for i in (0, 1, 3, 5, 6))
    gaps = 2 * (len(headers) - 1)
    steps: list[Text] = []
    for e in events:
        failed = e["type"] == ERROR or e.get("error") is not None
        indent = "  " * e["depth"]
        step = Text(indent + ("└ " if e["depth"] else ""))
        step.append(step_label(e), style="bold red" if failed else "")
        detail = _step_detail(e)
        if detail:
            step.append("\n" + indent + ("  " if e["depth"] else ""))
            step.append(detail, style="red" if failed else "dim")
        steps.append(step)
    # Room: the step column gets up to 32 cells first, then the bar (10-30 cells), then the step again.
    avail = out.width - fixed - gaps
    needed = min(100, max(max(line.cell_len for line in step.split("\n")) for step in steps))
    bar_width = max(10, min(30, avail - min(needed, 32)))
    step_width = max(12, min(needed, avail - bar_width))
    for e, row, step in zip(events, cells, steps, strict=True):
        dur_ms = e.get("duration_ms")
        failed = e["type"] == ERROR or e.get("error") is not None
        row[2] = bar((e["offset_ms"] or 0.0) / 1000.0, dur_ms / 1000.0 if dur_ms else None, span, bar_width)
        row[4] = step
        if failed:
            row[0].stylize("red")
    table = Table(
        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True, header_style="bold"
    )
    for header in headers:
        table.add_column(
            header,
            justify="right" if header in ("offset", "duration", "tokens", "cost") else "left",
            no_wrap=True,
            overflow="ellipsis",
            width=step_width if header == "step" else (bar_width if header == "timeline" else None),
        )
    for row in cells:
        table.add_row(*row)
    out.print()
    out.print(table)
    return 0


def step_label(e: dict[str, Any]) -> str:
    if e["type"] == DECISION:
        label = "→ " + one_line(e["decision"], 60) if e.get("decision") is not None else "decision"
        if e.get("confidence") is not None:
            label += f" (confidence {e['confidence']:g})"
        return label
    return str(e.get("name") or e["type"])


def _step_detail(e: dict[str, Any]) -> str:
    if e.get("error") is not None:
        return "✗ " + one_line(error_message(e["error"]), 200)
    if e["type"] == DECISION:
        return one_line(e.get("reasoning"), 200)
    if e["type"] == STATE_CHANGE:
        return one_line(e.get("output"), 200)
    return ""


def print_header(ctx: Ctx, s: dict[str, Any]) -> None:
    out = ctx.out
    title = Text(s.get("name") or "(unnamed session)", style="bold")
    title.append("  ")
    title.append_text(status_text(s.get("status")))
    out.print(title)

    def line(label: str, *parts: Text | str) -> None:
        text = Text(f"{label:<10}", style="bold")
        for part in parts:
            text.append_text(part if isinstance(part, Text) else Text(part))
        out.print(text)

    line("id", s["id"])
    who = []
    if s.get("agent_name") and s.get("agent_name") != s.get("name"):
        who.append(f"agent {s['agent_name']}")
    if s.get("user_id"):
        who.append(f"user {s['user_id']}")
    if s.get("parent_session_id"):
        who.append(f"parent {s['parent_session_id']}")
    if who:
        line("context", "  ".join(who))
    running = s.get("status") == RUNNING
    dur = session_duration_ms(s, ctx.now)
    line(
        "started",
        local_time(s.get("started_at"), zone=True),
        f"   duration {fmt_duration(dur)}{' so far' if running else ''}",
    )
    events = Text(str(s.get("event_count") or 0))
    if s.get("error_count"):
        events.append(f" ({s['error_count']} with errors)", style="red")
    line("events", events)
    if s.get("total_tokens") is not None or s.get("cost") is not None or s.get("unpriced_calls"):
        tokens = fmt_tokens(s.get("total_tokens"))
        if s.get("prompt_tokens") is not None or s.get("completion_tokens") is not None:
            tokens += f" (prompt {fmt_tokens(s.get('prompt_tokens'))}, completion {fmt_tokens(s.get('completion_tokens'))})"
        line("tokens", tokens, f"   cost {fmt_cost(s.get('cost'))}{unpriced_note(s.get('unpriced_calls'))}")
    meta = s.get("metadata") or {}
    if meta:
        line("metadata", "  ".join(f"{k}={one_line(v, 60)}" for k, v in meta.items()))
    if s.get("failure_reason"):
        line("reason", Text(one_line(s["failure_reason"], 200), style="red"))
    if s.get("user_input") is not None:
        line("input", one_line(s["user_input"], 120))
    if s.get("output") is not None:
        line("output", one_line(s["output"], 120))
