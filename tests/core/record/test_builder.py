"""``core/record/builder.py``: the worker-side RecordBuilder turning ops into the three record shapes."""

from __future__ import annotations

import logging
import os

import pytest

from sentrial_integrations.core import model as M
from sentrial_integrations.core.config import Config
from sentrial_integrations.core.record.builder import RecordBuilder
from sentrial_integrations.core.record.normalize import MARKER_KEY, TS_MAX
from sentrial_integrations.core.record.pricing import PROVIDER_SOURCE, USER_SOURCE, Price, price_list_source
from sentrial_integrations.core.record.redact import REDACTED
from sentrial_integrations.core.record.serialize import dumps

SID = "ses_builder"
T0 = 1_700_000_000_000_000_000  # ns
T1 = 1_700_000_001_000_000_000
T2 = 1_700_000_002_500_000_000


def _builder(**cfg) -> RecordBuilder:
    cfg.setdefault("disabled", True)
    return RecordBuilder(Config(**cfg))


def _start(b: RecordBuilder, sid: str = SID, **payload) -> dict:
    payload.setdefault("name", "run")
    rec = b.build((M.SESSION_START, sid, 0, T0, payload))
    assert rec is not None
    return rec


def _event(b: RecordBuilder, seq: int, sid: str = SID, ts_ns: int = T1, **fields) -> dict | None:
    fields.setdefault("type", M.TOOL_CALL)
    return b.build((M.EVENT, sid, seq, ts_ns, fields))


def _close(b: RecordBuilder, seq: int, sid: str = SID, **payload) -> dict:
    payload.setdefault("status", M.SUCCESS)
    rec = b.build((M.SESSION_CLOSE, sid, seq, T2, payload))
    assert rec is not None
    return rec


# --- the three shapes -----------------------------------------------------------------------------


def test_session_start_record():
    b = _builder(project_id="proj-1")
    rec = _start(
        b,
        name="Support run",
        agent_name="support",
        metadata={"user_id": 123, "team": "a"},
        parent_session_id="ses_parent",
        convo_id="thread-9",
    )
    assert rec == {
        "kind": M.START_RECORD,
        "session_id": SID,
        "name": "Support run",
        "agent_name": "support",
        "user_id": "123",  # taken from the metadata when not given, as text
        "parent_session_id": "ses_parent",
        "convo_id": "thread-9",
        "metadata": {"user_id": 123, "team": "a"},
        "project_id": "proj-1",
        "ts": 1_700_000_000.0,  # epoch seconds
    }


def test_session_start_defaults_and_non_dict_metadata():
    b = _builder()
    rec = _start(b, name=None, metadata=["a", "b"], user_id="explicit")
    assert rec["name"] == "session"
    assert rec["metadata"] == {"value": ["a", "b"]}
    assert rec["user_id"] == "explicit"
    assert rec["project_id"] is None and rec["agent_name"] is None
    assert _start(b, sid="ses_other")["metadata"] == {}


def test_event_record_id_fields_and_timestamp():
    b = _builder()
    rec = _event(
        b,
        3,
        name="search",
        input={"q": "x"},
        output=["r1"],
        duration_ms=250,
        span_id="sp1",
        parent_span_id="sp0",
        metadata={"k": 1},
        reasoning="because",
        confidence="0.5",
    )
    assert rec is not None
    assert rec["kind"] == M.EVENT_RECORD
    assert rec["id"] == f"{SID}.3" and rec["seq"] == 3 and rec["session_id"] == SID
    assert (rec["type"], rec["name"]) == (M.TOOL_CALL, "search")
    assert (rec["input"], rec["output"], rec["metadata"]) == ({"q": "x"}, ["r1"], {"k": 1})
    assert (rec["span_id"], rec["parent_span_id"], rec["reasoning"]) == ("sp1", "sp0", "because")
    assert rec["duration_ms"] == 250.0 and rec["confidence"] == 0.5
    # the op's time is the end: the event starts duration_ms earlier (epoch seconds)
    assert rec["ts"] == pytest.approx(1_700_000_001.0 - 0.25)
    assert rec["error"] is None and rec["model"] is None and "cost_source" not in rec


def test_event_start_time_wins_and_a_negative_duration_is_dropped():
    b = _builder()
    rec = _event(b, 1, start_time=1_600_000_000.5, duration_ms=-10)
    assert rec is not None
    assert rec["ts"] == 1_600_000_000.5 and rec["duration_ms"] is None
    rec = _event(b, 2, duration_ms=float("nan"), confidence=True)
    assert rec is not None
    assert rec["duration_ms"] is None and rec["confidence"] is None
    assert rec["ts"] == 1_700_000_001.0


def test_event_error_is_error_info():
    b = _builder()
    rec = _event(b, 1, type=M.ERROR, name="tool", error=ValueError("kb down"), error_type="KBError")
    assert rec is not None
    assert rec["error"]["message"] == "kb down" and rec["error"]["type"] == "KBError"
    rec = _event(b, 2, type=M.ERROR, error="plain text")
    assert rec is not None and rec["error"] == {"message": "plain text", "type": "Error"}


def test_a_forked_childs_id_suffix_is_appended():
    b = _builder()
    b.id_suffix = M.fork_suffix()
    rec = _event(b, 4)
    assert rec is not None and rec["id"] == f"{SID}.4-{os.getpid()}"
    assert rec["seq"] == 4  # the sequence number itself is unchanged


def test_close_record_sums_the_sessions_llm_calls():
    b = _builder()
    _start(b)
    _event(
        b,
        1,
        type=M.LLM_CALL,
        model="gpt-4o-mini",
        provider="openai",
        prompt_tokens=1000,
        completion_tokens=500,
    )
    _event(b, 2, type=M.LLM_CALL, model="no-such-model-zz", prompt_tokens=10, completion_tokens=5)
    _event(b, 3, type=M.LLM_CALL, model="gpt-4o-mini", error=RuntimeError("refused"))  # no usage
    rec = _close(
        b,
        4,
        output={"answer": 1},
        user_input="hi",
        assistant_output="hello",
        failure_reason=None,
        duration_ms=42,
    )
    assert rec["kind"] == M.CLOSE_RECORD and rec["seq"] == 4 and rec["status"] == M.SUCCESS
    assert rec["ts"] == 1_700_000_002.5 and rec["duration_ms"] == 42
    assert (rec["output"], rec["user_input"], rec["assistant_output"]) == ({"answer": 1}, "hi", "hello")
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["total_tokens"]) == (1010, 505, 1515)
    assert rec["cost"] == pytest.approx(0.00045)
    assert rec["unpriced_calls"] == 1  # the unknown model; the refused call without usage does not count
    assert SID not in b.totals and SID not in b.unpriced  # per-session state released on close


def test_close_record_explicit_totals_win():
    b = _builder()
    _start(b)
    _event(b, 1, type=M.LLM_CALL, model="no-such-model-zz", prompt_tokens=10, completion_tokens=5)
    rec = _close(
        b,
        2,
        status=M.FAILURE,
        failure_reason="x" * 3_000,
        prompt_tokens=7,
        completion_tokens="3",
        total_tokens=10,
        cost=1.5,
    )
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["total_tokens"], rec["cost"]) == (
        7,
        3,
        10,
        1.5,
    )
    assert rec["unpriced_calls"] == 0  # an explicit cost: nothing is unknown
    assert rec["status"] == M.FAILURE
    assert rec["failure_reason"].startswith("x" * 2_000)
    assert rec["failure_reason"].endswith("…[truncated 1000 chars]")


def test_close_of_a_session_never_started_here_has_no_totals():
    rec = _close(_builder(), 1, sid="ses_unknown")
    assert (rec["prompt_tokens"], rec["total_tokens"], rec["cost"], rec["unpriced_calls"]) == (
        None,
        None,
        None,
        0,
    )


# --- llm_call: cost, provenance, provider ----------------------------------------------------------


def test_llm_call_priced_from_the_list():
    b = _builder()
    rec = _event(
        b,
        1,
        type=M.LLM_CALL,
        model="gpt-4o-mini",
        provider="openai",
        input=[{"role": "user", "content": "hi"}],
        output="hello",
        params={"temperature": 0.1},
        prompt_tokens=1000,
        completion_tokens=500,
        finish_reason="stop",
    )
    assert rec is not None
    assert rec["name"] == "llm:openai:gpt-4o-mini"
    assert (rec["model"], rec["provider"]) == ("gpt-4o-mini", "openai")
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["total_tokens"]) == (1000, 500, 1500)
    assert rec["cost"] == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    assert rec["cost_source"] == price_list_source() and rec["cost_source"].startswith("genai-prices ")
    assert rec["unpriced"] is False
    assert rec["input"] == {
        "messages": [{"role": "user", "content": "hi"}],
        "model": "gpt-4o-mini",
        "provider": "openai",
        "params": {"temperature": 0.1},
    }
    assert rec["output"] == {
        "content": "hello",
        "tool_calls": None,
        "tokens": {"prompt": 1000, "completion": 500, "total": 1500},
        "cost_usd": rec["cost"],
        "finish_reason": "stop",
    }


def test_llm_call_cost_from_the_provider():
    rec = _event(
        _builder(), 1, type=M.LLM_CALL, model="gpt-4o-mini", provider="openai", prompt_tokens=5, cost="0.25"
    )
    assert rec is not None
    assert rec["cost"] == 0.25 and rec["cost_source"] == PROVIDER_SOURCE and rec["unpriced"] is False


def test_llm_call_cost_from_a_user_price():
    b = _builder(prices={"house-model": Price(input=1.0, output=2.0)})
    rec = _event(
        b,
        1,
        type=M.LLM_CALL,
        model="house-model-v2",
        provider="custom",
        prompt_tokens=1_000_000,
        completion_tokens=500_000,
    )
    assert rec is not None
    assert (
        rec["cost"] == pytest.approx(2.0) and rec["cost_source"] == USER_SOURCE and rec["unpriced"] is False
    )


def test_llm_call_unknown_model_is_unpriced():
    rec = _event(
        _builder(), 1, type=M.LLM_CALL, model="no-such-model-zz", prompt_tokens=10, completion_tokens=5
    )
    assert rec is not None
    assert rec["cost"] is None and rec["cost_source"] is None and rec["unpriced"] is True
    assert rec["output"]["cost_usd"] is None
    assert rec["total_tokens"] == 15  # total computed from the parts


def test_llm_call_failed_without_usage_is_not_unpriced():
    rec = _event(_builder(), 1, type=M.LLM_CALL, model="gpt-4o", provider="openai", error="429")
    assert rec is not None
    assert rec["cost"] is None and rec["unpriced"] is False
    assert rec["output"]["tokens"] == {"prompt": None, "completion": None, "total": None}


def test_llm_call_cached_and_reasoning_tokens_and_the_response_model():
    rec = _event(
        _builder(),
        1,
        type=M.LLM_CALL,
        model="gpt-4o-mini",
        provider="openai",
        response_model="gpt-4o-mini-2024-07-18",
        prompt_tokens=1000,
        completion_tokens=100,
        cached_tokens=200,
        reasoning_tokens=0,
    )
    assert rec is not None
    assert rec["model"] == "gpt-4o-mini-2024-07-18"  # the model that answered
    assert rec["name"] == "llm:openai:gpt-4o-mini"  # the name keeps the requested model
    assert rec["input"]["model"] == "gpt-4o-mini"
    assert rec["output"]["tokens"] == {
        "prompt": 1000,
        "completion": 100,
        "total": 1100,
        "cached": 200,
        "reasoning": 0,
    }
    assert rec["output"]["response_model"] == "gpt-4o-mini-2024-07-18"
    assert rec["cost"] == pytest.approx((800 * 0.15 + 200 * 0.075 + 100 * 0.60) / 1e6)


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("claude-sonnet-4-5", "anthropic"),
        ("gpt-4o", "openai"),
        ("gemini-2.5-flash", "google"),
        ("llama3", "unknown"),
    ],
)
def test_llm_call_provider_guessed_from_a_bare_model(model, provider):
    rec = _event(_builder(), 1, type=M.LLM_CALL, model=model)
    assert rec is not None
    assert rec["provider"] == provider and rec["name"] == f"llm:{provider}:{model}"
    assert rec["input"]["provider"] == provider


def test_llm_call_without_a_model():
    rec = _event(_builder(), 1, type=M.LLM_CALL)
    assert rec is not None
    assert (rec["model"], rec["provider"], rec["name"]) == ("unknown", "unknown", "llm:unknown:unknown")


# --- hygiene: truncation, size cap, redaction ------------------------------------------------------


def test_long_strings_are_cut_with_a_marker():
    b = _builder(max_string_length=50)
    rec = _event(b, 1, name="n" * 1_500, input={"text": "a" * 80}, output=["b" * 51])
    assert rec is not None
    assert rec["input"] == {"text": "a" * 50 + "…[truncated 30 chars]"}
    assert rec["output"] == ["b" * 50 + "…[truncated 1 chars]"]
    assert rec["name"] == "n" * 50 + "…[truncated 1450 chars]"


def test_short_text_fields_are_capped_at_1000_characters():
    rec = _event(_builder(), 1, name="n" * 1_500, span_id="s" * 1_001)
    assert rec is not None
    assert rec["name"] == "n" * 1_000 + "…[truncated 500 chars]"
    assert rec["span_id"] == "s" * 1_000 + "…[truncated 1 chars]"


def test_reasoning_over_the_string_limit_reports_the_characters_cut():
    rec = _event(_builder(max_string_length=50), 1, reasoning="r" * 60)
    assert rec is not None
    assert rec["reasoning"] == "r" * 50 + "…[truncated 10 chars]"


def test_records_over_the_size_cap_are_shrunk_with_markers():
    b = _builder(max_event_bytes=20_000)
    rec = _event(b, 1, input={"text": "a" * 50_000}, output="b" * 50_000, metadata={"m": "c" * 30_000})
    assert rec is not None
    text = dumps(rec)
    assert len(text.encode()) <= 20_000 - 8_192
    assert rec["input"]["text"].startswith("a" * 64) and "…[truncated " in rec["input"]["text"]
    assert rec["output"].startswith("b" * 64) and "…[truncated " in rec["output"]
    assert (rec["id"], rec["seq"], rec["type"]) == (f"{SID}.1", 1, M.TOOL_CALL)  # identity untouched


def test_secrets_are_redacted_in_keys_and_text():
    b = _builder()
    rec = _event(
        b,
        1,
        input={"api_key": "sk-abcdefghijklmnop", "query": "weather"},
        output="login with password=hunter22 please",
        metadata={"Authorization": "Bearer abc.def123"},
    )
    assert rec is not None
    assert rec["input"] == {"api_key": REDACTED, "query": "weather"}
    assert rec["output"] == f"login with password={REDACTED} please"
    assert rec["metadata"] == {"Authorization": REDACTED}
    start = _start(b, metadata={"token": "abcdef123456"})
    assert start["metadata"] == {"token": REDACTED}


def test_secret_redaction_can_be_turned_off():
    rec = _event(_builder(redact_secrets=False), 1, input={"api_key": "sk-abcdefghijklmnop"})
    assert rec is not None and rec["input"] == {"api_key": "sk-abcdefghijklmnop"}


# --- the redact hook -------------------------------------------------------------------------------


def test_redact_hook_changes_payloads_but_not_identity():
    def hook(rec):
        out = dict(rec)
        if out["kind"] == M.EVENT_RECORD:
            out["input"] = "[mine]"
            out["id"] = "forged"
            out["seq"] = 999
        return out

    b = _builder(redact=hook)
    rec = _event(b, 2, input={"q": "secret plan"})
    assert rec is not None
    assert rec["input"] == "[mine]"
    assert (rec["id"], rec["seq"], rec["session_id"], rec["kind"]) == (f"{SID}.2", 2, SID, M.EVENT_RECORD)


def test_redact_hook_none_drops_an_event_but_not_a_session_start():
    b = _builder(redact=lambda rec: None)
    assert _event(b, 1, input="x") is None
    start = _start(b, metadata={"a": 1})
    assert start["kind"] == M.START_RECORD and start["metadata"] == {"a": 1}


def test_redact_hook_is_not_run_on_a_close():
    seen: list[str] = []

    def hook(rec):
        seen.append(rec["kind"])
        return rec

    b = _builder(redact=hook)
    _start(b)
    close = _close(b, 1, output="final")
    assert seen == [M.START_RECORD] and close["output"] == "final"


def test_redact_hook_returning_a_non_dict_withholds_payloads(caplog):
    caplog.set_level(logging.WARNING, logger="sentrial_integrations")
    b = _builder(redact=lambda rec: ["not", "a", "dict"])
    rec = _event(b, 1, input={"q": "x"}, output="y", reasoning="z", metadata={"m": 1})
    assert rec is not None
    marker = "[REDACTED: redact hook returned no dict]"
    assert (rec["input"], rec["output"], rec["reasoning"], rec["metadata"]) == (marker,) * 4
    assert rec["error"] is None  # empty fields stay empty
    assert (rec["id"], rec["type"]) == (f"{SID}.1", M.TOOL_CALL)
    assert any("returned list, not a dict" in r.getMessage() for r in caplog.records)


def test_redact_hook_that_raises_withholds_payloads(caplog):
    caplog.set_level(logging.WARNING, logger="sentrial_integrations")

    def hook(rec):
        raise RuntimeError("hook bug")

    b = _builder(redact=hook)
    rec = _event(b, 1, input={"q": "x"}, output="y")
    assert rec is not None
    assert rec["input"] == rec["output"] == "[REDACTED: redact hook failed]"
    start = _start(b, metadata={"a": 1})
    assert start["metadata"] == {"value": "[REDACTED: redact hook failed]"}  # a start's metadata stays a dict
    assert start["session_id"] == SID and start["kind"] == M.START_RECORD
    assert any(
        "redact hook raised" in r.getMessage() and "hook bug" in r.getMessage() for r in caplog.records
    )


# --- normalize marks --------------------------------------------------------------------------------


def test_out_of_range_values_are_clamped_and_marked():
    b = _builder()
    rec = _event(b, 1, start_time=1e13, metadata={"k": "v"})
    assert rec is not None
    assert rec["ts"] == TS_MAX
    assert rec["metadata"]["k"] == "v"
    assert rec["metadata"][MARKER_KEY]["ts"].startswith("10000000000000.0 (out of range, clamped to")
    close = _close(b, 2, duration_ms=-5, custom_metrics={"csat": 5})
    assert close["duration_ms"] == 0.0
    assert close["custom_metrics"]["csat"] == 5
    assert close["custom_metrics"][MARKER_KEY] == {"duration_ms": "-5 (out of range, clamped to 0)"}


def test_oversized_token_counts_are_dropped_and_marked():
    rec = _event(
        _builder(), 1, type=M.LLM_CALL, model="no-such-model-zz", prompt_tokens=2**60, completion_tokens=1
    )
    assert rec is not None
    assert rec["prompt_tokens"] is None
    assert rec["metadata"][MARKER_KEY]["prompt_tokens"] == f"{2**60} (not an integer in range, dropped)"
    assert rec["output"]["tokens"]["prompt"] == str(2**60)  # inside the payload: kept as text


def test_a_clean_record_has_no_marks():
    rec = _event(_builder(), 1, metadata={"k": "v"}, duration_ms=5)
    assert rec is not None and rec["metadata"] == {"k": "v"}
