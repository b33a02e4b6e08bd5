"""Regenerate ``docs/dashboard.png``: a session page of the local dashboard.

    python docs/make_screenshot.py [--out docs/dashboard.png] [--chromium /usr/bin/chromium] [--dark]

Starts the real server (``create_app`` on uvicorn, loopback, temporary store), runs a small simulated
support agent that reports through a real ``SentrialClient`` over HTTP (so the timings are real: it
takes a few seconds), then opens the session page in headless Chromium, selects the last LLM call and
saves the screenshot. Needs the ``server`` extra and Playwright for Python; never downloads a browser.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from typing import Any

import uvicorn

from sentrial_integrations import SentrialClient
from sentrial_integrations.server.app import create_app

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


def start_server(db_path: str) -> tuple[uvicorn.Server, threading.Thread, str]:
    app = create_app(db_path)
    ready = threading.Event()

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            try:
                await super().startup(sockets)
            finally:
                ready.set()

    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    if not ready.wait(30) or not server.started:
        raise SystemExit("the server did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


class Clock:
    """Runs simulated work for a given time and reports when it started (epoch seconds)."""

    def __init__(self) -> None:
        self._wake = threading.Event()  # never set: wait() is an interruptible pause

    def work(self, seconds: float) -> tuple[float, float]:
        start = time.time()
        self._wake.wait(seconds)
        return start, (time.time() - start) * 1000.0


def send_reset_email(address: str) -> None:
    def smtp_send(host: str) -> None:
        raise TimeoutError(f"SMTP server {host} did not answer within 2.0 s")

    smtp_send("smtp.internal:587")


def run_support_agent(client: SentrialClient) -> str:
    """A password-reset support run: lookup, LLM plan, knowledge-base search, a failing email tool."""
    clock = Clock()
    sid = client.create_session(
        "Support – password reset",
        metadata={
            "ticket_id": "TICKET-456",
            "priority": "high",
            "environment": "production",
            "version": "2.1.0",
        },
        agent_name="support-agent",
        user_id="user_123",
    )
    system = "You are a support agent for Acme. Use tools to help the customer; never reveal internal data."
    question = "Hi, I can't log in and the reset link never arrives. My email is jane@example.com."

    start, ms = clock.work(0.16)
    client.track_tool_call(
        sid,
        "lookup_customer",
        {"email": "jane@example.com"},
        {"customer_id": "cus_8842", "plan": "business", "mfa": True, "locked": False},
        duration_ms=ms,
        start_time=start,
        span_id="s1",
    )

    start, ms = clock.work(0.9)
    client.track_llm_call(
        sid,
        "gpt-4o-mini",
        provider="openai",
        messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
        response="I'll check our help center for the reset flow, then re-send the reset email.",
        tool_calls=[
            {
                "id": "call_1",
                "name": "search_knowledge_base",
                "arguments": {"query": "password reset email not received"},
            }
        ],
        prompt_tokens=812,
        completion_tokens=64,
        duration_ms=ms,
        start_time=start,
        params={"temperature": 0.2},
        finish_reason="tool_calls",
        span_id="s2",
        time_to_first_token_ms=ms * 0.4,
    )
    client.track_decision(
        sid,
        "The customer exists and is not locked; the reset email is the likely failure point.",
        decision="search_knowledge_base",
        alternatives=["escalate_to_human", "send_reset_email"],
        confidence=0.86,
        parent_span_id="s2",
        start_time=time.time(),
    )

    kb_start = time.time()
    start, ms = clock.work(0.07)
    client.track_tool_call(
        sid,
        "embed_query",
        {"text": "password reset email not received"},
        {"dimensions": 1536},
        duration_ms=ms,
        start_time=start,
        span_id="s4",
        parent_span_id="s3",
    )
    start, ms = clock.work(0.34)
    client.track_tool_call(
        sid,
        "vector_search",
        {"index": "help-center", "top_k": 3},
        {"hits": ["kb/reset-password", "kb/email-deliverability", "kb/mfa"]},
        duration_ms=ms,
        start_time=start,
        span_id="s5",
        parent_span_id="s3",
    )
    client.track_tool_call(
        sid,
        "search_knowledge_base",
        {"query": "password reset email not received"},
        {
            "articles": [
                {"id": "kb/reset-password", "score": 0.91},
                {"id": "kb/email-deliverability", "score": 0.84},
            ]
        },
        duration_ms=(time.time() - kb_start) * 1000.0,
        start_time=kb_start,
        span_id="s3",
    )

    start, ms = clock.work(1.1)
    try:
        send_reset_email("jane@example.com")
    except TimeoutError as exc:
        client.track_tool_call(
            sid,
            "send_reset_email",
            {"to": "jane@example.com", "template": "reset"},
            None,
            error=exc,
            duration_ms=ms,
            start_time=start,
            span_id="s6",
        )
        client.track_error(
            sid, exc, tool_name="send_reset_email", parent_span_id="s6", start_time=time.time()
        )

    start, ms = clock.work(0.62)
    client.track_llm_call(
        sid,
        "gpt-4o-mini",
        provider="openai",
        messages=[
            {"role": "system", "content": system},
            {"role": "user", "content": question},
            {"role": "tool", "content": "send_reset_email failed: SMTP timeout"},
        ],
        response="Sorry Jane — our email service is slow right now. I've opened ticket TICKET-456 and a "
        "teammate will send your reset link within the hour.",
        prompt_tokens=1024,
        completion_tokens=88,
        duration_ms=ms,
        start_time=start,
        finish_reason="stop",
        span_id="s7",
    )
    client.close_session(sid, "failure", failure_reason="send_reset_email timed out; escalated to a human")
    return sid


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboard.png")
    )
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--dark", action="store_true", help="the dark colour scheme")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        server, thread, url = start_server(os.path.join(tmp, "demo.db"))
        try:
            client = SentrialClient(api_key="local", base_url=url, spool_path=os.path.join(tmp, "spool"))
            sid = run_support_agent(client)
            if not client.flush(30):
                raise SystemExit("the client did not flush")
            client.shutdown(10)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(
                    viewport={"width": 1480, "height": 900},
                    device_scale_factor=2,
                    color_scheme="dark" if args.dark else "light",
                )
                page.goto(f"{url}/sessions/{sid}")
                page.wait_for_selector("#timeline[data-ready]")
                page.locator(
                    ".tl-row[data-type=llm_call]"
                ).last.click()  # the final answer: nothing greyed out
                page.screenshot(path=args.out)
                browser.close()
        finally:
            server.should_exit = True
            thread.join(30)
    sys.stdout.write(f"wrote {args.out}\n")


if __name__ == "__main__":
    main()
