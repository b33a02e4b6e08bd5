"""``serve()`` as the CLI runs it: a blocking uvicorn server in its own process, stopped by Ctrl+C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx

from sentrial_integrations import SentrialClient


def test_serve_runs_until_interrupted_and_writes_the_given_store(tmp_path):
    db = tmp_path / "served.db"
    code = f"from sentrial_integrations.server.app import serve; serve('127.0.0.1', 0, {str(db)!r}, 'k')"
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    try:
        url = None
        lines = []
        assert proc.stderr is not None
        for line in proc.stderr:  # blocks until uvicorn says where it listens
            lines.append(line)
            match = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
            if match:
                url = match.group(1)
                break
        assert url, "".join(lines)
        assert any("store: " + str(db) in line for line in lines)
        assert httpx.get(f"{url}/api/health").json() == {"ok": True}

        client = SentrialClient(api_key="k", base_url=url, spool_path=str(tmp_path / "spool"))
        sid = client.create_session("over the wire")
        client.track_tool_call(sid, "t", {"a": 1}, {"b": 2})
        client.close_session(sid)
        assert client.flush(15)
        client.shutdown(5)
        listed = httpx.get(f"{url}/api/sessions", headers={"Authorization": "Bearer k"}).json()
        assert [(s["id"], s["name"], s["status"], s["event_count"]) for s in listed["sessions"]] == [
            (sid, "over the wire", "success", 1)
        ]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert db.exists()
