"""The compare page: ``/compare?a=<session>&b=<session>`` — two sessions' steps aligned side by side
(:func:`sentrial_integrations.rerun.diff.diff_sessions`), the first divergence, the text / JSON diffs of
changed steps and the deltas of tokens, cost and duration. Without both ids it shows a form.

Server-rendered HTML like the other pages (no script; the stylesheet is ``/static/compare.css``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..rerun.diff import diff_sessions
from . import pages
from .dashboard import page_auth
from .pages import esc, fmt_cost, fmt_duration, fmt_int, status_badge
from .read_api import session_data
from .state import server_state

_MARK = {"same": "=", "changed": "~", "removed": "−", "added": "+"}
_KIND_TEXT = {"same": "same", "changed": "changed", "removed": "only in A", "added": "only in B"}


def _q(ident: str) -> str:
    """A session id as a URL path segment, escaped for an attribute."""
    return esc(quote(ident, safe=""))


def _signed(value: Any, fmt: Any) -> str:
    if value is None:
        return "–"
    if value == 0:
        return "0"
    return ("+" if value > 0 else "−") + fmt(abs(value))


def _delta_cls(value: Any) -> str:
    if not isinstance(value, (int, float)) or value == 0:
        return "d-zero"
    return "d-up" if value > 0 else "d-down"


def _form(a: str, b: str, note: str = "") -> str:
    msg = f'<p class="cmp-note">{esc(note)}</p>' if note else ""
    return (
        '<section class="cmp-form-wrap"><h1>Compare two sessions</h1>'
        f"{msg}"
        '<form class="cmp-form" method="get" action="/compare" data-testid="compare-form">'
        f'<label>A <input name="a" value="{esc(a)}" placeholder="session id or prefix" required></label>'
        f'<label>B <input name="b" value="{esc(b)}" placeholder="session id or prefix" required></label>'
        '<button type="submit">Compare</button></form></section>'
    )


def _side_card(label: str, side: dict[str, Any], other: dict[str, Any]) -> str:
    sid = str(side.get("id") or "")
    raw_meta = side.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    replay = ""
    if meta.get("replay_of"):
        of = str(meta["replay_of"])
        rel = " (A)" if of == other.get("id") else ""
        replay = (
            f'<div class="cmp-replay" data-testid="replay-of-{label.lower()}">replay of '
            f'<a href="/sessions/{_q(of)}">{esc(of)}</a>{rel}</div>'
        )
    return (
        f'<div class="cmp-side" data-testid="side-{label.lower()}">'
        f'<div class="cmp-label">{label}</div>'
        f'<div class="cmp-id"><a href="/sessions/{_q(sid)}">{esc(sid)}</a></div>'
        f'<div class="cmp-name">{esc(side.get("name") or "")} {status_badge(side.get("status"))}</div>'
        f'<div class="cmp-facts">{fmt_int(side.get("steps"))} steps · {fmt_int(side.get("tokens"))} tokens · '
        f"{fmt_cost(side.get('cost'))} · {fmt_duration(side.get('duration_ms'))}</div>"
        f"{replay}</div>"
    )


def _totals(result: dict[str, Any]) -> str:
    rows = []
    for key, label, fmt in (
        ("steps", "Steps", fmt_int),
        ("tokens", "Tokens", fmt_int),
        ("cost", "Cost", fmt_cost),
        ("duration_ms", "Duration", fmt_duration),
    ):
        t = result["totals"][key]
        rows.append(
            f'<tr data-testid="total-{key}"><th>{label}</th><td>{fmt(t["a"])}</td><td>{fmt(t["b"])}</td>'
            f'<td class="{_delta_cls(t["delta"])}">{_signed(t["delta"], fmt)}</td></tr>'
        )
    return (
        '<table class="cmp-totals"><thead><tr><th></th><th>A</th><th>B</th><th>Δ (B − A)</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _changes(changes: dict[str, Any]) -> str:
    parts = []
    for aspect, change in changes.items():
        if change and isinstance(change[0], str):
            lines = []
            for line in change:
                cls = "dl-add" if line.startswith("+") else "dl-del" if line.startswith("-") else "dl-ctx"
                if line.startswith(("+++", "---", "@@")):
                    cls = "dl-head"
                lines.append(f'<span class="{cls}">{esc(line)}</span>')
            body = f'<pre class="cmp-text-diff">{"".join(lines)}</pre>'
        else:
            items = []
            for c in change:
                a = json.dumps(c.get("a"), ensure_ascii=False, sort_keys=True, default=str)
                b = json.dumps(c.get("b"), ensure_ascii=False, sort_keys=True, default=str)
                items.append(
                    f'<li class="jd-{esc(c.get("change"))}"><code>{esc(c.get("path"))}</code> '
                    f'<span class="dl-del">{esc(a)}</span> → <span class="dl-add">{esc(b)}</span></li>'
                )
            body = f'<ul class="cmp-json-diff">{"".join(items)}</ul>'
        parts.append(
            f'<div class="cmp-aspect" data-aspect="{esc(aspect)}"><h4>{esc(aspect)}</h4>{body}</div>'
        )
    return "".join(parts)


def _timeline(result: dict[str, Any]) -> str:
    rows = []
    for n, r in enumerate(result["rows"], 1):
        d = r["deltas"]
        kind = r["kind"]
        a = (
            f'<span class="step-n">{r["a_step"]}</span> {esc(r["type"])} · {esc(r["name"])}'
            if r["a_step"]
            else ""
        )
        b = (
            f'<span class="step-n">{r["b_step"]}</span> {esc(r["type"])} · {esc(r["name"])}'
            if r["b_step"]
            else ""
        )
        rows.append(
            f'<tr class="cmp-row k-{kind}" data-testid="row-{n}" data-kind="{kind}">'
            f'<td class="mark" title="{_KIND_TEXT[kind]}">{_MARK[kind]}</td>'
            f'<td class="a">{a}</td><td class="b">{b}</td>'
            f'<td class="{_delta_cls(d["tokens"])}">{_signed(d["tokens"], fmt_int)}</td>'
            f'<td class="{_delta_cls(d["cost"])}">{_signed(d["cost"], fmt_cost)}</td>'
            f'<td class="{_delta_cls(d["duration_ms"])}">{_signed(d["duration_ms"], fmt_duration)}</td></tr>'
        )
        if kind in ("added", "removed"):
            content = r.get("b_content" if kind == "added" else "a_content") or {}
            shown = json.dumps(content, ensure_ascii=False, indent=2, sort_keys=True, default=str)
            rows.append(
                f'<tr class="cmp-detail" data-testid="detail-{n}"><td></td><td colspan="5">'
                f"<details><summary>{'in B only' if kind == 'added' else 'in A only'}</summary>"
                f'<pre class="cmp-content">{esc(shown)}</pre></details></td></tr>'
            )
        if kind == "changed":
            rows.append(
                f'<tr class="cmp-detail" data-testid="detail-{n}"><td></td><td colspan="5">'
                f"<details open><summary>what differs</summary>{_changes(r['changes'])}</details></td></tr>"
            )
    return (
        '<table class="cmp-timeline" data-testid="timeline"><thead><tr><th></th><th>A</th><th>B</th>'
        "<th>Δ tokens</th><th>Δ cost</th><th>Δ duration</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def render(result: dict[str, Any]) -> str:
    """The compare page body for a :func:`diff_sessions` result."""
    first = result["first_divergence"]
    if result["equal"]:
        verdict = (
            '<div class="cmp-verdict v-equal" data-testid="verdict">Equal: same steps, same contents.</div>'
        )
    elif result["structurally_equal"]:
        verdict = (
            '<div class="cmp-verdict v-content" data-testid="verdict">Equal in structure; contents differ. '
            f"First divergence: {esc(first['summary'])}</div>"
        )
    else:
        c = result["counts"]
        structural = result["first_structural_divergence"] or {}
        verdict = (
            '<div class="cmp-verdict v-diverged" data-testid="verdict">Diverged: '
            f"{c['removed']} step(s) only in A, {c['added']} only in B. "
            f"First divergence: {esc(first['summary'] if first else '')}"
            f'<span class="cmp-structural"> · first structural: {esc(structural.get("summary", ""))}</span></div>'
        )
    return (
        '<link rel="stylesheet" href="/static/compare.css">'
        '<section class="cmp">'
        '<h1>Compare</h1><div class="cmp-sides">'
        f"{_side_card('A', result['a'], result['b'])}{_side_card('B', result['b'], result['a'])}</div>"
        f"{verdict}{_totals(result)}{_timeline(result)}"
        f'<p class="cmp-cli">CLI: <code>sentrial-integrations diff {esc(result["a"]["id"])} '
        f"{esc(result['b']['id'])}</code></p></section>"
    )


async def compare_page(request: Request) -> Response:
    denied = page_auth(request)
    if denied is not None:
        return denied
    st = server_state(request)
    a = (request.query_params.get("a") or "").strip()
    b = (request.query_params.get("b") or "").strip()
    if not a or not b:
        return HTMLResponse(
            pages.layout("Compare", _form(a, b), kind="compare"), headers={"Cache-Control": "no-store"}
        )
    left = await st.call(session_data, st.store, a)
    right = await st.call(session_data, st.store, b)
    missing = [ident for ident, data in ((a, left), (b, right)) if data is None]
    if missing or left is None or right is None:
        note = (
            "No session matches " + " or ".join(repr(m) for m in missing) + " (or the prefix is ambiguous)."
        )
        return HTMLResponse(pages.layout("Compare", _form(a, b, note), kind="compare"), 404)
    result = diff_sessions(left["session"], left["events"], right["session"], right["events"])
    return HTMLResponse(
        pages.layout(f"Compare {result['a']['id']} and {result['b']['id']}", render(result), kind="compare"),
        headers={"Cache-Control": "no-store"},
    )
