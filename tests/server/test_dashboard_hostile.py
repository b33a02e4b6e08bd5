"""The dashboard in headless Chromium over the adversarial store (see test_adversarial_store.py): every page
and every event's detail renders without a script error, markers shown."""

from __future__ import annotations

import os

import pytest

from sentrial_integrations.core.record.normalize import MARKER_KEY

from .conftest import API_KEY
from .test_adversarial_store import write_adversarial
from .test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, Watched, _no_trouble, sync_api

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")


def test_every_page_and_event_of_the_adversarial_store_renders(live_server, tmp_path):
    server = live_server(api_key=API_KEY)
    ids = write_adversarial(server, tmp_path)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(http_credentials={"username": "me", "password": API_KEY})
        try:
            w = Watched(context)
            w.page.set_default_timeout(10_000)
            w.page.goto(server.url + "/")
            assert w.page.locator("table.sessions tbody tr").count() == 3
            _no_trouble(w, server)
            shown: list[str] = []
            for sid in ids:
                w = Watched(context)
                w.page.set_default_timeout(10_000)
                w.page.goto(f"{server.url}/sessions/{sid}")
                w.page.wait_for_selector("#timeline[data-ready]")
                rows = w.page.locator(".tl-row")
                for i in range(rows.count()):
                    rows.nth(i).click()
                    shown.append(w.page.locator("#detail").inner_text())
                _no_trouble(w, server)
            assert any(MARKER_KEY in text and "clamped" in text for text in shown)
            assert any("[max depth reached]" in text for text in shown)
        finally:
            context.close()
            browser.close()
