"""The server's defences: the API key check, the Host allow-list (DNS rebinding), no cross-origin writes
(CSRF), security headers on every answer, and the limits on what a client may send and how slowly.

The header deadline itself (slowloris) is uvicorn's protocol in :mod:`.protocol`; :data:`HEADER_TIMEOUT_S`
is its default.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.config import is_loopback_url
from .errors import error_response

#: the Host names a loopback-bound server accepts
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
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


def key_matches(api_key: str, authorization: str) -> bool:
    """``authorization`` is ``Bearer <key>`` or HTTP Basic with the key as password (constant-time)."""
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    expected = api_key.encode("utf-8")
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


async def read_body(request: Request, limit: int) -> tuple[bytes | None, int]:
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
        if self.allowed_hosts is not None and host_name(host) not in self.allowed_hosts:
            await error_response(403, f"host {host!r} is not served here")(scope, receive, send)
            return
        origin = headers.get("origin")
        if scope.get("method") not in ("GET", "HEAD", "OPTIONS") and origin and not same_origin(origin, host):
            await error_response(403, "cross-origin requests are not accepted")(scope, receive, send)
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


def host_name(host_header: str) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower-cased."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def same_origin(origin: str, host_header: str) -> bool:
    """An Origin header naming the host the request was sent to (``null`` never is)."""
    if origin == "null":
        return False
    rest = origin.split("://", 1)[-1]
    return rest.lower() == host_header.strip().lower()


def is_loopback_host(host: str) -> bool:
    """A bind address only this machine can reach (then the Host allow-list applies)."""
    return host == "localhost" or is_loopback_url(f"http://[{host}]" if ":" in host else f"http://{host}")
