"""examples/llamaindex_query.py runs offline and leaves the sessions it prints in the embedded store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sentrial_integrations.core.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "llamaindex_query.py"


def test_example_runs_offline(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRIAL_", "OPENAI_"))}
    env["SENTRIAL_LOCAL_PATH"] = str(tmp_path / "example.db")
    env["SENTRIAL_SPOOL_PATH"] = str(tmp_path / "spool")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    ids = re.findall(r"session: (ses_[0-9a-f]+)", out)
    assert len(ids) == 3
    assert f"sentrial-integrations show {ids[0]}" in out
    store = Store(str(tmp_path / "example.db"))
    sessions = {s["id"]: s for s in store.list_sessions()}
    assert set(sessions) == set(ids)  # index building made no session
    names = [sessions[i]["name"] for i in ids]
    assert names == [
        "RetrieverQueryEngine.query",
        "RetrieverQueryEngine.query",
        "ContextChatEngine.stream_chat",
    ]
    assert all(sessions[i]["status"] == "success" for i in ids)
    assert [e["type"] for e in store.get_events(ids[0])] == ["tool_call", "llm_call"]
