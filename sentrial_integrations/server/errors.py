"""How the server answers a failure: ``{"error": code, "message": text}`` (JSON under ``/api/``, a page
elsewhere) with 400 / 401 / 403 / 404 / 405 / 408 / 409 / 413 / 500 / 503, never a traceback.

Handlers raise :class:`ApiError`; :data:`EXCEPTION_HANDLERS` turns it, Starlette's HTTP errors, a client
that went away and anything unexpected into those answers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from . import pages

logger = logging.getLogger("sentrial_integrations.server")

ERROR_CODES = {
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


class ApiError(Exception):
    """Answered as ``{"error": ..., "message": ...}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": ERROR_CODES.get(status, "error"), "message": message}, status, headers)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = None
    if exc.status == 401:  # the read API shares the pages' Basic realm, so browsers reuse the password
        scheme = "Bearer" if request.url.path.startswith("/api/sdk/") else "Basic"
        headers = {"WWW-Authenticate": f'{scheme} realm="Sentrial"'}
    if not _wants_json(request):
        return HTMLResponse(pages.message_page(ERROR_CODES.get(exc.status, "error"), exc.message), exc.status)
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


#: the app's ``exception_handlers``
EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    ApiError: _api_error,
    HTTPException: _http_error,
    ClientDisconnect: _disconnected,
    Exception: _server_error,
}
