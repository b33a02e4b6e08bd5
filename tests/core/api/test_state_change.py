"""Sentrial API parity: ``track_state_change`` (stateBefore / stateAfter) and ``close_session(user_input=,
assistant_output=)`` (userInput / assistantOutput), on the wire (loopback Sentrial API), in the store, and
through the local server back into its store and pages."""

from __future__ import annotations

import httpx

from sentrial_integrations import SentrialClient
from sentrial_integrations.cli import main
from tests.conftest import only_session, read_store


def _http_client(server, tmp_path, **kw) -> SentrialClient:
    kw.setdefault("request_timeout", 2.0)
    kw.setdefault("retry_initial_backoff", 0.05)
    return SentrialClient(api_key="test-key", base_url=server.url, spool_path=str(tmp_path / "spool"), **kw)


def _record(client: SentrialClient, name: str) -> str:
    sid = client.create_session(name, agent_name="planner", user_id="u-1")
    client.track_state_change(
        sid, {"step": "plan"}, {"step": "search", "query": "refund policy"}, reason="planned"
    )
    with client.session("child") as child:
        child.track_state_change("idle", "busy")
    client.track_tool_call(sid, "search", {"q": "refund policy"}, {"hits": 2})
    client.close_session(
        sid,
        "success",
        user_input="How do I get a refund?",
        assistant_output="Open Orders, pick the order, press Refund.",
    )
    return sid


def test_state_change_and_close_texts_on_the_wire(sentrial_api, tmp_path):
    client = _http_client(sentrial_api, tmp_path)
    try:
        _record(client, "parity")
        assert client.flush(10)
    finally:
        client.shutdown(5)
    sess = sentrial_api.session_by_name("parity")
    assert sess is not None
    change, tool = sess["events"]
    # the public API knows three event types: a state change is a tool_call with stateBefore/stateAfter
    assert change["eventType"] == "tool_call" and change["toolName"] == "state_change"
    assert change["stateBefore"] == {"step": "plan"}
    assert change["stateAfter"] == {"step": "search", "query": "refund policy"}
    assert change["reasoning"] == "planned"
    assert tool["toolName"] == "search" and "stateBefore" not in tool
    child = sentrial_api.session_by_name("child")
    (scalar,) = child["events"]
    assert scalar["stateBefore"] == {"state": "idle"} and scalar["stateAfter"] == {"state": "busy"}
    (close,) = sess["closes"]
    assert close["userInput"] == "How do I get a refund?"
    assert close["assistantOutput"] == "Open Orders, pick the order, press Refund."
    assert close["status"] == "completed"
    # nothing was refused: every request got a 2xx
    assert all(200 <= r["status"] < 300 for r in sentrial_api.requests), [
        (r["path"], r["status"]) for r in sentrial_api.requests if r["status"] >= 300
    ]


def test_state_change_and_close_texts_in_the_store(local_client, capsys):
    sid = _record(local_client, "parity")
    store = read_store(local_client)
    change, tool = store.get_events(sid)
    assert change["type"] == "state_change" and change["name"] == "state_change"
    assert change["input"] == {"step": "plan"}
    assert change["output"] == {"step": "search", "query": "refund policy"}
    assert change["reasoning"] == "planned"
    assert tool["type"] == "tool_call"
    s = store.get_session(sid)
    assert s["user_input"] == "How do I get a refund?"
    assert s["output"] == "Open Orders, pick the order, press Refund."
    assert main(["--db", local_client.config.local_path, "show", sid]) == 0
    out = capsys.readouterr().out
    assert "How do I get a refund?" in out and "state_change" in out


def test_output_still_becomes_assistant_output_and_both_can_be_given(local_client, sentrial_api, tmp_path):
    client = _http_client(sentrial_api, tmp_path)
    try:
        a = client.create_session("plain-output")
        client.close_session(a, output="the answer")
        b = client.create_session("structured-output")
        client.close_session(b, output={"answer": 42}, assistant_output="42", user_input={"question": "6*7"})
        assert client.flush(10)
    finally:
        client.shutdown(5)
    (close_a,) = sentrial_api.session_by_name("plain-output")["closes"]
    assert close_a["assistantOutput"] == "the answer" and "userInput" not in close_a
    (close_b,) = sentrial_api.session_by_name("structured-output")["closes"]
    assert close_b["assistantOutput"] == "42"
    assert close_b["userInput"] == '{"question": "6*7"}'  # the API takes text: JSON for other values


def test_the_local_server_reads_them_back(tmp_path):
    from tests.server.conftest import API_KEY, LiveServer

    server = LiveServer(str(tmp_path / "served.db"), api_key=API_KEY)
    client = SentrialClient(api_key=API_KEY, base_url=server.url, spool_path=str(tmp_path / "spool"))
    try:
        _record(client, "parity")
        assert client.flush(10)
        s = next(s for s in server.store.list_sessions() if s["name"] == "parity")
        assert s["user_input"] == "How do I get a refund?"
        assert s["output"] == "Open Orders, pick the order, press Refund."
        change, _tool = server.store.get_events(s["id"])
        assert change["type"] == "state_change"
        assert change["input"] == {"step": "plan"} and change["output"]["step"] == "search"
        assert change["reasoning"] == "planned"
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}) as http:
            page = http.get(f"/sessions/{s['id']}")
            assert page.status_code == 200
            assert "User input" in page.text and "How do I get a refund?" in page.text
            detail = http.get(f"/api/sessions/{s['id']}").json()
            assert [e["type"] for e in detail["events"]] == ["state_change", "tool_call"]
    finally:
        client.shutdown(5)
        server.stop()


def test_track_state_change_misuse_never_raises(local_client):
    assert local_client.track_state_change("ses_unknown", {}, {}) is None
    sid = local_client.create_session("odd")

    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert local_client.track_state_change(sid, Weird(), {"ok": True}, reason=None) is not None
    local_client.close_session(sid)
    s = only_session(read_store(local_client))
    assert s["event_count"] == 1
