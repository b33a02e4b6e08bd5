"""Server hardening over real sockets: header deadline (slowloris), body deadline, authentication before the
body is read, and the server key kept out of the process list."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys

import httpx

from .conftest import API_KEY


def _connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the socket timeout)."""
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def test_connections_that_never_finish_their_headers_are_closed(live_server):
    server = live_server(header_timeout_s=0.5)
    socks = [_connect(server) for _ in range(50)]
    for sock in socks:
        sock.sendall(b"POST /api/sdk/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    for sock in socks:
        assert _read_all(sock) == b""  # closed by the server, nothing answered
        sock.close()
    # a client trickling header bytes does not reset the deadline
    sock = _connect(server)
    sock.settimeout(0.2)
    closed = False
    for _ in range(500):  # bounded: at most ~100 s, the deadline is 0.5 s
        try:
            sock.sendall(b"a")
            if sock.recv(1) == b"":
                closed = True
                break
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
    sock.close()
    assert closed
    # the server still answers new clients
    assert httpx.get(f"{server.url}/api/health").json() == {"ok": True}


def test_a_flood_of_idle_connections_cannot_use_up_the_server(live_server):
    server = live_server(header_timeout_s=120, max_waiting=20)
    socks = [_connect(server) for _ in range(50)]
    for sock in socks:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
    # the 30 that waited longest were closed as the later ones came in, long before the deadline
    for sock in socks[:30]:
        assert _read_all(sock) == b""
    assert httpx.get(f"{server.url}/api/health").json() == {"ok": True}
    for sock in socks:
        sock.close()


def test_keep_alive_connection_gets_a_new_header_deadline(live_server):
    server = live_server(header_timeout_s=0.5)
    sock = _connect(server)
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    first = b""
    while b'{"ok":true}' not in first:
        data = sock.recv(65536)
        assert data, first
        first += data
    assert first.startswith(b"HTTP/1.1 200")
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: never completes
    assert _read_all(sock) == b""
    sock.close()


def test_a_body_that_does_not_arrive_gets_408(live_server):
    server = live_server(body_timeout_s=0.5)
    sock = _connect(server)
    sock.sendall(
        b"POST /api/sdk/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"name": '
    )
    answer = _read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request_timeout" in answer
    assert server.store.count_sessions() == 0


def test_unauthenticated_body_is_refused_before_it_is_read(live_server):
    server = live_server(api_key=API_KEY)
    sock = _connect(server)
    # announce 60 MB and send none of it: the 401 comes back at once
    sock.sendall(
        b"POST /api/sdk/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 60000000\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(65536)
        assert data, head
        head += data
    sock.close()
    assert head.startswith(b"HTTP/1.1 401"), head[:200]
    assert server.store.count_sessions() == 0


def _serve(tmp_path, args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, str, list[str]]:
    db = tmp_path / "served.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sentrial_integrations", "serve", "--db", str(db), "--port", "0", *args],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
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


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)


def _cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read()


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
