"""A recording exported to a file (``export --format json`` / ``jsonl``) replays in a fresh process
with the scripted server switched off — the file is all it needs, as a test fixture in a repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from sentrial_integrations.core.store import Store

from .conftest import assert_no_server
from .helpers import FINAL

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from sentrial_integrations import get_client, replay
    from tests.replay.helpers import run, weather_agent

    path, url = sys.argv[1], sys.argv[2]
    client = get_client()
    with replay(path, on_mismatch="raise") as rp:
        result = run(weather_agent(url), client)
    client.flush(10)
    print(json.dumps({
        "answer": result["messages"][-1].content,
        "served": rp.served,
        "missing": rp.missing,
        "session": rp.session_id,
    }))
    """
)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentrial_integrations", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_an_exported_recording_replays_in_a_fresh_process(recorded, openai_server, tmp_path, fmt):
    path = str(tmp_path / f"weather.{fmt}")
    done = cli("--db", recorded.store_path, "export", recorded.session_id, "--format", fmt, "-o", path)
    assert done.returncode == 0, done.stderr
    openai_server.stop()
    assert_no_server(recorded.url)
    new_store = str(tmp_path / "rerun.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
    env.update(SENTRIAL_LOCAL_PATH=new_store, SENTRIAL_SPOOL_PATH=str(tmp_path / "spool2"))
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, path, recorded.url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["answer"] == FINAL
    assert out["served"] == [1, 4]
    assert out["missing"] == {"1": ["response_id"], "4": ["response_id"]}  # the LangChain layer records none
    store = Store(new_store)
    session = store.get_session(out["session"])
    assert session is not None
    assert session["metadata"]["replay_of"] == recorded.session_id
    assert [(e["type"], e["name"]) for e in store.get_events(out["session"])] == [
        ("llm_call", "llm:openai:gpt-4o-mini"),
        ("decision", "decision"),
        ("tool_call", "get_weather"),
        ("llm_call", "llm:openai:gpt-4o-mini"),
    ]
    # and the re-run diffs clean against the exported original
    diff = cli("--db", new_store, "diff", path, out["session"], "--json")
    assert diff.returncode == 0, diff.stdout + diff.stderr
    assert json.loads(diff.stdout)["structurally_equal"]


def test_a_missing_file_is_a_clear_error(tmp_path):
    from sentrial_integrations import replay
    from sentrial_integrations.rerun import ReplayError

    with pytest.raises(ReplayError, match="no such file"):
        replay(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ReplayError, match="not a session written by"):
        replay(str(bad))
