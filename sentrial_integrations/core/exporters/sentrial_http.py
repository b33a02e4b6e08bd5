"""Exporter to the Sentrial REST API (``/api/sdk/sessions``, ``/api/sdk/events``, ``PATCH`` to close).

Runs inside the shipper (its own process by default), so its CPU is not the host's. Within a batch,
each session's records are sent in order, one after the other; different sessions are sent
concurrently over one keep-alive httpx client. A session's events go only after its creation
succeeded: the server id comes from the outbox's id map (``get_server_id`` / ``set_server_id``), so
events recorded by another process, or left by a killed one, find their session. An event whose
session has no server id yet is answered ``WAIT``, never dropped.

Every request has connect/read/write/pool timeouts and an overall deadline, enforced on each socket
read, so a backend that drips its answer one byte at a time cannot hold a sender thread.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import httpcore
import httpx

from .. import model as M
from ..log import RateLimitedWarner, logger
from ..model import BULKY_FIELDS
from ..record.serialize import dumps, dumps_bytes, fit
from . import wire
from .base import DROP, OK, REFUSED, RETRY, WAIT, ExportResult, parse_retry_after

USER_AGENT = "sentrial-integrations/0.1 (python)"
AVAILABILITY_STATUSES = frozenset({408, 425, 429, 502, 503, 504})  # the backend is away or busy

_deadline = threading.local()  # the running request's overall deadline (monotonic), per sender thread


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write waits at most until the request's overall deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    @staticmethod
    def _clamp(timeout: float | None) -> float | None:
        end = getattr(_deadline, "at", None)
        if end is None:
            return timeout
        left = end - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the request's overall deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, self._clamp(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(  # type: ignore[override]
        self, host: str, port: int, timeout: float | None = None, **kw: Any
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(host, port, _DeadlineStream._clamp(timeout), **kw))

    def connect_unix_socket(  # type: ignore[override]
        self, path: str, timeout: float | None = None, **kw: Any
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, _DeadlineStream._clamp(timeout), **kw))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def suppress_user_tracing() -> None:
    """In this thread, tell OpenTelemetry instrumentations (httpx's included) to record nothing.

    Matters only for thread delivery (a shipper process never loads the user's instrumentation). Only
    when the application already imported OpenTelemetry: we never import it for this.
    """
    import sys

    ctx = sys.modules.get("opentelemetry.context")
    if ctx is None:
        return
    try:
        key = getattr(ctx, "_SUPPRESS_INSTRUMENTATION_KEY", "suppress_instrumentation")
        ctx.attach(ctx.set_value(key, True))
        http_key = getattr(ctx, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None)
        if http_key is not None:
            ctx.attach(ctx.set_value(http_key, True))
    except Exception:
        pass


def make_client(
    base_url: str,
    headers: dict[str, str],
    timeout: float,
    concurrency: int,
    *,
    http2: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """One keep-alive httpx client; proxies and TLS as httpx does them (``HTTPS_PROXY``, ``SSL_CERT_FILE``)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    if transport is None:
        transport = httpx.HTTPTransport(limits=limits, http2=http2, retries=0)
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None:  # httpx exposes no hook for an overall deadline: wrap its socket layer
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
    return httpx.Client(
        base_url=base_url,
        headers=headers,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        transport=transport,
        limits=limits,
        http2=http2,
        trust_env=True,
    )


class _Outcome:
    __slots__ = ("reason", "retry_after", "value")

    def __init__(self, value: int, retry_after: float | None = None, reason: str = "") -> None:
        self.value = value
        self.retry_after = retry_after
        self.reason = reason


class _Pool:
    """A few daemon threads that run one batch's session groups concurrently.

    Not ``concurrent.futures``: its executors refuse work once interpreter shutdown has begun, which
    is when a thread-mode exit drain needs them.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._tasks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def run_all(self, calls: list[Callable[[], Any]]) -> list[Any]:
        while len(self._threads) < min(self.size, len(calls)):
            t = threading.Thread(target=self._work, name="sentrial-http", daemon=True)
            t.start()
            self._threads.append(t)
        results: list[Any] = [None] * len(calls)
        remaining = [len(calls)]
        done = threading.Condition()

        def wrap(i: int, fn: Callable[[], Any]) -> Callable[[], None]:
            def task() -> None:
                try:
                    results[i] = fn()
                finally:
                    with done:
                        remaining[0] -= 1
                        done.notify()

            return task

        for i, fn in enumerate(calls):
            self._tasks.put(wrap(i, fn))
        with done:
            while remaining[0]:
                done.wait()
        return results

    def _work(self) -> None:
        suppress_user_tracing()
        while True:
            task = self._tasks.get()
            if task is None:
                return
            try:
                task()
            except Exception:
                pass

    def close(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)
        self._threads = []


class SentrialHTTPExporter:
    name = "sentrial_http"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        max_concurrency: int = 8,
        max_event_bytes: int = 1_000_000,
        get_server_id: Callable[[str], str | None] | None = None,
        set_server_id: Callable[[str, str], None] | None = None,
        warner: RateLimitedWarner | None = None,
        transport: httpx.BaseTransport | None = None,
        http2: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_event_bytes = max_event_bytes
        self._concurrency = max(1, max_concurrency)
        self._get_server_id = get_server_id
        self._set_server_id = set_server_id
        self._warner = warner or RateLimitedWarner()
        self._client = make_client(
            self.base_url,
            {
                "Authorization": f"Bearer {api_key}",
                "User-Agent": USER_AGENT,
                "Content-Type": "application/json",
            },
            timeout,
            self._concurrency,
            http2=http2,
            transport=transport,
        )
        self._ids: dict[str, str] = {}  # a cache of the outbox's map; entries leave on close
        self.closed_sessions: list[str] = []  # sessions whose close was acknowledged (for the shipper)
        self._closed_lock = threading.Lock()
        self._pool = _Pool(self._concurrency)

    # --- batch -----------------------------------------------------------------------------------

    def export(self, records: list[dict[str, Any]]) -> ExportResult:
        # One group per session, sent in order; a child session created in this batch joins its
        # parent's group so the parent exists (and its server id is known) before the child is created.
        group_of: dict[str, str] = {}
        groups: dict[str, list[int]] = {}
        for i, rec in enumerate(records):
            sid = rec.get("session_id") or ""
            key = group_of.get(sid)
            if key is None:
                parent = rec.get("parent_session_id") if rec.get("kind") == M.START_RECORD else None
                key = group_of[sid] = group_of.get(parent, sid) if parent else sid
            groups.setdefault(key, []).append(i)
        outcomes = [RETRY] * len(records)
        reasons: dict[int, str] = {}
        results: list[_Outcome] = []
        if len(groups) == 1 or self._concurrency == 1:
            for idxs in groups.values():
                results.extend(self._send_group(records, idxs, outcomes, reasons))
        else:
            calls: list[Callable[[], Any]] = [
                functools.partial(self._send_group, records, idxs, outcomes, reasons)
                for idxs in groups.values()
            ]
            for failures in self._pool.run_all(calls):
                results.extend(failures or [])
        retry_after = max((r.retry_after for r in results if r.retry_after is not None), default=None)
        return ExportResult(outcomes, retry_after=retry_after, reasons=reasons)

    def _send_group(
        self, records: list[dict[str, Any]], idxs: list[int], outcomes: list[int], reasons: dict[int, str]
    ) -> list[_Outcome]:
        failures: list[_Outcome] = []
        for i in idxs:
            try:
                out = self._send_one(records[i])
            except Exception as exc:  # our own mistake with this record: never retry forever on it
                out = _Outcome(DROP, reason=f"could not send: {exc!r}"[:300])
            outcomes[i] = out.value
            if out.reason:
                reasons[i] = out.reason
            if out.value not in (OK, DROP):  # the rest of this session waits, in order
                failures.append(out)
                break
        return failures

    # --- one record ------------------------------------------------------------------------------

    def _server_id(self, client_id: str) -> str | None:
        sid = self._ids.get(client_id)
        if sid is None and self._get_server_id is not None:
            sid = self._get_server_id(client_id)
            if sid:
                self._ids[client_id] = sid
        return sid

    def _send_one(self, rec: dict[str, Any]) -> _Outcome:
        kind = rec.get("kind")
        cid = rec["session_id"]
        if kind == M.START_RECORD:
            if self._server_id(cid):
                return _Outcome(OK)
            body = wire.session_body(rec)
            parent = rec.get("parent_session_id")
            if parent:
                parent_sid = self._server_id(parent)
                if parent_sid:
                    body["parentSessionId"] = parent_sid
                else:  # the parent never reached the API: keep the link as metadata only
                    body.pop("parentSessionId", None)
                    body["metadata"] = {**body.get("metadata", {}), "parent_client_session_id": parent}
            resp = self._request("POST", "/api/sdk/sessions", body, cid)
            if isinstance(resp, _Outcome):
                return resp
            try:
                data = resp.json()
                sid = data["id"] if isinstance(data, dict) else None
            except Exception:
                sid = None
            if not isinstance(sid, str) or not sid:
                # A cut, garbled or id-less answer: the session may or may not exist. Ask again with
                # the same Idempotency-Key; the API answers the first outcome again.
                return _Outcome(
                    REFUSED, reason=f"session create answered HTTP {resp.status_code} without an id"
                )
            self._ids[cid] = sid
            if self._set_server_id is not None:
                self._set_server_id(cid, sid)
            return _Outcome(OK)

        server_sid = self._server_id(cid)
        if server_sid is None:
            return _Outcome(WAIT, reason="its session has no server id yet")
        if kind == M.EVENT_RECORD:
            rec, body = self._fit(rec, lambda r: wire.event_body(r, server_sid))
            return self._finish(self._request("POST", "/api/sdk/events", body, rec["id"], rec, server_sid))
        if kind == M.CLOSE_RECORD:
            body = wire.close_body(rec)
            out = self._finish(
                self._request("PATCH", f"/api/sdk/sessions/{server_sid}", body, f"{cid}.close")
            )
            if out.value == OK:
                self._ids.pop(cid, None)
                with self._closed_lock:
                    self.closed_sessions.append(cid)
            return out
        return _Outcome(DROP, reason=f"unknown record kind {kind!r}")

    def take_closed(self) -> list[str]:
        with self._closed_lock:
            out, self.closed_sessions = self.closed_sessions, []
        return out

    @staticmethod
    def _finish(resp: httpx.Response | _Outcome) -> _Outcome:
        return resp if isinstance(resp, _Outcome) else _Outcome(OK)

    def _fit(
        self,
        rec: dict[str, Any],
        to_body: Callable[[dict[str, Any]], dict[str, Any]],
        max_bytes: int | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        limit = max_bytes or self.max_event_bytes
        body = to_body(rec)
        if len(dumps(body).encode("utf-8")) <= limit:
            return rec, body
        rec, _ = fit(rec, max(1_024, limit - 4_096), BULKY_FIELDS)
        return rec, to_body(rec)

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        idempotency_key: str,
        rec: dict[str, Any] | None = None,
        sid: str | None = None,
    ) -> httpx.Response | _Outcome:
        shrink_limit = self.max_event_bytes
        for _attempt in range(6):
            _deadline.at = time.monotonic() + self.timeout * 1.5
            try:
                resp = self._client.request(
                    method, path, content=dumps_bytes(body), headers={"Idempotency-Key": idempotency_key}
                )
            except httpx.HTTPError as exc:
                logger.debug(
                    "Sentrial: %s %s (key %s) failed: %r", method, _route(path), idempotency_key, exc
                )
                self._warner.warn(
                    f"transport:{type(exc).__name__}",
                    "Sentrial API unreachable at %s (%s); records are kept and retried",
                    self.base_url,
                    type(exc).__name__,
                )
                return _Outcome(RETRY, reason=f"unreachable: {type(exc).__name__}")
            finally:
                _deadline.at = None
            status = resp.status_code
            if status < 300 or status == 409:  # 409: already there (an earlier try got through)
                return resp
            if status == 413 and rec is not None and sid is not None:
                shrink_limit = max(1_024, shrink_limit // 4)
                rec, body = self._fit(rec, lambda r: wire.event_body(r, sid), shrink_limit)
                self._warner.warn(
                    "413", "Sentrial API said an event was too large (413); re-sending it trimmed"
                )
                continue
            if status in AVAILABILITY_STATUSES:
                self._warner.warn(
                    f"status:{status}", "Sentrial API answered HTTP %s on %s; will retry", status, method
                )
                return _Outcome(RETRY, parse_retry_after(resp.headers.get("retry-after")), f"HTTP {status}")
            if status in (401, 403):
                self._warner.warn(
                    f"auth:{status}",
                    "Sentrial API rejected the API key (HTTP %s). Records are kept in the outbox and retried "
                    "every 30 s until the key is accepted; check SENTRIAL_API_KEY.",
                    status,
                )
                return _Outcome(RETRY, 30.0, f"HTTP {status}: the API key was rejected")
            if status >= 500:
                return _Outcome(REFUSED, parse_retry_after(resp.headers.get("retry-after")), f"HTTP {status}")
            return _Outcome(DROP, reason=f"HTTP {status} on {method} {_route(path)}: {_error_text(resp)}")
        return _Outcome(DROP, reason="still too large (413) after trimming")

    def close(self) -> None:
        self._pool.close()
        try:
            self._client.close()
        except Exception:
            pass


def _route(path: str) -> str:
    return "/api/sdk/" + path.split("/api/sdk/")[-1].split("/")[0]


def _error_text(resp: httpx.Response) -> str:
    try:
        data = resp.json()
        if isinstance(data, dict):
            return str(data.get("message") or data.get("error") or "")[:200]
    except Exception:
        pass
    try:
        return resp.text[:200]
    except Exception:
        return ""
