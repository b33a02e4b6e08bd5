"""The core client against the embedded SQLite store: API, sessions, context, misuse, data hygiene."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import stat
import threading

import pytest

from sentrial_integrations import SentrialClient, SentrialUsageError, configure, current_session, get_client
from sentrial_integrations.core.record.serialize import CYCLE_MARKER
from tests.conftest import only_session, read_store


def test_session_lifecycle_records_every_event_type_in_order(local_client):
    sid = local_client.create_session(
        "Support - Password Reset", {"user_id": "user_123", "ticket_id": "T-456"}, agent_name="support"
    )
    assert sid.startswith("ses_")
    local_client.track_tool_call(
        sid, "search_kb", {"query": "password reset"}, {"articles": ["KB-1"]}, duration_ms=12.5
    )
    local_client.track_decision(
        sid, "The user wants a reset link", decision="send_link", alternatives=["escalate"], confidence=0.9
    )
    local_client.track_llm_call(
        sid,
        "gpt-4o-mini",
        provider="openai",
        messages=[{"role": "user", "content": "hi"}],
        response="hello",
        prompt_tokens=1000,
        completion_tokens=500,
        params={"temperature": 0.2},
    )
    local_client.track_error(sid, ValueError("kb timeout"), tool_name="search_kb")
    assert local_client.close_session(sid, "success", custom_metrics={"csat": 5})

    store = read_store(local_client)
    s = only_session(store)
    assert (s["id"], s["name"], s["agent_name"], s["user_id"]) == (
        sid,
        "Support - Password Reset",
        "support",
        "user_123",
    )
    assert s["status"] == "success"
    assert s["metadata"] == {"user_id": "user_123", "ticket_id": "T-456"}
    assert (s["prompt_tokens"], s["completion_tokens"], s["total_tokens"]) == (1000, 500, 1500)
    assert s["cost"] == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    assert s["custom_metrics"] == {"csat": 5}
    assert s["event_count"] == 4 and s["error_count"] == 1
    assert s["duration_ms"] is not None and s["duration_ms"] >= 0

    events = sorted(store.get_events(sid), key=lambda e: e["seq"])
    assert [e["type"] for e in events] == ["tool_call", "decision", "llm_call", "error"]
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    tool, decision, llm, err = events
    assert tool["name"] == "search_kb"
    assert tool["input"] == {"query": "password reset"} and tool["output"] == {"articles": ["KB-1"]}
    assert tool["duration_ms"] == 12.5
    assert decision["reasoning"] == "The user wants a reset link"
    assert decision["decision"] == "send_link" and decision["alternatives"] == ["escalate"]
    assert decision["confidence"] == 0.9
    assert llm["name"] == "llm:openai:gpt-4o-mini" and llm["model"] == "gpt-4o-mini"
    assert llm["input"] == {
        "messages": [{"role": "user", "content": "hi"}],
        "model": "gpt-4o-mini",
        "provider": "openai",
        "params": {"temperature": 0.2},
    }
    assert llm["output"]["content"] == "hello"
    assert llm["output"]["tokens"] == {"prompt": 1000, "completion": 500, "total": 1500}
    assert llm["cost"] == pytest.approx(0.00045)
    assert err["name"] == "search_kb"
    assert err["error"]["type"] == "ValueError" and err["error"]["message"] == "kb timeout"
    assert "ValueError: kb timeout" in err["error"]["stack_trace"]


def test_unknown_model_gets_no_cost_and_explicit_cost_wins(local_client):
    sid = local_client.create_session("costs")
    local_client.track_llm_call(sid, "my-private-model", prompt_tokens=10, completion_tokens=5)
    local_client.track_llm_call(sid, "gpt-4o", prompt_tokens=10, completion_tokens=5, cost=1.25)
    local_client.close_session(sid)
    store = read_store(local_client)
    a, b = sorted(store.get_events(sid), key=lambda e: e["seq"])
    assert a["cost"] is None and a["provider"] == "unknown"
    assert b["cost"] == 1.25
    assert store.get_session(sid)["cost"] == 1.25


def test_session_context_manager_makes_session_current_and_closes(local_client):
    with local_client.session("outer", metadata={"env": "test"}) as outer:
        assert current_session() is outer
        outer.track_tool_call("t1", {"a": 1}, {"b": 2})
        with local_client.session("inner") as inner:
            assert current_session() is inner
            assert inner.parent_id == outer.id
        assert current_session() is outer
    assert current_session() is None
    store = read_store(local_client)
    inner_row = store.get_session(inner.id)
    assert inner_row["parent_session_id"] == outer.id and inner_row["status"] == "success"
    assert store.get_session(outer.id)["status"] == "success"
    assert [e["name"] for e in store.get_events(outer.id)] == ["t1"]


def test_session_exit_on_exception_records_error_and_reraises_same_object(local_client):
    boom = RuntimeError("agent crashed")
    with pytest.raises(RuntimeError) as info, local_client.session("failing") as s:
        raise boom
    assert info.value is boom
    store = read_store(local_client)
    row = store.get_session(s.id)
    assert row["status"] == "error"
    assert row["failure_reason"] == "RuntimeError: agent crashed"
    (event,) = store.get_events(s.id)
    assert event["type"] == "error" and event["error"]["type"] == "RuntimeError"


async def test_async_session_context_and_tasks_see_it(local_client):
    async def work(tag: str) -> str:
        s = current_session()
        assert s is not None
        s.track_tool_call(f"tool-{tag}", {"tag": tag}, None)
        return s.id

    async with local_client.session("async-run") as s:
        ids = await asyncio.gather(work("a"), work("b"), asyncio.to_thread(lambda: current_session().id))
    assert ids == [s.id, s.id, s.id]
    store = read_store(local_client)
    assert sorted(e["name"] for e in store.get_events(s.id)) == ["tool-a", "tool-b"]
    assert store.get_session(s.id)["status"] == "success"


def test_threads_with_copied_context_see_the_session(local_client):
    seen = []
    with local_client.session("threaded") as s:
        ctx = contextvars.copy_context()
        t = threading.Thread(target=ctx.run, args=(lambda: seen.append(current_session()),))
        t.start()
        t.join()
    assert seen == [s]


def test_concurrent_sessions_from_threads_and_tasks_never_mix(local_client):
    def thread_worker(n: int) -> None:
        with local_client.session(f"thread-{n}") as s:
            for i in range(50):
                s.track_tool_call("step", {"worker": f"thread-{n}", "i": i}, None)

    async def task_worker(n: int) -> None:
        async with local_client.session(f"task-{n}") as s:
            for i in range(20):
                s.track_tool_call("step", {"worker": f"task-{n}", "i": i}, None)
                if i % 5 == 0:
                    await asyncio.sleep(0)

    async def run_tasks() -> None:
        await asyncio.gather(*(task_worker(n) for n in range(50)))

    threads = [threading.Thread(target=thread_worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    asyncio.run(run_tasks())
    for t in threads:
        t.join()
    store = read_store(local_client)
    sessions = store.list_sessions(flt=None)
    from sentrial_integrations.core.store import SessionFilter

    sessions = store.list_sessions(SessionFilter(limit=1000))
    assert len(sessions) == 58
    for s in sessions:
        events = store.get_events(s["id"])
        expected = 50 if s["name"].startswith("thread") else 20
        assert len(events) == expected
        assert {e["input"]["worker"] for e in events} == {s["name"]}
        assert [e["input"]["i"] for e in sorted(events, key=lambda e: e["seq"])] == list(range(expected))
        assert s["status"] == "success"


def test_caller_mutation_after_track_does_not_change_the_record(local_client):
    sid = local_client.create_session("mutation")
    payload = {"items": [1, 2, 3], "nested": {"k": "v"}}
    local_client.track_tool_call(sid, "t", payload, None)
    payload["items"].append(4)
    payload["nested"]["k"] = "changed"
    payload["new"] = True
    local_client.close_session(sid)
    (event,) = read_store(local_client).get_events(sid)
    assert event["input"] == {"items": [1, 2, 3], "nested": {"k": "v"}}


class _Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("repr explodes")

    def __str__(self) -> str:
        raise RuntimeError("str explodes")


def test_hostile_payload_huge_string_cycle_bytes_bad_repr_in_one_event(local_client):
    cyclic: dict = {"name": "loop"}
    cyclic["self"] = cyclic
    huge = "x" * (5 * 1024 * 1024)
    sid = local_client.create_session("hostile")
    local_client.track_tool_call(
        sid,
        "t",
        {
            "huge": huge,
            "cycle": cyclic,
            "bytes": b"\x00\xff\x10binary",
            "bad": _Hostile(),
            "nan": float("nan"),
        },
        {"surrogate": "a\udc80b", "set": {1}},
    )
    local_client.close_session(sid)
    (event,) = read_store(local_client).get_events(sid)
    inp = event["input"]
    assert inp["huge"].startswith("x" * 1000)
    assert "[truncated" in inp["huge"] and len(inp["huge"]) < 200_000
    assert (
        inp["cycle"]["name"] == "loop" and inp["cycle"]["self"]["self"] == CYCLE_MARKER
    ) or CYCLE_MARKER in str(inp["cycle"])
    assert inp["bytes"] == {"base64": "AP8QYmluYXJ5"}
    assert inp["bad"] == "<unrepresentable _Hostile>"
    assert inp["nan"] == "NaN"
    assert event["output"] == {"surrogate": "a\ufffdb", "set": [1]}


def test_event_over_size_cap_is_trimmed_with_marker(tmp_path):
    client = SentrialClient(
        local_path=str(tmp_path / "s.db"), max_event_bytes=50_000, max_string_length=1_000_000
    )
    sid = client.create_session("big")
    client.track_tool_call(sid, "t", {"a": "y" * 400_000}, {"b": ["z" * 1000] * 500})
    client.close_session(sid)
    (event,) = read_store(client).get_events(sid)
    import json

    assert len(json.dumps({"input": event["input"], "output": event["output"]})) < 50_000
    assert "truncated" in json.dumps(event["input"])
    client.shutdown(2)


def test_secrets_are_redacted_by_default(local_client):
    sid = local_client.create_session(
        "secrets", {"api_key": "abc", "note": "key sk-proj-abcdefghijklmnop1234"}
    )
    local_client.track_tool_call(
        sid,
        "http",
        {
            "headers": {"Authorization": "Bearer abcdefghijklmnop.qrstuv", "X-Trace": "ok"},
            "password": "hunter2",
        },
        {"aws": "AKIAABCDEFGHIJKLMNOP", "max_tokens": 5, "prompt_tokens": 3},
    )
    local_client.close_session(sid)
    store = read_store(local_client)
    s = store.get_session(sid)
    assert s["metadata"] == {"api_key": "[REDACTED]", "note": "key [REDACTED]"}
    (e,) = store.get_events(sid)
    assert e["input"] == {
        "headers": {"Authorization": "[REDACTED]", "X-Trace": "ok"},
        "password": "[REDACTED]",
    }
    assert e["output"] == {"aws": "[REDACTED]", "max_tokens": 5, "prompt_tokens": 3}


def test_pii_redaction_is_opt_in_and_user_hook_runs(tmp_path):
    def hook(record):
        if record.get("name") == "drop-me":
            return None
        if record.get("input"):
            record["input"] = {**record["input"], "hooked": True}
        return record

    client = SentrialClient(local_path=str(tmp_path / "s.db"), redact_pii=True, redact=hook)
    sid = client.create_session("pii")
    client.track_tool_call(sid, "email", {"text": "write to jane.doe@example.com or +1 415 555 0100"}, None)
    client.track_tool_call(sid, "drop-me", {"x": 1}, None)
    client.close_session(sid)
    (e,) = read_store(client).get_events(sid)
    assert e["input"] == {"text": "write to [EMAIL] or [PHONE]", "hooked": True}
    client.shutdown(2)


def test_misuse_warns_once_and_records_nothing_wrong(local_client, caplog_sentrial):
    assert local_client.track_tool_call("nope", "t") is None
    assert local_client.track_tool_call("nope", "t") is None
    sid = local_client.create_session("misuse")
    assert local_client.close_session(sid, "weird-status") is False
    assert local_client.close_session(sid, "failed") is True  # alias of failure
    assert local_client.close_session(sid) is False  # twice
    assert local_client.track_decision(sid, "after close") is None
    other = local_client.create_session(12345)  # non-string name is converted
    local_client.close_session(other)
    messages = [r.getMessage() for r in caplog_sentrial.records]
    assert sum("unknown session id 'nope'" in m for m in messages) == 1
    assert sum("unknown status 'weird-status'" in m for m in messages) == 1
    assert sum("after it was closed" in m for m in messages) == 2  # close_session and track_decision
    assert any("expects a string name" in m for m in messages)
    store = read_store(local_client)
    assert store.get_session(sid)["status"] == "failure"
    assert store.get_events(sid) == []
    assert store.get_session(other)["name"] == "12345"


def test_strict_mode_raises_on_misuse(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTRIAL_STRICT", "1")
    client = SentrialClient(local_path=str(tmp_path / "s.db"))
    with pytest.raises(SentrialUsageError, match="unknown session id"):
        client.track_tool_call("nope", "t")
    sid = client.create_session("s")
    with pytest.raises(SentrialUsageError, match="unknown status"):
        client.close_session(sid, "bogus")
    client.shutdown(2)


def test_configure_and_get_client_use_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTRIAL_LOCAL_PATH", str(tmp_path / "env.db"))
    monkeypatch.setenv("SENTRIAL_PROJECT_ID", "proj-1")
    c = get_client()
    assert c is get_client()
    assert c.config.local_path == str(tmp_path / "env.db") and c.config.project_id == "proj-1"
    assert c.config.mode == "local"
    c2 = configure(local_path=str(tmp_path / "other.db"), project_id="p2")
    assert get_client() is c2 and c2.config.project_id == "p2"
    sid = c2.create_session("configured")
    c2.close_session(sid)
    assert read_store(c2).get_session(sid)["project_id"] == "p2"


def test_disabled_client_records_nothing_and_never_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTRIAL_DISABLED", "true")
    client = SentrialClient(local_path=str(tmp_path / "s.db"))
    sid = client.create_session("off")
    assert client.track_tool_call(sid, "t", {"a": 1}) is not None
    assert client.close_session(sid)
    assert client.flush(1) is True
    assert not os.path.exists(tmp_path / "s.db")


def test_store_and_outbox_files_are_private(tmp_path):
    client = SentrialClient(local_path=str(tmp_path / "db" / "s.db"), spool_path=str(tmp_path / "spool"))
    sid = client.create_session("perm")
    client.close_session(sid)
    assert client.flush(5)
    client.shutdown(2)
    db_mode = stat.S_IMODE(os.stat(tmp_path / "db" / "s.db").st_mode)
    assert db_mode == 0o600
    assert not (tmp_path / "spool").exists()  # the local store needs no outbox
    http = SentrialClient(
        api_key="k-123456", base_url="http://127.0.0.1:9", spool_path=str(tmp_path / "spool")
    )
    http.create_session("perm")
    assert http.persist(5)
    http.shutdown(1)
    outboxes = list((tmp_path / "spool").glob("outbox-*.db"))
    assert outboxes and all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in outboxes)


def test_repr_and_logs_never_contain_the_api_key(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="sentrial_integrations")
    key = "sentrial_live_SUPERSECRETKEY123456"
    client = SentrialClient(
        api_key=key, base_url="http://127.0.0.1:9", spool_path=str(tmp_path), request_timeout=0.5
    )
    sid = client.create_session("k")
    client.track_tool_call(sid, "t", {"token": key})
    client.close_session(sid)
    client.persist(5)
    assert key not in repr(client) and key not in str(client.config)
    assert all(key not in r.getMessage() for r in caplog.records)
    client.shutdown(0.5)
    outboxes = list(tmp_path.glob("outbox-*.db*"))
    assert outboxes
    for outbox in outboxes:
        assert key.encode() not in outbox.read_bytes()


def test_plain_http_to_a_remote_host_is_refused(tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="sentrial_integrations")
    client = SentrialClient(api_key="k-123456", base_url="http://example.com", spool_path=str(tmp_path))
    assert client.config.mode == "disabled"
    assert any("refusing to send the API key over plain http" in r.getMessage() for r in caplog.records)
    ok = SentrialClient(
        api_key="k-123456", base_url="http://example.com", spool_path=str(tmp_path), allow_insecure_http=True
    )
    assert ok.config.mode == "http"
    ok.shutdown(0.1)


def test_process_session_is_the_fallback_in_every_thread(local_client):
    from sentrial_integrations.core.context import set_process_session

    umbrella = local_client.session("whole program")
    set_process_session(umbrella)
    try:
        seen = []
        t = threading.Thread(target=lambda: seen.append(current_session()))
        t.start()
        t.join()
        with local_client.session("inner") as inner:
            assert current_session() is inner  # a current session still wins
        assert seen == [umbrella]
        umbrella.close()
        assert current_session() is None  # a closed one is never current
    finally:
        set_process_session(None)


def test_repr_never_shows_url_credentials(tmp_path):
    client = SentrialClient(
        api_key="k-123456", base_url="https://user:hunter2@api.example.com", spool_path=str(tmp_path)
    )
    assert "hunter2" not in repr(client) and "api.example.com" in repr(client)
    client.shutdown(0.1)
