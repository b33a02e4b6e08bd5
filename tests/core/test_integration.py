"""``core/integration.py``: the Integration protocol (idempotent, version-gated, never raising)."""

from __future__ import annotations

import logging
import threading
import warnings
from importlib import metadata

import pytest

from sentrial_integrations.core.config import SentrialConfigWarning
from sentrial_integrations.core.integration import DidNotEnable, Integration, release
from sentrial_integrations.core.log import internal_warner

HTTPX = metadata.version("httpx")


class Fake(Integration):
    name = "fake"
    distribution = "httpx"  # a real installed distribution: its version is what the gate reads

    def __init__(self, fail: BaseException | None = None, fail_undo: BaseException | None = None) -> None:
        super().__init__()
        self.calls: list[tuple[str, dict]] = []
        self.fail = fail
        self.fail_undo = fail_undo

    def _instrument(self, **options) -> None:
        self.calls.append(("instrument", options))
        if self.fail is not None:
            raise self.fail

    def _uninstrument(self) -> None:
        self.calls.append(("uninstrument", {}))
        if self.fail_undo is not None:
            raise self.fail_undo


@pytest.fixture(autouse=True)
def _fresh_warner():
    internal_warner.reset()
    yield
    internal_warner.reset()


def _instrument_recording_warnings(
    integration: Integration, **options
) -> tuple[bool, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ok = integration.instrument(**options)
    return ok, [w for w in caught if issubclass(w.category, SentrialConfigWarning)]


def _internal_messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "internal error" in r.getMessage()]


# --- instrument / uninstrument -------------------------------------------------------------------


def test_instrument_is_idempotent():
    f = Fake()
    assert not f.instrumented
    ok, caught = _instrument_recording_warnings(f, handler="h")
    assert ok and f.instrumented and caught == []
    assert f.instrument(handler="other") is True  # a second call changes nothing
    assert f.calls == [("instrument", {"handler": "h"})]


def test_uninstrument_only_when_instrumented():
    f = Fake()
    f.uninstrument()
    assert f.calls == []
    f.instrument()
    f.uninstrument()
    f.uninstrument()
    assert f.calls == [("instrument", {}), ("uninstrument", {})]
    assert not f.instrumented
    assert f.instrument() is True  # and again after undoing it
    assert [c[0] for c in f.calls] == ["instrument", "uninstrument", "instrument"]


def test_instrument_from_many_threads_patches_once():
    f = Fake()
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def go() -> None:
        barrier.wait()
        ok = f.instrument()
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 8
    assert f.calls == [("instrument", {})]


# --- the version gate ------------------------------------------------------------------------------


def test_a_version_below_the_supported_range_is_left_alone():
    f = Fake()
    f.supported = ("999.0", None)
    ok, caught = _instrument_recording_warnings(f)
    assert ok is False and not f.instrumented and f.calls == []
    assert len(caught) == 1
    msg = str(caught[0].message)
    assert msg == (
        f"Sentrial: httpx {HTTPX} is not supported by the fake integration (supported: >=999.0); "
        "it was not instrumented and nothing of it will be recorded"
    )


def test_a_version_at_or_above_the_upper_bound_is_left_alone():
    found = release(HTTPX)
    f = Fake()
    f.supported = ("0.0.1", ".".join(map(str, found)))  # ``below`` is excluded
    ok, caught = _instrument_recording_warnings(f)
    assert ok is False and f.calls == []
    assert len(caught) == 1
    msg = str(caught[0].message)
    assert f"httpx {HTTPX}" in msg and f"(supported: >=0.0.1,<{'.'.join(map(str, found))})" in msg


def test_a_version_inside_the_supported_range_is_instrumented():
    major, minor = release(HTTPX)[:2]
    f = Fake()
    f.supported = (f"{major}.{minor}", f"{major}.{minor + 1}")
    assert f.unsupported() is None
    ok, caught = _instrument_recording_warnings(f)
    assert ok and caught == [] and f.calls == [("instrument", {})]


def test_an_unknown_distribution_is_not_gated():
    f = Fake()
    f.distribution = "no-such-distribution-sentrial-test"
    f.supported = ("999", None)
    assert f.installed_version() is None and f.unsupported() is None
    assert f.instrument() is True


def test_installed_version_reads_the_distribution():
    assert Fake().installed_version() == HTTPX


# --- failures ---------------------------------------------------------------------------------------


def test_did_not_enable_warns_and_returns_false():
    f = Fake(fail=DidNotEnable("no event loop policy here"))
    ok, caught = _instrument_recording_warnings(f)
    assert ok is False and not f.instrumented
    assert [str(w.message) for w in caught] == [
        "Sentrial: the fake integration was not enabled: no event loop policy here"
    ]
    assert f.calls == [("instrument", {})]  # nothing to undo: _uninstrument is not called


def test_an_exception_while_patching_is_reported_and_undone(caplog):
    caplog.set_level(logging.WARNING, logger="sentrial_integrations")
    f = Fake(fail=AttributeError("no attribute 'invoke'"))
    ok, caught = _instrument_recording_warnings(f)
    assert ok is False and not f.instrumented and caught == []
    assert [c[0] for c in f.calls] == ["instrument", "uninstrument"]
    assert _internal_messages(caplog) == [
        "Sentrial: internal error in the fake integration's instrument(): "
        "AttributeError(\"no attribute 'invoke'\") (nothing was raised to your code)"
    ]


def test_a_failing_undo_after_a_failed_patch_is_swallowed(caplog):
    caplog.set_level(logging.WARNING, logger="sentrial_integrations")
    f = Fake(fail=RuntimeError("patch"), fail_undo=RuntimeError("undo"))
    assert f.instrument() is False
    assert [c[0] for c in f.calls] == ["instrument", "uninstrument"]
    assert len(_internal_messages(caplog)) == 1  # the patch failure only


def test_a_failing_uninstrument_is_reported_and_leaves_it_off(caplog):
    caplog.set_level(logging.WARNING, logger="sentrial_integrations")
    f = Fake(fail_undo=ValueError("cannot restore"))
    assert f.instrument() is True
    f.uninstrument()  # does not raise
    assert not f.instrumented
    assert _internal_messages(caplog) == [
        "Sentrial: internal error in the fake integration's uninstrument(): "
        "ValueError('cannot restore') (nothing was raised to your code)"
    ]


def test_a_base_exception_while_patching_propagates():
    f = Fake(fail=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        f.instrument()
    assert not f.instrumented


def test_the_base_class_hooks_are_abstract():
    base = Integration()
    with pytest.raises(NotImplementedError):
        base._instrument()
    with pytest.raises(NotImplementedError):
        base._uninstrument()


# --- release ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.14.25rc1", (0, 14, 25)),
        ("1.2.3", (1, 2, 3)),
        ("1.2", (1, 2)),
        ("2", (2,)),
        ("1.0.0.post1", (1, 0, 0)),
        ("1.0.dev3", (1, 0)),
        ("0.3b2.1", (0, 3)),
        ("", ()),
        ("abc", ()),
    ],
)
def test_release(version, expected):
    assert release(version) == expected


def test_release_compares_numerically():
    assert release("0.10.0") > release("0.9.9")
    assert release("1.0rc1") == release("1.0") < release("1.0.1")
