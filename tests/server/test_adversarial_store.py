"""The adversarial records of issue 15, written through the SDK and through the server into one store; then
every CLI command and every dashboard page reads that store: exit 0 / 200, with the markers shown."""

from __future__ import annotations

import json

import httpx

from sentrial_integrations import SentrialClient
from sentrial_integrations.core.record.normalize import DEPTH_MARKER, MARKER_KEY
from tests.readers import every_cli_command, every_page

from .conftest import API_KEY, AUTH


def nested(levels: int) -> dict:
    root: dict = {}
    node = root
    for _ in range(levels):
        node["n"] = {}
        node = node["n"]
    return root


def _sdk_writes(db: str, spool: str) -> tuple[str, str]:
    client = SentrialClient(local_path=db, spool_path=spool)
    sid = client.create_session("sdk hostile", metadata={"deep": nested(600)})
    client.track_tool_call(sid, "t", {"q": 1}, {"a": 2}, start_time=1e300)
    client.track_tool_call(sid, "past", start_time=-1e18, duration_ms=1e300)
    client.track_llm_call(sid, "gpt-4o", prompt_tokens=2**70, completion_tokens=5, cost=1e308)
    client.track_tool_call(sid, "big", {"n": 2**64 + 1, "nan": float("nan"), "s": "lone \ud800 surrogate"})
    client.close_session(sid, "failure", failure_reason={"not": "a string"}, duration_ms=float("inf"))
    sid2 = client.create_session("sdk running", metadata={"big": 2**80})
    client.track_tool_call(sid2, "t", start_time=35184372088833)
    assert client.flush(15)
    client.shutdown(5)
    return sid, sid2


INF = float("inf")  # sent as the JSON number 1e999 (which Python's parser reads as infinity)


def _post(http: httpx.Client, path: str, body: object, method: str = "POST") -> httpx.Response:
    content = json.dumps(body, allow_nan=True).replace("Infinity", "1e999").encode("utf-8")
    return http.request(method, path, content=content, headers={**AUTH, "Content-Type": "application/json"})


def write_adversarial(server, tmp_path) -> tuple[str, str, str]:
    """The issue's adversarial records, through the SDK (into the server's store) and through the server's
    API (refused ones checked for their 400). Returns (SDK session, SDK running session, server session)."""
    sdk_sid, sdk_running = _sdk_writes(server.db_path, str(tmp_path / "spool"))

    with httpx.Client(base_url=server.url, timeout=30) as http:
        # refused, each with a 400 naming the field
        for body, field in [
            ({"name": "n", "startedAt": 1e308}, "startedAt"),
            ({"name": "n", "startedAt": 35184372088833}, "startedAt"),
            ({"name": ["unhashable"]}, "name"),
            ({"name": "n", "metadata": [1]}, "metadata"),
        ]:
            resp = _post(http, "/api/sdk/sessions", body)
            assert resp.status_code == 400, resp.text
            assert f"'{field}'" in resp.json()["message"]
        resp = _post(
            http,
            "/api/sdk/sessions",
            {
                "name": "srv \ud800 hostile",
                "userId": "u",
                "metadata": {"deep": nested(600), "big": 2**63, "pid": 1},
            },
        )
        assert resp.status_code == 201, resp.text
        srv = resp.json()["id"]
        for body, field in [
            ({"sessionId": srv, "eventType": ["tool_call"]}, "eventType"),
            ({"sessionId": srv, "eventType": {"a": 1}}, "eventType"),
            ({"sessionId": srv, "eventType": "tool_call", "timestamp": -1e18}, "timestamp"),
            ({"sessionId": srv, "eventType": "tool_call", "sequence": 2**63}, "sequence"),
            ({"sessionId": srv, "eventType": "tool_call", "tokenCount": 2**64}, "tokenCount"),
            ({"sessionId": srv, "eventType": "tool_call", "durationMs": INF}, "durationMs"),
            ({"sessionId": 5, "eventType": "tool_call"}, "sessionId"),
        ]:
            resp = _post(http, "/api/sdk/events", body)
            assert resp.status_code == 400, resp.text
            assert f"'{field}'" in resp.json()["message"], resp.text
        accepted = [
            {
                "sessionId": srv,
                "eventType": "tool_call",
                "toolName": "llm:openai:gpt-4o",
                "toolInput": {"messages": [{"role": "user", "content": {"not": "text"}}]},
                "toolOutput": {
                    "tokens": {"prompt": "many", "completion": 2**63, "total": [1]},
                    "cost_usd": "x",
                },
            },
            {
                "sessionId": srv,
                "eventType": "error",
                "toolError": {"message": {"nested": ["x"]}, "type": 7},
                "metadata": {"deep": nested(600)},
            },
            {"sessionId": srv, "eventType": "llm_decision", "reasoning": "r\udfff", "decision": [2**70]},
        ]
        for body in accepted:
            resp = _post(http, "/api/sdk/events", body)
            assert resp.status_code == 200, resp.text
        resp = _post(http, f"/api/sdk/sessions/{srv}", {"status": "failed", "durationMs": INF}, "PATCH")
        assert resp.status_code == 400 and "'durationMs'" in resp.json()["message"]
        resp = _post(
            http,
            f"/api/sdk/sessions/{srv}",
            {"status": "failed", "failureReason": "x", "customMetrics": {"m": 2**70}, "totalTokens": 10},
            "PATCH",
        )
        assert resp.status_code == 200, resp.text
    return sdk_sid, sdk_running, srv


def test_adversarial_records_from_sdk_and_server_are_read_by_every_reader(live_server, tmp_path):
    server = live_server(api_key=API_KEY)
    db = server.db_path
    sdk_sid, sdk_running, srv = write_adversarial(server, tmp_path)
    store = server.store
    # what was recorded: clamped / dropped with markers, cut at depth, big ints as text
    sdk_session = store.get_session(sdk_sid)
    assert DEPTH_MARKER in json.dumps(sdk_session["metadata"])
    assert sdk_session["failure_reason"] == '{"not": "a string"}'  # not text: its JSON text
    assert "duration_ms" in sdk_session["custom_metrics"][MARKER_KEY]
    sdk_events = store.get_events(sdk_sid)
    by_name = {e["name"]: e for e in sdk_events}
    assert by_name["t"]["ts"] == 32_503_680_000.0 and "ts" in by_name["t"]["metadata"][MARKER_KEY]
    assert by_name["past"]["ts"] == 0.0 and by_name["past"]["duration_ms"] == 1e12
    llm = next(e for e in sdk_events if e["type"] == "llm_call")
    assert llm["prompt_tokens"] is None and llm["cost"] is None
    assert {"prompt_tokens", "cost"} <= set(llm["metadata"][MARKER_KEY])
    assert by_name["big"]["input"] == {"n": str(2**64 + 1), "nan": "NaN", "s": "lone \ufffd surrogate"}
    running_events = store.get_events(sdk_running)
    assert running_events[0]["ts"] == 32_503_680_000.0
    assert store.get_session(sdk_running)["metadata"]["big"] == str(2**80)

    srv_session = store.get_session(srv)
    assert srv_session["name"] == "srv \ufffd hostile"
    assert srv_session["metadata"]["big"] == str(2**63)
    assert DEPTH_MARKER in json.dumps(srv_session["metadata"])
    assert srv_session["custom_metrics"]["m"] == str(2**70)
    srv_events = store.get_events(srv)
    llm = next(e for e in srv_events if e["type"] == "llm_call")
    assert (llm["prompt_tokens"], llm["completion_tokens"], llm["total_tokens"], llm["cost"]) == (
        None,
        None,
        None,
        None,
    )
    assert {"prompt_tokens", "completion_tokens", "total_tokens", "cost"} <= set(llm["metadata"][MARKER_KEY])
    err = next(e for e in srv_events if e["type"] == "error")
    assert err["error"]["message"] == '{"nested": ["x"]}' and err["error"]["type"] == "7"
    decision = next(e for e in srv_events if e["type"] == "decision")
    assert decision["reasoning"] == "r\ufffd" and decision["decision"] == [str(2**70)]

    # every reader renders the store, markers shown
    ids = [sdk_sid, sdk_running, srv]
    outputs = every_cli_command(db, ids)
    assert MARKER_KEY in outputs[f"show {sdk_sid} --json"]
    assert "out of range, clamped" in outputs[f"show {sdk_sid} --json"]
    assert "not an integer in range, dropped" in outputs[f"show {srv} --json"]
    assert DEPTH_MARKER in outputs[f"export {srv}"]
    assert "3000-01-01" in outputs[f"show {sdk_sid} --json"]
    bodies = every_page(server.url, ids, AUTH)
    assert MARKER_KEY in json.dumps(bodies[f"/api/sessions/{sdk_sid}"])
    assert "srv \ufffd hostile" in bodies["/"]
    assert "sdk hostile" in bodies["/"]
    assert any(path.startswith("/compare?") for path in bodies)  # the comparison page rendered them too
