"""Record one agent session offline and show it — no account, no API key, no network.

    pip install -e . && python examples/quickstart.py

A small "support agent" runs: it searches a knowledge base, asks a (simulated) model, decides, hits
an error it recovers from, and answers. Every step is recorded through the core API into the
embedded SQLite store (SENTRIAL_LOCAL_PATH, else the nearest .sentrial/ directory's, else the per-user
store: ~/.local/share/sentrial/sentrial.db on Linux), then shown with the CLI.
"""

from __future__ import annotations

import time

from sentrial_integrations import get_client, set_price
from sentrial_integrations.cli import main as cli


def search_kb(query: str) -> list[dict[str, str]]:
    time.sleep(0.03)  # pretend to call a search service
    return [{"id": "KB-001", "title": "Reset your password"}, {"id": "KB-017", "title": "2FA recovery"}]


def send_reset_link(email: str) -> dict[str, str]:
    time.sleep(0.01)
    if "@" not in email:
        raise ValueError(f"not an email address: {email!r}")
    return {"status": "sent", "to": email}


def main() -> str:
    # Costs come from the genai-prices list when it is installed (every framework extra brings it);
    # the core install alone has no price list, so the demo names its model's price itself.
    set_price("gpt-4o-mini", 0.15, 0.60)  # USD per 1M input / output tokens
    client = get_client()  # no SENTRIAL_API_KEY: the embedded store
    with client.session(
        "Support - Password Reset",
        metadata={"user_id": "user_123", "ticket_id": "TICKET-456", "priority": "high"},
        agent_name="support-agent",
    ) as session:
        t0 = time.time()
        articles = search_kb("password reset")
        session.track_tool_call(
            "search_kb",
            {"query": "password reset"},
            {"articles": articles},
            duration_ms=(time.time() - t0) * 1000,
        )

        t0 = time.time()
        time.sleep(0.05)  # pretend the model thinks
        session.track_llm_call(
            "gpt-4o-mini",
            provider="openai",
            messages=[
                {"role": "system", "content": "You are a support agent."},
                {"role": "user", "content": "I forgot my password"},
            ],
            response="I can send you a reset link.",
            prompt_tokens=412,
            completion_tokens=38,
            duration_ms=(time.time() - t0) * 1000,
            start_time=t0,
        )
        session.track_decision(
            "The user is locked out and KB-001 covers it; a reset link is the fastest path.",
            decision="send_reset_link",
            alternatives=["escalate_to_human", "ask_security_questions"],
            confidence=0.92,
        )

        for email in ("user_123", "user_123@example.com"):
            t0 = time.time()
            try:
                result = send_reset_link(email)
            except ValueError as exc:
                session.track_tool_call("send_reset_link", {"email": email}, None, error=exc, start_time=t0)
                continue
            session.track_tool_call(
                "send_reset_link",
                {"email": email},
                result,
                duration_ms=(time.time() - t0) * 1000,
                start_time=t0,
            )
    client.flush(10)
    return session.id


if __name__ == "__main__":
    session_id = main()
    cli(["show", session_id])
    print(f"\nRecorded session {session_id}. See it again with:\n  sentrial-integrations show {session_id}")
    print(
        "or browse all sessions: sentrial-integrations sessions   |   dashboard: sentrial-integrations serve"
    )
