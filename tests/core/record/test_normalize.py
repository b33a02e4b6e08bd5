"""The record normaliser (client and server): any record of the three shapes comes out storable, sendable as
strict JSON and readable; clean records come back unchanged; it never raises."""

from __future__ import annotations

import json
import math
import timeit
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentrial_integrations.core.record.normalize import (
    DEPTH_MARKER,
    MARKER_KEY,
    MAX_DEPTH,
    MAX_SAFE_INT,
    TS_MAX,
    TS_MIN,
    normalize_record,
)
from sentrial_integrations.core.store import Store

text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)  # incl. lone surrogates
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.builds(object),
    st.binary(max_size=4),
)
value = st.recursive(
    leaf,
    lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.dictionaries(text, kids, max_size=3), st.tuples(kids, kids)
    ),
    max_leaves=10,
)


def deep(levels: int) -> Any:
    v: Any = "bottom"
    for _ in range(levels):
        v = [v]
    return v


anything = st.one_of(value, st.integers(50, 400).map(deep))
fields = {
    "session_start": [
        "name",
        "agent_name",
        "user_id",
        "parent_session_id",
        "convo_id",
        "project_id",
        "metadata",
    ],
    "event": [
        *("type", "name", "span_id", "reasoning", "input", "output", "error", "metadata", "decision"),
        *("alternatives", "confidence", "prompt_tokens", "completion_tokens", "total_tokens", "cost", "seq"),
        *("duration_ms", "model", "provider"),
    ],
    "session_close": [
        "status",
        "failure_reason",
        "output",
        "custom_metrics",
        "duration_ms",
        "total_tokens",
        "cost",
    ],
}


@st.composite
def records(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(fields)))
    rec: dict[str, Any] = {"kind": kind, "session_id": "sess_n", "ts": draw(anything)}
    if kind == "event":
        rec["id"] = "evt_" + str(draw(st.integers(0, 10**9)))
    for f in fields[kind]:
        if draw(st.booleans()):
            rec[f] = draw(anything)
    return rec


def _depth(v: Any) -> int:
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    return 0


def _check_leaves(v: Any) -> None:
    if isinstance(v, dict):
        for k, x in v.items():
            assert type(k) is str
            k.encode("utf-8")
            _check_leaves(x)
    elif isinstance(v, list):
        for x in v:
            _check_leaves(x)
    else:
        assert v is None or type(v) in (bool, int, float, str), type(v)
        if type(v) is int:
            assert -MAX_SAFE_INT <= v <= MAX_SAFE_INT
        if type(v) is float:
            assert math.isfinite(v)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(records())
def test_any_record_becomes_storable_strict_json(rec):
    out = normalize_record(rec)
    text = json.dumps(out, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    _check_leaves(out)
    assert _depth(out) <= MAX_DEPTH + 3
    if out.get("ts") is not None:
        assert TS_MIN <= out["ts"] <= TS_MAX
    assert normalize_record(out) == out  # idempotent


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.lists(records(), min_size=1, max_size=4))
def test_normalised_records_are_stored_and_read_back(tmp_path_factory, recs):
    store = Store(str(tmp_path_factory.mktemp("n") / "s.db"))
    try:
        start = {"kind": "session_start", "session_id": "sess_n", "name": "n", "metadata": {}, "ts": 1.0}
        store.ingest([start, *(normalize_record(r) for r in recs)])
        for s in store.list_sessions():
            json.dumps(s, allow_nan=False)
        json.dumps(store.get_events("sess_n"), allow_nan=False)
    finally:
        store.close()


def test_markers_name_what_was_changed():
    out = normalize_record(
        {
            "kind": "event",
            "id": "e",
            "session_id": "s",
            "ts": 1e308,
            "duration_ms": float("inf"),
            "prompt_tokens": 2**70,
            "cost": "x",
            "metadata": None,
            "input": {"n": 2**64, "f": float("nan"), "s": "a\ud800b", "d": deep(100)},
            "error": {"message": {"a": 1}, "type": 3},
            "reasoning": ["not", "text"],
        }
    )
    marks = out["metadata"][MARKER_KEY]
    assert set(marks) == {"ts", "duration_ms", "prompt_tokens", "cost"}
    assert "clamped" in marks["ts"] and out["ts"] == TS_MAX
    assert out["duration_ms"] is None and out["prompt_tokens"] is None and out["cost"] is None
    assert out["input"]["n"] == str(2**64) and out["input"]["f"] == "NaN" and out["input"]["s"] == "a\ufffdb"
    assert DEPTH_MARKER in json.dumps(out["input"]["d"])
    assert out["error"] == {"message": '{"a": 1}', "type": "3"}
    assert out["reasoning"] == '["not", "text"]'


def test_clean_records_are_returned_unchanged_and_cheaply():
    rec = {
        "kind": "event",
        "id": "evt_abc_000001",
        "session_id": "sess_abc",
        "seq": 1,
        "type": "tool_call",
        "name": "search",
        "ts": 1764600000.123,
        "duration_ms": 12.5,
        "span_id": "span1",
        "parent_span_id": None,
        "input": {"query": "what is the weather in paris today " * 4, "options": {"limit": 10, "lang": "en"}},
        "output": {
            "results": [
                {"title": "Weather Paris", "url": "https://example.com/x", "score": 0.93},
                {"title": "Météo", "url": "https://example.com/y", "score": 0.81},
            ],
            "took_ms": 42,
        },
        "error": None,
        "reasoning": None,
        "metadata": {"user": "u1", "env": "prod"},
        "model": None,
        "provider": None,
        "prompt_tokens": None,
        "completion_tokens": None,
        "total_tokens": None,
        "cost": None,
        "decision": None,
        "alternatives": None,
        "confidence": None,
    }
    out = normalize_record(rec)
    assert out == rec
    assert out["input"] is rec["input"] and out["output"] is rec["output"]  # no copy of clean payloads
    n = 2_000
    us = timeit.timeit(lambda: normalize_record(rec), number=n) / n * 1e6
    print(f"\nnormalize_record: {us:.1f} us per {len(json.dumps(rec))}-byte event")


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    payload=value, other=value, number=st.one_of(st.integers(-(2**70), 2**70), st.floats(), text, st.none())
)
def test_builder_output_is_already_fully_normalised(payload, other, number):
    """The builder normalises with ``converted=True`` (no second payload walk): the full walk changes nothing."""
    from sentrial_integrations.core import model as M
    from sentrial_integrations.core.config import Config
    from sentrial_integrations.core.record.builder import RecordBuilder
    from sentrial_integrations.core.record.serialize import snapshot

    builder = RecordBuilder(Config(disabled=True))
    ops = [
        (M.SESSION_START, "ses_b", 0, 1, {"name": "b", "metadata": snapshot({"m": payload})}),
        (
            M.EVENT,
            "ses_b",
            1,
            2,
            {
                "type": "tool_call",
                "name": "t",
                "input": snapshot(payload),
                "output": snapshot(other),
                "metadata": snapshot(other),
                "start_time": number,
            },
        ),
        (
            M.EVENT,
            "ses_b",
            2,
            3,
            {
                "type": "llm_call",
                "model": "gpt-4o",
                "input": snapshot(payload),
                "output": snapshot(other),
                "prompt_tokens": number,
                "completion_tokens": number,
                "cached_tokens": number,
                "cost": number,
                "duration_ms": number,
            },
        ),
        (
            M.SESSION_CLOSE,
            "ses_b",
            3,
            4,
            {
                "status": "success",
                "output": snapshot(payload),
                "custom_metrics": snapshot({"x": other}),
                "duration_ms": number,
            },
        ),
    ]
    for op in ops:
        rec = builder.build(op)
        assert rec is not None
        assert normalize_record(rec) == rec
        json.dumps(rec, allow_nan=False).encode("utf-8")


def test_the_builders_fast_path_gives_the_same_record():
    rec = normalize_record(
        {"kind": "event", "id": "e", "session_id": "s", "ts": 1.0, "input": {"q": "x" * 500}}
    )
    n = 2_000
    full = timeit.timeit(lambda: normalize_record(rec), number=n) / n * 1e6
    fast = timeit.timeit(lambda: normalize_record(rec, converted=True), number=n) / n * 1e6
    print(f"\nnormalize_record: full walk {full:.1f} us, converted payloads {fast:.1f} us")
    assert normalize_record(rec, converted=True) == normalize_record(rec) == rec
