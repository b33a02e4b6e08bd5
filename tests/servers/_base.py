"""Shared plumbing for the loopback test servers.

Standard library only. One accept thread per listening socket (woken through a
socketpair, so shutting down never waits for a poll interval) and one daemon
thread per connection (``ThreadingMixIn``). Every open connection is tracked so
``go_down()`` / ``stop()`` can drop keep-alive connections as well as the
listening socket.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

HOST = "127.0.0.1"

_S = TypeVar("_S", bound="LoopbackServer")

_REASONS = {s.value: s.phrase for s in HTTPStatus}


def reason(status: int) -> str:
    return _REASONS.get(status, "Unknown")


class Headers(dict):  # type: ignore[type-arg]
    """Request headers: lower-cased names, case-insensitive ``get``/``[]``/``in``."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key.lower() if isinstance(key, str) else key)


class _TrackingHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Python 3.11 keeps even daemon threads around to join them in server_close()
    # when block_on_close is true; idle keep-alive connections would block it.
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], handler: type, owner: LoopbackServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can
        # stall for seconds on machines without network.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client went away, connection dropped by go_down(), ...: stay quiet.
        pass

    def drop_connections(self) -> None:
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class BaseHandler(BaseHTTPRequestHandler):
    """Routes every method to ``server.owner.handle(self)``; no logging."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _TrackingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def parse_request(self) -> bool:
        """Lean replacement for BaseHTTPRequestHandler.parse_request.

        The stdlib version parses headers with the email package (~25 us per request,
        a good share of the per-request budget); a dict of lower-cased names is enough here.
        """
        self.command = None  # type: ignore[assignment]
        self.request_version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request line {requestline!r}")
            return False
        self.command, self.path, self.request_version = words
        headers = Headers()
        for _ in range(200):
            line = self.rfile.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.decode("iso-8859-1").partition(":")
            if not sep:
                self.send_error(HTTPStatus.BAD_REQUEST, "Malformed header line")
                return False
            headers[name.strip().lower()] = value.strip()
        else:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
            return False
        self.headers = headers  # type: ignore[assignment]
        connection = headers.get("connection", "").lower()
        if self.request_version == "HTTP/1.1":
            self.close_connection = connection == "close"
        else:
            self.close_connection = connection != "keep-alive"
        if headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def _dispatch(self) -> None:
        self.server.owner.handle(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    # -- helpers -----------------------------------------------------------------

    def read_body(self, max_bytes: int) -> tuple[bytes | None, int]:
        """Return (body, size). body is None when it exceeded max_bytes.

        Over-limit Content-Length bodies are read and discarded so the keep-alive
        connection stays usable; over-limit chunked bodies close the connection.
        """
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            return self._read_chunked(max_bytes)
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b"", 0
        try:
            length = int(length_header)
        except ValueError:
            self.close_connection = True
            return b"", 0
        if length <= max_bytes:
            return self.rfile.read(length), length
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                self.close_connection = True
                break
            remaining -= len(chunk)
        return None, length

    def _read_chunked(self, max_bytes: int) -> tuple[bytes | None, int]:
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(65537)
            if not line:
                self.close_connection = True
                return (None if size > max_bytes else b"".join(parts)), size
            try:
                n = int(line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                self.close_connection = True
                return b"", size
            if n == 0:
                # trailers until blank line
                while True:
                    trailer = self.rfile.readline(65537)
                    if trailer in (b"\r\n", b"\n", b""):
                        break
                break
            data = self.rfile.read(n)
            self.rfile.readline(3)  # CRLF after the chunk
            size += len(data)
            if size > max_bytes:
                # Don't keep reading an unbounded stream: answer and close.
                self.close_connection = True
                return None, size
            parts.append(data)
        return b"".join(parts), size

    def send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Write the whole response (status line, headers, body) in one write."""
        lines = [
            f"HTTP/1.1 {status} {reason(status)}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        if headers:
            lines.extend(f"{k}: {v}" for k, v in headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.command == "HEAD":
            body = b""
        self.wfile.write(head + body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    def start_chunked(self, status: int, content_type: str, headers: dict[str, str] | None = None) -> None:
        lines = [
            f"HTTP/1.1 {status} {reason(status)}",
            f"Content-Type: {content_type}",
            "Transfer-Encoding: chunked",
            "Cache-Control: no-cache",
        ]
        if headers:
            lines.extend(f"{k}: {v}" for k, v in headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    @staticmethod
    def chunk(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data) if data else b""

    def end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def lower_headers(self) -> dict[str, str]:
        return dict(self.headers)


class LoopbackServer:
    """Start/stop/go_down/come_up lifecycle + a Condition for ``wait_for``.

    Subclasses implement ``handle(handler)`` and may use ``self._cond`` (an RLock
    based Condition; call ``self._notify()`` after recording something) and
    ``self._interrupt`` (an Event set whenever connections are dropped).
    """

    handler_class: type[BaseHandler] = BaseHandler

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._cond = threading.Condition(threading.RLock())
        self._httpd: _TrackingHTTPServer | None = None
        self._accept_thread: threading.Thread | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._lifecycle = threading.Lock()
        # Bumped (and the old event set) whenever connections are dropped, so that
        # handlers that are delaying/hanging give up instead of answering.
        self._epoch = 0
        self._interrupt = threading.Event()
        self._stopped = False

    # -- lifecycle ------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self._port}"

    @property
    def is_up(self) -> bool:
        return self._httpd is not None

    def start(self: _S) -> _S:
        with self._lifecycle:
            self._stopped = False
            self._listen()
        return self

    def stop(self) -> None:
        with self._lifecycle:
            with self._cond:
                self._stopped = True
                self._on_stop()
            self._take_down()

    def _on_stop(self) -> None:
        """Hook run (under the condition) when stop() is called."""

    def go_down(self) -> None:
        """Stop listening (connections refused) and drop open keep-alive connections."""
        with self._lifecycle:
            self._take_down()

    def come_up(self) -> None:
        """Listen again on the same port."""
        with self._lifecycle:
            if self._stopped:
                raise RuntimeError("server was stopped; use start()")
            self._listen()

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _listen(self) -> None:
        if self._httpd is not None:
            return
        httpd = _TrackingHTTPServer((HOST, self._port), self.handler_class, self)
        self._port = httpd.server_port
        httpd.socket.setblocking(False)
        wake = socket.socketpair()
        thread = threading.Thread(
            target=self._accept_loop,
            args=(httpd, wake[0]),
            name=f"{type(self).__name__}-accept-{self._port}",
            daemon=True,
        )
        self._httpd, self._wake, self._accept_thread = httpd, wake, thread
        thread.start()

    def _take_down(self) -> None:
        httpd, wake, thread = self._httpd, self._wake, self._accept_thread
        if httpd is None or wake is None or thread is None:
            return
        with self._cond:
            self._httpd = self._wake = self._accept_thread = None
            self._epoch += 1
            old, self._interrupt = self._interrupt, threading.Event()
            old.set()
            self._cond.notify_all()
        with contextlib.suppress(OSError):
            wake[1].send(b"x")
        thread.join()
        httpd.server_close()
        self._before_drop()
        httpd.drop_connections()
        for s in wake:
            s.close()

    @staticmethod
    def _accept_loop(httpd: _TrackingHTTPServer, wake_r: socket.socket) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(httpd.socket, selectors.EVENT_READ)
            sel.register(wake_r, selectors.EVENT_READ)
            while True:
                ready = sel.select()
                if any(key.fileobj is wake_r for key, _ in ready):
                    return
                while True:
                    try:
                        request, address = httpd.socket.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    request.setblocking(True)
                    try:
                        httpd.process_request(request, address)
                    except Exception:
                        httpd.shutdown_request(request)

    # -- waiting -------------------------------------------------------------------

    def wait_for(self: _S, predicate: Callable[[_S], bool], timeout: float) -> bool:
        """Block until ``predicate(self)`` is true (re-checked after every recorded request)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _before_drop(self) -> None:
        """Called when going down, after the listener closed and before connections are dropped."""

    def handle(self, h: BaseHandler) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def run_cli(server: LoopbackServer, url: str) -> None:
    """Serve until SIGTERM/SIGINT, after printing ``READY <url>``."""
    import signal

    def _exit(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    try:
        sys.stdout.write(f"READY {url}\n")
        sys.stdout.flush()
        threading.Event().wait()
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.stop()
