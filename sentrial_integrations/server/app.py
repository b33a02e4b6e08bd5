"""The local Sentrial server: SDK ingestion API, a small read API, and the dashboard pages.

Routes
------
Ingestion (the Sentrial public SDK API; what :class:`~sentrial_integrations.SentrialClient` sends over HTTP):

- ``POST /api/sdk/sessions``            create a session -> 201 ``{id, name, agentName, userId, status}``
- ``POST /api/sdk/events``              add an event     -> 200 ``{id}``
- ``PATCH /api/sdk/sessions/{id}``      close a session  -> 200 ``{id, status}``

Read API (JSON, behind the pages): ``GET /api/sessions`` (``status``, ``name``, ``agent``, ``meta=k=v``
repeatable, ``limit``, ``offset``) and ``GET /api/sessions/{id}`` (session + events).

Pages: ``/`` (session list), ``/sessions/{id}`` (header, timeline, event detail, replay) and
``/compare?a=…&b=…`` (two sessions aligned step by step: :mod:`.compare`).

``GET /openapi.json``: the OpenAPI description of the ingestion and read APIs (see :mod:`.schema`).

Ingestion bodies are authorised before they are read, read within a deadline (408), validated by one
pydantic model per route (a 400 naming the field) and turned into records by the same normaliser the
client uses (``core/record/normalize.py``). Errors are JSON ``{"error": code, "message": text}`` with
400 / 401 / 403 / 404 / 405 / 408 / 413 / 500, never a traceback. Every store call runs in a worker thread
(the store serialises them with its own lock).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import logging.config
import os
import re
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.config import default_local_path, is_loopback_url
from ..core.exporters import wire
from ..core.record.normalize import DEPTH_MARKER, MAX_DEPTH, clean_text, clean_value, normalize_record
from ..core.store import SessionFilter, Store, StoreError
from . import compare, pages, schema

try:  # read-only helper added to store.py for the CLI; the list works without it (no live totals)
    from ..core.store import live_totals as _live_totals
except ImportError:  # pragma: no cover
    _live_totals = None  # type: ignore[assignment]

logger = logging.getLogger("sentrial_integrations.server")

STATIC_DIR = Path(__file__).with_name("static")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SESSION_STATUSES = ("running", "success", "failure", "error", "timeout", "abandoned")
EVENT_TYPES = frozenset(wire.WIRE_EVENT_TYPES)
CLOSE_STATUSES = frozenset({"completed", "failed"})
MAX_PAGE_SIZE = 500
TIMEOUT_SWEEP_EVERY_S = 60.0
# Bodies over the limit are read and thrown away up to this size, so the client gets its 413 instead of
# a reset connection; past it the connection is simply closed after the answer.
DRAIN_CAP_BYTES = 64 * 1024 * 1024
# A connection that has not sent a complete request head (request line + headers) within this many seconds
# is closed (slowloris); an ingestion body gets as long as BODY_TIMEOUT_S once the head is in.
HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    408: "request_timeout",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    500: "internal_error",
    503: "service_unavailable",
}

_SESSION_ID_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,127}")
_MAX_EVENT_ID = 256


class ApiError(Exception):
    """Answered as ``{"error": ..., "message": ...}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": _ERROR_CODES.get(status, "error"), "message": message}, status, headers)


def _json_safe(value: Any) -> Any:
    """``value`` as JSON every client can read: non-finite floats as text, nesting capped (never raises)."""
    return clean_value(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _State:
    """What the handlers share: the store and the settings."""

    def __init__(
        self, store: Store, api_key: str | None, max_body_bytes: int, body_timeout_s: float = 30.0
    ) -> None:
        self.store = store
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.last_sweep = 0.0

    # --- auth --------------------------------------------------------------------------------------

    def authorized(self, request: Request) -> bool:
        """No key configured, or ``Authorization: Bearer <key>`` / HTTP Basic with the key as password."""
        if self.api_key is None:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        credentials = credentials.strip()
        expected = self.api_key.encode("utf-8")
        if scheme.lower() == "bearer":
            return hmac.compare_digest(credentials.encode("utf-8"), expected)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True)
            except (binascii.Error, ValueError):
                return False
            password = decoded.split(b":", 1)[1] if b":" in decoded else decoded
            return hmac.compare_digest(password, expected)
        return False

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a store call in a worker thread; store failures become 503."""
        try:
            return await run_in_threadpool(fn, *args)
        except StoreError as exc:
            raise ApiError(503, str(exc))

    def sweep_timeouts(self) -> None:
        """Mark sessions left running past the timeout (at most once a minute)."""
        now = time.monotonic()
        if now - self.last_sweep < TIMEOUT_SWEEP_EVERY_S:
            return
        self.last_sweep = now
        try:
            self.store.mark_timeouts()
        except Exception as exc:
            logger.warning("could not mark timed-out sessions: %s", exc)


def _state(request: Request) -> _State:
    state: _State = request.app.state.sentrial
    return state


# --- request bodies ------------------------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> tuple[bytes | None, int]:
    """(body, size); body is None when it is larger than ``limit`` (the rest is drained, up to a cap)."""
    chunks: list[bytes] = []
    size = 0
    over = False
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            over = True
            chunks = []
            if size > DRAIN_CAP_BYTES:
                break
        else:
            chunks.append(chunk)
    return (None if over else b"".join(chunks)), size


async def _ingest_body(request: Request, model: type[schema.BaseModel]) -> dict[str, Any]:
    """Authorise (before reading a byte of the body), read within the time and size limits, parse, validate."""
    st = _state(request)
    if not st.authorized(request):
        raise ApiError(401, "missing or invalid API key")
    try:
        raw, size = await asyncio.wait_for(_read_body(request, st.max_body_bytes), st.body_timeout_s)
    except asyncio.TimeoutError:
        raise ApiError(408, f"request body not received within {st.body_timeout_s:g} s") from None
    if raw is None:
        raise ApiError(413, f"request body of {size} bytes exceeds {st.max_body_bytes}")
    if not raw.strip():
        raise ApiError(400, "body must be a JSON object")
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "malformed JSON body")
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    # Lone surrogates replaced and nesting capped (as the normaliser would): then the model judges the rest.
    body = _clean_strings(body)
    try:
        schema.validate(model, body)
    except schema.BodyError as exc:
        raise ApiError(400, exc.message) from None
    return body


def _clean_strings(value: Any, depth: int = 0) -> Any:
    """Parsed JSON with lone surrogates replaced (pydantic refuses them) and nesting cut at MAX_DEPTH."""
    if type(value) is str:
        return value if value.isascii() else clean_text(value)
    if isinstance(value, list):
        return DEPTH_MARKER if depth >= MAX_DEPTH else [_clean_strings(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return DEPTH_MARKER
        return {clean_text(k): _clean_strings(v, depth + 1) for k, v in value.items()}
    return value


def session_id_for(idempotency_key: str | None) -> str:
    """The store id for a new session: the client's Idempotency-Key (its own session id) when usable.

    Using the key makes a retried create land on the same session. A key that is not a plain id (too
    long, odd characters) is hashed so it still maps to one stable id; no key gets a fresh ``sess_`` id.
    """
    if idempotency_key:
        if _SESSION_ID_RE.fullmatch(idempotency_key):
            return idempotency_key
        return "sess_" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:24]
    return "sess_" + secrets.token_hex(12)


def _event_id_for(body: dict[str, Any], idempotency_key: str | None) -> str:
    raw = body.get("eventId") or idempotency_key
    if not raw:
        return "evt_" + secrets.token_hex(12)
    raw = clean_text(raw)
    if len(raw) > _MAX_EVENT_ID:
        return "evt_" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]
    return str(raw)


# --- ingestion handlers --------------------------------------------------------------------------------


async def create_session(request: Request) -> Response:
    st = _state(request)
    body = await _ingest_body(request, schema.SessionCreate)
    name = clean_text(body["name"])
    parent = body.get("parentSessionId")
    if parent is not None:
        parent = clean_text(parent)
    if parent is not None and await st.call(st.store.get_session, parent) is None:
        raise ApiError(404, f"parent session {parent!r} not found")
    # Not part of the public API: a client may say when the session really started (else: now).
    started = wire.parse_iso(body["startedAt"]) if body.get("startedAt") is not None else time.time()
    if started is None:
        raise ApiError(400, "'startedAt' must be an ISO-8601 date-time or null")
    sid = session_id_for(request.headers.get("idempotency-key"))
    record = normalize_record(wire.record_from_session_body(body, sid, started))
    await st.call(st.store.ingest, [record])
    return JSONResponse(
        {
            "id": sid,
            "name": name,
            "agentName": record.get("agent_name"),
            "userId": record.get("user_id"),
            "status": "active",
        },
        201,
    )


async def create_event(request: Request) -> Response:
    st = _state(request)
    body = await _ingest_body(request, schema.EventCreate)
    sid = clean_text(body["sessionId"])
    session = await st.call(st.store.get_session, sid)
    if session is None:
        raise ApiError(404, f"session {sid!r} not found")
    event_id = _event_id_for(body, request.headers.get("idempotency-key"))
    record = wire.record_from_event_body(
        body, event_id, sid, int(session.get("event_count") or 0) + 1, time.time()
    )
    record = normalize_record(record)
    await st.call(st.store.ingest, [record])
    return JSONResponse({"id": event_id})


async def close_session(request: Request) -> Response:
    st = _state(request)
    sid = clean_text(request.path_params["session_id"])
    body = await _ingest_body(request, schema.SessionClose)
    session = await st.call(st.store.get_session, sid)
    if session is None:
        raise ApiError(404, f"session {sid!r} not found")
    status = body.get("status")
    # The session ends at start + duration when the client says how long it took (a retried or spooled
    # close then records the true end, not the time it reached us).
    ended = time.time()
    started = session.get("started_at")
    if isinstance(body.get("durationMs"), (int, float)) and isinstance(started, (int, float)):
        ended = float(started) + float(body["durationMs"]) / 1000.0
    record = normalize_record(wire.record_from_close_body(body, sid, ended))
    await st.call(st.store.ingest, [record])
    return JSONResponse({"id": sid, "status": status or "active"})


# --- read API --------------------------------------------------------------------------------------------


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"'{name}' must be an integer")
    return max(lo, min(hi, value))


def filter_from_query(request: Request, default_limit: int = 50) -> SessionFilter:
    """A store filter from ``status``, ``name``, ``agent``, ``meta=k=v`` (repeatable), ``limit``, ``offset``."""
    q = request.query_params
    status = q.get("status") or None
    if status is not None and status not in SESSION_STATUSES:
        raise ApiError(400, f"'status' must be one of {list(SESSION_STATUSES)}")
    meta: dict[str, str] = {}
    for item in q.getlist("meta"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ApiError(400, "'meta' must look like key=value")
        meta[key.strip()] = value
    return SessionFilter(
        status=status,
        name=q.get("name") or None,
        agent=q.get("agent") or None,
        meta=meta,
        limit=_int_param(request, "limit", default_limit, 1, MAX_PAGE_SIZE),
        offset=_int_param(request, "offset", 0, 0, 1 << 62),
    )


def _require_reader(request: Request) -> None:
    if not _state(request).authorized(request):
        raise ApiError(401, "missing or invalid API key")


def _list_data(store: Store, flt: SessionFilter) -> dict[str, Any]:
    sessions = store.list_sessions(flt)
    total = store.count_sessions(flt)
    # Sessions still running have no totals in the store yet (they are written at close): sum their events.
    running = [s for s in sessions if s.get("ended_at") is None]
    if running and _live_totals is not None:
        live = _live_totals(store, [s["id"] for s in running])
        for s in running:
            sums = live.get(s["id"])
            if not sums:
                continue
            for key in ("prompt_tokens", "completion_tokens", "total_tokens", "cost"):
                if s.get(key) is None:
                    s[key] = sums.get(key)
            end, start = sums.get("last_event_end"), s.get("started_at")
            if (
                s.get("duration_ms") is None
                and isinstance(end, (int, float))
                and isinstance(start, (int, float))
            ):
                s["duration_ms"] = max(0.0, (end - start) * 1000.0)
    return {"sessions": sessions, "total": total}


def _status_counts(store: Store, flt: SessionFilter) -> dict[str, int]:
    counts = {"all": store.count_sessions(SessionFilter(name=flt.name, agent=flt.agent, meta=flt.meta))}
    for status in SESSION_STATUSES:
        counts[status] = store.count_sessions(
            SessionFilter(status=status, name=flt.name, agent=flt.agent, meta=flt.meta)
        )
    return counts


def _session_data(store: Store, ident: str) -> dict[str, Any] | None:
    sid = store.resolve_id(ident)
    if sid is None:
        return None
    session = store.get_session(sid)
    if session is None:
        return None
    events = store.get_events(sid)
    return {"session": with_totals(session, events), "events": events}


def with_totals(session: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The session with tokens and cost summed from its LLM calls where the store has none (still running)."""
    out = dict(session)
    llm = [e for e in events if e.get("type") == "llm_call"]
    for key in ("prompt_tokens", "completion_tokens", "total_tokens", "cost"):
        if out.get(key) is None:
            values = [e[key] for e in llm if isinstance(e.get(key), (int, float))]
            out[key] = sum(values) if values else None
    if out.get("duration_ms") is None and out.get("started_at") is not None and events:
        last = max((e.get("ts") or 0) + (e.get("duration_ms") or 0) / 1000.0 for e in events)
        out["duration_ms"] = max(0.0, (last - out["started_at"]) * 1000.0)
    return out


async def api_sessions(request: Request) -> Response:
    _require_reader(request)
    st = _state(request)
    flt = filter_from_query(request)
    await st.call(st.sweep_timeouts)
    data = await st.call(_list_data, st.store, flt)
    data.update(limit=flt.limit, offset=flt.offset)
    return JSONResponse(_json_safe(data), headers={"Cache-Control": "no-store"})


async def api_session(request: Request) -> Response:
    _require_reader(request)
    st = _state(request)
    data = await st.call(_session_data, st.store, request.path_params["session_id"])
    if data is None:
        raise ApiError(404, f"session {request.path_params['session_id']!r} not found")
    return JSONResponse(_json_safe(data), headers={"Cache-Control": "no-store"})


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def openapi_doc(request: Request) -> Response:
    """The OpenAPI description of the ingestion and read APIs (public: it holds no data)."""
    from .. import __version__

    return JSONResponse(schema.openapi(__version__))


# --- pages -------------------------------------------------------------------------------------------------


def _page_auth(request: Request) -> Response | None:
    if _state(request).authorized(request):
        return None
    return HTMLResponse(
        pages.message_page(
            "Sign in required", "This dashboard needs the server's API key (as the password)."
        ),
        401,
        headers={"WWW-Authenticate": 'Basic realm="Sentrial"'},
    )


async def list_page(request: Request) -> Response:
    denied = _page_auth(request)
    if denied is not None:
        return denied
    st = _state(request)
    try:
        flt = filter_from_query(request)
    except ApiError as exc:
        return HTMLResponse(pages.message_page("Bad filter", exc.message), 400)
    await st.call(st.sweep_timeouts)
    data = await st.call(_list_data, st.store, flt)
    counts = await st.call(_status_counts, st.store, flt)
    base_url = str(request.base_url).rstrip("/")
    html = pages.list_page(
        data["sessions"],
        data["total"],
        flt,
        counts,
        base_url,
        api_key_required=st.api_key is not None,
        store_path=st.store.path,
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def session_page(request: Request) -> Response:
    denied = _page_auth(request)
    if denied is not None:
        return denied
    st = _state(request)
    ident = request.path_params["session_id"]
    data = await st.call(_session_data, st.store, ident)
    if data is None:
        return HTMLResponse(pages.message_page("Session not found", f"No session with id {ident!r}."), 404)
    return HTMLResponse(
        pages.session_page(data["session"], data["events"]), headers={"Cache-Control": "no-store"}
    )


# --- errors ------------------------------------------------------------------------------------------------


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = None
    if exc.status == 401:  # the read API shares the pages' Basic realm, so browsers reuse the password
        scheme = "Bearer" if request.url.path.startswith("/api/sdk/") else "Basic"
        headers = {"WWW-Authenticate": f'{scheme} realm="Sentrial"'}
    if not _wants_json(request):
        return HTMLResponse(
            pages.message_page(_ERROR_CODES.get(exc.status, "error"), exc.message), exc.status
        )
    return error_response(exc.status, exc.message, headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == 404:
        message = f"no route for {request.method} {request.url.path}"
    elif status == 405:
        message = f"{request.method} not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    if _wants_json(request):
        return error_response(status, message, dict(exc.headers or {}))
    return HTMLResponse(pages.message_page(f"{status}", message), status, headers=dict(exc.headers or {}))


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.error("internal error on %s %s: %r", request.method, request.url.path, exc)
    return error_response(500, "internal server error")


async def _disconnected(request: Request, exc: Exception) -> Response:
    return Response(status_code=400)


# --- middleware ---------------------------------------------------------------------------------------------


class GuardMiddleware:
    """Security headers on every answer; Host allow-list (DNS rebinding); no cross-origin writes (CSRF)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] | None) -> None:
        self.app = app
        self.allowed_hosts = {h.lower() for h in allowed_hosts} if allowed_hosts is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.allowed_hosts is not None and _host_name(host) not in self.allowed_hosts:
            await _send_plain_error(scope, receive, send, 403, f"host {host!r} is not served here")
            return
        origin = headers.get("origin")
        if (
            scope.get("method") not in ("GET", "HEAD", "OPTIONS")
            and origin
            and not _same_origin(origin, host)
        ):
            await _send_plain_error(scope, receive, send, 403, "cross-origin requests are not accepted")
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-resource-policy", b"same-origin"),
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _same_origin(origin: str, host_header: str) -> bool:
    if origin == "null":
        return False
    rest = origin.split("://", 1)[-1]
    return rest.lower() == host_header.strip().lower()


async def _send_plain_error(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    response = error_response(status, message)
    await response(scope, receive, send)


# --- app ----------------------------------------------------------------------------------------------------


def create_app(
    db_path: str,
    api_key: str | None = None,
    max_body_bytes: int = 1_000_000,
    *,
    allowed_hosts: Iterable[str] | None = LOOPBACK_HOSTS,
    body_timeout_s: float = BODY_TIMEOUT_S,
) -> Starlette:
    """The ASGI app over the store at ``db_path`` (created if missing).

    ``api_key``: when set, ingestion needs ``Authorization: Bearer <key>`` and the dashboard and read API
    need it too (Bearer, or HTTP Basic with the key as password, which browsers prompt for).
    ``body_timeout_s``: an ingestion body not fully received within this many seconds gets a 408.
    ``allowed_hosts``: Host header names accepted (loopback names by default, which defeats DNS
    rebinding); None accepts any, for a server bound to a network interface.
    Raises :class:`~sentrial_integrations.core.store.StoreError` if the store cannot be opened.
    """
    store = Store(db_path)
    state = _State(store, api_key, max_body_bytes, body_timeout_s)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(state.sweep_timeouts)
        try:
            yield
        finally:
            store.close()

    routes = [
        Route("/", list_page, methods=["GET"]),
        Route("/sessions/{session_id:str}", session_page, methods=["GET"]),
        Route("/compare", compare.compare_page, methods=["GET"]),
        Route("/api/sdk/sessions", create_session, methods=["POST"]),
        Route("/api/sdk/events", create_event, methods=["POST"]),
        Route("/api/sdk/sessions/{session_id:str}", close_session, methods=["PATCH"]),
        Route("/api/sessions", api_sessions, methods=["GET"]),
        Route("/api/sessions/{session_id:str}", api_session, methods=["GET"]),
        Route("/api/health", health, methods=["GET"]),
        Route("/openapi.json", openapi_doc, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        ApiError: _api_error,
        HTTPException: _http_error,
        ClientDisconnect: _disconnected,
        Exception: _server_error,
    }
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)  # type: ignore[arg-type]
    app.add_middleware(GuardMiddleware, allowed_hosts=allowed_hosts)
    app.state.sentrial = state
    app.state.store = store
    return app


SERVER_KEY_ENV = "SENTRIAL_SERVER_API_KEY"


def server_key(flag: str | None = None, key_file: str | None = None) -> str | None:
    """The server's API key: from ``--api-key-file``, else ``--api-key``, else ``SENTRIAL_SERVER_API_KEY``.

    Raises ValueError (one line naming the file) when the file cannot be read or is empty. A key given on
    the command line works but is logged as visible to every local user (``ps``, ``/proc/*/cmdline``).
    """
    if key_file:
        try:
            with open(key_file, encoding="utf-8") as fh:
                key = fh.readline().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(
                f"cannot read the API key file {key_file}: {getattr(exc, 'strerror', None) or exc}"
            )
        if not key:
            raise ValueError(f"the API key file {key_file} is empty")
        return key
    if flag:
        return flag.strip() or None
    return (os.environ.get(SERVER_KEY_ENV) or "").strip() or None


def uvicorn_options(header_timeout_s: float = HEADER_TIMEOUT_S, max_waiting: int = 256) -> dict[str, Any]:
    """The uvicorn settings the server runs with (also used by the tests): the header deadline protocol."""
    from .protocol import deadline_protocol

    return {"http": deadline_protocol(header_timeout_s, max_waiting), "timeout_keep_alive": 5}


def serve(
    host: str = "127.0.0.1", port: int = 8777, db: str | None = None, api_key: str | None = None
) -> None:
    """Run the dashboard and ingestion API with uvicorn until interrupted (blocking)."""
    import copy

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    path = db or default_local_path()
    loopback = _is_loopback_host(host)
    app = create_app(path, api_key=api_key, allowed_hosts=LOOPBACK_HOSTS if loopback else None)
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"][logger.name] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    logging.config.dictConfig(log_config)
    shown = f"[{host}]" if ":" in host else host
    if port:
        logger.info("Sentrial dashboard on http://%s:%s  (store: %s)", shown, port, path)
    else:
        logger.info("Sentrial dashboard starting (store: %s)", path)
    if api_key and any(api_key in arg for arg in sys.argv[1:]):
        logger.warning(
            "the API key is on the command line, where every local user can read it (ps, /proc); "
            "set %s or pass --api-key-file instead",
            SERVER_KEY_ENV,
        )
    if not loopback and api_key is None:
        logger.warning(
            "listening on %s without an API key: anyone who can reach this port can read and write sessions; "
            "pass --api-key to require one",
            host,
        )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=log_config,
        access_log=False,
        server_header=False,
        **uvicorn_options(),
    )


def _is_loopback_host(host: str) -> bool:
    return host == "localhost" or is_loopback_url(f"http://[{host}]" if ":" in host else f"http://{host}")
