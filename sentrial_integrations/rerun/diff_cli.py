"""``sentrial-integrations diff A B [--json]``: the comparison of :func:`.diff.diff_sessions`, printed
as a table of aligned steps, the changed steps' text / JSON diffs, the totals and the first divergence
(or as JSON). Exit status 0 when the two sessions are equal in structure, 1 when they diverge.
"""

from __future__ import annotations

import json
from typing import Any

from ..core.format import MISSING, fmt_cost, fmt_duration, fmt_tokens

_MARK = {"same": "=", "changed": "~", "removed": "-", "added": "+"}
_STYLE = {"same": "", "changed": "yellow", "removed": "red", "added": "green"}


def add_command(sub: Any, common: Any) -> None:
    """Declare the ``diff`` subcommand (called by ``cli/``)."""
    p = sub.add_parser(
        "diff",
        parents=[common],
        help="compare two sessions step by step (exit 1 when their steps diverge)",
        description="Align two sessions' steps (longest common subsequence over step type and name), show "
        "the first divergence, what differs in paired steps (prompts as a text diff, arguments as a "
        "JSON diff) and the deltas of tokens, cost and duration. A and B are session ids (or unique "
        "prefixes) in the store, or files written by 'export'. Exit status 0 when the two are equal in "
        "structure, 1 when they diverge.",
    )
    p.add_argument("a", metavar="A", help="the first session: id, unique prefix, or export file")
    p.add_argument("b", metavar="B", help="the second session")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=cmd_diff)


def _load_side(ctx: Any, ref: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    import os

    from ..cli import CLIError, session_document, session_json
    from .recording import ReplayError, load

    if os.path.isfile(ref):
        try:
            rec = load(ref)
        except ReplayError as exc:
            raise CLIError(str(exc)) from None
        return rec.session, rec.events
    session, events = session_document(ctx, ctx.resolve(ref))
    return session_json(session, ctx.now), events


def _signed(value: float | None, fmt: Any) -> str:
    if value is None:
        return MISSING
    if value == 0:
        return "0"
    return ("+" if value > 0 else "-") + fmt(abs(value))


def cmd_diff(args: Any, ctx: Any) -> int:
    from rich.table import Table
    from rich.text import Text

    from .diff import diff_sessions

    a_session, a_events = _load_side(ctx, args.a)
    b_session, b_events = _load_side(ctx, args.b)
    result = diff_sessions(a_session, a_events, b_session, b_events)
    code = 0 if result["structurally_equal"] else 1
    if args.json:
        ctx.print_json(result)
        return code
    out = ctx.out
    for label, side in (("A", result["a"]), ("B", result["b"])):
        line = Text(f"{label}  ", style="bold")
        line.append(str(side["id"]), style="bold")
        line.append(f"  {side['name'] or ''}  {side['status'] or ''}  {side['steps']} steps")
        line.append(
            f"  {fmt_tokens(side['tokens'])} tokens  {fmt_cost(side['cost'])}  {fmt_duration(side['duration_ms'])}"
        )
        out.print(line)
    table = Table(box=None, pad_edge=False, show_edge=False)
    for head in ("", "A", "B", "type", "step", "Δ tokens", "Δ cost", "Δ duration"):
        table.add_column(head, justify="right" if head.startswith(("Δ", "A", "B")) else "left")
    for r in result["rows"]:
        d = r["deltas"]
        style = _STYLE[r["kind"]]
        table.add_row(
            Text(_MARK[r["kind"]], style=style),
            str(r["a_step"] or "·"),
            str(r["b_step"] or "·"),
            r["type"],
            Text(r["name"], style=style),
            _signed(d["tokens"], fmt_tokens),
            _signed(d["cost"], fmt_cost),
            _signed(d["duration_ms"], fmt_duration),
        )
    out.print()
    out.print(table)
    changed = [r for r in result["rows"] if r["kind"] == "changed"]
    for r in changed:
        out.print()
        out.print(
            Text(f"~ step {r['a_step']} (A) / {r['b_step']} (B)  {r['type']}  {r['name']}", style="bold")
        )
        for aspect, change in r["changes"].items():
            out.print(Text(f"  {aspect}:", style="underline"))
            if change and isinstance(change[0], str):
                for line in change:
                    style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
                    out.print(Text("    " + line, style=style), soft_wrap=True)
            else:
                for c in change:
                    text = f"    {c['path']}: {_json(c['a'])} → {_json(c['b'])}"
                    out.print(Text(text), soft_wrap=True)
    totals = result["totals"]
    out.print()
    summary = Text("Totals (A → B): ", style="bold")
    summary.append(
        f"steps {totals['steps']['a']} → {totals['steps']['b']}, "
        f"tokens {fmt_tokens(totals['tokens']['a'])} → {fmt_tokens(totals['tokens']['b'])} "
        f"({_signed(totals['tokens']['delta'], fmt_tokens)}), "
        f"cost {fmt_cost(totals['cost']['a'])} → {fmt_cost(totals['cost']['b'])} "
        f"({_signed(totals['cost']['delta'], fmt_cost)}), "
        f"duration {fmt_duration(totals['duration_ms']['a'])} → {fmt_duration(totals['duration_ms']['b'])} "
        f"({_signed(totals['duration_ms']['delta'], fmt_duration)})"
    )
    out.print(summary, soft_wrap=True)
    first = result["first_divergence"]
    if first is None:
        out.print(Text("Equal: same steps, same contents.", style="green"))
    else:
        out.print(Text(f"First divergence: {first['summary']}", style="yellow"), soft_wrap=True)
        if result["structurally_equal"]:
            out.print(Text("Equal in structure (contents differ).", style="green"))
        else:
            c = result["counts"]
            out.print(
                Text(f"Diverged: {c['removed']} step(s) only in A, {c['added']} only in B.", style="bold red")
            )
    return code


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= 200 else text[:199] + "…"
