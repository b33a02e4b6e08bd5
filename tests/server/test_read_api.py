"""The read API behind the dashboard pages, and the server-rendered pages' escaping, over real HTTP."""

from __future__ import annotations

import base64
import re
import time

import httpx
import pytest

from .conftest import API_KEY, AUTH

XSS = "<img src=x onerror=alert(1)>"


def _seed(store) -> dict[str, str]:
    """Four sessions, oldest first, written straight into the server's store."""
    now = time.time()
    specs = [
        ("s-old", "nightly eval", "evaluator", {"env": "dev", "team": "ml"}, "success", now - 400),
        ("s-prod-1", "support run", "support-agent", {"env": "prod", "tier": 1}, "failure", now - 300),
        ("s-prod-2", "support run", "support-agent", {"env": "prod", "tier": 2}, None, now - 200),
        ("s-xss", XSS, "support-agent", {"env": "prod", "note": XSS}, "success", now - 100),
    ]
    records = []
    for sid, name, agent, meta, status, ts in specs:
        records.append(
            {
                "kind": "session_start",
                "session_id": sid,
                "name": name,
                "agent_name": agent,
                "user_id": "u1",
                "metadata": meta,
                "ts": ts,
            }
        )
        records.append(
            {
                "kind": "event",
                "id": f"{sid}.1",
                "session_id": sid,
                "seq": 1,
                "type": "llm_call",
                "name": "llm:openai:gpt-4o",
                "model": "gpt-4o",
                "provider": "openai",
                "ts": ts + 1,
                "duration_ms": 500.0,
                "prompt_tokens": 100,
                "completion_tokens": 20,
                "total_tokens": 120,
                "cost": 0.001,
                "input": {"messages": [{"role": "user", "content": XSS}]},
                "output": {"content": "hi", "tokens": {"prompt": 100, "completion": 20, "total": 120}},
            }
        )
        if status:
            records.append({"kind": "session_close", "session_id": sid, "status": status, "ts": ts + 2})
    store.ingest(records)
    return {spec[0]: spec[1] for spec in specs}


@pytest.fixture
def reader(live_server):
    server = live_server(api_key=API_KEY)
    _seed(server.store)
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as http:
        yield http


def _ids(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [s["id"] for s in resp.json()["sessions"]]


def test_list_is_newest_first_with_totals(reader):
    resp = reader.get("/api/sessions")
    assert _ids(resp) == ["s-xss", "s-prod-2", "s-prod-1", "s-old"]
    data = resp.json()
    assert (data["total"], data["limit"], data["offset"]) == (4, 50, 0)
    first = data["sessions"][0]
    assert first["name"] == XSS
    assert first["metadata"] == {"env": "prod", "note": XSS}
    assert (first["total_tokens"], first["event_count"], first["status"]) == (120, 1, "success")
    running = data["sessions"][1]
    assert running["status"] == "running"  # totals summed from its events until it closes
    assert (running["total_tokens"], running["cost"]) == (120, 0.001)
    assert running["duration_ms"] == pytest.approx(1500.0)


def test_list_filters_and_pages(reader):
    assert _ids(reader.get("/api/sessions", params={"meta": "env=prod"})) == ["s-xss", "s-prod-2", "s-prod-1"]
    assert _ids(reader.get("/api/sessions", params=[("meta", "env=prod"), ("meta", "tier=2")])) == [
        "s-prod-2"
    ]
    assert _ids(reader.get("/api/sessions", params={"status": "running"})) == ["s-prod-2"]
    assert _ids(reader.get("/api/sessions", params={"name": "support"})) == ["s-prod-2", "s-prod-1"]
    assert _ids(reader.get("/api/sessions", params={"agent": "evaluator"})) == ["s-old"]
    page = reader.get("/api/sessions", params={"limit": 2, "offset": 2})
    assert _ids(page) == ["s-prod-1", "s-old"]
    assert page.json()["total"] == 4


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "weird"}, "'status' must be one of"),
        ({"meta": "novalue"}, "key=value"),
        ({"limit": "x"}, "'limit'"),
    ],
)
def test_bad_list_parameters_are_400(reader, params, message):
    resp = reader.get("/api/sessions", params=params)
    assert resp.status_code == 400
    assert resp.json()["error"] == "bad_request"
    assert message in resp.json()["message"]


def test_session_detail_by_id_or_prefix(reader):
    full = reader.get("/api/sessions/s-prod-2").json()
    assert reader.get("/api/sessions/s-prod-2").json() == full
    assert full["session"]["id"] == "s-prod-2"
    assert full["session"]["status"] == "running"
    # running: totals summed from its LLM calls
    assert (full["session"]["total_tokens"], full["session"]["cost"]) == (120, 0.001)
    [event] = full["events"]
    assert (event["type"], event["model"], event["total_tokens"]) == ("llm_call", "gpt-4o", 120)
    assert event["input"]["messages"][0]["content"] == XSS
    assert reader.get("/api/sessions/s-x").json()["session"]["id"] == "s-xss"  # unambiguous prefix
    for missing in ("nope", "s-prod"):  # unknown, ambiguous
        resp = reader.get(f"/api/sessions/{missing}")
        assert resp.status_code == 404
        assert resp.json() == {"error": "not_found", "message": f"session {missing!r} not found"}


def test_read_api_and_pages_need_the_key_when_one_is_set(reader):
    with httpx.Client(base_url=str(reader.base_url), timeout=10) as anon:
        resp = anon.get("/api/sessions")
        assert resp.status_code == 401
        assert resp.json()["error"] == "unauthorized"
        page = anon.get("/")
        assert page.status_code == 401
        assert page.headers["www-authenticate"].startswith("Basic")
        assert "API key" in page.text and "s-prod" not in page.text
        basic = "Basic " + base64.b64encode(f"me:{API_KEY}".encode()).decode()
        assert anon.get("/", headers={"Authorization": basic}).status_code == 200
        assert anon.get("/api/sessions/s-old", headers={"Authorization": basic}).status_code == 200
        wrong = "Basic " + base64.b64encode(b"me:nope").decode()
        assert anon.get("/", headers={"Authorization": wrong}).status_code == 401
        assert anon.get("/static/app.css").status_code == 200  # assets are public


def test_pages_escape_user_data_and_have_no_inline_script_or_style(reader):
    for path in ("/", "/?meta=env=prod", "/sessions/s-xss"):
        resp = reader.get(path)
        assert resp.status_code == 200
        html = resp.text
        assert XSS not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # every script is a file
        assert " style=" not in html and "<style" not in html
        assert " on" + "error=" not in html.replace("onerror=alert(1)&gt;", "")


def test_list_page_shows_rows_and_filters(reader):
    html = reader.get("/", params={"meta": "env=prod", "status": "failure"}).text
    assert html.count('<tr data-href="') == 1
    assert 'href="/sessions/s-prod-1"' in html
    assert "support run" in html
    # the active metadata filter is shown with a link that removes it (keeping the status)
    assert 'href="/?status=failure"' in html


def test_session_page_header(reader):
    html = reader.get("/sessions/s-prod-1").text
    assert '<h1 class="session-name">support run</h1>' in html
    assert 'class="status s-failure"' in html
    assert "support-agent" in html
    assert 'data-api="/api/sessions/s-prod-1"' in html
    missing = reader.get("/sessions/nope")
    assert missing.status_code == 404
    assert "Session not found" in missing.text


def test_empty_store_explains_how_to_send(live_server):
    server = live_server(api_key=None)
    html = httpx.get(server.url + "/").text
    assert "No sessions yet" in html
    assert f"base_url=&quot;{server.url}&quot;" in html
