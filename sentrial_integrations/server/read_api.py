"""The read API behind the dashboard pages (JSON, no caching), and the data the pages are drawn from.

- ``GET /api/sessions``        sessions, newest first: ``status``, ``name``, ``agent``, ``meta=k=v``
  (repeatable), ``limit``, ``offset`` -> ``{sessions, total, limit, offset}``
- ``GET /api/sessions/{id}``   one session (by id or unique prefix) and its events -> ``{session, events}``
- ``GET /api/health``          ``{ok: true}``
- ``GET /openapi.json``        the OpenAPI description of the ingestion and read APIs (see :mod:`.schema`)
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..core.model import ALL_STATUSES
from ..core.record.normalize import clean_value
from ..core.store import SessionFilter, Store, live_totals
from . import schema
from .errors import ApiError
from .state import server_state

MAX_PAGE_SIZE = 500


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
    """A store filter: ``status``, ``name``, ``agent``, ``meta=k=v`` (repeatable), ``limit``, ``offset``."""
    q = request.query_params
    status = q.get("status") or None
    if status is not None and status not in ALL_STATUSES:
        raise ApiError(400, f"'status' must be one of {list(ALL_STATUSES)}")
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


def list_data(store: Store, flt: SessionFilter) -> dict[str, Any]:
    """``{sessions, total}`` for ``flt``; sessions still running get totals summed from their events."""
    sessions = store.list_sessions(flt)
    total = store.count_sessions(flt)
    # Sessions still running have no totals in the store yet (they are written at close): sum their events.
    running = [s for s in sessions if s.get("ended_at") is None]
    if running:
        live = live_totals(store, [s["id"] for s in running])
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


def status_counts(store: Store, flt: SessionFilter) -> dict[str, int]:
    """How many sessions match ``flt`` with each status (``all``: any), ignoring its status and paging."""
    counts = {"all": store.count_sessions(SessionFilter(name=flt.name, agent=flt.agent, meta=flt.meta))}
    for status in ALL_STATUSES:
        counts[status] = store.count_sessions(
            SessionFilter(status=status, name=flt.name, agent=flt.agent, meta=flt.meta)
        )
    return counts


def session_data(store: Store, ident: str) -> dict[str, Any] | None:
    """``{session, events}`` for a session id or unique prefix; None when there is none."""
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


def _require_reader(request: Request) -> None:
    if not server_state(request).authorized(request):
        raise ApiError(401, "missing or invalid API key")


async def api_sessions(request: Request) -> Response:
    _require_reader(request)
    st = server_state(request)
    flt = filter_from_query(request)
    await st.call(st.sweep_timeouts)
    data = await st.call(list_data, st.store, flt)
    data.update(limit=flt.limit, offset=flt.offset)
    return JSONResponse(clean_value(data), headers={"Cache-Control": "no-store"})


async def api_session(request: Request) -> Response:
    _require_reader(request)
    st = server_state(request)
    data = await st.call(session_data, st.store, request.path_params["session_id"])
    if data is None:
        raise ApiError(404, f"session {request.path_params['session_id']!r} not found")
    return JSONResponse(clean_value(data), headers={"Cache-Control": "no-store"})


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def openapi_doc(request: Request) -> Response:
    """The OpenAPI description of the ingestion and read APIs (public: it holds no data)."""
    from .. import __version__

    return JSONResponse(schema.openapi(__version__))
