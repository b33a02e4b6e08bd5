"""uvicorn's HTTP protocol with a deadline for the request head (slowloris).

uvicorn has no timeout for receiving a request: its keep-alive timer only runs between requests and is reset
by every byte received, so a client trickling a header byte at a time holds a connection (and a file
descriptor) for ever. This protocol arms a timer when a connection opens and again when a response
completes; if no complete request head (request line and headers) has arrived when it fires, the connection
is closed. Once a request's head is in, the application's own body timeout applies (see ``app.py``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

logger = logging.getLogger("sentrial_integrations.server")


class _DeadlineProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    header_timeout_s = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            return  # a request's head is in and it is being served
        logger.debug("closing a connection that sent no complete request within %gs", self.header_timeout_s)
        self.transport.close()


def deadline_protocol(header_timeout_s: float) -> type[asyncio.Protocol]:
    """A uvicorn HTTP protocol class closing connections with no complete request head within the timeout."""
    return type("SentrialHTTPProtocol", (_DeadlineProtocol,), {"header_timeout_s": float(header_timeout_s)})
