"""A tiny OTLP/HTTP traces receiver for tests: decodes each ``ExportTraceServiceRequest`` with
opentelemetry-proto and keeps the spans it received.

    with OTLPReceiver() as rx:
        rx.fail_next(503, retry_after="0")       # optional scripted failures, in order
        ... SentrialClient(local_path=..., otlp_endpoint=rx.url) ...
        rx.wait_for(lambda spans: len(spans) >= 3)
"""

from __future__ import annotations

import gzip
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


class ReceivedSpan:
    """One decoded span, flattened for assertions."""

    def __init__(self, span: Any, resource: dict[str, Any], scope: str) -> None:
        self.name: str = span.name
        self.trace_id: str = span.trace_id.hex()
        self.span_id: str = span.span_id.hex()
        self.parent_span_id: str = span.parent_span_id.hex()
        self.kind: int = span.kind
        self.start_ns: int = span.start_time_unix_nano
        self.end_ns: int = span.end_time_unix_nano
        self.status_code: int = span.status.code
        self.status_message: str = span.status.message
        self.attributes: dict[str, Any] = {kv.key: _value(kv.value) for kv in span.attributes}
        self.events: list[tuple[str, dict[str, Any]]] = [
            (ev.name, {kv.key: _value(kv.value) for kv in ev.attributes}) for ev in span.events
        ]
        self.links: list[tuple[str, str]] = [(ln.trace_id.hex(), ln.span_id.hex()) for ln in span.links]
        self.resource = resource
        self.scope = scope

    def __repr__(self) -> str:
        return f"ReceivedSpan({self.name!r}, {self.span_id}, parent={self.parent_span_id or None})"


def _value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which) if which else None


class OTLPReceiver:
    """Listens on 127.0.0.1 (a free port); ``url`` is the collector base URL (``/v1/traces`` is served)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # {"path", "headers", "spans"} per accepted request
        self.refused = 0
        self._failures: list[tuple[int, dict[str, str]]] = []
        self._cond = threading.Condition()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner._handle(self, body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def server_bind(self) -> None:  # no reverse DNS lookup
                socketserver.TCPServer.server_bind(self)
                self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> OTLPReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, status: int, retry_after: str | None = None) -> None:
        """Answer the next request with ``status`` (queued: several calls fail several requests)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        with self._cond:
            self._failures.append((status, headers))

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._cond:
            return [s for r in self.requests for s in r["spans"]]

    def wait_for(self, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                spans = [s for r in self.requests for s in r["spans"]]
                if predicate(spans):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)

    def _handle(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        with self._cond:
            failure = self._failures.pop(0) if self._failures else None
            if failure is not None:
                self.refused += 1
        if failure is not None:
            status, headers = failure
            self._reply(h, status, b"scripted failure", headers, "text/plain")
            return
        if h.path != "/v1/traces" or h.headers.get("Content-Type") != "application/x-protobuf":
            self._reply(h, 404, b"not found", {}, "text/plain")
            return
        if h.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        spans = []
        for rs in request.resource_spans:
            resource = {kv.key: _value(kv.value) for kv in rs.resource.attributes}
            for ss in rs.scope_spans:
                spans.extend(ReceivedSpan(s, resource, ss.scope.name) for s in ss.spans)
        with self._cond:
            self.requests.append({"path": h.path, "headers": dict(h.headers.items()), "spans": spans})
            self._cond.notify_all()
        self._reply(h, 200, ExportTraceServiceResponse().SerializeToString(), {}, "application/x-protobuf")

    @staticmethod
    def _reply(
        h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str], ctype: str
    ) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)
