"""examples/langchain_agent.py runs offline and records one session in the embedded store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sentrial_integrations.core.store import Store

from .fakes import brief

REPO = Path(__file__).resolve().parents[2]


def test_example_runs_offline(tmp_path):
    db = tmp_path / "example.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
    env.update(SENTRIAL_LOCAL_PATH=str(db), SENTRIAL_SPOOL_PATH=str(tmp_path / "spool"))
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "langchain_agent.py")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "It is 18°C and sunny in Paris: a light jacket will do."
    (session,) = Store(str(db)).list_sessions()
    assert lines[1].startswith(f"session: {session['id']}")
    assert lines[2] == f"see it with: sentrial-integrations show {session['id']}"
    assert (session["name"], session["status"], session["total_tokens"]) == (
        "travel_assistant",
        "success",
        243,
    )
    assert session["metadata"] == {"thread_id": "demo-thread", "example": "langchain_agent"}
    events = Store(str(db)).get_events(session["id"])
    assert [brief(e) for e in events] == [
        ("llm_call", "llm:scripted:scripted-1"),
        ("decision", "decision"),
        ("tool_call", "get_weather"),
        ("llm_call", "llm:scripted:scripted-1"),
        ("decision", "decision"),
        ("tool_call", "suggest_outfit"),
        ("decision", "decision"),
        ("llm_call", "llm:scripted:scripted-1"),
    ]
    assert events[6]["decision"] == {"outfit": "a light jacket"}
    assert events[6]["alternatives"] == ["a coat", "a light jacket", "a t-shirt"]
