"""The local Sentrial server: the Starlette app over one store file, and :func:`serve` (uvicorn).

Routes
------
- ingestion, the Sentrial public SDK API (:mod:`.ingest`): ``POST /api/sdk/sessions``,
  ``POST /api/sdk/events``, ``PATCH /api/sdk/sessions/{id}``
- the read API (:mod:`.read_api`): ``GET /api/sessions``, ``GET /api/sessions/{id}``, ``GET /api/health``,
  ``GET /openapi.json``
- pages (:mod:`.dashboard`, :mod:`.compare`): ``/`` (session list), ``/sessions/{id}`` and
  ``/compare?a=…&b=…``; ``/static/*`` their script and stylesheets

Every answer passes :class:`.security.GuardMiddleware` (Host allow-list, no cross-origin writes, security
headers); errors are answered by :mod:`.errors`. Every store call runs in a worker thread (the store
serialises them with its own lock).
"""

from __future__ import annotations

import logging
import logging.config
import os
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..core.config import default_local_path
from ..core.store import Store
from . import compare, dashboard, ingest, pages, read_api
from .errors import EXCEPTION_HANDLERS
from .security import BODY_TIMEOUT_S, HEADER_TIMEOUT_S, LOOPBACK_HOSTS, GuardMiddleware, is_loopback_host
from .state import ServerState

logger = logging.getLogger("sentrial_integrations.server")


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
    state = ServerState(store, api_key, max_body_bytes, body_timeout_s)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(state.sweep_timeouts)
        try:
            yield
        finally:
            store.close()

    routes = [
        Route("/", dashboard.list_page, methods=["GET"]),
        Route("/sessions/{session_id:str}", dashboard.session_page, methods=["GET"]),
        Route("/compare", compare.compare_page, methods=["GET"]),
        Route("/api/sdk/sessions", ingest.create_session, methods=["POST"]),
        Route("/api/sdk/events", ingest.create_event, methods=["POST"]),
        Route("/api/sdk/sessions/{session_id:str}", ingest.close_session, methods=["PATCH"]),
        Route("/api/sessions", read_api.api_sessions, methods=["GET"]),
        Route("/api/sessions/{session_id:str}", read_api.api_session, methods=["GET"]),
        Route("/api/health", read_api.health, methods=["GET"]),
        Route("/openapi.json", read_api.openapi_doc, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=str(pages.STATIC_DIR)), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
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
    loopback = is_loopback_host(host)
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
