"""The ingestion API: the Sentrial public SDK API, what :class:`~sentrial_integrations.SentrialClient`
sends over HTTP.

- ``POST /api/sdk/sessions``            create a session -> 201 ``{id, name, agentName, userId, status}``
- ``POST /api/sdk/events``              add an event     -> 200 ``{id}``
- ``PATCH /api/sdk/sessions/{id}``      close a session  -> 200 ``{id, status}``

Bodies are authorised before they are read, read within a deadline (408) and a size limit (413),
validated by one pydantic model per route (a 400 naming the field, :mod:`.schema`) and turned into records
by :mod:`~sentrial_integrations.core.exporters.wire` and the normaliser the client uses
(``core/record/normalize.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..core.exporters import wire
from ..core.record.normalize import DEPTH_MARKER, MAX_DEPTH, clean_text, normalize_record
from . import schema
from .errors import ApiError
from .security import read_body
from .state import server_state

_SESSION_ID_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,127}")
_MAX_EVENT_ID = 256


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def _ingest_body(request: Request, model: type[schema.BaseModel]) -> dict[str, Any]:
    """Authorise (before reading a byte of the body), read within the time and size limits, parse, check."""
    st = server_state(request)
    if not st.authorized(request):
        raise ApiError(401, "missing or invalid API key")
    try:
        raw, size = await asyncio.wait_for(read_body(request, st.max_body_bytes), st.body_timeout_s)
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


async def create_session(request: Request) -> Response:
    st = server_state(request)
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
    st = server_state(request)
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
    st = server_state(request)
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
