"""The local server's Sentrial SDK ingestion API, over real HTTP (uvicorn on loopback, a real SQLite store).

A real SentrialClient sends sessions to it; error cases are driven with httpx directly.
"""

from __future__ import annotations

import json
import time

import pytest

from sentrial_integrations import SentrialClient
from sentrial_integrations.core.exporters import wire
from sentrial_integrations.core.store import Store
from sentrial_integrations.server.ingest import session_id_for

from .conftest import API_KEY, AUTH, assert_error


def _client(server, tmp_path, key: str = API_KEY) -> SentrialClient:
    return SentrialClient(api_key=key, base_url=server.url, spool_path=str(tmp_path / "spool"))


def _raise(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


# --- a real client --------------------------------------------------------------------------------------


def test_client_session_over_http_is_stored_with_types_and_fields(live_server, tmp_path):
    server = live_server(api_key=API_KEY)
    client = _client(server, tmp_path)
    t0 = time.time() - 5
    sid = client.create_session(
        "Support - password reset",
        metadata={"ticket_id": "TICKET-456", "priority": "high", "attempt": 2},
        agent_name="support-agent",
        user_id="user_123",
    )
    client.track_tool_call(
        sid, "search_kb", {"query": "reset"}, {"hits": 3}, duration_ms=120.0, start_time=t0, span_id="s1"
    )
    client.track_llm_call(
        sid,
        "gpt-4o-mini",
        provider="openai",
        messages=[{"role": "user", "content": "how do I reset?"}],
        response="Click the link.",
        prompt_tokens=11,
        completion_tokens=5,
        params={"temperature": 0.2},
        finish_reason="stop",
        duration_ms=300.0,
        start_time=t0 + 0.2,
        span_id="s2",
        parent_span_id="s1",
    )
    client.track_decision(
        sid,
        "the customer exists",
        decision="send_reset_email",
        alternatives=["escalate"],
        confidence=0.75,
        start_time=t0 + 0.6,
    )
    boom = _raise(ValueError("smtp down"))
    client.track_tool_call(
        sid, "send_email", {"to": "a@b.c"}, None, error=boom, duration_ms=50.0, start_time=t0 + 0.7
    )
    client.track_error(sid, boom, tool_name="send_email", start_time=t0 + 0.8)
    client.close_session(sid, "failure", failure_reason="email not sent")
    assert client.flush(15)
    client.shutdown(5)

    store = server.store
    [session] = store.list_sessions()
    assert session["id"] == sid  # the client's own id (its Idempotency-Key) is the stored id
    assert session["name"] == "Support - password reset"
    assert session["agent_name"] == "support-agent"
    assert session["user_id"] == "user_123"
    assert session["metadata"] == {"ticket_id": "TICKET-456", "priority": "high", "attempt": 2}
    assert session["status"] == "failure"
    assert session["failure_reason"] == "email not sent"
    assert session["event_count"] == 5
    assert session["error_count"] == 2
    assert (session["prompt_tokens"], session["completion_tokens"], session["total_tokens"]) == (11, 5, 16)

    events = store.get_events(sid)
    assert [e["type"] for e in events] == ["tool_call", "llm_call", "decision", "tool_call", "error"]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    for event, offset in zip(events, (0.0, 0.2, 0.6, 0.7, 0.8), strict=True):
        assert event["ts"] == pytest.approx(t0 + offset, abs=1e-5)

    tool, llm, decision, failed, error = events
    assert tool["name"] == "search_kb"
    assert tool["input"] == {"query": "reset"}
    assert tool["output"] == {"hits": 3}
    assert tool["duration_ms"] == 120.0
    assert tool["span_id"] == "s1"
    assert tool["error"] is None

    assert llm["name"] == "llm:openai:gpt-4o-mini"
    assert (llm["provider"], llm["model"]) == ("openai", "gpt-4o-mini")
    assert (llm["prompt_tokens"], llm["completion_tokens"], llm["total_tokens"]) == (11, 5, 16)
    assert llm["input"]["messages"] == [{"role": "user", "content": "how do I reset?"}]
    assert llm["input"]["params"] == {"temperature": 0.2}
    assert llm["output"]["content"] == "Click the link."
    assert llm["output"]["tokens"] == {"prompt": 11, "completion": 5, "total": 16}
    assert llm["output"]["finish_reason"] == "stop"
    assert llm["cost"] is not None and llm["cost"] > 0
    assert (llm["span_id"], llm["parent_span_id"]) == ("s2", "s1")

    assert decision["reasoning"] == "the customer exists"
    assert decision["decision"] == "send_reset_email"
    assert decision["alternatives"] == ["escalate"]
    assert decision["confidence"] == 0.75

    assert failed["name"] == "send_email"
    assert failed["error"]["message"] == "smtp down"
    assert failed["error"]["type"] == "ValueError"

    assert error["name"] == "send_email"
    assert error["error"]["message"] == "smtp down"
    assert error["error"]["type"] == "ValueError"
    assert "ValueError: smtp down" in error["error"]["stack_trace"]


def test_every_close_status_round_trips(live_server, tmp_path):
    server = live_server(api_key=API_KEY)
    client = _client(server, tmp_path)
    ids = {}
    for status in ("success", "failure", "error", "timeout", "abandoned"):
        ids[status] = client.create_session(f"run-{status}")
        client.close_session(ids[status], status)
    assert client.flush(15)
    client.shutdown(5)
    stored = {s["id"]: s["status"] for s in server.store.list_sessions()}
    assert stored == {sid: status for status, sid in ids.items()}


def test_client_resends_an_oversize_event_trimmed_after_413(live_server, tmp_path):
    server = live_server(api_key=API_KEY, max_body_bytes=20_000)
    client = _client(server, tmp_path)
    sid = client.create_session("big")
    client.track_tool_call(sid, "read_file", {"path": "x"}, {"text": "y" * 200_000})
    client.close_session(sid)
    assert client.flush(15)
    client.shutdown(5)
    [event] = server.store.get_events(sid)
    assert event["name"] == "read_file"
    assert event["input"] == {"path": "x"}
    assert len(json.dumps(event["output"])) < 20_000
    assert server.store.get_session(sid)["status"] == "success"


# --- raw HTTP: validation and errors -----------------------------------------------------------------


def _new_session(api, name: str = "s", key: str | None = None) -> str:
    headers = dict(AUTH)
    if key:
        headers["Idempotency-Key"] = key
    resp = api.post(
        "/api/sdk/sessions", json={"name": name, "agentName": "a", "userId": "u"}, headers=headers
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def test_session_create_answers_like_the_public_api(api):
    resp = api.post(
        "/api/sdk/sessions",
        json={"name": "n", "agentName": "agent", "userId": "u", "metadata": {"k": "v"}},
        headers={**AUTH, "Idempotency-Key": "ses_abc123"},
    )
    assert resp.status_code == 201
    assert resp.json() == {
        "id": "ses_abc123",
        "name": "n",
        "agentName": "agent",
        "userId": "u",
        "status": "active",
    }
    stored = api.server.store.get_session("ses_abc123")
    assert (stored["name"], stored["agent_name"], stored["user_id"], stored["metadata"]) == (
        "n",
        "agent",
        "u",
        {"k": "v"},
    )
    assert stored["status"] == "running"


def test_session_start_time_from_the_body_when_given(api):
    resp = api.post(
        "/api/sdk/sessions", json={"name": "n", "startedAt": "2024-05-01T10:00:00.250000Z"}, headers=AUTH
    )
    assert resp.status_code == 201
    assert api.server.store.get_session(resp.json()["id"])["started_at"] == 1714557600.25
    bad = api.post("/api/sdk/sessions", json={"name": "n", "startedAt": "soon"}, headers=AUTH)
    assert_error(bad, 400, "bad_request", "'startedAt'")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "malformed JSON body"),
        (b'{"name": NaN}', "malformed JSON body"),
        (b"[1, 2]", "body must be a JSON object"),
        (b"", "body must be a JSON object"),
        (b"{}", "'name' is required"),
        (b'{"name": "  "}', "'name' is required"),
        (b'{"name": 3}', "'name' is required"),
        (b'{"name": "n", "metadata": [1]}', "'metadata' must be an object or null"),
        (b'{"name": "n", "userId": 5}', "'userId' must be a string or null"),
    ],
)
def test_bad_session_bodies_get_400(api, content, message):
    resp = api.post(
        "/api/sdk/sessions", content=content, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert_error(resp, 400, "bad_request", message)
    assert api.server.store.count_sessions() == 0


def test_unknown_parent_session_is_404(api):
    resp = api.post("/api/sdk/sessions", json={"name": "child", "parentSessionId": "nope"}, headers=AUTH)
    assert_error(resp, 404, "not_found", "parent session 'nope' not found")
    parent = _new_session(api, "parent")
    resp = api.post("/api/sdk/sessions", json={"name": "child", "parentSessionId": parent}, headers=AUTH)
    assert resp.status_code == 201
    assert api.server.store.get_session(resp.json()["id"])["parent_session_id"] == parent


def _event(sid: str, **extra) -> dict:
    body = {
        "sessionId": sid,
        "eventType": "tool_call",
        "toolName": "t",
        "toolInput": {"a": 1},
        "toolOutput": {},
    }
    body.update(extra)
    return body


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"sessionId": None}, "'sessionId' is required"),
        ({"eventType": "llm_call"}, "'eventType' must be one of"),
        ({"eventType": None}, "'eventType' must be one of"),
        ({"metadata": "x"}, "'metadata' must be an object or null"),
        ({"durationMs": "12"}, "'durationMs' must be a number or null"),
        ({"sequence": 1.5}, "'sequence' must be an integer or null"),
        ({"timestamp": "yesterday"}, "'timestamp' must be an ISO-8601"),
    ],
)
def test_bad_event_bodies_get_400(api, patch, message):
    sid = _new_session(api)
    resp = api.post("/api/sdk/events", json=_event(sid, **patch), headers=AUTH)
    assert_error(resp, 400, "bad_request", message)
    assert api.server.store.get_events(sid) == []


def test_event_for_unknown_session_is_404(api):
    resp = api.post("/api/sdk/events", json=_event("sess_missing"), headers=AUTH)
    assert_error(resp, 404, "not_found", "session 'sess_missing' not found")


def test_close_errors(api):
    assert_error(
        api.patch("/api/sdk/sessions/sess_missing", json={"status": "completed"}, headers=AUTH),
        404,
        "not_found",
    )
    sid = _new_session(api)
    assert_error(
        api.patch(f"/api/sdk/sessions/{sid}", json={"status": "done"}, headers=AUTH),
        400,
        "bad_request",
        "'status'",
    )
    assert_error(
        api.patch(f"/api/sdk/sessions/{sid}", content=b"{", headers=AUTH), 400, "bad_request", "malformed"
    )
    assert_error(api.patch(f"/api/sdk/sessions/{sid}", json={"status": "failed"}), 401, "unauthorized")
    assert api.server.store.get_session(sid)["status"] == "running"


def test_close_maps_public_status_and_keeps_the_exact_one(api):
    a, b, c = _new_session(api, "a"), _new_session(api, "b"), _new_session(api, "c")
    resp = api.patch(f"/api/sdk/sessions/{a}", json={"status": "completed", "success": True}, headers=AUTH)
    assert resp.status_code == 200
    assert resp.json() == {"id": a, "status": "completed"}
    api.patch(
        f"/api/sdk/sessions/{b}",
        json={"status": "failed", "success": False, "failureReason": "x"},
        headers=AUTH,
    )
    api.patch(
        f"/api/sdk/sessions/{c}",
        json={
            "status": "failed",
            "success": False,
            "sentrialStatus": "timeout",
            "durationMs": 1500,
            "customMetrics": {"m": 1},
        },
        headers=AUTH,
    )
    store = api.server.store
    assert store.get_session(a)["status"] == "success"
    assert (store.get_session(b)["status"], store.get_session(b)["failure_reason"]) == ("failure", "x")
    closed = store.get_session(c)
    assert closed["status"] == "timeout"
    assert closed["duration_ms"] == 1500
    assert closed["ended_at"] == pytest.approx(closed["started_at"] + 1.5)
    assert closed["custom_metrics"] == {"m": 1}


def test_oversize_bodies_get_413_and_the_connection_stays_usable(api):
    sid = _new_session(api)
    big = _event(sid, toolOutput={"text": "x" * 10_000})
    assert_error(
        api.post("/api/sdk/events", json=big, headers=AUTH), 413, "payload_too_large", "exceeds 4000"
    )
    # far past any socket buffer: the body is drained so the client still reads its 413
    huge = _event(sid, toolOutput={"text": "x" * 3_000_000})
    assert_error(api.post("/api/sdk/events", json=huge, headers=AUTH), 413, "payload_too_large")
    assert api.post("/api/sdk/events", json=_event(sid), headers=AUTH).status_code == 200
    assert len(api.server.store.get_events(sid)) == 1


def test_a_retried_event_is_stored_once(api):
    sid = _new_session(api)
    body = wire.event_body(
        {
            "type": "tool_call",
            "id": f"{sid}.1",
            "seq": 1,
            "ts": time.time(),
            "name": "search",
            "input": {"q": 1},
        },
        sid,
    )
    headers = {**AUTH, "Idempotency-Key": f"{sid}.1"}
    first = api.post("/api/sdk/events", json=body, headers=headers)
    second = api.post("/api/sdk/events", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"id": f"{sid}.1"}
    events = api.server.store.get_events(sid)
    assert [(e["id"], e["name"], e["input"]) for e in events] == [(f"{sid}.1", "search", {"q": 1})]
    assert api.server.store.get_session(sid)["event_count"] == 1


def test_event_id_falls_back_to_the_idempotency_key_then_a_fresh_id(api):
    sid = _new_session(api)
    keyed = api.post("/api/sdk/events", json=_event(sid), headers={**AUTH, "Idempotency-Key": "evt-key-1"})
    again = api.post("/api/sdk/events", json=_event(sid), headers={**AUTH, "Idempotency-Key": "evt-key-1"})
    fresh = api.post("/api/sdk/events", json=_event(sid), headers=AUTH)
    assert keyed.json() == again.json() == {"id": "evt-key-1"}
    assert fresh.json()["id"].startswith("evt_")
    events = api.server.store.get_events(sid)
    assert sorted(e["id"] for e in events) == sorted(["evt-key-1", fresh.json()["id"]])
    assert [e["seq"] for e in events] == [1, 2]  # no sequence in the body: numbered in arrival order


def test_a_retried_session_create_returns_the_same_session(api):
    first = _new_session(api, "n", key="ses_client_1")
    second = _new_session(api, "n", key="ses_client_1")
    odd = _new_session(api, "n", key="weird key/with spaces")
    odd_again = _new_session(api, "n", key="weird key/with spaces")
    assert first == second == "ses_client_1"
    assert odd == odd_again == session_id_for("weird key/with spaces")
    assert odd.startswith("sess_") and "/" not in odd
    assert api.server.store.count_sessions() == 2


def test_unknown_routes_and_methods_answer_json(api):
    assert_error(
        api.get("/api/sdk/nothing", headers=AUTH), 404, "not_found", "no route for GET /api/sdk/nothing"
    )
    assert_error(api.get("/api/sdk/events", headers=AUTH), 405, "method_not_allowed")
    assert_error(api.delete("/api/sdk/sessions/x", headers=AUTH), 405, "method_not_allowed")


def test_sessions_left_running_are_marked_timeout_at_startup(live_server, tmp_path):
    db = tmp_path / "old.db"
    store = Store(str(db))
    store.ingest(
        [{"kind": "session_start", "session_id": "old", "name": "stale", "ts": time.time() - 3 * 86400}]
    )
    store.close()
    server = live_server("old.db", api_key=API_KEY)
    assert server.store.get_session("old")["status"] == "timeout"


# --- the request shapes that used to answer 500 --------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("close", {"status": ["completed"]}, "status"),
        ("close", {"status": {"a": 1}}, "status"),
        ("close", {"promptTokens": "12"}, "promptTokens"),
        ("close", {"totalTokens": [1]}, "totalTokens"),
        ("close", {"totalTokens": 2**63}, "totalTokens"),
        ("close", {"estimatedCost": {"usd": 1}}, "estimatedCost"),
        ("close", {"success": "yes"}, "success"),
        ("event", {"eventType": ["tool_call"]}, "eventType"),
        ("event", {"eventType": {"t": 1}}, "eventType"),
        ("event", {"eventType": "tool_call", "sequence": 2**64}, "sequence"),
        ("event", {"eventType": "tool_call", "tokenCount": "many"}, "tokenCount"),
        ("event", {"eventType": "tool_call", "confidence": [0.5]}, "confidence"),
        ("event", {"eventType": "tool_call", "toolName": {"n": 1}}, "toolName"),
        ("session", {"name": "n", "agentName": 2**63}, "agentName"),
    ],
)
def test_former_500_shapes_get_400_naming_the_field(api, route, body, field):
    sid = _new_session(api)
    if route == "close":
        resp = api.patch(f"/api/sdk/sessions/{sid}", json=body, headers=AUTH)
    elif route == "event":
        resp = api.post("/api/sdk/events", json={"sessionId": sid, **body}, headers=AUTH)
    else:
        resp = api.post("/api/sdk/sessions", json=body, headers=AUTH)
    assert_error(resp, 400, "bad_request", f"'{field}'")
    assert api.server.store.get_events(sid) == []
    assert api.server.store.get_session(sid)["status"] == "running"


def test_any_json_in_free_fields_is_stored_safely(api):
    body = b'{"name": "s\\ud800", "metadata": {"project_id": {"nested": [1]}, "big": 123456789012345678901234567890}}'
    resp = api.post("/api/sdk/sessions", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code == 201, resp.text
    sid = resp.json()["id"]
    stored = api.server.store.get_session(sid)
    assert stored["name"] == "s\ufffd"
    assert stored["project_id"] == '{"nested": [1]}'  # not text: its JSON text
    assert stored["metadata"]["big"] == "123456789012345678901234567890"
    event = {
        "sessionId": sid,
        "eventType": "tool_call",
        "toolName": "llm:openai:gpt-4o",
        "toolOutput": {"tokens": {"prompt": "many", "completion": {"x": 1}, "total": 2**63}},
    }
    assert api.post("/api/sdk/events", json=event, headers=AUTH).status_code == 200
    (stored_event,) = api.server.store.get_events(sid)
    assert (
        stored_event["prompt_tokens"],
        stored_event["completion_tokens"],
        stored_event["total_tokens"],
    ) == (
        None,
        None,
        None,
    )
    assert stored_event["output"]["tokens"]["total"] == str(2**63)
