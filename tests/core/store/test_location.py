"""One store per user by default: a program and the CLI run from different directories meet in the
per-user data directory; a project's ``.sentrial/`` (here or above) keeps a project-local store;
``SENTRIAL_LOCAL_PATH`` and ``--db`` win. The CLI names the store it reads; ``serve`` creates a store
only at the default location or at an explicit ``--db``. Real subprocesses, real SQLite files."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sentrial_integrations.core.store import Store

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="XDG_DATA_HOME is the Linux data directory")

RECORD = textwrap.dedent(
    """
    from sentrial_integrations import SentrialClient
    client = SentrialClient()
    sid = client.create_session("where am I")
    client.close_session(sid, "success")
    client.shutdown(5)
    print(client.config.local_path)
    """
)


@pytest.fixture
def dirs(tmp_path):
    """A per-user data dir, and two unrelated working directories; no SENTRIAL_* in the environment."""
    data = tmp_path / "data-home"
    a = tmp_path / "a" / "proj"
    b = tmp_path / "b"
    a.mkdir(parents=True)
    b.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
    env.update(XDG_DATA_HOME=str(data), NO_COLOR="1", COLUMNS="120", TZ="UTC", PYTHONIOENCODING="utf-8")
    return data, a, b, env


def _py(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def _cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return _py(["-m", "sentrial_integrations", *args], cwd, env)


def test_program_and_cli_in_different_directories_share_the_per_user_store(dirs):
    data, a, b, env = dirs
    rec = _py(["-c", RECORD], a, env)
    assert rec.returncode == 0, rec.stderr
    expected = data / "sentrial" / "sentrial.db"
    assert rec.stdout.strip() == str(expected) and expected.is_file()
    assert not (a / ".sentrial").exists()  # nothing appears where the program ran
    listed = _cli(b, env, "sessions", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [s["name"] for s in json.loads(listed.stdout)] == ["where am I"]
    assert not (b / ".sentrial").exists()


def test_a_project_sentrial_dir_above_the_cwd_is_used_by_program_and_cli(dirs):
    data, a, _, env = dirs
    project = a.parent / ".sentrial"
    project.mkdir()
    rec = _py(["-c", RECORD], a, env)
    assert rec.returncode == 0, rec.stderr
    assert rec.stdout.strip() == str(project / "sentrial.db")
    assert not data.exists()
    listed = _cli(a, env, "sessions", "--json")
    assert [s["name"] for s in json.loads(listed.stdout)] == ["where am I"]


def test_env_and_db_win_over_the_defaults(dirs, tmp_path):
    _, a, b, env = dirs
    (a / ".sentrial").mkdir()
    env_db = tmp_path / "env.db"
    rec = _py(["-c", RECORD], a, {**env, "SENTRIAL_LOCAL_PATH": str(env_db)})
    assert rec.stdout.strip() == str(env_db)
    assert [
        s["name"] for s in json.loads(_cli(b, env, "--db", str(env_db), "sessions", "--json").stdout)
    ] == ["where am I"]
    proc = _cli(b, {**env, "SENTRIAL_LOCAL_PATH": str(env_db)}, "sessions", "--json")
    assert [s["name"] for s in json.loads(proc.stdout)] == ["where am I"]
    missing = _cli(a, env, "sessions")  # the project dir has no store yet
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"sentrial-integrations: error: no Sentrial store at {a / '.sentrial' / 'sentrial.db'} "
        "(record a session first, or pass --db PATH / set SENTRIAL_LOCAL_PATH)"
    )


def _on_a_terminal(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run the CLI with its stdout on a pseudo-terminal, as a person would see it."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sentrial_integrations", *args],
        cwd=cwd,
        env={**env, "COLUMNS": "140"},
        stdout=slave,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=60)
    assert proc.stderr is not None
    proc.stderr.close()
    os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return code, re.sub(r"\x1b\[[0-9;]*m", "", text)  # styles (dim) even with NO_COLOR


def test_sessions_names_its_store_on_a_terminal_only(dirs):
    data, a, b, env = dirs
    assert _py(["-c", RECORD], a, env).returncode == 0
    code, out = _on_a_terminal(b, env, "sessions")
    assert code == 0
    lines = out.rstrip("\n").splitlines()
    assert "where am I" in out
    assert lines[-1] == f"store: {data / 'sentrial' / 'sentrial.db'}"
    piped = _cli(b, env, "sessions")
    assert piped.returncode == 0 and "where am I" in piped.stdout and "store:" not in piped.stdout


def _serve(cwd: Path, env: dict[str, str], *args: str) -> tuple[int | None, str]:
    """Start ``serve --port 0``, read stderr up to the line naming the store, then stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sentrial_integrations", "serve", "--port", "0", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    try:
        while True:
            ready, _, _ = select.select([proc.stderr], [], [], 60)
            if not ready:
                raise AssertionError(f"serve said nothing in 60 s: {seen}")
            line = proc.stderr.readline()
            if not line:
                break  # exited
            seen.append(line)
            if "(store:" in line:
                break
    finally:
        if proc.poll() is None:
            proc.terminate()
        code = proc.wait(timeout=30)
        proc.stderr.close()
    return code, "".join(seen)


def test_serve_names_the_store_and_creates_it_only_where_it_may(dirs, tmp_path):
    pytest.importorskip("uvicorn")
    data, _, b, env = dirs
    # the default (per-user) location: created, and named
    _, err = _serve(b, env)
    default = data / "sentrial" / "sentrial.db"
    assert f"creating a new, empty store at {default}" in err
    assert f"(store: {default})" in err
    assert default.is_file() and Store(str(default), create=False, readonly=True).list_sessions() == []
    # an explicit --db: created
    explicit = tmp_path / "runs.db"
    _, err = _serve(b, env, "--db", str(explicit))
    assert f"(store: {explicit})" in err and explicit.is_file()
    # an existing store is served as it is, without the note
    _, err = _serve(b, env, "--db", str(explicit))
    assert "creating" not in err and f"(store: {explicit})" in err
    # a SENTRIAL_LOCAL_PATH that points nowhere: refused in one line, nothing created
    typo = tmp_path / "typo" / "sentrail.db"
    proc = _cli(b, {**env, "SENTRIAL_LOCAL_PATH": str(typo)}, "serve", "--port", "0")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"sentrial-integrations: error: no Sentrial store at {typo} (from SENTRIAL_LOCAL_PATH); "
        "record a session first, or pass --db PATH to create one there"
    ]
    assert not typo.parent.exists()


def test_the_dashboard_names_its_store(tmp_path):
    pytest.importorskip("uvicorn")
    import html

    import httpx

    from tests.server.conftest import LiveServer

    path = tmp_path / "a & b" / "dash.db"
    path.parent.mkdir()
    server = LiveServer(str(path))
    try:
        page = httpx.get(server.url + "/", timeout=30)
        assert page.status_code == 200
        assert "No sessions yet" in page.text  # empty: the footer then says which file was read
        footer = f'<footer class="store-path dim">Store: <code>{html.escape(str(path))}</code></footer>'
        assert footer in page.text
    finally:
        server.stop()
