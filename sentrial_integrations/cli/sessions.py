"""``sentrial-integrations sessions``: list sessions, newest first, with filters."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from ..core.format import fmt_cost, fmt_duration, fmt_tokens, short_time
from ..core.model import ALL_STATUSES, RUNNING
from ..core.store import SessionFilter, session_duration_ms
from .common import UsageError, add_command, add_json, parse_key_values
from .context import Ctx
from .timeparse import parse_when
from .views import STATUS_STYLE, session_json


def session_filter(ctx: Ctx, args: argparse.Namespace, limit: int) -> SessionFilter:
    """The sessions the filter options (``--status``, ``--name``, ``--since``...) select."""
    status = getattr(args, "status", None)
    if status is not None and status not in ALL_STATUSES:
        raise UsageError(f"--status: unknown status {status!r} (choose from {', '.join(ALL_STATUSES)})")
    since = getattr(args, "since", None)
    until = getattr(args, "until", None)
    return SessionFilter(
        status=status,
        name=getattr(args, "name", None),
        meta=parse_key_values(getattr(args, "meta", None) or [], "--meta"),
        since=parse_when(since, ctx.now, "--since") if since else None,
        until=parse_when(until, ctx.now, "--until") if until else None,
        agent=getattr(args, "agent", None),
        limit=limit,
    )


def add_sessions(sub: Any, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        common,
        "sessions",
        _cmd_sessions,
        help="list sessions, newest first",
        description="List recorded sessions, newest first, with optional filters.",
    )
    p.add_argument("--status", help=f"only this status ({', '.join(ALL_STATUSES)})")
    p.add_argument("--name", help="name contains TEXT (case-insensitive)")
    p.add_argument("--agent", help="agent name equals TEXT")
    p.add_argument(
        "--meta", action="append", metavar="KEY=VALUE", help="metadata KEY equals VALUE (repeatable)"
    )
    p.add_argument("--since", help="started at most this long ago (2h, 7d) or after a date (2026-11-01)")
    p.add_argument("--until", help="started before this (same forms as --since)")
    p.add_argument("--limit", type=int, default=50, help="at most N sessions (0: all; default 50)")
    add_json(p)


def _cmd_sessions(args: argparse.Namespace, ctx: Ctx) -> int:
    if args.limit < 0:
        raise UsageError("--limit: must be 0 (all) or more")
    flt = session_filter(ctx, args, args.limit or -1)
    store = ctx.store()
    sessions = ctx.view_sessions(store.list_sessions(flt))
    if args.json:
        ctx.print_json([session_json(s, ctx.now) for s in sessions])
        return 0
    total = store.count_sessions(flt)
    filtered = any(getattr(args, k, None) for k in ("status", "name", "agent", "meta", "since", "until"))
    if not sessions:
        ctx.out.print(
            Text(
                "No sessions match these filters."
                if filtered
                else f"No sessions recorded yet in {ctx.db_path}."
            )
        )
        return 0
    id_len = short_id_length([s["id"] for s in sessions])
    rows: list[list[Text]] = []
    for s in sessions:
        dur = session_duration_ms(s, ctx.now)
        status = s.get("status") or RUNNING
        events = Text(str(s.get("event_count") or 0))
        if s.get("error_count"):
            events.append(f" ({s['error_count']}✗)", style="red")
        rows.append(
            [
                Text(s.get("name") or ""),
                Text(status, style=STATUS_STYLE.get(status, "")),
                Text(short_time(s.get("started_at"), ctx.now)),
                Text(fmt_duration(dur) + ("…" if status == RUNNING else "")),
                events,
                Text(fmt_tokens(s.get("total_tokens"))),
                Text(fmt_cost(s.get("cost")) + ("+?" if s.get("unpriced_calls") else "")),
                Text(s["id"][:id_len], style="dim"),
            ]
        )
    headers = ("name", "status", "started", "duration", "events", "tokens", "cost", "id")
    gap = 2
    name_width = _flex_width(ctx.out.width, headers, rows, flex=0, gap=gap)
    if name_width < 16:  # a narrow terminal: one space between columns instead of two
        gap = 1
        name_width = _flex_width(ctx.out.width, headers, rows, flex=0, gap=gap)
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        padding=(0, gap - 1),
        header_style="bold",
    )
    for i, header in enumerate(headers):
        table.add_column(
            header,
            justify="right" if header in ("duration", "events", "tokens", "cost") else "left",
            no_wrap=True,
            overflow="ellipsis",
            width=name_width if i == 0 else None,
        )
    for row in rows:
        table.add_row(*row)
    ctx.out.print(table)
    if total > len(sessions):
        ctx.out.print(
            Text(
                f"{len(sessions)} of {total} sessions shown (newest first); --limit N or --limit 0 for more.",
                style="dim",
            )
        )
    if ctx.out.is_terminal:  # which store this is (not in piped output, which scripts parse)
        ctx.out.print(Text(f"store: {ctx.db_path}", style="dim"))
    return 0


def _flex_width(total: int, headers: Sequence[str], rows: list[list[Text]], flex: int, gap: int) -> int:
    """Width for column ``flex`` so that a table with ``gap`` spaces between columns fits ``total``."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], cell.cell_len)
    others = sum(w for i, w in enumerate(widths) if i != flex) + gap * (len(headers) - 1)
    return max(4, min(widths[flex], total - others))


def short_id_length(ids: list[str], minimum: int = 12) -> int:
    """The shortest prefix length (at least ``minimum``) that tells the listed ids apart."""
    n = minimum
    longest = max((len(i) for i in ids), default=minimum)
    while n < longest and len({i[:n] for i in ids}) < len(ids):
        n += 2
    return n
