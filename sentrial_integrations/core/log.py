"""The library's logger and rate-limited warnings. Messages never carry the API key."""

from __future__ import annotations

import functools
import logging
import sys
import threading
import time
from typing import Any

from .record.redact import redact_text

logger = logging.getLogger("sentrial_integrations")


class _ScrubHandler(logging.NullHandler):
    """Writes nothing (like ``NullHandler``); scrubs each record logged under ``sentrial_integrations.*`` in
    place (see :func:`scrub`), before it propagates to the application's handlers."""

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        try:
            text = record.getMessage()
            clean = scrub(text)
            if clean != text:
                record.msg, record.args = clean, None
        except Exception:  # a record whose message cannot be built is left to logging's own handling
            pass
        return True


# First in line, so it runs before any other handler sees the record.
logger.handlers.insert(0, _ScrubHandler())


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the *current* ``sys.stderr`` (so a redirected or captured stderr gets the lines)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("sentrial_integrations %(levelname)s: %(message)s"))

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


_debug_handler: logging.Handler | None = None


def enable_debug_output() -> None:
    """``debug=True`` / ``SENTRIAL_DEBUG=1``: debug level, and a stderr handler on the library's logger
    (once), so misuse warnings and delivery problems are visible without any logging setup."""
    global _debug_handler
    logger.setLevel(logging.DEBUG)
    if _debug_handler is None:
        _debug_handler = _StderrHandler()
        logger.addHandler(_debug_handler)


# Copy-on-write: register_secret rebinds a new tuple, so scrub iterates a snapshot that never changes under it.
_secrets: tuple[str, ...] = ()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Scrub ``value`` from every message this module logs (used for API keys)."""
    global _secrets
    if value and len(value) >= 4:
        with _secrets_lock:
            if value not in _secrets:
                # longest first, so a key that contains another registered one is scrubbed whole
                _secrets = tuple(sorted((*_secrets, value), key=len, reverse=True))


def scrub(message: str) -> str:
    """``message`` without registered secrets, URL credentials (``scheme://user:password@``) or
    recognisable secret values (see :mod:`.redact`)."""
    for s in _secrets:
        if s in message:
            message = message.replace(s, "[REDACTED]")
    return redact_text(message)


class RateLimitedWarner:
    """Logs a warning once per key, then at most once per ``interval`` seconds with a repeat count."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def warn(self, key: str, message: str, *args: object, level: int = logging.WARNING) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last[0] < self.interval:
                self._last[key] = (last[0], last[1] + 1)
                return False
            repeats = last[1] if last else 0
            self._last[key] = (now, 0)
        text = scrub(message % args if args else message)
        if repeats:
            text += f" ({repeats} more like this since the last report)"
        logger.log(level, "%s", text)
        return True

    def reset(self) -> None:
        with self._lock:
            self._last.clear()


# --- our own failures: one guard, one limiter -----------------------------------------------------

#: The one rate limiter for internal errors, shared by the client and every translator.
internal_warner = RateLimitedWarner()


def report_internal(where: str, exc: BaseException) -> None:
    """Our own failure in ``where``: one warning per place (then at most one a minute, with a count),
    never raised into the caller's code."""
    try:
        internal_warner.warn(
            f"internal:{where}",
            "Sentrial: internal error in %s: %r (nothing was raised to your code)",
            where,
            exc,
        )
    except Exception:  # logging itself failed: there is nobody left to tell
        pass


class guard:
    """``with guard("LangChain handler on_tool_start"):`` — an ``Exception`` raised inside the block is
    reported (:func:`report_internal`) and swallowed; ``BaseException`` (KeyboardInterrupt, SystemExit,
    cancellation) passes through. Stateless, so one instance per place can be built once and reused from
    every thread (modelled on sentry-python's ``capture_internal_exceptions()``)."""

    __slots__ = ("where",)

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> guard:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        report_internal(self.where, exc)
        return True


def guarded(where: str, default: Any = None) -> Any:
    """Decorator form of :class:`guard`: the function returns ``default`` instead of raising."""

    def decorate(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                report_internal(where, exc)
                return default

        return wrapper

    return decorate
