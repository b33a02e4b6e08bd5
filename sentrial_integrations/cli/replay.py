"""``sentrial-integrations replay``: step through a session's events with their inputs and outputs in full."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.text import Text

from ..core.format import error_message, fmt_cost, fmt_duration, fmt_tokens, pretty
from ..core.model import DECISION, LLM_CALL
from ..core.store import session_duration_ms
from .common import add_command, add_session_id, isatty
from .context import Ctx
from .show import print_header, step_label
from .views import TYPE_STYLE, session_document, status_text


def add_replay(sub: Any, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        common,
        "replay",
        _cmd_replay,
        help="step through a session's events with full inputs and outputs",
        description="Replay a session one event at a time, with inputs and outputs in full. "
        "Waits for Enter between steps when stdin is a terminal.",
    )
    add_session_id(p)
    p.add_argument("--no-pause", action="store_true", help="print every step without waiting")


def _cmd_replay(args: argparse.Namespace, ctx: Ctx) -> int:
    sid = ctx.resolve(args.id)
    session, events = session_document(ctx, sid)
    out = ctx.out
    print_header(ctx, session)
    # Pause only for a person at a terminal: stdin to answer, stdout to read (not `replay ID > file`).
    pause = not args.no_pause and isatty(sys.stdin) and isatty(sys.stdout)
    prev_end: float | None = None
    span_names: dict[str, str] = {}
    for i, e in enumerate(events, 1):
        if e.get("span_id"):
            span_names.setdefault(e["span_id"], step_label(e))
        out.print()
        title = Text(f"Step {i}/{len(events)}", style="bold")
        title.append(f"  +{fmt_duration(e['offset_ms'])}")
        parent = span_names.get(e.get("parent_span_id") or "")
        if parent is not None:
            title.append(f" (inside {parent})", style="dim")
        elif prev_end is not None and e.get("offset_ms") is not None:
            gap = e["offset_ms"] - prev_end
            title.append(
                f" (after {fmt_duration(gap)} idle)" if gap > 0 else " (overlaps the previous step)",
                style="dim",
            )
        title.append("  ")
        title.append(e["type"], style=TYPE_STYLE.get(e["type"], ""))
        title.append("  ")
        title.append(e.get("name") or e["type"], style="bold red" if e.get("error") is not None else "bold")
        if e.get("duration_ms") is not None:
            title.append(f"  {fmt_duration(e['duration_ms'])}")
        out.rule(title, align="left")
        for label, value in _replay_sections(e):
            out.print(Text(label, style="bold underline"))
            out.print(Text(value, style="red" if label.startswith("Error") else ""), soft_wrap=True)
        if e.get("offset_ms") is not None:
            end = e["offset_ms"] + (e.get("duration_ms") or 0.0)
            prev_end = end if prev_end is None else max(prev_end, end)
        if pause and i < len(events):
            try:
                answer = input("⏎ next step · q quit ")
            except EOFError:
                break
            if answer.strip().lower() in ("q", "quit", "exit"):
                return 0
    out.print()
    end = Text("End of session: ", style="bold")
    end.append_text(status_text(session.get("status")))
    end.append(f"  {fmt_duration(session_duration_ms(session, ctx.now))}")
    out.print(end)
    if session.get("failure_reason"):
        out.print(Text(str(session["failure_reason"]), style="red"), soft_wrap=True)
    if session.get("output") is not None:
        out.print(Text("Output", style="bold underline"))
        out.print(Text(pretty(session["output"])), soft_wrap=True)
    return 0


def _replay_sections(e: dict[str, Any]) -> list[tuple[str, str]]:
    sections: list[tuple[str, str]] = []
    etype = e["type"]
    if etype == LLM_CALL:
        raw_in, raw_out = e.get("input"), e.get("output")
        inp: dict[str, Any] = raw_in if isinstance(raw_in, dict) else {"messages": raw_in}
        outp: dict[str, Any] = raw_out if isinstance(raw_out, dict) else {"content": raw_out}
        head = (
            f"model {e.get('model') or inp.get('model')}  provider {e.get('provider') or inp.get('provider')}"
        )
        if inp.get("params"):
            head += "\nparams " + json.dumps(inp["params"], ensure_ascii=False, default=str)
        sections.append(("Model", head))
        sections.append(("Messages", _messages_text(inp.get("messages"))))
        if outp.get("content") is not None:
            sections.append(("Response", pretty(outp["content"])))
        if outp.get("tool_calls"):
            sections.append(("Tool calls", pretty(outp["tool_calls"])))
        usage = (
            f"tokens {fmt_tokens(e.get('prompt_tokens'))} in, {fmt_tokens(e.get('completion_tokens'))} out"
        )
        usage += f"   cost {fmt_cost(e.get('cost'))}"
        if e.get("cost_source"):
            usage += f" ({e['cost_source']})"
        elif e.get("unpriced"):
            usage += " (cost unknown: no price for this model)"
        for key in ("finish_reason", "response_model", "time_to_first_token_ms", "partial"):
            if outp.get(key) is not None:
                usage += f"   {key} {outp[key]}"
        sections.append(("Usage", usage))
    else:
        keys = (
            ("reasoning", "decision", "alternatives")
            if etype == DECISION
            else ("input", "output", "reasoning")
        )
        sections += [(key.capitalize(), pretty(e[key])) for key in keys if e.get(key) is not None]
        if etype == DECISION and e.get("confidence") is not None:
            sections.append(("Confidence", f"{e['confidence']:g}"))
    err = e.get("error")
    if err is not None:
        text = error_message(err)
        if isinstance(err, dict):
            extra = {k: v for k, v in err.items() if k not in ("message", "type", "stack_trace")}
            if extra:
                text += "\n" + pretty(extra)
            stack = str(err.get("stack_trace") or "").strip()
            if stack and stack != text.strip():
                text += "\n" + stack
        sections.append(("Error", text))
    if e.get("metadata"):
        sections.append(("Metadata", pretty(e["metadata"])))
    return sections


def _messages_text(messages: Any) -> str:
    if isinstance(messages, list) and all(isinstance(m, dict) for m in messages):
        parts = []
        for m in messages:
            role = m.get("role") or m.get("type") or "message"
            content = m.get("content")
            rest = {k: v for k, v in m.items() if k not in ("role", "type", "content")}
            text = f"[{role}] " + (pretty(content) if content is not None else "")
            if rest:
                text += "\n" + pretty(rest)
            parts.append(text)
        return "\n".join(parts) if parts else "(none)"
    return "(none)" if messages is None else pretty(messages)
