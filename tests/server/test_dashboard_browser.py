"""The dashboard in real headless Chromium, against the real server, filled by a real SentrialClient over HTTP.

Needs Chromium at /usr/bin/chromium (Debian: ``apt-get install -y chromium``) or at ``$CHROMIUM_PATH``;
skipped otherwise. Playwright only drives it: no ``playwright install``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sentrial_integrations import SentrialClient

from .conftest import API_KEY

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")  # e.g. /usr/bin/google-chrome on Ubuntu CI
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS = "<img src=x onerror=alert(1)>"

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)",
)

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watched:
    """A page that records dialogs, CSP violations / console errors, and every URL it requested."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        self.requests: list[str] = []

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        self.page.on("dialog", on_dialog)
        self.page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))


@pytest.fixture
def dashboard(live_server, tmp_path, browser):
    """A server with a few sessions sent over HTTP by a SentrialClient; yields (server, ids, open_page)."""
    server = live_server(api_key=API_KEY)
    client = SentrialClient(api_key=API_KEY, base_url=server.url, spool_path=str(tmp_path / "spool"))
    t0 = time.time() - 60
    ids: dict[str, str] = {}

    ids["dev"] = client.create_session("nightly eval", metadata={"env": "dev"}, agent_name="evaluator")
    client.track_tool_call(ids["dev"], "score", {"n": 1}, {"score": 0.9}, duration_ms=10.0, start_time=t0)
    client.close_session(ids["dev"], "success")
    # The public API's session create carries no start time, so the server stamps arrival; sessions
    # created in one batch are sent concurrently. Flushing between them fixes their order.
    assert client.flush(15)

    sid = ids["prod"] = client.create_session(
        "Support - password reset",
        metadata={"env": "prod", "ticket_id": "TICKET-456"},
        agent_name="support-agent",
    )
    client.track_tool_call(
        sid,
        "search_knowledge_base",
        {"query": "password reset"},
        {"articles": ["kb/reset"]},
        duration_ms=400.0,
        start_time=t0 + 1.0,
        span_id="kb",
    )
    client.track_tool_call(
        sid,
        "vector_search",
        {"top_k": 3},
        {"hits": 3},
        duration_ms=250.0,
        start_time=t0 + 1.1,
        span_id="vs",
        parent_span_id="kb",
    )
    client.track_llm_call(
        sid,
        "gpt-4o-mini",
        provider="openai",
        messages=[{"role": "user", "content": "How do I reset my password?"}],
        response="Use the reset link.",
        prompt_tokens=40,
        completion_tokens=8,
        duration_ms=700.0,
        start_time=t0 + 1.5,
        span_id="llm",
    )
    client.track_decision(
        sid, "docs found", decision="answer", alternatives=["escalate"], confidence=0.9, start_time=t0 + 2.3
    )
    try:
        raise TimeoutError("SMTP timeout")
    except TimeoutError as exc:
        client.track_error(sid, exc, tool_name="send_email", start_time=t0 + 2.5)
    client.close_session(sid, "failure", failure_reason="email not sent")
    assert client.flush(15)

    ids["xss"] = client.create_session(XSS, metadata={"env": "prod", "note": XSS}, agent_name=XSS)
    client.track_tool_call(
        ids["xss"], XSS, {"html": XSS}, {"html": "<script>alert(2)</script>"}, duration_ms=5.0
    )
    client.close_session(ids["xss"], "success")

    assert client.flush(15)
    client.shutdown(5)
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, http_credentials={"username": "me", "password": API_KEY}
    )

    def open_page(path: str) -> Watched:
        watched = Watched(context)
        watched.page.set_default_timeout(10_000)
        watched.page.goto(server.url + path)
        return watched

    yield server, ids, open_page
    context.close()


def _no_trouble(w: Watched, server: Any) -> None:
    assert w.dialogs == []
    assert w.console_errors == []  # includes Content-Security-Policy violations
    assert all(url.startswith(server.url + "/") for url in w.requests), (
        w.requests
    )  # nothing from the internet


def test_list_shows_sessions_newest_first_and_filters_by_metadata(dashboard):
    server, _ids, open_page = dashboard
    w = open_page("/")
    page = w.page
    rows = page.locator("table.sessions tbody tr")
    assert rows.count() == 3
    assert [rows.nth(i).locator("td.name > a").inner_text() for i in range(3)] == [
        XSS,
        "Support - password reset",
        "nightly eval",
    ]
    first_prod = rows.nth(1)
    assert first_prod.locator(".status").inner_text() == "failure"
    assert first_prod.locator("td").nth(2).inner_text() == "support-agent"
    assert first_prod.locator("td.num").nth(2).inner_text() == "48"  # tokens

    page.fill("input[name=meta]", "env=dev")
    page.click("button[type=submit]")
    page.wait_for_url("**/?meta=env%3Ddev")
    assert [r.inner_text() for r in page.locator("td.name > a").all()] == ["nightly eval"]
    assert page.locator(".active-filter").inner_text().replace("\n", "").startswith("envdev")

    # a metadata chip on a row adds that filter; the status tab narrows further
    page.goto(server.url + "/")
    page.locator("table.sessions tbody tr").nth(1).locator("a.chip", has_text="TICKET-456").click()
    page.wait_for_url("**/?meta=ticket_id%3DTICKET-456")
    assert [r.inner_text() for r in page.locator("td.name > a").all()] == ["Support - password reset"]
    page.click(".tab.t-success")
    assert page.locator("table.sessions tbody tr").count() == 0
    assert "No sessions match" in page.locator(".empty").inner_text()
    _no_trouble(w, server)


def test_session_page_timeline_detail_and_replay(dashboard):
    server, ids, open_page = dashboard
    w = open_page("/")
    page = w.page
    page.locator("table.sessions tbody tr", has_text="Support - password reset").click()
    page.wait_for_url(f"**/sessions/{ids['prod']}")
    page.wait_for_selector("#timeline[data-ready]")
    assert page.locator("h1.session-name").inner_text() == "Support - password reset"

    rows = page.locator(".tl-row")
    # tree order: the vector search is nested under the knowledge-base search
    assert [rows.nth(i).get_attribute("data-type") for i in range(5)] == [
        "tool_call",
        "tool_call",
        "llm_call",
        "decision",
        "error",
    ]
    assert [rows.nth(i).get_attribute("data-depth") for i in range(5)] == ["0", "1", "0", "0", "0"]
    assert rows.nth(1).locator(".tl-name").inner_text() == "vector_search"
    assert "has-error" in (rows.nth(4).get_attribute("class") or "")
    assert rows.nth(4).locator(".tl-name").inner_text().startswith("TimeoutError: SMTP timeout")
    assert rows.nth(2).locator(".bar-text").inner_text() == "700 ms · 48 tok"

    # where the time went: self time per step, largest first (the KB search minus its nested vector search)
    breakdown = page.locator("#breakdown .bd-row")
    assert [breakdown.nth(i).locator(".bd-label").inner_text() for i in range(3)] == [
        "gpt-4o-mini",
        "vector_search",
        "search_knowledge_base",
    ]
    assert [breakdown.nth(i).locator(".bd-ms").inner_text() for i in range(3)] == [
        "700 ms",
        "250 ms",
        "150 ms",
    ]
    assert breakdown.nth(0).locator(".bd-pct").inner_text() == "64%"

    # the first event is selected on load
    detail = page.locator("#detail")
    assert page.locator("#step").inner_text() == "1 / 5"
    assert page.locator("#prev-event").is_disabled()
    assert '"query": "password reset"' in detail.locator(".sec[data-sec=input]").inner_text()
    assert '"kb/reset"' in detail.locator(".sec[data-sec=output]").inner_text()

    # click the LLM call: messages, response, tokens and cost
    rows.nth(2).click()
    assert page.locator("#step").inner_text() == "3 / 5"
    assert detail.locator(".msg").first.inner_text().endswith("How do I reset my password?")
    assert "Use the reset link." in detail.locator(".sec[data-sec=response]").inner_text()
    assert "40 in · 8 out · 48 total" in detail.locator(".kv").inner_text()
    assert "$" in detail.locator(".kv").inner_text()
    assert "selected" in (rows.nth(2).get_attribute("class") or "")
    assert "future" in (rows.nth(3).get_attribute("class") or "")

    # replay: arrow keys and buttons walk the events in time order
    page.keyboard.press("ArrowRight")
    assert page.locator("#step").inner_text() == "4 / 5"
    assert detail.locator(".detail-title").inner_text() == "answer"
    assert "escalate" in detail.locator(".sec[data-sec=alternatives-considered]").inner_text()
    page.click("#next-event")
    assert page.locator("#step").inner_text() == "5 / 5"
    error_sec = detail.locator(".sec.err")
    assert error_sec.locator(".err-type").inner_text() == "TimeoutError"
    assert error_sec.locator(".err-msg").inner_text() == "SMTP timeout"
    assert "raise TimeoutError" in error_sec.locator("pre.stack").inner_text()
    assert page.locator("#next-event").is_disabled()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert page.locator("#step").inner_text() == "3 / 5"
    page.click("#prev-event")
    page.click("#prev-event")
    assert page.locator("#step").inner_text() == "1 / 5"
    assert detail.locator(".detail-title").inner_text() == "search_knowledge_base"

    # the selection is in the URL: reloading lands on the same event
    rows.nth(1).click()
    page.reload()
    page.wait_for_selector("#timeline[data-ready]")
    assert page.locator("#step").inner_text() == "2 / 5"
    assert page.locator("#detail .detail-title").inner_text() == "vector_search"
    _no_trouble(w, server)


def test_collapse_hides_nested_rows(dashboard):
    server, ids, open_page = dashboard
    w = open_page(f"/sessions/{ids['prod']}")
    page = w.page
    page.wait_for_selector("#timeline[data-ready]")
    assert page.locator(".tl-row:visible").count() == 5
    page.locator(".tl-row").first.locator("button.caret").click()
    assert page.locator(".tl-row:visible").count() == 4
    page.locator(".tl-row").first.locator("button.caret").click()
    assert page.locator(".tl-row:visible").count() == 5
    _no_trouble(w, server)


def test_user_data_is_shown_as_text_never_run(dashboard):
    server, ids, open_page = dashboard
    w = open_page("/")
    page = w.page
    assert page.locator("td.name > a").first.inner_text() == XSS
    assert page.locator("img").count() == 0
    page.goto(f"{server.url}/sessions/{ids['xss']}")
    page.wait_for_selector("#timeline[data-ready]")
    assert page.locator("h1.session-name").inner_text() == XSS
    assert page.locator(".tl-row .tl-name").inner_text() == XSS
    assert page.locator(".chip", has_text="note").inner_text().replace("\n", "") == "note" + XSS
    detail = page.locator("#detail")
    assert XSS in detail.locator(".sec[data-sec=input]").inner_text()
    assert "<script>alert(2)</script>" in detail.locator(".sec[data-sec=output]").inner_text()
    assert detail.locator(".detail-title").inner_text() == XSS
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 1  # only /static/app.js
    _no_trouble(w, server)


def test_dashboard_needs_the_key_when_one_is_set(dashboard, browser):
    server, ids, _ = dashboard
    context = browser.new_context(http_credentials={"username": "me", "password": "wrong"})
    try:
        page = context.new_page()
        resp = page.goto(f"{server.url}/sessions/{ids['prod']}")
        assert resp is not None and resp.status == 401
        assert "Support" not in page.content()
        assert "Sign in required" in page.content()
    finally:
        context.close()
