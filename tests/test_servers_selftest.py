"""Self-tests for the loopback test servers in tests/servers/."""

from __future__ import annotations

import http.client
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types import Completion, CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel, TypeAdapter

from tests.servers import fixtures
from tests.servers.openai_server import (
    ScriptedOpenAIServer,
    chat,
    completion,
    embeddings,
    error,
    raw,
    responses_api,
)
from tests.servers.sentrial_api import SentrialAPIServer

AUTH = {"Authorization": "Bearer test-key"}
REPO_ROOT = Path(__file__).resolve().parent.parent

# The fixtures, made visible to this module (harmless if conftest.py imports them too).
sentrial_api = fixtures.sentrial_api
openai_server = fixtures.openai_server


def api_client(server: SentrialAPIServer, **kw: Any) -> httpx.Client:
    kw.setdefault("timeout", 5.0)
    return httpx.Client(base_url=server.url, headers=AUTH, **kw)


def new_session(c: httpx.Client, name: str = "s", **extra: Any) -> str:
    r = c.post("/api/sdk/sessions", json={"name": name, **extra})
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def event_body(sid: str, **extra: Any) -> dict[str, Any]:
    return {"sessionId": sid, "eventType": "tool_call", "toolName": "search", **extra}


# =====================================================================================
# Sentrial API fake
# =====================================================================================


def test_session_event_patch_roundtrip(sentrial_api: SentrialAPIServer) -> None:
    with api_client(sentrial_api) as c:
        r = c.post(
            "/api/sdk/sessions",
            json={"name": "run-1", "agentName": "agent", "userId": "u1", "metadata": {"k": 1}},
        )
        assert r.status_code in (200, 201)
        sid = r.json()["id"]
        assert sid.startswith("sess_")
        e1 = c.post("/api/sdk/events", json=event_body(sid, toolInput={"q": "a"}, sequence=1))
        e2 = c.post("/api/sdk/events", json={"sessionId": sid, "eventType": "llm_decision", "sequence": 2})
        assert e1.status_code == e2.status_code == 200
        assert e1.json()["id"].startswith("evt_") and e1.json()["id"] != e2.json()["id"]
        p = c.patch(
            f"/api/sdk/sessions/{sid}", json={"status": "completed", "success": True, "durationMs": 5}
        )
        assert p.status_code == 200

    s = sentrial_api.sessions[sid]
    assert s["body"]["name"] == "run-1" and s["body"]["metadata"] == {"k": 1}
    assert [e["sequence"] for e in s["events"]] == [1, 2]
    assert s["closes"] == [{"status": "completed", "success": True, "durationMs": 5}]
    assert [e["_session"] for e in sentrial_api.events] == [sid, sid]
    assert sentrial_api.session_by_name("run-1")["id"] == sid
    assert sentrial_api.session_by_name("nope") is None
    assert [e["eventType"] for e in sentrial_api.events_for(sid)] == ["tool_call", "llm_decision"]
    assert sentrial_api.events_for("sess_999") == []

    reqs = sentrial_api.requests
    assert [(r["method"], r["path"], r["status"]) for r in reqs] == [
        ("POST", "/api/sdk/sessions", r.status_code),
        ("POST", "/api/sdk/events", 200),
        ("POST", "/api/sdk/events", 200),
        ("PATCH", f"/api/sdk/sessions/{sid}", 200),
    ]
    assert reqs[0]["headers"]["authorization"] == "Bearer test-key"
    assert [r["t"] for r in reqs] == sorted(r["t"] for r in reqs)
    assert reqs[1]["body"]["toolInput"] == {"q": "a"}

    # exposed state is a copy
    sentrial_api.events[0]["toolName"] = "mutated"
    sentrial_api.sessions[sid]["events"].clear()
    assert sentrial_api.events[0]["toolName"] == "search"
    assert len(sentrial_api.events_for(sid)) == 2


def test_unauthorized(sentrial_api: SentrialAPIServer) -> None:
    with httpx.Client(base_url=sentrial_api.url) as c:
        r = c.post("/api/sdk/sessions", json={"name": "x"})
        assert r.status_code == 401
        assert r.json()["error"] == "unauthorized" and r.json()["message"]
        r = c.post("/api/sdk/sessions", json={"name": "x"}, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
    assert sentrial_api.sessions == {}
    assert [r["status"] for r in sentrial_api.requests] == [401, 401]


def test_no_api_key_accepts_anything() -> None:
    with SentrialAPIServer(api_key=None) as api, httpx.Client(base_url=api.url) as c:
        assert c.post("/api/sdk/sessions", json={"name": "x"}).status_code in (200, 201)


def test_not_found(sentrial_api: SentrialAPIServer) -> None:
    with api_client(sentrial_api) as c:
        r = c.post("/api/sdk/events", json=event_body("sess_404"))
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        r = c.patch("/api/sdk/sessions/sess_404", json={"status": "failed"})
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        assert c.get("/api/sdk/nothing").status_code == 404
    assert sentrial_api.events == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/sdk/sessions", {}),
        ("/api/sdk/sessions", {"name": ""}),
        ("/api/sdk/sessions", {"name": 3}),
        ("/api/sdk/sessions", {"name": "x", "metadata": [1]}),
        ("/api/sdk/sessions", [1, 2]),
        ("/api/sdk/events", {"eventType": "tool_call"}),
        ("/api/sdk/events", {"sessionId": "SID"}),
        ("/api/sdk/events", {"sessionId": "SID", "eventType": "nope"}),
    ],
)
def test_bad_request(sentrial_api: SentrialAPIServer, path: str, body: Any) -> None:
    with api_client(sentrial_api) as c:
        sid = new_session(c)
        if isinstance(body, dict) and body.get("sessionId") == "SID":
            body = {**body, "sessionId": sid}
        r = c.post(path, json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "bad_request" and r.json()["message"]
    assert sentrial_api.events == [] and len(sentrial_api.sessions) == 1


def test_malformed_json_and_bad_close_status(sentrial_api: SentrialAPIServer) -> None:
    with api_client(sentrial_api) as c:
        r = c.post("/api/sdk/sessions", content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "bad_request"
        sid = new_session(c)
        r = c.patch(f"/api/sdk/sessions/{sid}", json={"status": "exploded"})
        assert r.status_code == 400
    assert sentrial_api.requests[0]["body"] is None
    assert sentrial_api.sessions[sid]["closes"] == []


def test_body_too_large_keeps_connection_usable() -> None:
    with SentrialAPIServer(max_body_bytes=1000) as api, api_client(api) as c:
        sid = new_session(c)
        big = event_body(sid, toolOutput="x" * 5000)
        r = c.post("/api/sdk/events", json=big)
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
        # same keep-alive connection still works
        assert c.post("/api/sdk/events", json=event_body(sid)).status_code == 200
        # chunked (no Content-Length) bodies are limited too
        r = c.post("/api/sdk/events", content=iter([b'{"a": "', b"y" * 3000, b'"}']))
        assert r.status_code == 413
        assert c.post("/api/sdk/events", json=event_body(sid)).status_code == 200
    assert len(api.events) == 2
    assert [r["status"] for r in api.requests] == [201, 413, 200, 413, 200]
    assert api.requests[1]["size"] > 5000


def test_idempotency_dedupe(sentrial_api: SentrialAPIServer) -> None:
    with api_client(sentrial_api) as c:
        h = {"Idempotency-Key": "sess-key-1"}
        a = c.post("/api/sdk/sessions", json={"name": "dedupe"}, headers=h)
        b = c.post("/api/sdk/sessions", json={"name": "dedupe"}, headers=h)
        assert a.json()["id"] == b.json()["id"]
        sid = a.json()["id"]
        eh = {"Idempotency-Key": "evt-key-1"}
        e1 = c.post("/api/sdk/events", json=event_body(sid), headers=eh)
        e2 = c.post("/api/sdk/events", json=event_body(sid), headers=eh)
        assert e1.status_code == e2.status_code == 200
        assert e1.json()["id"] == e2.json()["id"]
        e3 = c.post("/api/sdk/events", json=event_body(sid), headers={"Idempotency-Key": "evt-key-2"})
        assert e3.json()["id"] != e1.json()["id"]
    assert len(sentrial_api.sessions) == 1
    assert len(sentrial_api.events) == 2
    assert sentrial_api.duplicates == 2
    reqs = sentrial_api.requests
    assert len(reqs) == 5
    assert [r["duplicate"] for r in reqs] == [False, True, False, True, False]


def test_fail_next_with_retry_after(sentrial_api: SentrialAPIServer) -> None:
    sentrial_api.fail_next(2, status=503, retry_after=1.5)
    with api_client(sentrial_api) as c:
        for _ in range(2):
            r = c.post("/api/sdk/sessions", json={"name": "x"})
            assert r.status_code == 503
            assert r.headers["retry-after"] == "1.5"
        assert sentrial_api.sessions == {}
        assert c.post("/api/sdk/sessions", json={"name": "x"}).status_code in (200, 201)
        sentrial_api.fail_next(
            1, status=429, retry_after=2, body={"error": "rate_limited", "message": "slow"}
        )
        r = c.post("/api/sdk/sessions", json={"name": "y"})
        assert (r.status_code, r.headers["retry-after"], r.json()["message"]) == (429, "2", "slow")
        sentrial_api.fail_next(1, status=500)
        r = c.post("/api/sdk/sessions", json={"name": "z"})
        assert r.status_code == 500 and "retry-after" not in r.headers
    assert len(sentrial_api.sessions) == 1
    assert [r["injected"] for r in sentrial_api.requests] == [True, True, False, True, True]


def test_fail_matching_and_clear(sentrial_api: SentrialAPIServer) -> None:
    sentrial_api.fail_matching(
        lambda method, path, body: path.endswith("/events") and body.get("toolName") == "big", 413
    )
    with api_client(sentrial_api) as c:
        sid = new_session(c)
        assert c.post("/api/sdk/events", json=event_body(sid, toolName="big")).status_code == 413
        assert c.post("/api/sdk/events", json=event_body(sid)).status_code == 200
        sentrial_api.clear_faults()
        assert c.post("/api/sdk/events", json=event_body(sid, toolName="big")).status_code == 200
    assert [e["toolName"] for e in sentrial_api.events] == ["search", "big"]


def test_lose_response_then_idempotent_retry(sentrial_api: SentrialAPIServer) -> None:
    with api_client(sentrial_api) as c:
        sid = new_session(c)
        sentrial_api.lose_response_next(1)
        key = {"Idempotency-Key": "evt-lost"}
        with pytest.raises(httpx.RemoteProtocolError):
            c.post("/api/sdk/events", json=event_body(sid), headers=key)
        assert sentrial_api.event_count == 1  # processed although the client never heard back
        r = c.post("/api/sdk/events", json=event_body(sid), headers=key)
        assert r.status_code == 200
    assert sentrial_api.event_count == 1 and sentrial_api.duplicates == 1
    assert [(r["lost"], r["duplicate"]) for r in sentrial_api.requests[1:]] == [(True, False), (False, True)]


def test_set_delay(sentrial_api: SentrialAPIServer) -> None:
    with api_client(sentrial_api) as c:
        sentrial_api.set_delay(0.15)
        t0 = time.monotonic()
        assert c.post("/api/sdk/sessions", json={"name": "slow"}).status_code in (200, 201)
        assert time.monotonic() - t0 >= 0.15
        sentrial_api.set_delay(1.0)
        with pytest.raises(httpx.ReadTimeout):
            c.post("/api/sdk/sessions", json={"name": "slower"}, timeout=0.1)
        sentrial_api.set_delay(0)
    with api_client(sentrial_api) as c:
        t0 = time.monotonic()
        assert c.post("/api/sdk/sessions", json={"name": "fast"}).status_code in (200, 201)
        assert time.monotonic() - t0 < 0.5


def test_go_down_and_come_up_on_same_port(sentrial_api: SentrialAPIServer) -> None:
    port = sentrial_api.port
    with api_client(sentrial_api) as c:
        sid = new_session(c)  # leaves a pooled keep-alive connection
        sentrial_api.go_down()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        with pytest.raises(httpx.TransportError):  # the pooled keep-alive connection was dropped too
            c.post("/api/sdk/events", json=event_body(sid))
        with api_client(sentrial_api) as fresh, pytest.raises(httpx.ConnectError):
            fresh.post("/api/sdk/events", json=event_body(sid))
        sentrial_api.come_up()
        assert sentrial_api.port == port
        assert c.post("/api/sdk/events", json=event_body(sid)).status_code == 200
    assert len(sentrial_api.events) == 1  # state survives going down


def test_hang_then_release(sentrial_api: SentrialAPIServer) -> None:
    with api_client(sentrial_api) as c:
        sid = new_session(c)
        sentrial_api.hang(True)
        with pytest.raises(httpx.ReadTimeout):
            c.post("/api/sdk/events", json=event_body(sid), timeout=0.2)

        outcome: dict[str, Any] = {}

        def in_flight() -> None:
            try:
                with api_client(sentrial_api, timeout=10) as c2:
                    outcome["response"] = c2.post("/api/sdk/events", json=event_body(sid))
            except Exception as exc:
                outcome["error"] = exc

        t = threading.Thread(target=in_flight)
        t.start()
        assert sentrial_api.wait_for(lambda s: s.hanging == 2, timeout=5)
        sentrial_api.hang(False)
        t.join(5)
        assert not t.is_alive()
        assert isinstance(outcome.get("error"), httpx.RemoteProtocolError), outcome
        assert sentrial_api.wait_for(lambda s: s.hanging == 0, timeout=5)
        assert c.post("/api/sdk/events", json=event_body(sid)).status_code == 200
    assert len(sentrial_api.events) == 1
    hung = [r for r in sentrial_api.requests if r["hung"]]
    assert len(hung) == 2 and all(r["status"] == 0 for r in hung)


def test_stop_releases_hung_requests() -> None:
    api = SentrialAPIServer().start()
    api.hang(True)
    errors: list[Exception] = []

    def call() -> None:
        try:
            with api_client(api, timeout=10) as c:
                c.post("/api/sdk/sessions", json={"name": "x"})
        except Exception as exc:
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    assert api.wait_for(lambda s: s.hanging == 1, timeout=5)
    api.stop()
    t.join(5)
    assert not t.is_alive() and isinstance(errors[0], httpx.TransportError)


def test_wait_for(sentrial_api: SentrialAPIServer) -> None:
    with api_client(sentrial_api) as c:
        sid = new_session(c)

    def producer() -> None:
        with api_client(sentrial_api) as c:
            for i in range(50):
                c.post("/api/sdk/events", json=event_body(sid, sequence=i))

    t = threading.Thread(target=producer)
    t.start()
    assert sentrial_api.wait_for(lambda s: s.event_count >= 50, timeout=10)
    t.join()
    assert [e["sequence"] for e in sentrial_api.events] == list(range(50))
    t0 = time.monotonic()
    assert sentrial_api.wait_for(lambda s: s.event_count > 50, timeout=0.05) is False
    assert time.monotonic() - t0 < 1


def test_concurrent_clients(sentrial_api: SentrialAPIServer) -> None:
    with api_client(sentrial_api) as c:
        sid = new_session(c)
    ids: list[str] = []
    lock = threading.Lock()

    def worker(w: int) -> None:
        with api_client(sentrial_api) as c:
            for i in range(50):
                r = c.post("/api/sdk/events", json=event_body(sid, sequence=w * 1000 + i))
                assert r.status_code == 200
                with lock:
                    ids.append(r.json()["id"])

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == len(set(ids)) == 800
    assert sentrial_api.event_count == 800


def test_throughput_keep_alive(sentrial_api: SentrialAPIServer) -> None:
    with api_client(sentrial_api) as c:
        sid = new_session(c)
    conn = http.client.HTTPConnection("127.0.0.1", sentrial_api.port, timeout=5)
    body = json.dumps(event_body(sid, toolInput={"q": "x" * 100}))
    headers = {**AUTH, "Content-Type": "application/json"}
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        conn.request("POST", "/api/sdk/events", body, headers)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
    rate = n / (time.perf_counter() - t0)
    conn.close()
    assert sentrial_api.event_count == n
    # Client and server share one interpreter (and maybe a busy CI box), so this is only a
    # guard against pathological stalls (e.g. Nagle/delayed-ACK: ~25 req/s), not a benchmark.
    # A separate client process on one keep-alive connection gets ~8k req/s on a laptop.
    assert rate > 250, rate


# =====================================================================================
# Subprocess mode
# =====================================================================================


def _spawn(module: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=15):
            proc.kill()
            proc.wait()
            proc.stdout.close()
            pytest.fail(f"{module} did not print READY")
    line = proc.stdout.readline()
    assert line.startswith("READY http://127.0.0.1:"), line
    return proc, line.split()[1]


def _terminate(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        assert proc.wait(10) == 0  # SIGTERM -> clean shutdown, exit status 0
    finally:
        if proc.stdout is not None:
            proc.stdout.close()


def test_sentrial_api_subprocess() -> None:
    proc, url = _spawn("tests.servers.sentrial_api")
    try:
        with httpx.Client(base_url=url, headers=AUTH, timeout=5) as c:
            sid = new_session(c, "sub")
            assert c.post("/api/sdk/events", json=event_body(sid)).status_code == 200
            assert c.post("/_test/fail_next", json={"n": 1, "status": 503}).status_code == 200
            assert c.post("/api/sdk/events", json=event_body(sid)).status_code == 503
            state = c.get("/_test/state").json()
            assert list(state["sessions"]) == [sid] and len(state["events"]) == 1
    finally:
        _terminate(proc)


def test_openai_server_subprocess() -> None:
    proc, url = _spawn("tests.servers.openai_server")
    try:
        assert url.endswith("/v1")
        httpx.post(
            url[: -len("/v1")] + "/_test/script", json={"responses": [{"kind": "chat", "content": "sub"}]}
        )
        client = OpenAI(base_url=url, api_key="sk-test", max_retries=0)
        out = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert out.choices[0].message.content == "sub"
    finally:
        _terminate(proc)


# =====================================================================================
# Scripted OpenAI server
# =====================================================================================

MSGS: Any = [{"role": "user", "content": "hi"}]


def oa(server: ScriptedOpenAIServer, **kw: Any) -> OpenAI:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 10)
    return OpenAI(base_url=server.url, api_key="sk-test", **kw)


def aoa(server: ScriptedOpenAIServer, **kw: Any) -> AsyncOpenAI:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 10)
    return AsyncOpenAI(base_url=server.url, api_key="sk-test", **kw)


def test_chat_json(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(
        chat("hello", prompt_tokens=20, completion_tokens=7, cached_tokens=4, reasoning_tokens=2)
    )
    out = oa(openai_server).chat.completions.create(model="gpt-4o-mini", messages=MSGS, temperature=0)
    assert out.choices[0].message.content == "hello"
    assert out.choices[0].finish_reason == "stop"
    assert out.model == "gpt-4o-mini-2024-07-18"
    u = out.usage
    assert u is not None
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (20, 7, 27)
    assert u.prompt_tokens_details and u.prompt_tokens_details.cached_tokens == 4
    assert u.completion_tokens_details and u.completion_tokens_details.reasoning_tokens == 2
    req = openai_server.requests[0]
    assert (req["method"], req["path"]) == ("POST", "/v1/chat/completions")
    assert req["headers"]["authorization"] == "Bearer sk-test"
    assert req["json"]["messages"] == MSGS and req["json"]["temperature"] == 0
    assert req["status"] == 200


def test_chat_tool_calls_json(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(chat(tool_calls=[("get_weather", {"city": "Paris"})]))
    out = oa(openai_server).chat.completions.create(model="m", messages=MSGS)
    msg = out.choices[0].message
    assert msg.content is None and out.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls and msg.tool_calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(msg.tool_calls[0].function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]


def test_defaults_and_script_order(openai_server: ScriptedOpenAIServer) -> None:
    client = oa(openai_server)
    assert client.chat.completions.create(model="m", messages=MSGS).choices[0].message.content == "ok"
    assert client.responses.create(model="m", input="hi").output_text == "ok"
    assert client.completions.create(model="m", prompt="hi").choices[0].text == "ok"
    assert len(client.embeddings.create(model="e", input="hi").data[0].embedding) == 8

    openai_server.script(chat("first"), error(400, "nope"), chat("third"))
    assert openai_server.pending == 3
    assert client.chat.completions.create(model="m", messages=MSGS).choices[0].message.content == "first"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="m", messages=MSGS)
    # text specs adapt to the endpoint that consumes them
    assert client.responses.create(model="m", input="x").output_text == "third"
    assert openai_server.pending == 0
    assert openai_server.wait_for(lambda s: len(s.requests) == 7, timeout=1)


def _stream_chunks(client: OpenAI, **kw: Any) -> list[Any]:
    return list(client.chat.completions.create(model="m", messages=MSGS, stream=True, **kw))


def test_chat_stream_usage_only_when_asked(openai_server: ScriptedOpenAIServer) -> None:
    client = oa(openai_server)
    text = "The quick brown fox jumps over the lazy dog"
    openai_server.script(chat(text, prompt_tokens=9, completion_tokens=10), chat(text))

    chunks = _stream_chunks(client)
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    content_chunks = [c for c in chunks if c.choices[0].delta.content]
    assert len(content_chunks) > 3
    assert "".join(c.choices[0].delta.content for c in content_chunks) == text
    assert chunks[-1].choices[0].finish_reason == "stop"

    chunks = _stream_chunks(client, stream_options={"include_usage": True})
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.total_tokens == 17
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]) == text


def test_chat_stream_tool_calls_reassemble(openai_server: ScriptedOpenAIServer) -> None:
    args_a = {"city": "Paris", "units": "metric", "days": [1, 2, 3]}
    args_b = {"query": "a longer query string to split"}
    spec = chat(tool_calls=[{"name": "get_weather", "arguments": args_a, "id": "call_A"}, ("search", args_b)])
    openai_server.script(spec, spec)
    client = oa(openai_server)

    calls: dict[int, dict[str, Any]] = {}
    finish = None
    arg_chunks = 0
    for chunk in _stream_chunks(client):
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for tc in choice.delta.tool_calls or []:
            slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            if tc.id:
                slot["id"] = tc.id
            if tc.function and tc.function.name:
                slot["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                slot["arguments"] += tc.function.arguments
                arg_chunks += 1
    assert finish == "tool_calls"
    assert arg_chunks > 4
    assert calls[0]["id"] == "call_A" and calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == args_a
    assert calls[1]["name"] == "search" and json.loads(calls[1]["arguments"]) == args_b

    # the SDK's own accumulator agrees
    with client.chat.completions.stream(model="m", messages=MSGS) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    tool_calls = final.choices[0].message.tool_calls
    assert tool_calls is not None
    assert [json.loads(t.function.arguments) for t in tool_calls] == [args_a, args_b]


class Weather(BaseModel):
    city: str
    temperature_c: float


def test_chat_parse_pydantic(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(chat(json.dumps({"city": "Paris", "temperature_c": 21.5})))
    out = oa(openai_server).chat.completions.parse(model="m", messages=MSGS, response_format=Weather)
    assert out.choices[0].message.parsed == Weather(city="Paris", temperature_c=21.5)
    sent = openai_server.requests[0]["json"]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "Weather"


async def test_async_chat_and_stream(openai_server: ScriptedOpenAIServer) -> None:
    client = aoa(openai_server)
    openai_server.script(chat("async hello"), chat("streamed async"), responses_api("resp async"))
    out = await client.chat.completions.create(model="m", messages=MSGS)
    assert out.choices[0].message.content == "async hello"
    stream = await client.chat.completions.create(
        model="m", messages=MSGS, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed async"
    assert chunks[-1].usage is not None
    async with client.responses.stream(model="m", input="hi") as rs:
        async for _ in rs:
            pass
        final = await rs.get_final_response()
    assert final.output_text == "resp async"
    await client.close()


def test_responses_create(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(
        responses_api("hello there", input_tokens=30, output_tokens=8),
        responses_api(tool_calls=[("lookup", {"id": 7})]),
    )
    client = oa(openai_server)
    r = client.responses.create(model="gpt-4o-mini", input="hi", instructions="be nice")
    assert r.output_text == "hello there"
    assert r.status == "completed" and r.instructions == "be nice"
    assert r.usage and (r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens) == (30, 8, 38)
    r = client.responses.create(
        model="m",
        input="hi",
        tools=[{"type": "function", "name": "lookup", "parameters": {"type": "object"}, "strict": False}],
    )
    calls = [o for o in r.output if o.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "lookup" and json.loads(calls[0].arguments) == {"id": 7}
    assert r.output_text == ""


def test_responses_stream(openai_server: ScriptedOpenAIServer) -> None:
    text = "streaming via the responses API"
    openai_server.script(responses_api(text), responses_api("x", tool_calls=[("f", {"a": "bcdefgh"})]))
    client = oa(openai_server)
    deltas: list[str] = []
    types: list[str] = []
    with client.responses.stream(model="m", input="hi") as stream:
        for event in stream:
            types.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert "response.output_text.done" in types
    assert "".join(deltas) == text and len(deltas) > 3
    assert final.output_text == text and final.usage and final.usage.total_tokens == 17

    events = list(client.responses.create(model="m", input="hi", stream=True))
    arg_deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert json.loads("".join(arg_deltas)) == {"a": "bcdefgh"}
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = events[-1]
    assert done.type == "response.completed"
    assert [o.type for o in done.response.output] == ["message", "function_call"]


def test_embeddings(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(embeddings(dim=16, prompt_tokens=5), embeddings())
    client = oa(openai_server)
    # the SDK asks for base64 unless encoding_format is given, and decodes it
    out = client.embeddings.create(model="text-embedding-3-small", input=["a", "b", "c"])
    assert openai_server.requests[0]["json"]["encoding_format"] == "base64"
    assert [len(d.embedding) for d in out.data] == [16, 16, 16]
    assert all(isinstance(x, float) and -1 <= x <= 1 for x in out.data[0].embedding)
    assert out.usage.prompt_tokens == 5 and out.model == "text-embedding-3-small"
    floats = client.embeddings.create(model="m", input="a", encoding_format="float")
    assert len(floats.data) == 1 and len(floats.data[0].embedding) == 8
    # deterministic: same input -> same vector, whatever the encoding
    assert floats.data[0].embedding == out.data[0].embedding[:8]


def test_legacy_completions(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(completion("legacy text"), completion("streamed legacy text"))
    client = oa(openai_server)
    out = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi")
    assert out.choices[0].text == "legacy text" and out.usage and out.usage.total_tokens == 17
    chunks = list(
        client.completions.create(model="m", prompt="hi", stream=True, stream_options={"include_usage": True})
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "streamed legacy text"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_errors(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(
        error(400, "bad thing", param="messages", code="invalid_value"),
        error(500, "boom", type="server_error"),
        error(429, "slow down", type="requests", code="rate_limit_exceeded", retry_after=0.01),
        chat("after retry"),
    )
    client = oa(openai_server)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="m", messages=MSGS)
    assert bad.value.status_code == 400 and "bad thing" in bad.value.message
    assert bad.value.body == {
        "message": "bad thing",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "invalid_value",
    }
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=MSGS)
    retrying = oa(openai_server, max_retries=1)
    out = retrying.chat.completions.create(model="m", messages=MSGS)
    assert out.choices[0].message.content == "after retry"
    assert [r["status"] for r in openai_server.requests] == [400, 500, 429, 200]


def test_delay_and_client_timeout(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(chat("late", delay=2.0), chat("on time", chunk_delay=0.01))
    client = oa(openai_server, timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=MSGS)
    chunks = _stream_chunks(oa(openai_server))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "on time"


def test_raw_spec(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(raw(200, b"not json at all", content_type="text/plain"))
    r = httpx.post(openai_server.url + "/chat/completions", json={})
    assert r.text == "not json at all"


# -- strict shape validation ---------------------------------------------------------------
# The SDK builds its models without validation, so a wrong shape would not raise there;
# validate the raw wire format against the SDK's pydantic types instead.


def _sse_events(text: str) -> list[tuple[str | None, str]]:
    out = []
    for block in text.strip().split("\n\n"):
        event = None
        data = []
        for line in block.splitlines():
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        out.append((event, "\n".join(data)))
    return out


def test_wire_shapes_validate_against_sdk_types(openai_server: ScriptedOpenAIServer) -> None:
    base = openai_server.url
    tools = [("get_weather", {"city": "Paris"}), ("search", {"q": "x"})]
    with httpx.Client(timeout=5) as h:

        def post(path: str, body: dict[str, Any]) -> httpx.Response:
            r = h.post(base + path, json=body)
            assert r.status_code == 200, r.text
            return r

        for spec in (chat("hi"), chat(tool_calls=tools), chat("both", tool_calls=tools[:1])):
            openai_server.script(spec, spec, spec)
            ChatCompletion.model_validate(post("/chat/completions", {"messages": []}).json())
            for opts in ({}, {"stream_options": {"include_usage": True}}):
                events = _sse_events(post("/chat/completions", {"stream": True, **opts}).text)
                assert events[-1] == (None, "[DONE]")
                for _, data in events[:-1]:
                    ChatCompletionChunk.model_validate_json(data)

        stream_event = TypeAdapter(ResponseStreamEvent)
        for spec in (
            responses_api("hi"),
            responses_api(tool_calls=tools),
            responses_api("x", tool_calls=tools),
        ):
            openai_server.script(spec, spec)
            Response.model_validate(post("/responses", {"input": "hi"}).json())
            for event, data in _sse_events(post("/responses", {"input": "hi", "stream": True}).text):
                parsed = stream_event.validate_json(data)
                assert parsed.type == event

        CreateEmbeddingResponse.model_validate(
            post("/embeddings", {"input": ["a", "b"], "encoding_format": "float"}).json()
        )
        Completion.model_validate(post("/completions", {"prompt": "x"}).json())
        for _, data in _sse_events(
            post(
                "/completions", {"prompt": "x", "stream": True, "stream_options": {"include_usage": True}}
            ).text
        )[:-1]:
            chunk = json.loads(data)
            # The real API (and this server) send finish_reason: null on intermediate legacy
            # completion chunks although the SDK type declares it non-optional.
            for choice in chunk["choices"]:
                choice["finish_reason"] = choice["finish_reason"] or "stop"
            Completion.model_validate(chunk)
