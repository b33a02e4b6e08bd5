"""Reading durations (``90s``, ``1h30m``, ``7d``), points in time (``2h`` ago, ``today``, ISO dates) and the
open-session timeout from the command line and the environment."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from .common import UsageError

DEFAULT_TIMEOUT = "24h"

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
