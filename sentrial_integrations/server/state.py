"""What the request handlers share: the store and the server's settings (``app.state.sentrial``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ..core.store import Store, StoreError
from .errors import ApiError
from .security import key_matches

logger = logging.getLogger("sentrial_integrations.server")

TIMEOUT_SWEEP_EVERY_S = 60.0


class ServerState:
    """The store, the API key and the ingestion limits of one app."""

    def __init__(
        self, store: Store, api_key: str | None, max_body_bytes: int, body_timeout_s: float = 30.0
    ) -> None:
        self.store = store
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.last_sweep = 0.0

    def authorized(self, request: Request) -> bool:
        """No key configured, or the request carries it (see :func:`.security.key_matches`)."""
        if self.api_key is None:
            return True
        return key_matches(self.api_key, request.headers.get("authorization", ""))

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a store call in a worker thread (the store serialises them); store failures become 503."""
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


def server_state(request: Request) -> ServerState:
    """The state of the app serving ``request``."""
    state: ServerState = request.app.state.sentrial
    return state
