"""``sentrial-integrations stats``: per-tool and per-model latency, errors, tokens and cost, the slowest
steps and the longest idle gaps, as tables (the numbers come from :mod:`..core.store.stats`)."""

from __future__ import annotations

import argparse
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from ..core.format import fmt_cost, fmt_duration, fmt_tokens, plural
from ..core.store import compute_stats
from .common import UsageError, add_command, add_json
from .context import Ctx
from .sessions import session_filter, short_id_length
from .views import TYPE_STYLE


def add_stats(sub: Any, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        common,
        "stats",
        _cmd_stats,
        help="per-tool and per-model latency, errors, tokens, cost; bottlenecks and gaps",
        description="Statistics over the matching sessions: per tool and per model (count, error rate, "
        "p50/p95 latency, tokens, cost), the slowest steps, and the longest idle gaps between steps.",
    )
    p.add_argument("--since", help="sessions started at most this long ago (2h, 7d) or after a date")
    p.add_argument("--name", help="sessions whose name contains TEXT")
    p.add_argument("--top", type=int, default=10, help="how many slowest steps and gaps to list (default 10)")
    add_json(p, "print JSON instead of tables")


def _cmd_stats(args: argparse.Namespace, ctx: Ctx) -> int:
    if args.top < 1:
        raise UsageError("--top: must be 1 or more")
    flt = session_filter(ctx, args, -1)
    stats = compute_stats(ctx.store(), flt, args.top, ctx.now, ctx.view_sessions)
    if args.json:
        ctx.print_json(stats)
        return 0
    out = ctx.out
    sm = stats["summary"]
    if not sm["sessions"]:
        out.print(
            Text(
                "No sessions match."
                if (args.since or args.name)
                else f"No sessions recorded yet in {ctx.db_path}."
            )
        )
        return 0
    head = Text(plural(sm["sessions"], "session"), style="bold")
    head.append(" (" + ", ".join(f"{k} {v}" for k, v in sm["by_status"].items()) + ")")
    head.append(f" · {plural(sm['events'], 'event')} · {plural(sm['errors'], 'error')}")
    head.append(f" · {fmt_tokens(sm['total_tokens'])} tokens · {fmt_cost(sm['cost'])}")
    out.print(head)

    def table(title: str) -> Table:
        return Table(
            title=title,
            title_justify="left",
            title_style="bold",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            header_style="bold",
        )

    def rate(g: dict[str, Any]) -> Text:
        text = Text(f"{g['error_rate'] * 100:.0f}%" if g["errors"] else "0%")
        if g["errors"]:
            text.stylize("red")
        return text

    if stats["tools"]:
        t = table("Tools")
        for col in ("tool", "calls", "errors", "p50", "p95", "max", "total time"):
            t.add_column(col, justify="left" if col == "tool" else "right", no_wrap=col != "tool")
        for g in stats["tools"]:
            t.add_row(
                Text(g["name"]), str(g["count"]), rate(g), fmt_duration(g["p50_ms"]), fmt_duration(g["p95_ms"]),
                fmt_duration(g["max_ms"]), fmt_duration(g["total_ms"]),
            )  # fmt: skip
        out.print()
        out.print(t)
    if stats["models"]:
        t = table("Models")
        for col in ("model", "calls", "errors", "p50", "p95", "prompt", "completion", "cost"):
            t.add_column(col, justify="left" if col == "model" else "right", no_wrap=col != "model")
        for g in stats["models"]:
            t.add_row(
                Text(g["name"]), str(g["count"]), rate(g), fmt_duration(g["p50_ms"]), fmt_duration(g["p95_ms"]),
                fmt_tokens(g["prompt_tokens"]), fmt_tokens(g["completion_tokens"]), fmt_cost(g["cost"]),
            )  # fmt: skip
        out.print()
        out.print(t)
    id_len = short_id_length(list({r["session_id"] for r in stats["slowest"]}) or [""])
    if stats["slowest"]:
        t = table("Bottlenecks: slowest steps")
        for col in ("duration", "share", "type", "step", "session", "id"):
            t.add_column(
                col,
                justify="right" if col in ("duration", "share") else "left",
                no_wrap=col in ("duration", "share", "type", "id"),
            )
        for r in stats["slowest"]:
            share = r["share_of_session"]
            t.add_row(
                fmt_duration(r["duration_ms"]),
                f"{share * 100:.0f}%" if share is not None else "–",
                Text(r["type"], style=TYPE_STYLE.get(r["type"], "")),
                Text(r["name"]),
                Text(r["session_name"] or ""),
                Text(r["session_id"][:id_len], style="dim"),
            )
        out.print()
        out.print(t)
    if stats["gaps"]:
        t = table(f"Gaps: longest idle time between steps (total idle {fmt_duration(sm['idle_ms'])})")
        for col in ("gap", "after", "before", "session", "id"):
            t.add_column(col, justify="right" if col == "gap" else "left", no_wrap=col in ("gap", "id"))
        for g in stats["gaps"]:
            t.add_row(
                fmt_duration(g["gap_ms"]),
                Text(g["after"]["name"]),
                Text(g["before"]["name"]),
                Text(g["after"]["session_name"] or ""),
                Text(g["after"]["session_id"][:id_len], style="dim"),
            )
        out.print()
        out.print(t)
    return 0
