"""``core/log.py``: the internal-error guard, its rate limiter and the scrubbing of secrets from logs."""

from __future__ import annotations

import logging
import threading

import pytest

from sentrial_integrations.core import log
from sentrial_integrations.core.log import (
    RateLimitedWarner,
    guard,
    guarded,
    internal_warner,
    logger,
    register_secret,
    report_internal,
    scrub,
)


@pytest.fixture(autouse=True)
def _fresh_warner():
    internal_warner.reset()
    yield
    internal_warner.reset()


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG, logger="sentrial_integrations")
    return caplog


def _messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "sentrial_integrations"]


# --- guard ----------------------------------------------------------------------------------------


def test_guard_swallows_and_reports_an_exception(logs):
    done = []
    with guard("handler on_tool_start") as g:
        assert isinstance(g, guard)
        done.append("before")
        raise ValueError("boom")
    done.append("after")  # execution continues after the block
    assert done == ["before", "after"]
    assert _messages(logs) == [
        "Sentrial: internal error in handler on_tool_start: ValueError('boom') (nothing was raised to your code)"
    ]
    assert logs.records[0].levelno == logging.WARNING


def test_guard_without_an_exception_reports_nothing(logs):
    with guard("quiet") as g:
        value = 41 + 1
    assert value == 42 and g.where == "quiet"
    assert _messages(logs) == []


def test_guard_reports_once_per_place_then_rate_limits(logs, monkeypatch):
    for _ in range(3):
        with guard("place A"):
            raise RuntimeError("again")
    with guard("place B"):
        raise KeyError("other")
    assert _messages(logs) == [
        "Sentrial: internal error in place A: RuntimeError('again') (nothing was raised to your code)",
        "Sentrial: internal error in place B: KeyError('other') (nothing was raised to your code)",
    ]
    # once the interval has passed, the next report says how many were held back
    monkeypatch.setattr(internal_warner, "interval", 0.0)
    with guard("place A"):
        raise RuntimeError("later")
    assert _messages(logs)[-1] == (
        "Sentrial: internal error in place A: RuntimeError('later') (nothing was raised to your code)"
        " (2 more like this since the last report)"
    )


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3), GeneratorExit()])
def test_guard_lets_base_exceptions_through(logs, exc):
    with pytest.raises(type(exc)), guard("cancellable"):
        raise exc
    assert _messages(logs) == []


def test_one_guard_instance_is_reusable_across_threads(logs):
    g = guard("shared place")
    finished: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work(i: int) -> None:
        start.wait()
        for _ in range(50):
            with g:
                raise ValueError(f"thread {i}")
        with lock:
            finished.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(finished) == list(range(8))  # no thread saw an exception escape
    msgs = _messages(logs)
    assert len(msgs) == 1 and msgs[0].startswith(
        "Sentrial: internal error in shared place: ValueError('thread "
    )
    assert internal_warner._last["internal:shared place"][1] == 8 * 50 - 1  # the rest counted, not logged


# --- guarded --------------------------------------------------------------------------------------


def test_guarded_returns_the_default_on_an_exception(logs):
    @guarded("compute", default=-1)
    def compute(x: int) -> int:
        """Doc kept."""
        if x < 0:
            raise ValueError("negative")
        return x * 2

    assert compute(4) == 8
    assert compute(-1) == -1
    assert compute.__name__ == "compute" and compute.__doc__ == "Doc kept."
    assert _messages(logs) == [
        "Sentrial: internal error in compute: ValueError('negative') (nothing was raised to your code)"
    ]


def test_guarded_default_is_none_and_base_exceptions_pass():
    @guarded("stop")
    def stop(kind: str) -> str:
        if kind == "interrupt":
            raise KeyboardInterrupt
        raise LookupError("x")

    assert stop("error") is None
    with pytest.raises(KeyboardInterrupt):
        stop("interrupt")


# --- report_internal ------------------------------------------------------------------------------


def test_report_internal_uses_the_shared_limiter(logs):
    report_internal("flush", OSError("disk"))
    report_internal("flush", OSError("disk again"))
    assert _messages(logs) == [
        "Sentrial: internal error in flush: OSError('disk') (nothing was raised to your code)"
    ]
    assert "internal:flush" in internal_warner._last


def test_report_internal_never_raises_even_if_logging_fails(monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("logging is broken")

    monkeypatch.setattr(log.logger, "log", broken)
    report_internal("anywhere", ValueError("x"))  # returns normally
    assert "internal:anywhere" in internal_warner._last


# --- RateLimitedWarner ------------------------------------------------------------------------------


def test_rate_limited_warner(logs):
    w = RateLimitedWarner(interval=3600)
    assert w.warn("k", "first %s", "one") is True
    assert w.warn("k", "second") is False
    assert w.warn("other", "different key", level=logging.INFO) is True
    assert _messages(logs) == ["first one", "different key"]
    assert [r.levelno for r in logs.records] == [logging.WARNING, logging.INFO]
    w.reset()
    assert w.warn("k", "after reset") is True
    assert _messages(logs)[-1] == "after reset"


# --- scrub / register_secret ------------------------------------------------------------------------


def test_a_registered_secret_is_scrubbed():
    key = "sent-test-key-4f9c2a71"
    register_secret(key)
    assert scrub(f"request with {key} failed") == "request with [REDACTED] failed"
    assert key not in scrub(f"{key}{key}")


def test_short_or_empty_values_are_not_registered():
    register_secret("abc")
    register_secret("")
    register_secret(None)
    assert scrub("abc is fine") == "abc is fine"
    assert "abc" not in log._secrets and "" not in log._secrets


def test_a_secret_containing_another_is_scrubbed_whole():
    inner, outer = "zz-inner-7311", "prefix-zz-inner-7311-suffix"
    register_secret(inner)
    register_secret(outer)
    assert scrub(f"key {outer}.") == "key [REDACTED]."
    assert scrub(f"key {inner}.") == "key [REDACTED]."


def test_scrub_removes_url_credentials_and_known_secret_shapes():
    out = scrub("posting to https://bob:hunter2pass@api.example.com/v1 with Bearer abc.def123")
    assert "hunter2pass" not in out and "abc.def123" not in out
    assert "https://bob:" in out and "@api.example.com/v1" in out
    assert "sk-proj-abcdefghijk" not in scrub("key sk-proj-abcdefghijk here")


def test_the_logger_never_writes_a_registered_key(logs):
    key = "sent-live-key-91c0d2e5"
    register_secret(key)
    logger.warning("sending with %s to %s", key, "https://api.example")
    report_internal("ship", RuntimeError(f"401 for key {key}"))
    msgs = _messages(logs)
    assert len(msgs) == 2
    assert all(key not in m for m in msgs)
    assert msgs[0] == "sending with [REDACTED] to https://api.example"
    assert "401 for key [REDACTED]" in msgs[1]
