"""``sentrial-integrations``: see what your agent did, offline.

Reads the embedded SQLite store the client writes when it has no API key: list and filter sessions,
show one session's timeline, replay it step by step, find slow steps and idle gaps, purge old data
and export sessions as JSON. Errors are one line on stderr with exit code 2 (bad usage) or 1
(missing store, unknown session, unreadable data); never a traceback (``SENTRIAL_DEBUG=1`` shows one).

Each subcommand is a ``_cmd_<name>(args, ctx)`` function plus an ``_add_<name>(subparsers, common)`` that
declares its options; :data:`_COMMANDS` lists them in help order.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import sqlite3
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import __version__
from .core.config import env_flag, store_location
from .core.files import UnsafeFileError, open_private
from .core.store import (
    SessionFilter,
    Store,
    StoreError,
    event_timings,
    live_totals,
    match_session_ids,
    schema_version,
)

PROG = "sentrial-integrations"
STATUSES = ("running", "success", "failure", "error", "timeout", "abandoned")
EVENT_TYPES = ("tool_call", "decision", "llm_call", "error", "state_change")
DEFAULT_TIMEOUT = "24h"
DEFAULT_PORT = 8777

_STATUS_STYLE = {
    "running": "yellow",
    "success": "green",
    "failure": "red",
    "error": "bold red",
    "timeout": "magenta",
    "abandoned": "dim",
}
_STATUS_MARK = {
    "running": "…",
    "success": "✓",
    "failure": "✗",
    "error": "✗",
    "timeout": "⏱",
    "abandoned": "–",
}
_TYPE_STYLE = {
    "tool_call": "cyan",
    "llm_call": "magenta",
    "decision": "blue",
    "error": "bold red",
    "state_change": "green",
}

_SESSION_KEYS = (
    "id",
    "name",
    "status",
    "agent_name",
    "user_id",
    "parent_session_id",
    "project_id",
    "metadata",
    "started_at",
    "started_at_iso",
    "ended_at",
    "ended_at_iso",
    "duration_ms",
    "event_count",
    "error_count",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "failure_reason",
    "output",
    "custom_metrics",
)
_EVENT_KEYS = (
    "id",
    "session_id",
    "seq",
    "type",
    "name",
    "ts",
    "ts_iso",
    "offset_ms",
    "duration_ms",
    "depth",
    "span_id",
    "parent_span_id",
    "model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "error",
    "input",
    "output",
    "reasoning",
    "decision",
    "alternatives",
    "confidence",
    "metadata",
)


class UsageError(Exception):
    """Bad command line (exit code 2)."""


class CLIError(Exception):
    """The command cannot be carried out: missing store, unknown session... (exit code 1)."""


# --- parsing helpers -----------------------------------------------------------------------------------

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
    "w": 604800.0,
}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)")


def parse_duration(text: str, *, bare_seconds: bool = False) -> float | None:
    """Seconds from ``90s``, ``15m``, ``2h``, ``1h30m``, ``7d``, ``2w`` (``None`` if unreadable).

    A bare number is read as seconds only with ``bare_seconds``.
    """
    t = text.strip().lower()
    if bare_seconds and re.fullmatch(r"\d+(?:\.\d+)?", t):
        return float(t)
    total, pos = 0.0, 0
    for m in _PART.finditer(t):
        if m.start() != pos or m.group(2) not in _UNITS:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos == 0 or t[pos:].strip():
        return None
    return total


def parse_when(text: str, now: float, option: str) -> float:
    """Epoch seconds from a duration ago (``2h``), ``today``, ``yesterday`` or an ISO date/time
    (naive values are local time)."""
    t = text.strip()
    ago = parse_duration(t)
    if ago is not None:
        return now - ago
    local_midnight = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if t.lower() == "today":
        return local_midnight.timestamp()
    if t.lower() == "yesterday":
        return (local_midnight - timedelta(days=1)).timestamp()
    try:
        dt = datetime.fromisoformat(t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t)
    except ValueError:
        raise UsageError(
            f"{option}: cannot read {text!r}; use a duration like 30m, 2h, 7d or a date like 2026-11-01"
        ) from None
    if dt.tzinfo is None:
        dt = dt.astimezone()
    return dt.timestamp()


def parse_meta(items: Iterable[str]) -> dict[str, str]:
    meta: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--meta: expected key=value, got {item!r}")
        meta[key.strip()] = value
    return meta


def parse_timeout(text: str | None, source: str) -> float | None:
    """The open-session timeout in seconds; ``None`` when disabled (``off``, ``never``, ``0``)."""
    if text is None or text.strip() == "":
        text = DEFAULT_TIMEOUT
    if text.strip().lower() in ("off", "never", "none", "0"):
        return None
    seconds = parse_duration(text, bare_seconds=True)
    if seconds is None or seconds <= 0:
        raise UsageError(f"{source}: cannot read {text!r}; use a duration like 24h, 90m or 'off'")
    return seconds


# --- formatting helpers --------------------------------------------------------------------------------


def fmt_ms(ms: float | None) -> str:
    """A human duration: ``0.25 ms``, ``42 ms``, ``1.20 s``, ``12.5 s``, ``3 min 05 s``, ``2 h 10 min``."""
    if ms is None:
        return "–"
    ms = float(ms)
    if ms < 0:
        return "-" + fmt_ms(-ms)
    if ms == 0:
        return "0 ms"
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 999.5:
        return f"{ms:.0f} ms"
    s = ms / 1000.0
    if s < 9.995:
        return f"{s:.2f} s"
    if s < 59.95:
        return f"{s:.1f} s"
    minutes, secs = divmod(round(s), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def unpriced_note(n: Any) -> str:
    """`` (cost unknown for N calls)`` when some LLM calls could not be priced, else ``""``."""
    if not isinstance(n, int) or n <= 0:
        return ""
    return f" (cost unknown for {n} call{'s' if n != 1 else ''})"


def fmt_cost(cost: float | None) -> str:
    """Dollars with 4 significant digits (at least 2 decimals): ``$0.001234``, ``$0.50``, ``$12.35``."""
    if cost is None:
        return "–"
    c = float(cost)
    if c == 0:
        return "$0"
    if abs(c) >= 1000:
        return f"${c:,.2f}"
    decimals = max(2, 3 - math.floor(math.log10(abs(c))))
    s = f"{c:.{decimals}f}"
    whole, _, frac = s.partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"${whole}.{frac}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def fmt_tokens(n: Any) -> str:
    return "–" if n is None else f"{int(n):,}"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_time(ts: float | None, zone: bool = False) -> str:
    if ts is None:
        return "–"
    dt = datetime.fromtimestamp(ts).astimezone()
    return dt.strftime("%Y-%m-%d %H:%M:%S" + (" %Z" if zone else ""))


def short_time(ts: float | None, now: float) -> str:
    """A compact local time: ``14:03:12`` today, ``Nov 25 14:03`` this year, else ``2025-11-25``."""
    if ts is None:
        return "–"
    dt = datetime.fromtimestamp(ts).astimezone()
    today = datetime.fromtimestamp(now).astimezone()
    if dt.date() == today.date():
        return dt.strftime("%H:%M:%S")
    if dt.year == today.year:
        return dt.strftime("%b %d %H:%M")
    return dt.strftime("%Y-%m-%d")


def one_line(value: Any, limit: int = 80) -> str:
    """A short single-line preview of any recorded value."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pretty(value: Any) -> str:
    """A value in full: strings as they are, everything else as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..1) of ``values``."""
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def error_message(err: Any) -> str:
    if err is None:
        return ""
    if isinstance(err, dict):
        msg = str(err.get("message") or "")
        etype = err.get("type")
        return f"{etype}: {msg}" if etype and msg else str(etype or msg or "error")
    return str(err)


# --- context: consoles, the store, the clock -------------------------------------------------------------


class Ctx:
    """What a command needs: where the store is, the consoles, the time, the open-session timeout."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.now = time.time()
        # --db, else SENTRIAL_LOCAL_PATH, else a .sentrial/ dir here or above, else the per-user data dir
        self.db_path, self.db_source = store_location(getattr(args, "db", None))
        no_color = True if getattr(args, "no_color", False) else None
        self.out = Console(highlight=False, emoji=False, markup=False, no_color=no_color)
        if not self.out.is_terminal and not os.environ.get("COLUMNS"):
            self.out.width = 120  # piped or redirected: no terminal to fit, keep tables unwrapped
        self.err = Console(stderr=True, highlight=False, emoji=False, markup=False, no_color=no_color)
        env_timeout = os.environ.get("SENTRIAL_SESSION_TIMEOUT")
        arg_timeout = getattr(args, "timeout_after", None)
        if arg_timeout is not None:
            self.timeout_s = parse_timeout(arg_timeout, "--timeout-after")
        else:
            self.timeout_s = parse_timeout(env_timeout, "SENTRIAL_SESSION_TIMEOUT")
        self._store: Store | None = None
        self._timeouts_stored = False

    # output

    def write(self, text: str) -> None:
        sys.stdout.write(text)

    def dump_json(self, data: Any, indent: int | None = 2) -> str:
        return json.dumps(data, ensure_ascii=not _stdout_is_utf8(), indent=indent, default=str)

    def print_json(self, data: Any) -> None:
        self.write(self.dump_json(data) + "\n")

    # the store

    def store(self, write: bool = False) -> Store:
        """Open the existing store (never create one); mark sessions open past the timeout as ``timeout``."""
        if self._store is not None:
            return self._store
        path = self.db_path
        hint = "record a session first, or pass --db PATH / set SENTRIAL_LOCAL_PATH"
        if not os.path.exists(path):
            raise CLIError(f"no Sentrial store at {path} ({hint})")
        if os.path.isdir(path):
            raise CLIError(f"{path} is a directory, not a Sentrial store ({hint})")
        if os.path.getsize(path) == 0:
            raise CLIError(f"{path} is empty, not a Sentrial store")
        store = Store(path, create=False, readonly=True)
        if schema_version(store) is None:
            store.close()
            raise CLIError(f"{path} is an SQLite file but not a Sentrial store")
        if write or self.timeout_s is not None:
            try:
                writable = Store(path, create=False)
                if self.timeout_s is not None:
                    writable.mark_timeouts(self.timeout_s, now=self.now)
                    self._timeouts_stored = True
                store.close()
                store = writable
            except (StoreError, sqlite3.Error) as exc:
                if write:
                    raise CLIError(f"cannot write to the Sentrial store at {path}: {exc}") from None
                # a read-only store: show old open sessions as timed out without storing it
        self._store = store
        return store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def resolve(self, prefix: str) -> str:
        store = self.store()
        prefix = prefix.strip()
        if not prefix:
            raise UsageError("a session id (or a unique prefix of one) is required")
        ids = match_session_ids(store, prefix, limit=6)
        if not ids:
            raise CLIError(f"no session matches {prefix!r} in {self.db_path}")
        if len(ids) > 1:
            shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
            raise CLIError(f"{prefix!r} matches several sessions ({shown}); give more characters")
        return ids[0]

    # session views

    def view_sessions(self, sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Sessions ready to show: running ones get live totals; display-only timeouts if unstored."""
        running = [s["id"] for s in sessions if s.get("status") == "running"]
        totals = live_totals(self.store(), running) if running else {}
        out = []
        for s in sessions:
            s = dict(s)
            if s.get("status") == "running":
                if (
                    not self._timeouts_stored
                    and self.timeout_s is not None
                    and s.get("started_at") is not None
                    and s["started_at"] < self.now - self.timeout_s
                ):
                    s["status"] = "timeout"
                    s["ended_at"] = s["started_at"] + self.timeout_s
                live = totals.get(s["id"], {})
                for key in ("prompt_tokens", "completion_tokens", "total_tokens", "cost"):
                    if s.get(key) is None:
                        s[key] = live.get(key)
            out.append(s)
        return out


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except Exception:
        return False


def _stdout_is_utf8() -> bool:
    enc = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    return enc.startswith("utf8") or enc == "utf"


def session_duration_ms(s: dict[str, Any], now: float) -> float | None:
    if s.get("duration_ms") is not None:
        return float(s["duration_ms"])
    start = s.get("started_at")
    if start is None:
        return None
    if s.get("ended_at") is not None:
        return max(0.0, (s["ended_at"] - start) * 1000.0)
    if s.get("status") == "running":
        return max(0.0, (now - start) * 1000.0)
    return None


def session_json(s: dict[str, Any], now: float) -> dict[str, Any]:
    d = dict(s)
    d["started_at_iso"] = iso(d.get("started_at"))
    d["ended_at_iso"] = iso(d.get("ended_at"))
    if d.get("duration_ms") is None and d.get("status") != "running":
        d["duration_ms"] = session_duration_ms(d, now)
    return {k: d.get(k) for k in _SESSION_KEYS}


def status_text(status: str | None) -> Text:
    st = status or "running"
    return Text(f"{_STATUS_MARK.get(st, '?')} {st}", style=_STATUS_STYLE.get(st, ""))


# --- timeline model ------------------------------------------------------------------------------------


def event_depths(events: list[dict[str, Any]]) -> list[int]:
    """Nesting depth of each event: how many ancestors its ``parent_span_id`` chain has."""
    by_span: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.get("span_id") and e["span_id"] not in by_span:
            by_span[e["span_id"]] = e
    depths = []
    for e in events:
        depth = 0
        seen = {e.get("span_id")}
        parent = e.get("parent_span_id")
        while parent and parent in by_span and parent not in seen and depth < 64:
            seen.add(parent)
            depth += 1
            parent = by_span[parent].get("parent_span_id")
        depths.append(depth)
    return depths


def timeline_window(session: dict[str, Any], events: list[dict[str, Any]]) -> tuple[float, float]:
    """(origin, span in seconds) of a session's timeline: from its start (or its first event, if
    earlier) to the end of its last event (or its close, if later and real)."""
    starts = [e["ts"] for e in events if e.get("ts") is not None]
    if session.get("started_at") is not None:
        starts.append(session["started_at"])
    origin = min(starts) if starts else 0.0
    ends = [e["ts"] + (e.get("duration_ms") or 0.0) / 1000.0 for e in events if e.get("ts") is not None]
    if session.get("ended_at") is not None and session.get("status") not in ("running", "timeout"):
        ends.append(session["ended_at"])
    end = max(ends) if ends else origin
    return origin, max(0.0, end - origin)


def event_json(e: dict[str, Any], origin: float, depth: int) -> dict[str, Any]:
    d = dict(e)
    d["ts_iso"] = iso(d.get("ts"))
    d["offset_ms"] = round((d["ts"] - origin) * 1000.0, 3) if d.get("ts") is not None else None
    d["depth"] = depth
    return {k: d.get(k) for k in _EVENT_KEYS}


def session_document(ctx: Ctx, sid: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(session view, events as JSON-ready dicts) for one session."""
    store = ctx.store()
    raw = store.get_session(sid)
    if raw is None:
        raise CLIError(f"no session {sid!r}")
    session = ctx.view_sessions([raw])[0]
    events = store.get_events(sid)
    origin, _ = timeline_window(session, events)
    depths = event_depths(events)
    return session, [event_json(e, origin, d) for e, d in zip(events, depths, strict=True)]


def bar(offset_s: float, dur_s: float | None, span_s: float, width: int) -> Text:
    """A ``width``-cell track with the event's extent drawn in it."""
    track = ["·"] * width
    if span_s <= 0:
        start, length = 0, 1
    else:
        start = min(width - 1, max(0, int(offset_s / span_s * width)))
        length = max(1, round((dur_s or 0.0) / span_s * width)) if dur_s else 1
        length = min(length, width - start)
    for i in range(start, start + length):
        track[i] = "█" if dur_s else "▏"
    text = Text("".join(track[:start]), style="dim")
    text.append("".join(track[start : start + length]))
    text.append("".join(track[start + length :]), style="dim")
    return text


# --- commands ------------------------------------------------------------------------------------------


def _session_filter(ctx: Ctx, args: argparse.Namespace, limit: int) -> SessionFilter:
    status = getattr(args, "status", None)
    if status is not None and status not in STATUSES:
        raise UsageError(f"--status: unknown status {status!r} (choose from {', '.join(STATUSES)})")
    since = getattr(args, "since", None)
    until = getattr(args, "until", None)
    return SessionFilter(
        status=status,
        name=getattr(args, "name", None),
        meta=parse_meta(getattr(args, "meta", None) or []),
        since=parse_when(since, ctx.now, "--since") if since else None,
        until=parse_when(until, ctx.now, "--until") if until else None,
        agent=getattr(args, "agent", None),
        limit=limit,
    )


def _add_sessions(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "sessions",
        parents=[common],
        help="list sessions, newest first",
        description="List recorded sessions, newest first, with optional filters.",
    )
    p.add_argument("--status", help=f"only this status ({', '.join(STATUSES)})")
    p.add_argument("--name", help="name contains TEXT (case-insensitive)")
    p.add_argument("--agent", help="agent name equals TEXT")
    p.add_argument(
        "--meta", action="append", metavar="KEY=VALUE", help="metadata KEY equals VALUE (repeatable)"
    )
    p.add_argument("--since", help="started at most this long ago (2h, 7d) or after a date (2026-11-01)")
    p.add_argument("--until", help="started before this (same forms as --since)")
    p.add_argument("--limit", type=int, default=50, help="at most N sessions (0: all; default 50)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_sessions)


def _cmd_sessions(args: argparse.Namespace, ctx: Ctx) -> int:
    if args.limit < 0:
        raise UsageError("--limit: must be 0 (all) or more")
    flt = _session_filter(ctx, args, args.limit or -1)
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
    id_len = _short_id_length([s["id"] for s in sessions])
    rows: list[list[Text]] = []
    for s in sessions:
        dur = session_duration_ms(s, ctx.now)
        status = s.get("status") or "running"
        events = Text(str(s.get("event_count") or 0))
        if s.get("error_count"):
            events.append(f" ({s['error_count']}✗)", style="red")
        rows.append(
            [
                Text(s.get("name") or ""),
                Text(status, style=_STATUS_STYLE.get(status, "")),
                Text(short_time(s.get("started_at"), ctx.now)),
                Text(fmt_ms(dur) + ("…" if status == "running" else "")),
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


def _short_id_length(ids: list[str], minimum: int = 12) -> int:
    """The shortest prefix length (at least ``minimum``) that tells the listed ids apart."""
    n = minimum
    longest = max((len(i) for i in ids), default=minimum)
    while n < longest and len({i[:n] for i in ids}) < len(ids):
        n += 2
    return n


def _add_show(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "show",
        parents=[common],
        help="a session's header and timeline",
        description="Show one session: its header (status, metadata, totals) and the timeline of its events.",
    )
    p.add_argument("id", help="session id or a unique prefix of one")
    p.add_argument("--json", action="store_true", help="print {session, events} as JSON")
    p.set_defaults(func=_cmd_show)


def _cmd_show(args: argparse.Namespace, ctx: Ctx) -> int:
    sid = ctx.resolve(args.id)
    session, events = session_document(ctx, sid)
    if args.json:
        ctx.print_json({"session": session_json(session, ctx.now), "events": events})
        return 0
    out = ctx.out
    _print_header(ctx, session)
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
                Text("+" + fmt_ms(e["offset_ms"])),
                Text(fmt_ms(dur_ms) if dur_ms is not None else ""),
                Text(""),
                Text(e["type"], style=_TYPE_STYLE.get(e["type"], "")),
                Text(""),
                Text(fmt_tokens(e.get("total_tokens")) if e.get("total_tokens") is not None else ""),
                Text(fmt_cost(e.get("cost")) if e.get("cost") is not None else ""),
            ]
        )
    fixed = sum(max([len(headers[i])] + [row[i].cell_len for row in cells]) for i in (0, 1, 3, 5, 6))
    gaps = 2 * (len(headers) - 1)
    steps: list[Text] = []
    for e in events:
        failed = e["type"] == "error" or e.get("error") is not None
        indent = "  " * e["depth"]
        step = Text(indent + ("└ " if e["depth"] else ""))
        step.append(_step_label(e), style="bold red" if failed else "")
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
        failed = e["type"] == "error" or e.get("error") is not None
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


def _step_label(e: dict[str, Any]) -> str:
    if e["type"] == "decision":
        label = "→ " + one_line(e["decision"], 60) if e.get("decision") is not None else "decision"
        if e.get("confidence") is not None:
            label += f" (confidence {e['confidence']:g})"
        return label
    return str(e.get("name") or e["type"])


def _step_detail(e: dict[str, Any]) -> str:
    if e.get("error") is not None:
        return "✗ " + one_line(error_message(e["error"]), 200)
    if e["type"] == "decision":
        return one_line(e.get("reasoning"), 200)
    if e["type"] == "state_change":
        return one_line(e.get("output"), 200)
    return ""


def _print_header(ctx: Ctx, s: dict[str, Any]) -> None:
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
    running = s.get("status") == "running"
    dur = session_duration_ms(s, ctx.now)
    line(
        "started",
        local_time(s.get("started_at"), zone=True),
        f"   duration {fmt_ms(dur)}{' so far' if running else ''}",
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


def _add_replay(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "replay",
        parents=[common],
        help="step through a session's events with full inputs and outputs",
        description="Replay a session one event at a time, with inputs and outputs in full. "
        "Waits for Enter between steps when stdin is a terminal.",
    )
    p.add_argument("id", help="session id or a unique prefix of one")
    p.add_argument("--no-pause", action="store_true", help="print every step without waiting")
    p.set_defaults(func=_cmd_replay)


def _cmd_replay(args: argparse.Namespace, ctx: Ctx) -> int:
    sid = ctx.resolve(args.id)
    session, events = session_document(ctx, sid)
    out = ctx.out
    _print_header(ctx, session)
    # Pause only for a person at a terminal: stdin to answer, stdout to read (not `replay ID > file`).
    pause = not args.no_pause and _isatty(sys.stdin) and _isatty(sys.stdout)
    prev_end: float | None = None
    span_names: dict[str, str] = {}
    for i, e in enumerate(events, 1):
        if e.get("span_id"):
            span_names.setdefault(e["span_id"], _step_label(e))
        out.print()
        title = Text(f"Step {i}/{len(events)}", style="bold")
        title.append(f"  +{fmt_ms(e['offset_ms'])}")
        parent = span_names.get(e.get("parent_span_id") or "")
        if parent is not None:
            title.append(f" (inside {parent})", style="dim")
        elif prev_end is not None and e.get("offset_ms") is not None:
            gap = e["offset_ms"] - prev_end
            title.append(
                f" (after {fmt_ms(gap)} idle)" if gap > 0 else " (overlaps the previous step)", style="dim"
            )
        title.append("  ")
        title.append(e["type"], style=_TYPE_STYLE.get(e["type"], ""))
        title.append("  ")
        title.append(e.get("name") or e["type"], style="bold red" if e.get("error") is not None else "bold")
        if e.get("duration_ms") is not None:
            title.append(f"  {fmt_ms(e['duration_ms'])}")
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
    end.append(f"  {fmt_ms(session_duration_ms(session, ctx.now))}")
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
    if etype == "llm_call":
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
    elif etype == "decision":
        if e.get("reasoning") is not None:
            sections.append(("Reasoning", pretty(e["reasoning"])))
        if e.get("decision") is not None:
            sections.append(("Decision", pretty(e["decision"])))
        if e.get("alternatives") is not None:
            sections.append(("Alternatives", pretty(e["alternatives"])))
        if e.get("confidence") is not None:
            sections.append(("Confidence", f"{e['confidence']:g}"))
    else:
        if e.get("input") is not None:
            sections.append(("Input", pretty(e["input"])))
        if e.get("output") is not None:
            sections.append(("Output", pretty(e["output"])))
        if e.get("reasoning") is not None:
            sections.append(("Reasoning", pretty(e["reasoning"])))
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


def _add_stats(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "stats",
        parents=[common],
        help="per-tool and per-model latency, errors, tokens, cost; bottlenecks and gaps",
        description="Statistics over the matching sessions: per tool and per model (count, error rate, "
        "p50/p95 latency, tokens, cost), the slowest steps, and the longest idle gaps between steps.",
    )
    p.add_argument("--since", help="sessions started at most this long ago (2h, 7d) or after a date")
    p.add_argument("--name", help="sessions whose name contains TEXT")
    p.add_argument("--top", type=int, default=10, help="how many slowest steps and gaps to list (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=_cmd_stats)


def compute_stats(ctx: Ctx, flt: SessionFilter, top: int) -> dict[str, Any]:
    store = ctx.store()
    sessions = {s["id"]: s for s in ctx.view_sessions(store.list_sessions(flt))}
    rows = [r for r in event_timings(store, flt) if r["session_id"] in sessions]

    def group(kind: str, key: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            if r["type"] == kind:
                groups.setdefault(key(r), []).append(r)
        result = []
        for name, items in groups.items():
            lat = [float(r["duration_ms"]) for r in items if r["duration_ms"] is not None]
            errors = sum(1 for r in items if r["error"] is not None)
            tokens = [r["total_tokens"] for r in items if r["total_tokens"] is not None]
            costs = [r["cost"] for r in items if r["cost"] is not None]
            entry: dict[str, Any] = {
                "name": name,
                "count": len(items),
                "errors": errors,
                "error_rate": errors / len(items),
                "p50_ms": percentile(lat, 0.5),
                "p95_ms": percentile(lat, 0.95),
                "max_ms": max(lat) if lat else None,
                "total_ms": sum(lat) if lat else None,
                "total_tokens": sum(tokens) if tokens else None,
                "cost": sum(costs) if costs else None,
            }
            if kind == "llm_call":
                pts = [r["prompt_tokens"] for r in items if r["prompt_tokens"] is not None]
                cts = [r["completion_tokens"] for r in items if r["completion_tokens"] is not None]
                entry["provider"] = next((r["provider"] for r in items if r["provider"]), None)
                entry["prompt_tokens"] = sum(pts) if pts else None
                entry["completion_tokens"] = sum(cts) if cts else None
            result.append(entry)
        result.sort(key=lambda g: (-(g["total_ms"] or 0.0), -g["count"], g["name"]))
        return result

    tools = group("tool_call", lambda r: r["name"] or "(unnamed)")
    models = group("llm_call", lambda r: r["model"] or r["name"] or "unknown")

    def step_ref(r: dict[str, Any]) -> dict[str, Any]:
        s = sessions[r["session_id"]]
        return {
            "session_id": r["session_id"],
            "session_name": s.get("name"),
            "seq": r["seq"],
            "type": r["type"],
            "name": r["name"] or r["type"],
            "ts": r["ts"],
            "ts_iso": iso(r["ts"]),
        }

    windows: dict[str, list[float]] = {}
    for r in rows:
        if r["ts"] is not None:
            end = r["ts"] + (r["duration_ms"] or 0.0) / 1000.0
            w = windows.setdefault(r["session_id"], [r["ts"], end])
            w[0], w[1] = min(w[0], r["ts"]), max(w[1], end)

    def session_span_ms(sid: str) -> float | None:
        s = sessions[sid]
        recorded = session_duration_ms(s, ctx.now) if s.get("status") not in ("running", "timeout") else None
        w = windows.get(sid)
        if w is not None and s.get("started_at") is not None:
            w = [min(w[0], s["started_at"]), w[1]]
        spans = [v for v in (recorded, (w[1] - w[0]) * 1000.0 if w else None) if v]
        return max(spans) if spans else None

    slowest = []
    timed = sorted((r for r in rows if r["duration_ms"] is not None), key=lambda r: -float(r["duration_ms"]))
    for r in timed[:top]:
        ref = step_ref(r)
        ref["duration_ms"] = float(r["duration_ms"])
        total = session_span_ms(r["session_id"])
        ref["share_of_session"] = (ref["duration_ms"] / total) if total else None
        slowest.append(ref)

    gaps: list[dict[str, Any]] = []
    idle_total = 0.0
    prev: dict[str, Any] | None = None
    prev_end = 0.0
    for r in rows:
        if r["ts"] is None:
            continue
        end = r["ts"] + (r["duration_ms"] or 0.0) / 1000.0
        if prev is not None and prev["session_id"] == r["session_id"]:
            gap_ms = round((r["ts"] - prev_end) * 1000.0, 3)  # µs: below that it is float noise
            if gap_ms > 0:
                idle_total += gap_ms
                gaps.append({"gap_ms": gap_ms, "after": step_ref(prev), "before": step_ref(r)})
            if end >= prev_end:
                prev, prev_end = r, end
        else:
            prev, prev_end = r, end
    gaps.sort(key=lambda g: -g["gap_ms"])

    by_status: dict[str, int] = {}
    for s in sessions.values():
        by_status[s.get("status") or "running"] = by_status.get(s.get("status") or "running", 0) + 1
    costs = [r["cost"] for r in rows if r["type"] == "llm_call" and r["cost"] is not None]
    tokens = [r["total_tokens"] for r in rows if r["type"] == "llm_call" and r["total_tokens"] is not None]
    error_types: dict[str, int] = {}
    for r in rows:
        if r["type"] == "error" or r["error"] is not None:
            error_types[r["name"] or r["type"]] = error_types.get(r["name"] or r["type"], 0) + 1
    return {
        "summary": {
            "sessions": len(sessions),
            "by_status": dict(sorted(by_status.items())),
            "events": len(rows),
            "errors": sum(error_types.values()),
            "errors_by_step": dict(sorted(error_types.items(), key=lambda kv: (-kv[1], kv[0]))),
            "total_tokens": sum(tokens) if tokens else None,
            "cost": sum(costs) if costs else None,
            "idle_ms": round(idle_total, 3),
        },
        "tools": tools,
        "models": models,
        "slowest": slowest,
        "gaps": gaps[:top],
    }


def _cmd_stats(args: argparse.Namespace, ctx: Ctx) -> int:
    if args.top < 1:
        raise UsageError("--top: must be 1 or more")
    flt = _session_filter(ctx, args, -1)
    stats = compute_stats(ctx, flt, args.top)
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
                Text(g["name"]), str(g["count"]), rate(g), fmt_ms(g["p50_ms"]), fmt_ms(g["p95_ms"]),
                fmt_ms(g["max_ms"]), fmt_ms(g["total_ms"]),
            )  # fmt: skip
        out.print()
        out.print(t)
    if stats["models"]:
        t = table("Models")
        for col in ("model", "calls", "errors", "p50", "p95", "prompt", "completion", "cost"):
            t.add_column(col, justify="left" if col == "model" else "right", no_wrap=col != "model")
        for g in stats["models"]:
            t.add_row(
                Text(g["name"]), str(g["count"]), rate(g), fmt_ms(g["p50_ms"]), fmt_ms(g["p95_ms"]),
                fmt_tokens(g["prompt_tokens"]), fmt_tokens(g["completion_tokens"]), fmt_cost(g["cost"]),
            )  # fmt: skip
        out.print()
        out.print(t)
    id_len = _short_id_length(list({r["session_id"] for r in stats["slowest"]}) or [""])
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
                fmt_ms(r["duration_ms"]),
                f"{share * 100:.0f}%" if share is not None else "–",
                Text(r["type"], style=_TYPE_STYLE.get(r["type"], "")),
                Text(r["name"]),
                Text(r["session_name"] or ""),
                Text(r["session_id"][:id_len], style="dim"),
            )
        out.print()
        out.print(t)
    if stats["gaps"]:
        t = table(f"Gaps: longest idle time between steps (total idle {fmt_ms(sm['idle_ms'])})")
        for col in ("gap", "after", "before", "session", "id"):
            t.add_column(col, justify="right" if col == "gap" else "left", no_wrap=col in ("gap", "id"))
        for g in stats["gaps"]:
            t.add_row(
                fmt_ms(g["gap_ms"]),
                Text(g["after"]["name"]),
                Text(g["before"]["name"]),
                Text(g["after"]["session_name"] or ""),
                Text(g["after"]["session_id"][:id_len], style="dim"),
            )
        out.print()
        out.print(t)
    return 0


def _add_purge(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "purge",
        parents=[common],
        help="delete sessions (and their events) older than a duration",
        description="Delete the sessions started more than --older-than ago, with their events.",
    )
    p.add_argument(
        "--older-than", required=True, metavar="DURATION", help="e.g. 30d, 12h, 2w (a unit is required)"
    )
    p.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    p.set_defaults(func=_cmd_purge)


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
        ctx.out.print(Text(f"Would delete {count} session{'s' if count != 1 else ''} started before {when}."))
        return 0
    if count and ctx.err.is_terminal:
        from rich.progress import Progress

        with Progress(console=ctx.err, transient=True) as progress:
            task = progress.add_task("Purging", total=count)
            deleted = store.purge(cutoff, progress=lambda n: progress.advance(task, n))
    else:
        deleted = store.purge(cutoff)
    ctx.out.print(
        Text(
            f"Deleted {deleted} session{'s' if deleted != 1 else ''} (and their events) started before {when}."
        )
    )
    return 0


def _add_export(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "export",
        parents=[common],
        help="export a session with its events as JSON or JSON Lines",
        description="Export one session: --format json writes {session, events}; --format jsonl writes "
        'one {"kind": "session", ...} line and then one {"kind": "event", ...} line per event.',
    )
    p.add_argument("id", help="session id or a unique prefix of one")
    p.add_argument("--format", choices=("json", "jsonl"), default="json", help="json (default) or jsonl")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=_cmd_export)


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
    ascii_only = fh is sys.stdout and not _stdout_is_utf8()
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


def _add_serve(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "serve",
        parents=[common],
        help="run the local dashboard and Sentrial-compatible ingestion server",
        description="Serve the dashboard and a local Sentrial API over the store (needs the 'server' extra).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--api-key",
        default=None,
        help="require this key on every request: from SDK clients (Authorization: Bearer KEY) and from "
        "the browser, which asks for it as a password for the dashboard (visible to other local users in "
        "the process list: prefer SENTRIAL_SERVER_API_KEY or --api-key-file)",
    )
    p.add_argument(
        "--api-key-file", metavar="FILE", default=None, help="read the API key from FILE (first line)"
    )
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace, ctx: Ctx) -> int:
    try:
        app = importlib.import_module("sentrial_integrations.server.app")
    except ImportError as exc:
        missing = getattr(exc, "name", None) or ""
        if missing.startswith("sentrial_integrations"):
            raise CLIError("the local server is not available in this installation") from None
        raise CLIError(
            f"the local server needs the 'server' extra ({missing or exc} is not installed): "
            "pip install 'sentrial-integrations[server]' (from a checkout: pip install -e '.[server]')"
        ) from None
    try:
        api_key = app.server_key(args.api_key, args.api_key_file)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    path = ctx.db_path
    if not os.path.exists(path) and ctx.db_source == "env":
        # only --db or the default location is created: a mistyped SENTRIAL_LOCAL_PATH is not
        raise CLIError(
            f"no Sentrial store at {path} (from SENTRIAL_LOCAL_PATH); record a session first, "
            "or pass --db PATH to create one there"
        )
    if not os.path.exists(path):
        _note(f"creating a new, empty store at {path}")
    result = app.serve(args.host, args.port, path, api_key)
    return result if isinstance(result, int) else 0


def _add_run(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "run",
        parents=[common],
        help="run a program with every supported framework traced, without changing its code",
        description="Run COMMAND (e.g. 'python app.py') with LangChain/LangGraph, OpenAI and LlamaIndex "
        "traced in every Python process it starts, and deliver the data at exit. Output and exit code "
        "are the program's own.",
        usage="%(prog)s [--session-name NAME] [--metadata KEY=VALUE ...] -- COMMAND [ARGS ...]",
    )
    p.add_argument(
        "--session-name",
        metavar="NAME",
        default=None,
        help="record the whole program as one session called NAME, which every framework run and "
        "OpenAI call of the program joins, from any thread or asyncio task (default: one session per "
        "top-level run)",
    )
    p.add_argument(
        "--metadata",
        metavar="KEY=VALUE",
        nargs="+",
        action="extend",
        default=[],
        help="metadata of that session (implies one session for the program, named after it "
        "unless --session-name is given)",
    )
    p.add_argument("command", nargs=argparse.REMAINDER, help="the program and its arguments, after --")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace, ctx: Ctx) -> int:
    from .zerocode.sitecustomize import METADATA_VAR, SESSION_VAR

    command = list(args.command or [])
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("run: give the program after --, e.g. 'sentrial-integrations run -- python app.py'")
    metadata: dict[str, str] = {}
    for item in args.metadata:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--metadata: expected KEY=VALUE, got {item!r} (put the program after --)")
        metadata[key.strip()] = value
    env = dict(os.environ)
    bootstrap = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zerocode", "sitecustomize")
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = bootstrap + (os.pathsep + old if old else "")
    env.pop(SESSION_VAR, None)
    env.pop(METADATA_VAR, None)
    if args.session_name is not None:
        env[SESSION_VAR] = args.session_name
    if metadata:
        env[METADATA_VAR] = json.dumps(metadata)
    db = getattr(args, "db", None)
    if db:
        env["SENTRIAL_LOCAL_PATH"] = os.path.abspath(db)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        if os.name == "posix":  # become the program: same pid, signals, output and exit status
            os.execvpe(command[0], command, env)
        import subprocess

        return subprocess.call(command, env=env)
    except FileNotFoundError:
        _fail(f"run: command not found: {command[0]}")
        return 127
    except OSError as exc:
        _fail(f"run: cannot run {command[0]}: {exc.strerror or exc}")
        return 126


def _add_status(sub: Any, common: argparse.ArgumentParser) -> None:
    from .delivery_cli import add_status  # the outbox commands live in delivery_cli.py

    add_status(sub, common)


def _add_ship(sub: Any, common: argparse.ArgumentParser) -> None:
    from .delivery_cli import add_ship

    add_ship(sub, common)


def _add_diff(sub: Any, common: argparse.ArgumentParser) -> None:
    from .rerun.diff import add_command  # the comparison and its rendering live in diff.py

    add_command(sub, common)


# One function per subcommand: it adds its subparser and sets ``func`` (in help order).
_COMMANDS: list[Callable[[Any, argparse.ArgumentParser], None]] = [
    _add_sessions,
    _add_show,
    _add_replay,
    _add_diff,
    _add_stats,
    _add_export,
    _add_purge,
    _add_serve,
    _add_run,
    _add_status,
    _add_ship,
]


# --- entry point ---------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (raised, so main() decides the exit code)."""

    def error(self, message: str) -> Any:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=default,
        help="the store (default: $SENTRIAL_LOCAL_PATH, else .sentrial/sentrial.db in the nearest "
        ".sentrial/ directory here or above, else sentrial.db in the per-user data directory, "
        "e.g. ~/.local/share/sentrial/)",
    )
    parser.add_argument(
        "--timeout-after",
        metavar="DURATION",
        default=default,
        help="sessions open longer than this are stored as 'timeout' "
        "(default: $SENTRIAL_SESSION_TIMEOUT, else 24h; 'off' to disable)",
    )
    parser.add_argument(
        "--no-color",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="no colours (also when NO_COLOR is set or output is not a terminal)",
    )


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    _global_options(common, suppress=True)
    parser = _Parser(
        prog=PROG,
        description="See what your agent did, offline: sessions, timelines, replays and bottlenecks "
        "from the local Sentrial store.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:
        add(sub, common)
    return parser


def _fail(message: str) -> None:
    text = " ".join(str(message).splitlines()).strip() or "failed"
    try:
        sys.stderr.write(f"{PROG}: error: {text}\n")
        sys.stderr.flush()
    except Exception:
        pass


def _note(message: str) -> None:
    """An informational line on stderr (stdout stays the command's output)."""
    try:
        sys.stderr.write(f"{PROG}: {message}\n")
        sys.stderr.flush()
    except Exception:
        pass


def _silence_stdout() -> None:
    """After a broken pipe (``... | head``), send the rest of stdout nowhere so exit is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except Exception:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 failed, 2 bad usage, 130 interrupted)."""
    debug = env_flag("SENTRIAL_DEBUG")
    ctx: Ctx | None = None
    try:
        try:
            sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
        except Exception:
            pass
        parser = build_parser()
        args = parser.parse_args(list(argv) if argv is not None else None)
        if getattr(args, "command", None) is None:
            parser.print_help()
            return 2
        ctx = Ctx(args)
        return int(args.func(args, ctx) or 0)
    except UsageError as exc:
        _fail(str(exc))
        return 2
    except (CLIError, StoreError) as exc:
        _fail(str(exc))
        return 1
    except sqlite3.Error as exc:
        _fail(f"cannot read the Sentrial store: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _fail(f"internal error: {type(exc).__name__}: {exc} (SENTRIAL_DEBUG=1 shows details)")
        return 1
    finally:
        if ctx is not None:
            ctx.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
