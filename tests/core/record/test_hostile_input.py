"""Property tests: whatever a caller passes, nothing raises, every record is valid JSON under the cap."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentrial_integrations import SentrialClient
from sentrial_integrations.core.record.builder import RecordBuilder
from sentrial_integrations.core.record.serialize import Converter, Limits, snapshot
from sentrial_integrations.core.store import SessionFilter
from tests.conftest import read_store

MAX_EVENT = 200_000


class Explosive:
    """An object whose every dunder used by serialisers raises."""

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        return 1

    def __len__(self) -> int:
        raise RuntimeError("len")

    def __iter__(self):
        raise RuntimeError("iter")

    def __getattr__(self, name: str):
        raise RuntimeError(f"getattr {name}")


def deep(n: int) -> list:
    root: list = []
    node = root
    for _ in range(n):
        child: list = []
        node.append(child)
        node = child
    return root


def cyclic() -> dict:
    d: dict = {"a": [1, 2]}
    d["a"].append(d)
    d["self"] = d
    return d


def generator():
    yield 1


text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=50
)  # incl. lone surrogates
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.binary(max_size=40),
    st.builds(Explosive),  # built objects are printed as the call that made them
    st.builds(generator),
    st.builds(object),
    st.builds(lambda: Huge("x" * 300_000)),
    st.just(float("nan")),
    st.just({1, 2}),
)
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(text, st.integers(), st.none()), children, max_size=5),
        st.tuples(children, children),
    ),
    max_leaves=30,
)


class Deep(list):
    """10,000 nested lists, with a short repr (Hypothesis prints failing examples)."""

    def __repr__(self) -> str:
        return "Deep(10000)"


class Huge(str):
    def __repr__(self) -> str:
        return f"Huge({len(self)})"


special = st.one_of(
    st.builds(lambda: Deep(deep(10_000))), st.builds(cyclic), st.builds(lambda: Huge("y" * 1_000_000))
)
anything = st.one_of(values, special)


def assert_valid(record: dict) -> None:
    text = json.dumps(record, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")  # no lone surrogates left
    assert len(text.encode("utf-8")) <= MAX_EVENT


def _walk_floats(value):
    if isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, dict):
        for v in value.values():
            _walk_floats(v)
    elif isinstance(value, list):
        for v in value:
            _walk_floats(v)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(anything)
def test_any_value_becomes_valid_bounded_json(value):
    data = Converter(Limits(max_string=50_000)).convert(snapshot(value))
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    _walk_floats(data)
    assert len(text) < 50_000 * 1_000  # bounded whatever the input


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
@given(
    name=anything,
    metadata=anything,
    tool_input=anything,
    tool_output=anything,
    reasoning=anything,
    error=st.one_of(anything, st.builds(ValueError, text), st.builds(Explosive)),
    tokens=st.one_of(st.none(), st.integers(), st.floats(), text),
)
def test_every_track_call_accepts_anything(name, metadata, tool_input, tool_output, reasoning, error, tokens):
    """The builder path the worker runs, fed what a caller could pass: records are valid and capped."""
    client = SentrialClient(disabled=True)
    builder = RecordBuilder(
        client.config.__class__(max_event_bytes=MAX_EVENT, max_string_length=100_000, disabled=True)
    )
    ops = [
        (1, "ses_h", 0, 1, {"name": name, "metadata": snapshot(metadata)}),
        (
            2,
            "ses_h",
            1,
            2,
            {
                "type": "tool_call",
                "name": name,
                "input": snapshot(tool_input),
                "output": snapshot(tool_output),
                "error": error,
                "reasoning": reasoning,
                "metadata": snapshot(metadata),
                "duration_ms": tokens,
            },
        ),
        (
            2,
            "ses_h",
            2,
            3,
            {
                "type": "decision",
                "name": "decision",
                "reasoning": reasoning,
                "decision": snapshot(tool_input),
                "alternatives": snapshot(tool_output),
                "confidence": tokens,
            },
        ),
        (
            2,
            "ses_h",
            3,
            4,
            {
                "type": "llm_call",
                "model": name,
                "provider": reasoning,
                "input": snapshot(tool_input),
                "output": snapshot(tool_output),
                "prompt_tokens": tokens,
                "completion_tokens": tokens,
                "cost": tokens,
                "params": snapshot(metadata),
                "tool_calls": snapshot(tool_output),
            },
        ),
        (2, "ses_h", 4, 5, {"type": "error", "name": name, "error": error, "error_type": None}),
        (
            3,
            "ses_h",
            5,
            6,
            {
                "status": "error",
                "output": snapshot(tool_output),
                "failure_reason": reasoning,
                "custom_metrics": snapshot(metadata),
            },
        ),
    ]
    for op in ops:
        rec = builder.build(op)
        assert rec is not None
        assert_valid(rec)


@pytest.mark.parametrize(
    "payload",
    [
        deep(10_000),
        cyclic(),
        Explosive(),
        "z" * 10_000_000,
        "\ud800 lone surrogate",
        generator(),
        b"\x00" * 5000,
    ],
    ids=["deep", "cycle", "explosive", "10MB", "surrogate", "generator", "bytes"],
)
def test_hostile_values_end_to_end_never_raise_and_are_stored(local_client, payload):
    sid = local_client.create_session(
        payload if isinstance(payload, str) else "hostile", metadata={"p": payload}
    )
    assert local_client.track_tool_call(sid, "t", payload, payload, reasoning=payload) is not None
    assert local_client.track_decision(sid, payload, decision=payload, alternatives=payload) is not None
    assert local_client.track_llm_call(sid, "gpt-4o", messages=payload, response=payload) is not None
    assert local_client.track_error(sid, payload) is not None
    assert local_client.close_session(sid, output=payload)
    store = read_store(local_client)
    (session,) = store.list_sessions(SessionFilter())
    events = store.get_events(session["id"])
    assert [e["type"] for e in sorted(events, key=lambda e: e["seq"])] == [
        "tool_call",
        "decision",
        "llm_call",
        "error",
    ]
    for e in events:
        assert len(json.dumps(e, ensure_ascii=False)) < 1_100_000


def test_numpy_arrays_if_installed(local_client):
    np = pytest.importorskip("numpy")
    sid = local_client.create_session("np")
    local_client.track_tool_call(sid, "t", {"a": np.arange(5), "f": np.float32(1.5)}, np.zeros((2, 2)))
    local_client.close_session(sid)
    (e,) = read_store(local_client).get_events(sid)
    assert e["input"] == {"a": [0, 1, 2, 3, 4], "f": 1.5}
    assert e["output"] == [[0.0, 0.0], [0.0, 0.0]]
