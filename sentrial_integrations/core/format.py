"""How values are written for people: durations, times, costs, token counts, one-line previews.

The one place for the CLI (``cli/``, ``rerun/diff.py``) and the dashboard pages (``server/pages.py``;
``server/static/app.js`` mirrors :func:`fmt_duration` exactly). Every formatter takes what a store row
may hold: a value that is missing, not a number or not finite is written as ``missing`` (the CLI's
``–``; the dashboard passes ``—``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

MISSING = "–"


def _number(v: Any) -> float | None:
    """``v`` as a finite float, or ``None`` when it is missing, a bool, not a number or not finite."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def fmt_duration(ms: Any, missing: str = MISSING) -> str:
    """A human duration: ``0.25 ms``, ``42 ms``, ``1.20 s``, ``12.5 s``, ``3 min 05 s``, ``2 h 10 min``,
    ``1 d 1 h`` (SI symbols, a space before each unit; mirrored by ``fmtDuration`` in ``app.js``)."""
    v = _number(ms)
    if v is None:
        return missing
    if v < 0:
        return "-" + fmt_duration(-v, missing)
    if v == 0:
        return "0 ms"
    if v < 1:
        return f"{v:.2f} ms"
    if v < 10:
        return f"{v:.1f} ms"
    if v < 999.5:
        return f"{v:.0f} ms"
    s = v / 1000.0
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


def fmt_ago(ts: Any, now: float) -> str:
    """How long before ``now`` the epoch time ``ts`` was: ``12s ago``, ``5m ago``, ``3h ago``, ``2d ago``
    (``""`` when unknown)."""
    t = _number(ts)
    if t is None:
        return ""
    d = max(0.0, now - t)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if d >= size:
            return f"{int(d // size)}{unit} ago"
    return f"{int(d)}s ago"


def fmt_tokens(n: Any, missing: str = MISSING) -> str:
    """A count with thousands separators: ``1,234``."""
    v = _number(n)
    return missing if v is None else f"{int(v):,}"


def _dollars(cost: Any, missing: str, amount: Callable[[float], str]) -> str:
    c = _number(cost)
    if c is None:
        return missing
    return "$0" if c == 0 else "$" + amount(c)


def _significant(c: float) -> str:
    if abs(c) >= 1000:
        return f"{c:,.2f}"
    decimals = max(2, 3 - math.floor(math.log10(abs(c))))
    whole, _, frac = f"{c:.{decimals}f}".partition(".")
    return f"{whole}.{frac.rstrip('0').ljust(2, '0')}"


def _cents(c: float) -> str:
    if abs(c) >= 1:
        return f"{c:,.2f}"
    return f"{c:.{min(8, max(4, 1 - math.floor(math.log10(abs(c)))))}f}"


def fmt_cost(cost: Any, missing: str = MISSING) -> str:
    """Dollars with 4 significant digits (at least 2 decimals): ``$0.001234``, ``$0.50``, ``$12.35``
    (the CLI's)."""
    return _dollars(cost, missing, _significant)


def fmt_cost_cents(cost: Any, missing: str = MISSING) -> str:
    """Dollars in fixed decimals: cents from $1 (``$12.35``), else 4 to 8 decimals (``$0.0035``)
    (the dashboard's; ``fmtCost`` in ``app.js`` writes the same below $1000)."""
    return _dollars(cost, missing, _cents)


def unpriced_text(n: Any) -> str:
    """``cost unknown for N calls`` when some (``n``) LLM calls could not be priced, else ``""``."""
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        return ""
    return f"cost unknown for {plural(n, 'call')}"


def unpriced_note(n: Any) -> str:
    """`` (cost unknown for N calls)`` after a cost, or ``""``."""
    text = unpriced_text(n)
    return f" ({text})" if text else ""


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def iso(ts: float | None) -> str | None:
    """UTC ISO 8601 with milliseconds: ``2026-11-25T14:03:12.345Z``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_time(ts: Any, zone: bool = False, missing: str = MISSING) -> str:
    """Local date and time, ``2026-11-25 14:03:12`` (and the zone's name with ``zone``)."""
    t = _number(ts)
    if t is None:
        return missing
    try:
        dt = datetime.fromtimestamp(t).astimezone()
    except (OverflowError, OSError, ValueError):
        return missing
    return dt.strftime("%Y-%m-%d %H:%M:%S" + (" %Z" if zone else ""))


def short_time(ts: float | None, now: float) -> str:
    """A compact local time: ``14:03:12`` today, ``Nov 25 14:03`` this year, else ``2025-11-25``."""
    if ts is None:
        return MISSING
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


def error_message(err: Any) -> str:
    """A recorded error as one text: ``Type: message``, or whichever of the two it has."""
    if err is None:
        return ""
    if isinstance(err, dict):
        msg = str(err.get("message") or "")
        etype = err.get("type")
        return f"{etype}: {msg}" if etype and msg else str(etype or msg or "error")
    return str(err)
