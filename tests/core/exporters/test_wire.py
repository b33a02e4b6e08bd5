"""``core/exporters/wire.py``: records <-> the Sentrial public API's JSON bodies, both directions."""

from __future__ import annotations

import pytest

from sentrial_integrations.core import model as M
from sentrial_integrations.core.config import Config
from sentrial_integrations.core.exporters import wire
from sentrial_integrations.core.record.builder import RecordBuilder

SID = "ses_wire"
SERVER_SID = "srv-123"
T_START = 1_700_000_000_000_000_000
T_EVENT = 1_700_000_001_000_000_000
RECEIVED = 1_800_000_000.0  # the time the server received a body


def _builder() -> RecordBuilder:
    return RecordBuilder(Config(disabled=True, project_id="proj-9"))


def _event(b: RecordBuilder, seq: int, **fields) -> dict:
    rec = b.build((M.EVENT, SID, seq, T_EVENT, fields))
    assert rec is not None
    return rec


def _back(rec: dict) -> dict:
    """What the local server makes of the body the HTTP exporter sends for ``rec``."""
    body = wire.event_body(rec, SERVER_SID)
    return wire.record_from_event_body(body, rec["id"], SERVER_SID, 999, RECEIVED)


# --- timestamps -----------------------------------------------------------------------------------


def test_iso_is_utc_with_microseconds():
    assert wire.iso(0) == "1970-01-01T00:00:00.000000Z"
    assert wire.iso(1_700_000_000.25) == "2023-11-14T22:13:20.250000Z"


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (-5.0, "1970-01-01T00:00:00.000000Z"),
        (float("nan"), "1970-01-01T00:00:00.000000Z"),
        ("soon", "1970-01-01T00:00:00.000000Z"),
        (1e15, "3000-01-01T00:00:00.000000Z"),
        (float("inf"), "3000-01-01T00:00:00.000000Z"),
    ],
)
def test_iso_clamps_what_is_out_of_range(ts, expected):
    assert wire.iso(ts) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-11-14T22:13:20.250000Z", 1_700_000_000.25),
        ("2023-11-14T22:13:20.250000+00:00", 1_700_000_000.25),
        ("2023-11-14T23:13:20.250000+01:00", 1_700_000_000.25),
        ("2023-11-14T22:13:20.25", 1_700_000_000.25),  # naive means UTC
        (1_700_000_000, 1_700_000_000.0),
        (1_700_000_000.5, 1_700_000_000.5),
        (0, 0.0),
    ],
)
def test_parse_iso(value, expected):
    assert wire.parse_iso(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        "",
        "yesterday",
        "x" * 65,
        -1,
        1e13,
        float("nan"),
        float("inf"),
        1e400,
        "1969-12-31T23:59:59Z",
        [1],
    ],
)
def test_parse_iso_refuses_what_is_not_an_instant_in_range(value):
    assert wire.parse_iso(value) is None


def test_iso_and_parse_iso_round_trip():
    for ts in (0.0, 1.5, 1_700_000_000.123456, wire.TS_MAX):
        assert wire.parse_iso(wire.iso(ts)) == pytest.approx(ts, abs=1e-6)


# --- sessions -------------------------------------------------------------------------------------


def test_session_body_and_back():
    b = _builder()
    rec = b.build(
        (
            M.SESSION_START,
            SID,
            0,
            T_START,
            {
                "name": "Support",
                "agent_name": "support-bot",
                "user_id": "u-1",
                "parent_session_id": "ses_parent",
                "convo_id": "thread-7",
                "metadata": {"team": "a"},
            },
        )
    )
    assert rec is not None
    body = wire.session_body(rec)
    assert body == {
        "name": "Support",
        "agentName": "support-bot",
        "userId": "u-1",
        "metadata": {"team": "a", "project_id": "proj-9"},
        "startedAt": "2023-11-14T22:13:20.000000Z",
        "parentSessionId": "ses_parent",
        "convoId": "thread-7",
    }
    assert rec["metadata"] == {"team": "a"}  # the record itself is not changed
    back = wire.record_from_session_body(body, SERVER_SID, RECEIVED)
    assert back == {
        "kind": M.START_RECORD,
        "session_id": SERVER_SID,
        "name": "Support",
        "agent_name": "support-bot",
        "user_id": "u-1",
        "parent_session_id": "ses_parent",
        "convo_id": "thread-7",
        "metadata": {"team": "a", "project_id": "proj-9"},
        "project_id": "proj-9",
        "ts": 1_700_000_000.0,
    }


def test_session_body_defaults():
    rec = {"kind": M.START_RECORD, "session_id": SID, "name": "run", "metadata": None, "ts": 1.0}
    body = wire.session_body(rec)
    assert body == {
        "name": "run",
        "agentName": "run",  # the public API requires an agent name: the session's name stands in
        "userId": "anonymous",
        "metadata": {},
        "startedAt": "1970-01-01T00:00:01.000000Z",
    }
    # a project id the metadata already names is not overwritten
    rec2 = {**rec, "metadata": {"project_id": "mine"}, "project_id": "cfg"}
    assert wire.session_body(rec2)["metadata"] == {"project_id": "mine"}


def test_record_from_a_minimal_session_body():
    back = wire.record_from_session_body({"name": "n", "metadata": "not a dict"}, SERVER_SID, RECEIVED)
    assert back["metadata"] == {} and back["project_id"] is None
    assert back["ts"] == RECEIVED  # no startedAt: the time it was received
    assert (back["agent_name"], back["user_id"], back["parent_session_id"], back["convo_id"]) == (None,) * 4


# --- events ---------------------------------------------------------------------------------------


def test_tool_call_body_and_back():
    b = _builder()
    rec = _event(
        b,
        3,
        type=M.TOOL_CALL,
        name="search",
        input={"q": "x"},
        output="plain text",
        duration_ms=250,
        span_id="sp1",
        parent_span_id="sp0",
        metadata={"kind": "retrieval"},
        reasoning="look it up",
    )
    body = wire.event_body(rec, SERVER_SID)
    assert body == {
        "sessionId": SERVER_SID,
        "eventId": f"{SID}.3",
        "sequence": 3,
        "timestamp": "2023-11-14T22:13:20.750000Z",
        "eventType": "tool_call",
        "toolName": "search",
        "toolInput": {"q": "x"},
        "toolOutput": {"output": "plain text"},  # the public API takes objects: a scalar is wrapped
        "reasoning": "look it up",
        "spanId": "sp1",
        "parentSpanId": "sp0",
        "durationMs": 250.0,
        "metadata": {"kind": "retrieval"},
    }
    back = wire.record_from_event_body(body, rec["id"], SERVER_SID, 999, RECEIVED)
    assert back["type"] == M.TOOL_CALL and back["name"] == "search"
    assert (back["id"], back["session_id"], back["seq"]) == (f"{SID}.3", SERVER_SID, 3)
    assert back["ts"] == pytest.approx(rec["ts"], abs=1e-6)
    assert (back["input"], back["output"]) == ({"q": "x"}, {"output": "plain text"})
    assert (back["span_id"], back["parent_span_id"], back["duration_ms"]) == ("sp1", "sp0", 250.0)
    assert (back["metadata"], back["reasoning"], back["error"]) == ({"kind": "retrieval"}, "look it up", None)


def test_a_tool_call_without_name_or_payloads():
    rec = {"type": M.TOOL_CALL, "id": "e.1", "seq": 1, "ts": 1.0}
    body = wire.event_body(rec, SERVER_SID)
    assert (body["toolName"], body["toolInput"], body["toolOutput"]) == ("tool", {}, {})
    assert not {"spanId", "parentSpanId", "durationMs", "metadata", "toolError", "tokenCount"} & set(body)


def test_a_failed_tool_call_carries_its_error():
    rec = _event(_builder(), 1, type=M.TOOL_CALL, name="t", error=ValueError("bad"))
    body = wire.event_body(rec, SERVER_SID)
    assert body["toolError"]["type"] == "ValueError" and body["toolError"]["message"] == "bad"
    assert _back(rec)["error"] == body["toolError"]


def test_llm_call_body_and_back():
    rec = _event(
        _builder(),
        2,
        type=M.LLM_CALL,
        model="gpt-4o-mini",
        provider="openai",
        input=[{"role": "user", "content": "hi"}],
        output="hello",
        prompt_tokens=1000,
        completion_tokens=500,
    )
    body = wire.event_body(rec, SERVER_SID)
    assert body["eventType"] == "tool_call" and body["toolName"] == "llm:openai:gpt-4o-mini"
    assert body["tokenCount"] == 1500 and body["estimatedCost"] == pytest.approx(0.00045)
    assert body["costSource"] == rec["cost_source"] and rec["cost_source"].startswith("genai-prices")
    assert "unpriced" not in body
    assert body["toolInput"] == rec["input"] and body["toolOutput"] == rec["output"]
    back = _back(rec)
    assert back["type"] == M.LLM_CALL
    assert (back["provider"], back["model"], back["name"]) == (
        "openai",
        "gpt-4o-mini",
        "llm:openai:gpt-4o-mini",
    )
    assert (back["prompt_tokens"], back["completion_tokens"], back["total_tokens"]) == (1000, 500, 1500)
    assert back["cost"] == rec["cost"] and back["cost_source"] == rec["cost_source"]
    assert back["unpriced"] is False
    assert back["input"] == rec["input"] and back["output"] == rec["output"]


def test_an_unpriced_llm_call_says_so_both_ways():
    rec = _event(
        _builder(), 1, type=M.LLM_CALL, model="no-such-model-zz", prompt_tokens=10, completion_tokens=5
    )
    body = wire.event_body(rec, SERVER_SID)
    assert body["unpriced"] is True and "estimatedCost" not in body and "costSource" not in body
    back = _back(rec)
    assert back["unpriced"] is True and back["cost"] is None and back["cost_source"] is None
    assert (back["provider"], back["model"]) == ("unknown", "no-such-model-zz")


def test_an_llm_cost_is_read_from_the_output_when_the_body_has_none():
    body = {
        "eventType": "tool_call",
        "toolName": "llm:anthropic:claude-x",
        "toolOutput": {"tokens": {"prompt": 3, "completion": 4, "total": 7}, "cost_usd": 0.5},
        "costSource": 17,  # not text: dropped
    }
    back = wire.record_from_event_body(body, "e.1", SERVER_SID, 5, RECEIVED)
    assert (back["type"], back["provider"], back["model"]) == (M.LLM_CALL, "anthropic", "claude-x")
    assert (back["prompt_tokens"], back["completion_tokens"], back["total_tokens"], back["cost"]) == (
        3,
        4,
        7,
        0.5,
    )
    assert back["cost_source"] is None and back["unpriced"] is False
    assert back["seq"] == 5 and back["ts"] == RECEIVED  # no sequence / timestamp: the server's


def test_an_llm_name_with_a_model_containing_colons():
    back = wire.record_from_event_body({"toolName": "llm:ollama:llama3:8b"}, "e.1", SERVER_SID, 1, RECEIVED)
    assert (back["type"], back["provider"], back["model"]) == (M.LLM_CALL, "ollama", "llama3:8b")
    bare = wire.record_from_event_body({"toolName": "llm:"}, "e.2", SERVER_SID, 1, RECEIVED)
    assert (bare["type"], bare["provider"], bare["model"]) == (M.LLM_CALL, "", None)


def test_decision_body_and_back():
    rec = _event(
        _builder(),
        4,
        type=M.DECISION,
        reasoning="the user wants a refund",
        decision="refund",
        alternatives=["escalate", "deny"],
        confidence=0.8,
    )
    body = wire.event_body(rec, SERVER_SID)
    assert body["eventType"] == "llm_decision"
    assert (body["reasoning"], body["decision"]) == ("the user wants a refund", "refund")
    assert (body["alternativesConsidered"], body["confidence"]) == (["escalate", "deny"], 0.8)
    assert "toolName" not in body
    back = _back(rec)
    assert back["type"] == M.DECISION
    assert (back["reasoning"], back["decision"], back["alternatives"], back["confidence"]) == (
        "the user wants a refund",
        "refund",
        ["escalate", "deny"],
        0.8,
    )


def test_a_decision_without_reasoning_sends_empty_text():
    body = wire.event_body({"type": M.DECISION, "id": "e.1", "seq": 1, "ts": 1.0}, SERVER_SID)
    assert body["reasoning"] == "" and "decision" not in body


def test_error_body_and_back_keeps_an_llm_error_name():
    """An LLM call's failure is an error event named ``llm:<provider>:<model>``: it stays an error."""
    rec = _event(
        _builder(), 5, type=M.ERROR, name=f"{M.LLM_ERROR_PREFIX}openai:gpt-4o", error=TimeoutError("slow")
    )
    body = wire.event_body(rec, SERVER_SID)
    assert body["eventType"] == "error" and body["toolName"] == "llm:openai:gpt-4o"
    assert body["toolError"]["type"] == "TimeoutError" and body["toolError"]["message"] == "slow"
    back = _back(rec)
    assert back["type"] == M.ERROR and back["name"] == "llm:openai:gpt-4o"
    assert back["error"] == body["toolError"] and back["model"] is None and "unpriced" not in back


def test_an_error_without_details_or_name():
    body = wire.event_body({"type": M.ERROR, "id": "e.1", "seq": 1, "ts": 1.0}, SERVER_SID)
    assert body["toolError"] == {"message": "", "type": "Error"} and "toolName" not in body


def test_state_change_travels_as_a_tool_call_and_comes_back():
    rec = _event(
        _builder(),
        6,
        type=M.STATE_CHANGE,
        name="state_change",
        input={"step": 1},
        output={"step": 2},
        reasoning="next",
    )
    body = wire.event_body(rec, SERVER_SID)
    assert body["eventType"] == "tool_call"  # the public API has no state_change event type
    assert body["toolName"] == wire.STATE_CHANGE == M.STATE_CHANGE
    assert (body["stateBefore"], body["stateAfter"]) == ({"step": 1}, {"step": 2})
    assert (body["toolInput"], body["toolOutput"]) == ({"step": 1}, {"step": 2})
    assert body["reasoning"] == "next"
    back = _back(rec)
    assert back["type"] == M.STATE_CHANGE
    assert (back["input"], back["output"], back["reasoning"]) == ({"step": 1}, {"step": 2}, "next")


def test_a_scalar_state_is_wrapped():
    rec = {"type": M.STATE_CHANGE, "id": "e.1", "seq": 1, "ts": 1.0, "input": "idle", "output": None}
    body = wire.event_body(rec, SERVER_SID)
    assert (body["stateBefore"], body["stateAfter"]) == ({"state": "idle"}, {})


def test_inbound_state_change_forms():
    direct = {"eventType": "state_change", "stateBefore": {"a": 1}, "stateAfter": {"a": 2}}
    back = wire.record_from_event_body(direct, "e.1", SERVER_SID, 1, RECEIVED)
    assert (back["type"], back["input"], back["output"]) == (M.STATE_CHANGE, {"a": 1}, {"a": 2})
    # a tool_call named state_change without the state fields is a plain tool call
    plain = {"eventType": "tool_call", "toolName": "state_change", "toolInput": {"x": 1}}
    back = wire.record_from_event_body(plain, "e.2", SERVER_SID, 2, RECEIVED)
    assert back["type"] == M.TOOL_CALL and back["input"] == {"x": 1}
    # stateBefore missing: the tool input stands in
    partial = {
        "eventType": "tool_call",
        "toolName": "state_change",
        "toolInput": {"x": 1},
        "stateAfter": {"x": 2},
    }
    back = wire.record_from_event_body(partial, "e.3", SERVER_SID, 3, RECEIVED)
    assert (back["type"], back["input"], back["output"]) == (M.STATE_CHANGE, {"x": 1}, {"x": 2})


def test_every_event_type_maps_to_a_public_wire_type():
    for etype in M.EVENT_TYPES:
        body = wire.event_body({"type": etype, "id": "e.1", "seq": 1, "ts": 1.0}, SERVER_SID)
        assert body["eventType"] in wire.WIRE_EVENT_TYPES, etype


def test_an_epoch_zero_timestamp_round_trips():
    rec = {"type": M.TOOL_CALL, "id": "e.1", "seq": 1, "ts": 0.0, "name": "t"}
    assert _back(rec)["ts"] == 0.0


# --- closes ---------------------------------------------------------------------------------------


def _close(status: str, **fields) -> dict:
    rec = {"kind": M.CLOSE_RECORD, "session_id": SID, "seq": 9, "status": status, "ts": 2.0, **fields}
    return rec


def test_close_body_of_a_success_and_back():
    rec = _close(
        M.SUCCESS,
        duration_ms=1234.5,
        prompt_tokens=10,
        completion_tokens=5,
        total_tokens=15,
        cost=0.01,
        custom_metrics={"csat": 5},
        user_input={"question": "hi"},
        assistant_output="hello",
        unpriced_calls=2,
    )
    body = wire.close_body(rec)
    assert body == {
        "status": "completed",
        "success": True,
        "durationMs": 1234.5,
        "promptTokens": 10,
        "completionTokens": 5,
        "totalTokens": 15,
        "estimatedCost": 0.01,
        "customMetrics": {"csat": 5},
        "userInput": '{"question": "hi"}',  # the public API takes text
        "assistantOutput": "hello",
        "unpricedCalls": 2,
        "sentrialStatus": "success",
    }
    back = wire.record_from_close_body(body, SERVER_SID, RECEIVED)
    assert back == {
        "kind": M.CLOSE_RECORD,
        "session_id": SERVER_SID,
        "status": "success",
        "ts": RECEIVED,
        "duration_ms": 1234.5,
        "output": "hello",
        "user_input": '{"question": "hi"}',
        "assistant_output": "hello",
        "unpriced_calls": 2,
        "failure_reason": None,
        "custom_metrics": {"csat": 5},
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cost": 0.01,
    }


@pytest.mark.parametrize("status", [s for s in M.STATUSES if s != M.SUCCESS])
def test_every_other_status_is_failed_on_the_wire_and_exact_in_the_extension(status):
    body = wire.close_body(_close(status))
    assert (body["status"], body["success"], body["sentrialStatus"]) == ("failed", False, status)
    assert body["failureReason"] == status  # no reason given: the status names it
    assert wire.record_from_close_body(body, SERVER_SID, RECEIVED)["status"] == status


def test_a_failure_reason_and_a_text_output():
    body = wire.close_body(_close(M.ERROR, failure_reason="ValueError: bad", output="partial answer"))
    assert body["failureReason"] == "ValueError: bad" and body["assistantOutput"] == "partial answer"
    assert "unpricedCalls" not in body and "durationMs" not in body
    back = wire.record_from_close_body(body, SERVER_SID, RECEIVED)
    assert (back["status"], back["failure_reason"], back["output"]) == (
        "error",
        "ValueError: bad",
        "partial answer",
    )
    # an output that is not text is not sent as the assistant output
    assert "assistantOutput" not in wire.close_body(_close(M.SUCCESS, output={"a": 1}))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"status": "completed"}, "success"),
        ({"status": "failed"}, "failure"),
        ({"success": True}, "success"),
        ({"success": False, "status": "completed"}, "failure"),  # success wins over status
        ({}, "failure"),
        ({"status": "completed", "sentrialStatus": "timeout"}, "timeout"),
        ({"status": "failed", "sentrialStatus": "bogus"}, "failure"),  # an unknown exact status is ignored
    ],
)
def test_the_status_of_a_close_body_from_other_clients(body, status):
    back = wire.record_from_close_body(body, SERVER_SID, RECEIVED)
    assert back["status"] == status and back["status"] in M.STATUSES


def test_a_close_body_with_wrong_types_is_read_safely():
    back = wire.record_from_close_body(
        {"status": "completed", "customMetrics": [1], "unpricedCalls": "3"}, SERVER_SID, RECEIVED
    )
    assert back["custom_metrics"] is None and back["unpriced_calls"] is None
