"""The core client against the loopback Sentrial-API server: wire format, ordering, retries, spool."""

from __future__ import annotations

import logging
import time

import pytest

from sentrial_integrations import SentrialClient


def http_client(server, tmp_path, **kw) -> SentrialClient:
    kw.setdefault("request_timeout", 2.0)
    kw.setdefault("retry_initial_backoff", 0.05)
    kw.setdefault("retry_max_backoff", 0.4)
    return SentrialClient(api_key="test-key", base_url=server.url, spool_path=str(tmp_path / "spool"), **kw)


def assert_session_delivered(server, name: str, n_events: int, status: str = "completed"):
    """Exactly ``n_events`` events, sequence 1..n in arrival order, then exactly one close."""
    sess = server.session_by_name(name)
    assert sess is not None, f"session {name!r} not created"
    seqs = [e["sequence"] for e in sess["events"]]
    assert seqs == list(range(1, n_events + 1)), seqs[:20]
    assert len({e["eventId"] for e in sess["events"]}) == n_events
    assert len(sess["closes"]) == 1 and sess["closes"][0]["status"] == status
    return sess


def test_wire_format_of_every_record(sentrial_api, tmp_path):
    client = http_client(sentrial_api, tmp_path, project_id="proj-9")
    sid = client.create_session("Support - Password Reset", {"user_id": "user_123", "tier": "gold"})
    client.track_tool_call(sid, "search_kb", {"query": "reset"}, "found 3", duration_ms=5, span_id="s1")
    client.track_llm_call(
        sid,
        "gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        response="hello",
        prompt_tokens=100,
        completion_tokens=20,
        parent_span_id="s1",
    )
    client.track_decision(
        sid, "pick reset flow", decision="send_link", alternatives=["escalate"], confidence=0.7
    )
    client.track_error(sid, KeyError("missing"), tool_name="crm")
    client.close_session(sid, "success", custom_metrics={"csat": 4.5})
    assert client.flush(10)

    sess = sentrial_api.session_by_name("Support - Password Reset")
    body = sess["body"]
    assert body["agentName"] == "Support - Password Reset" and body["userId"] == "user_123"
    assert body["metadata"] == {"user_id": "user_123", "tier": "gold", "project_id": "proj-9"}
    tool, llm, decision, error = sess["events"]
    assert tool["eventType"] == "tool_call" and tool["toolName"] == "search_kb"
    assert tool["toolInput"] == {"query": "reset"} and tool["toolOutput"] == {"output": "found 3"}
    assert tool["durationMs"] == 5 and tool["spanId"] == "s1" and tool["sequence"] == 1
    assert tool["eventId"] == f"{sid}.1" and tool["timestamp"].endswith("Z")
    assert llm["eventType"] == "tool_call" and llm["toolName"] == "llm:openai:gpt-4o-mini"
    assert llm["toolInput"]["messages"] == [{"role": "user", "content": "hi"}]
    assert llm["toolOutput"]["tokens"] == {"prompt": 100, "completion": 20, "total": 120}
    assert llm["tokenCount"] == 120 and llm["estimatedCost"] == pytest.approx(0.000027)
    assert llm["parentSpanId"] == "s1"
    assert decision["eventType"] == "llm_decision" and decision["reasoning"] == "pick reset flow"
    assert decision["alternativesConsidered"] == ["escalate"] and decision["confidence"] == 0.7
    assert error["eventType"] == "error" and error["toolError"]["type"] == "KeyError"
    assert "stack_trace" in error["toolError"] and error["toolName"] == "crm"
    (close,) = sess["closes"]
    assert close["status"] == "completed" and close["success"] is True
    assert close["promptTokens"] == 100 and close["completionTokens"] == 20 and close["totalTokens"] == 120
    assert close["estimatedCost"] == pytest.approx(0.000027) and close["customMetrics"] == {"csat": 4.5}
    # every event request carried its id as Idempotency-Key and the Bearer key
    event_reqs = [r for r in sentrial_api.requests if r["path"] == "/api/sdk/events"]
    assert [r["headers"]["idempotency-key"] for r in event_reqs] == [e["eventId"] for e in sess["events"]]
    assert all(r["headers"]["authorization"] == "Bearer test-key" for r in sentrial_api.requests)
    client.shutdown(2)


def test_failed_session_closes_as_failed_with_reason(sentrial_api, tmp_path):
    client = http_client(sentrial_api, tmp_path)
    with pytest.raises(ZeroDivisionError), client.session("crashes"):
        1 / 0  # noqa: B018
    assert client.flush(10)
    sess = sentrial_api.session_by_name("crashes")
    (close,) = sess["closes"]
    assert close["status"] == "failed" and close["success"] is False
    assert close["failureReason"] == "ZeroDivisionError: division by zero"
    assert close["sentrialStatus"] == "error"
    client.shutdown(2)


def test_slow_backend_does_not_slow_the_caller(sentrial_api, tmp_path):
    sentrial_api.set_delay(0.3)
    client = http_client(sentrial_api, tmp_path)
    start = time.perf_counter()
    sid = client.create_session("slow")
    for i in range(20):
        client.track_tool_call(sid, "t", {"i": i}, None)
    client.close_session(sid)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.05, f"caller waited {elapsed:.3f}s"  # generous bound from the issue (20 calls)
    assert client.flush(30)
    assert_session_delivered(sentrial_api, "slow", 20)
    client.shutdown(2)


def test_backend_down_then_up_delivers_everything_once_in_order(sentrial_api, tmp_path):
    client = http_client(sentrial_api, tmp_path)
    sid = client.create_session("outage")
    for i in range(10):
        client.track_tool_call(sid, "before", {"i": i})
    assert client.flush(10)
    sentrial_api.go_down()
    for i in range(200):
        client.track_tool_call(sid, "during", {"i": i})
    client.close_session(sid)
    assert client.persist(10)  # everything is in the disk spool now
    assert client.stats()["spooled"] == 201
    sentrial_api.come_up()
    assert client.flush(30)
    sess = assert_session_delivered(sentrial_api, "outage", 210)
    assert [e["toolName"] for e in sess["events"]] == ["before"] * 10 + ["during"] * 200
    assert sentrial_api.duplicates == 0
    client.shutdown(2)


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_storm_is_retried_until_accepted(sentrial_api, tmp_path, status):
    sentrial_api.fail_next(6, status=status)
    client = http_client(sentrial_api, tmp_path)
    with client.session("storm") as s:
        for i in range(30):
            s.track_tool_call("t", {"i": i})
    assert client.flush(30)
    assert_session_delivered(sentrial_api, "storm", 30)
    client.shutdown(2)


def test_429_with_retry_after_is_honoured(sentrial_api, tmp_path):
    client = http_client(sentrial_api, tmp_path)
    sid = client.create_session("limited")
    assert client.flush(10)
    sentrial_api.fail_next(3, status=429, retry_after=0.4)
    for i in range(5):
        client.track_tool_call(sid, "t", {"i": i})
    client.close_session(sid)
    assert client.flush(30)
    assert_session_delivered(sentrial_api, "limited", 5)
    limited = [r for r in sentrial_api.requests if r["status"] == 429]
    assert len(limited) == 3
    # after the last 429 the client waited at least the Retry-After before trying again
    idx = sentrial_api.requests.index(limited[-1])
    nxt = sentrial_api.requests[idx + 1]
    assert nxt["t"] - limited[-1]["t"] >= 0.39
    client.shutdown(2)


def test_413_event_is_trimmed_and_resent(sentrial_api, tmp_path):
    sentrial_api.fail_matching(
        lambda method, path, body: path == "/api/sdk/events" and len(str(body)) > 20_000, 413
    )
    client = http_client(sentrial_api, tmp_path)
    with client.session("big") as s:
        s.track_tool_call("t", {"blob": "x" * 90_000}, {"ok": True})
    assert client.flush(20)
    sess = assert_session_delivered(sentrial_api, "big", 1)
    blob = sess["events"][0]["toolInput"]["blob"]
    assert "[truncated" in blob and len(blob) < 20_000
    client.shutdown(2)


def test_401_keeps_data_and_warns_without_the_key(sentrial_api, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="sentrial_integrations")
    client = SentrialClient(
        api_key="wrong-key-123456",
        base_url=sentrial_api.url,
        spool_path=str(tmp_path / "spool"),
        request_timeout=2,
    )
    with client.session("unauthorised") as s:
        s.track_tool_call("t", {"i": 1})
    assert client.persist(10)

    def told() -> list[str]:
        return [r.getMessage() for r in caplog.records if "rejected the API key" in r.getMessage()]

    for _ in range(120):  # the shipper process tries, is refused, and tells this process (within 60 s)
        assert not client.flush(0.5)  # never delivered
        if told():
            break
    assert client.stats()["outbox"] == 3  # create, event, close kept in the outbox
    assert not client.flush(2)
    warnings = told()
    assert len(warnings) == 1 and "wrong-key-123456" not in warnings[0]
    client.shutdown(0.5)


def test_hanging_backend_spools_queued_events_and_never_blocks(sentrial_api, tmp_path):
    client = http_client(sentrial_api, tmp_path, request_timeout=1.0)
    sid = client.create_session("hang")
    assert client.flush(10)
    sentrial_api.hang(True)
    for i in range(50):
        client.track_tool_call(sid, "t", {"i": i})
    client.close_session(sid)
    assert sentrial_api.wait_for(lambda s: s.hanging >= 1, 10)  # a request is stuck in flight
    assert client.persist(10)  # the in-flight batch times out and joins the rest in the spool
    assert client.stats()["spooled"] == 51
    sentrial_api.hang(False)
    assert client.flush(30)
    assert_session_delivered(sentrial_api, "hang", 50)
    client.shutdown(2)


def test_many_sessions_are_delivered_concurrently_each_in_order(sentrial_api, tmp_path):
    client = http_client(sentrial_api, tmp_path)
    for n in range(20):
        with client.session(f"s{n}") as s:
            for i in range(25):
                s.track_tool_call("t", {"i": i})
    assert client.flush(60)
    for n in range(20):
        assert_session_delivered(sentrial_api, f"s{n}", 25)
    client.shutdown(2)


def test_child_session_is_created_after_its_parent_with_the_parent_server_id(sentrial_api, tmp_path):
    client = http_client(sentrial_api, tmp_path)
    with client.session("parent") as parent:
        with client.session("child") as child:
            child.track_tool_call("t", {"i": 0})
        parent.track_tool_call("t", {"i": 1})
    assert client.flush(10)
    parent_row = sentrial_api.session_by_name("parent")
    child_row = sentrial_api.session_by_name("child")
    parent_server_id = next(k for k, v in sentrial_api.sessions.items() if v["body"]["name"] == "parent")
    assert child_row["body"]["parentSessionId"] == parent_server_id
    assert parent_row["body"]["startedAt"] <= child_row["body"]["startedAt"]
    assert parent.parent_id is None and child.parent_id == parent.id
    client.shutdown(2)
