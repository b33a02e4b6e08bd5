"""HTTP transports for the Sentrial exporter: a lean keep-alive one, and httpx where a proxy is needed.

Why two: on this project's benchmark machine one httpx request costs ~417 µs of CPU against ~97 µs for
the same request on a kept-alive ``http.client`` connection. The exporter's CPU is taken from the host
program (one GIL), so for direct connections — the common case — we use :class:`KeepAliveTransport`
(stdlib only: one persistent connection per sending thread, TLS with certifi's or ``SSL_CERT_FILE``'s
CA bundle, explicit connect and read timeouts). When the environment routes the API through a proxy
(``HTTPS_PROXY`` / ``HTTP_PROXY`` and ``NO_PROXY``), or a test hands in an httpx transport,
:class:`HttpxTransport` is used, which knows proxies.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import threading
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx


class TransportError(Exception):
    """The request did not get an answer (refused, reset, timed out, TLS failure...)."""


class Response:
    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def uses_proxy(base_url: str) -> bool:
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies()
    if not proxies.get(parts.scheme) and not proxies.get("all"):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


class KeepAliveTransport:
    """``http.client`` connections kept alive, one per sending thread."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._headers = headers
        self._timeout = timeout
        self._connect_timeout = min(timeout, 5.0)
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None
        if self._https:
            cafile = os.environ.get("SSL_CERT_FILE") or certifi.where()
            self._ssl = ssl.create_default_context(cafile=cafile)

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._https:
                conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._connect_timeout, context=self._ssl
                )
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(self._timeout)
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.conn = conn
            self._local.used = 0
            with self._lock:
                self._all.append(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Response:
        for attempt in (0, 1):
            reused = False
            try:
                conn = self._connection()
                reused = self._local.used > 0
                conn.request(method, self._prefix + path, body=body, headers={**self._headers, **headers})
                resp = conn.getresponse()
                content = resp.read()
                self._local.used += 1
                if resp.will_close:
                    self._drop()
                return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, content)
            except (http.client.HTTPException, OSError) as exc:
                self._drop()
                # A kept-alive connection the server already closed: try once more on a fresh one.
                stale = isinstance(
                    exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
                ) or (isinstance(exc, http.client.BadStatusLine) and not isinstance(exc, TimeoutError))
                if attempt == 0 and reused and stale:
                    continue
                raise TransportError(type(exc).__name__) from None
        raise TransportError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except Exception:
                pass


class HttpxTransport:
    """httpx (proxies from the environment, or an injected httpx transport)."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        timeout: float,
        max_connections: int,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
            follow_redirects=False,
        )

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Response:
        try:
            resp = self._client.request(method, path, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise TransportError(type(exc).__name__) from None
        return Response(resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, resp.content)

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:
            pass


def make_transport(
    base_url: str,
    headers: dict[str, str],
    timeout: float,
    max_connections: int,
    httpx_transport: httpx.BaseTransport | None = None,
) -> KeepAliveTransport | HttpxTransport:
    if httpx_transport is not None or uses_proxy(base_url):
        return HttpxTransport(base_url, headers, timeout, max_connections, httpx_transport)
    return KeepAliveTransport(base_url, headers, timeout)
