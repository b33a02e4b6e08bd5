"""uvicorn's HTTP protocol with a deadline for the request head (slowloris).

uvicorn has no timeout for receiving a request: its keep-alive timer only runs between requests and is reset
by every byte received, so a client trickling a header byte at a time holds a connection (and a file
descriptor) for ever. This protocol arms a timer when a connection opens and again when a response
completes; if no complete request head (request line and headers) has arrived when it fires, the connection
is closed. Once a request's head is in, the application's own body timeout applies (see ``ingest.py``). And at
most ``max_waiting`` connections may wait for their head at once: past that, the one that has waited longest
is closed, so a flood of idle connections cannot use up the file descriptors within the deadline.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

logger = logging.getLogger("sentrial_integrations.server")


class _DeadlineProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    header_timeout_s = 10.0
    max_waiting = 256
    # connections waiting for a request head, oldest first (one dict per server: see deadline_protocol)
    waiting: dict[_DeadlineProtocol, None]
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            self.waiting.pop(self, None)  # its head is in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.waiting.pop(self, None)
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout_s, self._expired)
        self.waiting[self] = None
        # Past the cap, the connection that has waited longest goes: a flood of idle connections cannot
        # use up the file descriptors before the deadline catches them.
        while len(self.waiting) > self.max_waiting:
            oldest = next(iter(self.waiting))
            del self.waiting[oldest]
            if oldest is not self:
                oldest._disarm()
                oldest.transport.close()

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


def deadline_protocol(header_timeout_s: float, max_waiting: int = 256) -> type[asyncio.Protocol]:
    """A uvicorn HTTP protocol class closing connections with no complete request head within the timeout,
    and the longest-waiting one when more than ``max_waiting`` connections wait for their request head."""
    attrs = {"header_timeout_s": float(header_timeout_s), "max_waiting": int(max_waiting), "waiting": {}}
    return type("SentrialHTTPProtocol", (_DeadlineProtocol,), attrs)
