"""The server's defences (``server/security.py``): the API key, the Host allow-list and the cross-origin
refusal, the security headers; and over raw sockets the header deadline (slowloris), the body deadline and
authentication before the body is read."""

from __future__ import annotations

import base64
import socket

import httpx
import pytest

from sentrial_integrations.server.security import host_name, is_loopback_host, key_matches, same_origin

from .conftest import API_KEY, AUTH, assert_error

# --- the checks themselves --------------------------------------------------------------------------------


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("authorization", "ok"),
    [
        ("Bearer k3y", True),
        ("bearer  k3y ", True),
        ("Bearer k3", False),
        ("k3y", False),
        ("", False),
        (_basic("anyone", "k3y"), True),
        ("Basic " + base64.b64encode(b"k3y").decode(), True),
        (_basic("k3y", "wrong"), False),
        ("Basic not-base64!", False),
        ("Digest k3y", False),
    ],
)
def test_key_matches_bearer_or_basic_password(authorization, ok):
    assert key_matches("k3y", authorization) is ok


def test_host_and_origin_checks():
    assert host_name("LocalHost:8777") == "localhost"
    assert host_name("[::1]:8777") == "::1"
    assert host_name("127.0.0.1") == "127.0.0.1"
    assert same_origin("http://127.0.0.1:8777", "127.0.0.1:8777")
    assert not same_origin("https://evil.example", "127.0.0.1:8777")
    assert not same_origin("null", "null")
    assert is_loopback_host("127.0.0.1") and is_loopback_host("::1") and is_loopback_host("localhost")
    assert not is_loopback_host("0.0.0.0")


# --- over HTTP -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({}, False),
        ({"Authorization": "Bearer wrong"}, False),
        ({"Authorization": API_KEY}, False),
        ({"Authorization": f"Bearer {API_KEY}"}, True),
    ],
)
def test_api_key_is_checked(api, headers, ok):
    resp = api.post("/api/sdk/sessions", json={"name": "n"}, headers=headers)
    if ok:
        assert resp.status_code == 201
    else:
        assert_error(resp, 401, "unauthorized", "API key")
        assert api.server.store.count_sessions() == 0


def test_without_a_configured_key_anything_is_accepted(live_server):
    server = live_server(api_key=None)
    resp = httpx.post(f"{server.url}/api/sdk/sessions", json={"name": "n"})
    assert resp.status_code == 201
    assert server.store.get_session(resp.json()["id"])["name"] == "n"


def test_cross_origin_writes_and_foreign_hosts_are_refused(api):
    resp = api.post(
        "/api/sdk/sessions",
        content=b'{"name": "csrf"}',
        headers={**AUTH, "Origin": "https://evil.example", "Content-Type": "text/plain"},
    )
    assert_error(resp, 403, "forbidden", "cross-origin")
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example
    assert_error(api.get("/api/sessions", headers={**AUTH, "Host": "evil.example:8777"}), 403, "forbidden")
    same_origin = api.post(
        "/api/sdk/sessions", json={"name": "ok"}, headers={**AUTH, "Origin": str(api.base_url).rstrip("/")}
    )
    assert same_origin.status_code == 201
    assert [s["name"] for s in api.server.store.list_sessions()] == ["ok"]


def test_security_headers_on_every_answer(api):
    for resp in (
        api.get("/", headers=AUTH),
        api.get("/static/app.js"),
        api.post("/api/sdk/sessions", json={}),
    ):
        assert resp.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self'")
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["x-frame-options"] == "DENY"


# --- over raw sockets ----------------------------------------------------------------------------------------


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
