"""``serve()`` as the CLI runs it: a blocking uvicorn server in its own process, stopped by Ctrl+C; and the
server's API key (``server_key``), kept out of the process list."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx

from sentrial_integrations import SentrialClient


def _start(argv: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str, list[str]]:
    """A server process from ``argv`` (after the interpreter), once uvicorn says where it listens."""
    proc = subprocess.Popen(
        [sys.executable, *argv], stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    lines: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:  # blocks until uvicorn says where it listens
        lines.append(line)
        match = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
        if match:
            return proc, match.group(1), lines
    proc.wait(30)
    raise AssertionError("".join(lines))


def _serve(tmp_path, args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, str, list[str]]:
    """``sentrial-integrations serve`` on a fresh store and a free port."""
    db = tmp_path / "served.db"
    return _start(["-m", "sentrial_integrations", "serve", "--db", str(db), "--port", "0", *args], env)


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)


def _cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read()


def test_serve_runs_until_interrupted_and_writes_the_given_store(tmp_path):
    db = tmp_path / "served.db"
    code = f"from sentrial_integrations.server.app import serve; serve('127.0.0.1', 0, {str(db)!r}, 'k')"
    proc, url, lines = _start(["-c", code])
    try:
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
        _stop(proc)
    assert proc.returncode == 0
    assert db.exists()


def test_server_key_from_environment_or_file_is_not_in_the_process_list(tmp_path):
    secret_env = "env-key-9f8e7d6c5b4a"
    secret_file = "file-key-0a1b2c3d4e5f"
    key_file = tmp_path / "server.key"
    key_file.write_text(secret_file + "\n")
    for args, env, key in [
        ([], {"SENTRIAL_SERVER_API_KEY": secret_env}, secret_env),
        (["--api-key-file", str(key_file)], {}, secret_file),
    ]:
        proc, url, lines = _serve(tmp_path, args, env)
        try:
            assert key.encode() not in _cmdline(proc.pid)
            assert httpx.get(f"{url}/api/sessions").status_code == 401
            ok = httpx.get(f"{url}/api/sessions", headers={"Authorization": f"Bearer {key}"})
            assert ok.status_code == 200 and ok.json()["total"] == 0
            assert not any(key in line for line in lines)
        finally:
            _stop(proc)


def test_key_on_the_command_line_works_with_a_warning(tmp_path):
    proc, url, lines = _serve(tmp_path, ["--api-key", "argv-key-123456"], {})
    try:
        assert (
            httpx.get(f"{url}/api/sessions", headers={"Authorization": "Bearer argv-key-123456"}).status_code
            == 200
        )
        assert any("command line" in line and "SENTRIAL_SERVER_API_KEY" in line for line in lines), lines
    finally:
        _stop(proc)


def test_unreadable_key_file_is_one_line_error(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sentrial_integrations",
            "serve",
            "--db",
            str(tmp_path / "x.db"),
            "--port",
            "0",
            "--api-key-file",
            str(tmp_path / "missing.key"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "missing.key" in proc.stderr, proc.stderr
