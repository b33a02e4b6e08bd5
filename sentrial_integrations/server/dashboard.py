"""The dashboard's page routes: ``/`` (session list) and ``/sessions/{id}`` (header, timeline, event
detail, replay), rendered by :mod:`.pages` from the read API's data; ``/compare`` is :mod:`.compare`.

With an API key set, a page asks for it as the password of HTTP Basic (the browser prompts once).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from . import pages
from .errors import ApiError
from .read_api import filter_from_query, list_data, session_data, status_counts
from .state import server_state


def page_auth(request: Request) -> Response | None:
    """None when the request may see the pages, else the 401 page asking for the key."""
    if server_state(request).authorized(request):
        return None
    return HTMLResponse(
        pages.message_page(
            "Sign in required", "This dashboard needs the server's API key (as the password)."
        ),
        401,
        headers={"WWW-Authenticate": 'Basic realm="Sentrial"'},
    )


async def list_page(request: Request) -> Response:
    denied = page_auth(request)
    if denied is not None:
        return denied
    st = server_state(request)
    try:
        flt = filter_from_query(request)
    except ApiError as exc:
        return HTMLResponse(pages.message_page("Bad filter", exc.message), 400)
    await st.call(st.sweep_timeouts)
    data = await st.call(list_data, st.store, flt)
    counts = await st.call(status_counts, st.store, flt)
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
    denied = page_auth(request)
    if denied is not None:
        return denied
    st = server_state(request)
    ident = request.path_params["session_id"]
    data = await st.call(session_data, st.store, ident)
    if data is None:
        return HTMLResponse(pages.message_page("Session not found", f"No session with id {ident!r}."), 404)
    return HTMLResponse(
        pages.session_page(data["session"], data["events"]), headers={"Cache-Control": "no-store"}
    )
