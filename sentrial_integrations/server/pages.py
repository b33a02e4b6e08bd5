"""Server-rendered HTML for the dashboard.

Every value that came from a user goes through :func:`esc` (text and attributes alike); there are no
inline scripts or styles (the Content-Security-Policy forbids them): the timeline, event detail and
replay are drawn by ``static/app.js`` from ``GET /api/sessions/{id}``, with DOM text nodes only.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import html
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from ..core import format as _format
from ..core.model import ALL_STATUSES
from ..core.store import SessionFilter

STATIC_DIR = Path(__file__).with_name("static")


def esc(value: Any) -> str:
    """HTML-escaped text of ``value`` (safe in element content and in quoted attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _asset_version() -> str:
    digest = hashlib.sha256()
    for name in ("app.css", "app.js"):
        try:
            digest.update((STATIC_DIR / name).read_bytes())
        except OSError:
            pass
    return digest.hexdigest()[:10]


_VERSION = _asset_version()


# --- formatting (core/format.py; app.js mirrors fmt_duration) --------------------------------------------

NONE = "—"  # the dashboard's mark for a missing value


def fmt_duration(ms: Any) -> str:
    return _format.fmt_duration(ms, NONE)


def fmt_int(n: Any) -> str:
    return _format.fmt_tokens(n, NONE)


def fmt_cost(c: Any) -> str:
    return _format.fmt_cost_cents(c, NONE)


def _unpriced(n: Any) -> str:
    """A warning next to a cost that leaves out LLM calls with no known price."""
    text = _format.unpriced_text(n)
    return f' <span class="warn unpriced">{text}</span>' if text else ""


def fmt_time(ts: Any) -> str:
    return _format.local_time(ts, missing=NONE)


def fmt_ago(ts: Any, now: float | None = None) -> str:
    return _format.fmt_ago(ts, _dt.datetime.now().timestamp() if now is None else now)


def meta_text(value: Any) -> str:
    """A metadata value as the store's metadata filter compares it (SQLite's text of the JSON value)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def status_badge(status: Any) -> str:
    s = str(status or "unknown")
    cls = s if s in ALL_STATUSES else "other"
    return f'<span class="status s-{cls}">{esc(s)}</span>'


# --- layout --------------------------------------------------------------------------------------------------


def layout(title: str, body: str, *, kind: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)} · Sentrial local</title>"
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
        f'<link rel="stylesheet" href="/static/app.css?v={_VERSION}">'
        f'<script src="/static/app.js?v={_VERSION}" defer></script>'
        f'</head><body class="page-{esc(kind)}">'
        '<header class="topbar"><a class="brand" href="/"><span class="logo" aria-hidden="true"></span>'
        'Sentrial <span class="brand-sub">local</span></a>'
        '<nav class="topnav"><a href="/">Sessions</a></nav></header>'
        f'<main class="main">{body}</main></body></html>'
    )


def message_page(title: str, message: str) -> str:
    body = f'<div class="message"><h1>{esc(title)}</h1><p>{esc(message)}</p><p><a href="/">All sessions</a></p></div>'
    return layout(title, body, kind="message")


# --- session list --------------------------------------------------------------------------------------------


def _query(flt: SessionFilter, **changes: Any) -> str:
    """The list URL for ``flt`` with ``changes`` (status, name, agent, meta, offset) applied."""
    status = changes.get("status", flt.status)
    name = changes.get("name", flt.name)
    agent = changes.get("agent", flt.agent)
    meta = changes.get("meta", flt.meta)
    offset = changes.get("offset", 0)
    params: list[tuple[str, str]] = []
    if status:
        params.append(("status", status))
    if name:
        params.append(("name", name))
    if agent:
        params.append(("agent", agent))
    for k, v in meta.items():
        params.append(("meta", f"{k}={v}"))
    if offset:
        params.append(("offset", str(offset)))
    if flt.limit != 50:
        params.append(("limit", str(flt.limit)))
    return "/" + ("?" + urlencode(params) if params else "")


def _meta_chips(metadata: Any, flt: SessionFilter, limit: int | None = None) -> str:
    if not isinstance(metadata, dict) or not metadata:
        return ""
    chips = []
    items = list(metadata.items())
    shown = items if limit is None else items[:limit]
    for key, value in shown:
        text = meta_text(value)
        label = f'<span class="k">{esc(key)}</span><span class="v">{esc(_clip(text, 60))}</span>'
        if isinstance(value, (str, int, float, bool)) and len(text) <= 200:
            href = _query(flt, meta={**flt.meta, str(key): text})
            chips.append(
                f'<a class="chip" href="{esc(href)}" title="Filter by {esc(key)}={esc(text)}">{label}</a>'
            )
        else:
            chips.append(f'<span class="chip" title="{esc(_clip(text, 500))}">{label}</span>')
    if limit is not None and len(items) > limit:
        chips.append(f'<span class="chip more">+{len(items) - limit}</span>')
    return '<div class="chips">' + "".join(chips) + "</div>"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def list_page(
    sessions: list[dict[str, Any]],
    total: int,
    flt: SessionFilter,
    counts: dict[str, int],
    base_url: str,
    *,
    api_key_required: bool = False,
    store_path: str | None = None,
) -> str:
    tabs = [
        f'<a class="tab{" active" if not flt.status else ""}" href="{esc(_query(flt, status=None))}">'
        f'All <span class="count">{fmt_int(counts.get("all", 0))}</span></a>'
    ]
    for status in ALL_STATUSES:
        active = " active" if flt.status == status else ""
        tabs.append(
            f'<a class="tab t-{status}{active}" href="{esc(_query(flt, status=status))}">'
            f'<span class="dot s-{status}"></span>{status.capitalize()} '
            f'<span class="count">{fmt_int(counts.get(status, 0))}</span></a>'
        )

    hidden = f'<input type="hidden" name="status" value="{esc(flt.status)}">' if flt.status else ""
    active_meta = []
    for key, value in flt.meta.items():
        remaining = {k: v for k, v in flt.meta.items() if k != key}
        hidden += f'<input type="hidden" name="meta" value="{esc(key)}={esc(value)}">'
        active_meta.append(
            f'<span class="chip active-filter"><span class="k">{esc(key)}</span><span class="v">{esc(value)}</span>'
            f'<a class="x" href="{esc(_query(flt, meta=remaining))}" title="Remove this filter" '
            f'aria-label="Remove filter {esc(key)}">×</a></span>'
        )
    filters = (
        '<form class="filters" method="get" action="/" role="search">'
        f"{hidden}"
        f'<label class="field"><span>Name</span><input type="search" name="name" value="{esc(flt.name)}" '
        'placeholder="contains…" autocomplete="off"></label>'
        f'<label class="field"><span>Agent</span><input type="search" name="agent" value="{esc(flt.agent)}" '
        'placeholder="exact" autocomplete="off"></label>'
        '<label class="field"><span>Metadata</span><input type="search" name="meta" value="" '
        'placeholder="key=value" autocomplete="off"></label>'
        '<button type="submit" class="btn primary">Filter</button>'
        + (
            '<a class="btn ghost" href="/">Clear</a>'
            if (flt.name or flt.agent or flt.meta or flt.status)
            else ""
        )
        + (f'<div class="active-filters">{"".join(active_meta)}</div>' if active_meta else "")
        + "</form>"
    )

    if sessions:
        rows = []
        now = _dt.datetime.now().timestamp()
        for s in sessions:
            href = "/sessions/" + quote(str(s["id"]), safe="")
            errors = int(s.get("error_count") or 0)
            err = (
                f' <span class="err-count" title="{errors} error event(s)">{errors}!</span>' if errors else ""
            )
            user = s.get("user_id")
            rows.append(
                f'<tr data-href="{esc(href)}">'
                f"<td>{status_badge(s.get('status'))}</td>"
                f'<td class="name"><a href="{esc(href)}">{esc(s.get("name") or "(unnamed)")}</a>'
                f"{_meta_chips(s.get('metadata'), flt, limit=4)}</td>"
                f'<td class="dim">{esc(s.get("agent_name") or "—")}</td>'
                f'<td class="dim">{esc(user or "—")}</td>'
                f'<td class="time" title="{esc(fmt_time(s.get("started_at")))}">{esc(fmt_time(s.get("started_at")))}'
                f'<span class="ago">{esc(fmt_ago(s.get("started_at"), now))}</span></td>'
                f'<td class="num">{esc(fmt_duration(s.get("duration_ms")))}</td>'
                f'<td class="num">{fmt_int(s.get("event_count"))}{err}</td>'
                f'<td class="num">{fmt_int(s.get("total_tokens"))}</td>'
                f'<td class="num">{esc(fmt_cost(s.get("cost")))}{_unpriced(s.get("unpriced_calls"))}</td>'
                "</tr>"
            )
        table = (
            '<div class="table-wrap"><table class="sessions"><thead><tr>'
            "<th>Status</th><th>Name</th><th>Agent</th><th>User</th><th>Started</th>"
            '<th class="num">Duration</th><th class="num">Events</th><th class="num">Tokens</th>'
            '<th class="num">Cost</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></div>"
        )
    elif counts.get("all", 0) or flt.status or flt.meta or flt.name or flt.agent:
        table = '<div class="empty">No sessions match these filters. <a href="/">Clear filters</a></div>'
    else:
        key_arg = 'api_key="<your key>"' if api_key_required else 'api_key="local"'
        table = (
            '<div class="empty"><h2>No sessions yet</h2><p>Send some from any process:</p>'
            f'<pre class="code">from sentrial_integrations import SentrialClient\n'
            f"client = SentrialClient({esc(key_arg)}, base_url={esc(json.dumps(base_url))})</pre>"
            "<p>or record locally with <code>SentrialClient()</code> into the same store file.</p></div>"
        )

    first = flt.offset + 1 if sessions else 0
    last = flt.offset + len(sessions)
    pager = (
        f'<div class="pager"><span class="dim">{fmt_int(first)}–{fmt_int(last)} of {fmt_int(total)}</span>'
    )
    if flt.offset > 0:
        pager += f'<a class="btn" rel="prev" href="{esc(_query(flt, offset=max(0, flt.offset - flt.limit)))}">← Newer</a>'
    if last < total:
        pager += (
            f'<a class="btn" rel="next" href="{esc(_query(flt, offset=flt.offset + flt.limit))}">Older →</a>'
        )
    pager += "</div>"

    body = (
        '<div class="page-head"><h1>Sessions</h1>'
        f'<span class="dim">{fmt_int(total)} matching · newest first</span></div>'
        f'<nav class="tabs">{"".join(tabs)}</nav>{filters}{table}{pager}'
    )
    if store_path:  # which file this dashboard reads (an empty list then says where it looked)
        body += f'<footer class="store-path dim">Store: <code>{esc(store_path)}</code></footer>'

    return layout("Sessions", body, kind="list")


# --- session page -----------------------------------------------------------------------------------------------


def _fact(label: str, value_html: str, cls: str = "") -> str:
    return f'<div class="fact {cls}"><dt>{esc(label)}</dt><dd>{value_html}</dd></div>'


def session_page(session: dict[str, Any], events: list[dict[str, Any]]) -> str:
    sid = str(session["id"])
    flt = SessionFilter()
    tokens = fmt_int(session.get("total_tokens"))
    if session.get("prompt_tokens") is not None or session.get("completion_tokens") is not None:
        tokens += (
            f' <span class="dim">({fmt_int(session.get("prompt_tokens"))} in · '
            f"{fmt_int(session.get('completion_tokens'))} out)</span>"
        )
    errors = int(session.get("error_count") or 0)
    facts = [
        _fact("Agent", esc(session.get("agent_name") or "—")),
        _fact("User", esc(session.get("user_id") or "—")),
        _fact(
            "Started",
            f'<span title="{esc(fmt_ago(session.get("started_at")))}">{esc(fmt_time(session.get("started_at")))}</span>',
        ),
        _fact("Duration", esc(fmt_duration(session.get("duration_ms")))),
        _fact("Events", fmt_int(session.get("event_count"))),
        _fact("Errors", f'<span class="{"bad" if errors else ""}">{fmt_int(errors)}</span>'),
        _fact("Tokens", tokens),
        _fact("Cost", esc(fmt_cost(session.get("cost"))) + _unpriced(session.get("unpriced_calls"))),
    ]
    parent = session.get("parent_session_id")
    if parent:
        facts.append(
            _fact(
                "Parent",
                f'<a class="mono" href="/sessions/{esc(quote(str(parent), safe=""))}">{esc(parent)}</a>',
            )
        )

    # replay / compare (server/compare.py): a re-run links to its original, any session to /compare
    meta = session.get("metadata")
    replay_of = meta.get("replay_of") if isinstance(meta, dict) else None
    sid_q = esc(quote(sid, safe=""))
    if isinstance(replay_of, str) and replay_of:
        of_q = esc(quote(replay_of, safe=""))
        facts.append(
            _fact(
                "Replay of",
                f'<a class="mono" href="/sessions/{of_q}">{esc(replay_of)}</a> · '
                f'<a href="/compare?a={of_q}&amp;b={sid_q}" data-testid="compare-replay">compare</a>',
            )
        )
    compare_form = (
        '<form class="compare-with" method="get" action="/compare" data-testid="compare-with">'
        f'<input type="hidden" name="a" value="{esc(sid)}">'
        '<input name="b" placeholder="session id" aria-label="Compare with session" required> '
        '<button type="submit" class="btn">Compare with…</button></form>'
    )

    extra = ""
    if session.get("failure_reason"):
        extra += f'<div class="failure"><strong>Failure:</strong> {esc(session["failure_reason"])}</div>'
    user_input = session.get("user_input")
    if user_input is not None:
        text = (
            user_input
            if isinstance(user_input, str)
            else json.dumps(user_input, indent=2, ensure_ascii=False)
        )
        extra += f'<details class="output"><summary>User input</summary><pre>{esc(text)}</pre></details>'
    output = session.get("output")
    if output is not None:
        text = output if isinstance(output, str) else json.dumps(output, indent=2, ensure_ascii=False)
        extra += f'<details class="output"><summary>Final output</summary><pre>{esc(text)}</pre></details>'
    metrics = session.get("custom_metrics")
    if isinstance(metrics, dict) and metrics:
        extra += (
            '<div class="metrics">'
            + "".join(
                f'<span class="metric"><span class="k">{esc(k)}</span> {esc(meta_text(v))}</span>'
                for k, v in metrics.items()
            )
            + "</div>"
        )

    head = (
        f'<div class="crumbs"><a href="/">Sessions</a><span class="sep">/</span><span class="mono">{esc(sid)}</span></div>'
        '<section class="session-head">'
        f'<div class="title-row">{status_badge(session.get("status"))}<h1 class="session-name">{esc(session.get("name") or "(unnamed)")}</h1></div>'
        f'<dl class="facts">{"".join(facts)}</dl>'
        f"{_meta_chips(session.get('metadata'), flt)}{extra}{compare_form}</section>"
    )
    legend = "".join(
        f'<span class="legend-item"><span class="swatch ty-{t}"></span>{label}</span>'
        for t, label in (
            ("tool_call", "Tool"),
            ("llm_call", "LLM"),
            ("decision", "Decision"),
            ("error", "Error"),
        )
    )
    workspace = (
        '<section class="workspace">'
        '<div class="main-col">'
        '<div class="panel timeline-panel">'
        '<div class="panel-head"><h2>Timeline</h2>'
        f'<div class="legend">{legend}</div>'
        '<div class="replay" role="group" aria-label="Replay">'
        '<button type="button" class="btn" id="prev-event" title="Previous event (←)">◀ Prev</button>'
        '<span class="step" id="step">–</span>'
        '<button type="button" class="btn" id="next-event" title="Next event (→)">Next ▶</button>'
        "</div></div>"
        f'<div id="timeline" class="timeline" data-session-id="{esc(sid)}" '
        f'data-api="/api/sessions/{esc(quote(sid, safe=""))}" data-count="{len(events)}">'
        '<div class="loading">Loading events…</div>'
        "<noscript>The timeline needs JavaScript.</noscript></div>"
        "</div>"
        '<div class="panel breakdown-panel" id="breakdown" hidden>'
        '<div class="panel-head"><h2>Where the time went</h2>'
        '<span class="dim">self time per step (time inside nested calls counts for them)</span></div>'
        '<div class="breakdown" id="breakdown-rows"></div></div>'
        "</div>"
        '<aside id="detail" class="panel detail-panel" aria-live="polite">'
        '<div class="empty">Select an event to see its input, output and timing.</div></aside>'
        "</section>"
    )
    return layout(str(session.get("name") or sid), head + workspace, kind="session")
