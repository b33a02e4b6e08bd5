"""``sentrial-integrations purge``: delete the sessions (and their events) older than a duration."""

from __future__ import annotations

import argparse
from typing import Any

from rich.text import Text

from ..core.format import local_time, plural
from ..core.store import SessionFilter
from .common import UsageError, add_command
from .context import Ctx
from .timeparse import parse_duration


def add_purge(sub: Any, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        common,
        "purge",
        _cmd_purge,
        help="delete sessions (and their events) older than a duration",
        description="Delete the sessions started more than --older-than ago, with their events.",
    )
    p.add_argument(
        "--older-than", required=True, metavar="DURATION", help="e.g. 30d, 12h, 2w (a unit is required)"
    )
    p.add_argument("--dry-run", action="store_true", help="only count what would be deleted")


def _cmd_purge(args: argparse.Namespace, ctx: Ctx) -> int:
    age = parse_duration(args.older_than)
    if age is None:
        raise UsageError(
            f"--older-than: cannot read {args.older_than!r}; use a duration with a unit like 30d or 12h"
        )
    cutoff = ctx.now - age
    store = ctx.store(write=not args.dry_run)
    count = store.count_sessions(SessionFilter(until=cutoff, limit=-1))
    when = local_time(cutoff, zone=True)
    if args.dry_run:
        ctx.out.print(Text(f"Would delete {plural(count, 'session')} started before {when}."))
        return 0
    if count and ctx.err.is_terminal:
        from rich.progress import Progress

        with Progress(console=ctx.err, transient=True) as progress:
            task = progress.add_task("Purging", total=count)
            deleted = store.purge(cutoff, progress=lambda n: progress.advance(task, n))
    else:
        deleted = store.purge(cutoff)
    ctx.out.print(Text(f"Deleted {plural(deleted, 'session')} (and their events) started before {when}."))
    return 0
