"""The dashboard's compare view (``/compare?a=…&b=…``) on the real server: the HTML over HTTP, and the
page in headless Chromium (skipped without Chromium at /usr/bin/chromium or $CHROMIUM_PATH)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sentrial_integrations import SentrialClient
from tests.server.conftest import LiveServer

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]


def record(
    client: SentrialClient, prompt: str, tool: str, *, replay_of: str | None = None, tokens: int = 9
) -> str:
    t0 = time.time() - 60
    meta = {"replay_of": replay_of} if replay_of else {}
    with client.session("weather_agent", meta) as s:
        messages = [{"role": "system", "content": prompt}, {"role": "user", "content": "weather in Paris?"}]
        s.track_llm_call(
            "gpt-4o-mini",
            messages=messages,
            response="",
            tool_calls=[{"id": "c1", "name": tool, "arguments": {"city": "Paris"}}],
            prompt_tokens=5,
            completion_tokens=2,
            duration_ms=30,
            start_time=t0,
        )
        s.track_tool_call(tool, {"city": "Paris"}, "sunny", duration_ms=3, start_time=t0 + 1)
        s.track_llm_call(
            "gpt-4o-mini",
            messages=messages,
            response="It is sunny",
            prompt_tokens=tokens,
            completion_tokens=3,
            duration_ms=20,
            start_time=t0 + 2,
        )
    return s.id


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[LiveServer, str, str]]:
    db = str(tmp_path / "compare.db")
    client = SentrialClient(local_path=db, spool_path=str(tmp_path / "spool"))
    a = record(client, "be brief", "get_weather")
    b = record(client, "be verbose", "get_rain", replay_of=a, tokens=12)
    assert client.flush(10)
    client.shutdown(5)
    srv = LiveServer(db)
    try:
        yield srv, a, b
    finally:
        srv.stop()


def test_the_page_over_http(server):
    srv, a, b = server
    page = httpx.get(f"{srv.url}/compare", params={"a": a[:14], "b": b})
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="verdict"' in html and "Diverged: 1 step(s) only in A, 1 only in B." in html
    assert html.count('class="cmp-row k-') == 4
    assert f'href="/sessions/{a}"' in html and "replay of" in html
    assert "+be verbose" in html and "-be brief" in html
    assert f"sentrial-integrations diff {a} {b}" in html
    session_b = httpx.get(f"{srv.url}/sessions/{b}").text
    assert f'href="/compare?a={a}&amp;b={b}"' in session_b  # a re-run links to the comparison
    assert 'data-testid="compare-with"' in httpx.get(f"{srv.url}/sessions/{a}").text


def test_the_form_and_unknown_sessions(server):
    srv, a, _ = server
    form = httpx.get(f"{srv.url}/compare", params={"a": a})
    assert form.status_code == 200 and 'data-testid="compare-form"' in form.text
    missing = httpx.get(f"{srv.url}/compare", params={"a": a, "b": "ses_nope"})
    assert missing.status_code == 404 and "No session matches &#x27;ses_nope&#x27;" in missing.text


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")
def test_the_page_in_chromium(server):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    srv, a, b = server
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{srv.url}/compare?a={a}&b={b}")
            rows: list[Any] = page.locator("tr.cmp-row").all()
            kinds = [r.get_attribute("data-kind") for r in rows]
            assert kinds == ["changed", "removed", "added", "changed"]
            assert page.get_by_test_id("row-2").locator("td.a").inner_text() == "2 tool_call · get_weather"
            assert page.get_by_test_id("row-3").locator("td.b").inner_text() == "2 tool_call · get_rain"
            assert page.get_by_test_id("row-4").locator("td").nth(3).inner_text() == "+3"  # Δ tokens
            verdict = page.get_by_test_id("verdict").inner_text()
            assert verdict.startswith("Diverged: 1 step(s) only in A, 1 only in B.")
            detail = page.get_by_test_id("detail-1")
            assert detail.locator(".dl-del").first.inner_text() == "-be brief"
            assert detail.locator(".dl-add").first.inner_text() == "+be verbose"
            assert page.get_by_test_id("total-tokens").locator("td").nth(2).inner_text() == "+3"
            only_a = page.get_by_test_id("detail-2")  # the removed step's contents, folded
            only_a.locator("summary").click()
            assert '"arguments": {' in only_a.locator("pre").inner_text()
            # the stylesheet applied (CSP allows only same-origin styles)
            color = page.locator("tr.k-removed td.mark").evaluate("e => getComputedStyle(e).color")
            assert color != page.locator("tr.k-changed td.mark").first.evaluate(
                "e => getComputedStyle(e).color"
            )
            # the replay_of link leads to the original's session page ...
            page.get_by_test_id("replay-of-b").locator("a").click()
            page.wait_for_url(f"{srv.url}/sessions/{a}")
            # ... whose "compare with…" form opens the compare view
            form = page.get_by_test_id("compare-with")
            form.locator('input[name="b"]').fill(b[:12])
            form.locator("button").click()
            page.wait_for_url(f"{srv.url}/compare?a={a}&b={b[:12]}")
            assert page.locator("tr.cmp-row").count() == 4
            # and a re-run's page links to the comparison with its original
            page.goto(f"{srv.url}/sessions/{b}")
            page.get_by_test_id("compare-replay").click()
            page.wait_for_url(f"{srv.url}/compare?a={a}&b={b}")
            assert page.get_by_test_id("verdict").inner_text().startswith("Diverged")
        finally:
            browser.close()
    assert errors == []


def test_names_and_contents_are_escaped(tmp_path):
    xss = "<img src=x onerror=alert(1)>"
    db = str(tmp_path / "x.db")
    client = SentrialClient(local_path=db, spool_path=str(tmp_path / "spool"))
    ids = []
    for out in ("a", xss):
        with client.session(xss, {"replay_of": xss}) as s:
            s.track_tool_call(xss, {"q": xss}, out, duration_ms=1)
        ids.append(s.id)
    assert client.flush(10)
    client.shutdown(5)
    srv = LiveServer(db)
    try:
        html = httpx.get(f"{srv.url}/compare", params={"a": ids[0], "b": ids[1]}).text
    finally:
        srv.stop()
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "/sessions/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E" in html  # the replay_of link, quoted
