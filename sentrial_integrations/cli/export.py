"""``sentrial-integrations export``: one session with its events as JSON or JSON Lines, to stdout or a file."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import IO, Any

from rich.text import Text

from ..core.files import UnsafeFileError, open_private
from .common import CLIError, add_command, add_session_id, stdout_is_utf8
from .context import Ctx
from .views import session_document, session_json


def add_export(sub: Any, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        common,
        "export",
        _cmd_export,
        help="export a session with its events as JSON or JSON Lines",
        description="Export one session: --format json writes {session, events}; --format jsonl writes "
        'one {"kind": "session", ...} line and then one {"kind": "event", ...} line per event.',
    )
    add_session_id(p)
    p.add_argument("--format", choices=("json", "jsonl"), default="json", help="json (default) or jsonl")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def _cmd_export(args: argparse.Namespace, ctx: Ctx) -> int:
    sid = ctx.resolve(args.id)
    session, events = session_document(ctx, sid)
    sess = session_json(session, ctx.now)
    if args.output:
        try:
            fh: IO[str] = open_private(args.output)  # created 0600: an export holds recorded prompts
        except UnsafeFileError as exc:
            raise CLIError(str(exc)) from None
        except OSError as exc:
            raise CLIError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    else:
        fh = sys.stdout
    show_progress = (
        ctx.err.is_terminal and len(events) >= 200 and (bool(args.output) or not ctx.out.is_terminal)
    )
    try:
        if show_progress:
            from rich.progress import Progress

            with Progress(console=ctx.err, transient=True) as progress:
                task = progress.add_task("Exporting", total=len(events))
                _write_export(ctx, fh, args.format, sess, events, lambda: progress.advance(task))
        else:
            _write_export(ctx, fh, args.format, sess, events, None)
    finally:
        if fh is not sys.stdout:
            fh.close()
    if args.output:
        ctx.err.print(Text(f"Exported {len(events)} events of {sid} to {args.output}", style="dim"))
    return 0


def _write_export(
    ctx: Ctx,
    fh: IO[str],
    fmt: str,
    session: dict[str, Any],
    events: list[dict[str, Any]],
    tick: Callable[[], None] | None,
) -> None:
    ascii_only = fh is sys.stdout and not stdout_is_utf8()
    if fmt == "jsonl":
        fh.write(json.dumps({"kind": "session", **session}, ensure_ascii=ascii_only, default=str) + "\n")
        for e in events:
            fh.write(json.dumps({"kind": "event", **e}, ensure_ascii=ascii_only, default=str) + "\n")
            if tick:
                tick()
        return
    # The same document as `show --json`, written event by event so a progress bar can follow it.
    session_text = json.dumps(session, ensure_ascii=ascii_only, indent=2, default=str).replace("\n", "\n  ")
    fh.write('{\n  "session": ' + session_text + ',\n  "events": [')
    for i, e in enumerate(events):
        text = json.dumps(e, ensure_ascii=ascii_only, indent=2, default=str).replace("\n", "\n    ")
        fh.write(("," if i else "") + "\n    " + text)
        if tick:
            tick()
    fh.write("\n  ]\n}\n" if events else "]\n}\n")
