"""Fixtures for the local server: the real app on uvicorn in a background thread, on a free loopback port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from sentrial_integrations.core.store import Store
from sentrial_integrations.server.app import create_app, uvicorn_options
from sentrial_integrations.server.security import HEADER_TIMEOUT_S

API_KEY = "local-test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


class LiveServer:
    """``create_app(...)`` served by uvicorn on 127.0.0.1 in a daemon thread; ready when constructed."""

    def __init__(
        self,
        db_path: str,
        header_timeout_s: float = HEADER_TIMEOUT_S,
        max_waiting: int = 256,
        **app_kwargs: Any,
    ) -> None:
        self.db_path = db_path
        self.app = create_app(db_path, **app_kwargs)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
            **uvicorn_options(header_timeout_s, max_waiting),
        )
        self._ready = threading.Event()
        ready = self._ready

        class _Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                try:
                    await super().startup(sockets)
                finally:
                    ready.set()

        self.server = _Server(config)
        self._thread = threading.Thread(target=self.server.run, name="sentrial-test-server", daemon=True)
        self._thread.start()
        if not ready.wait(30) or not self.server.started:
            self.stop()
            raise RuntimeError("uvicorn did not start")
        sock: socket.socket = self.server.servers[0].sockets[0]
        self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def store(self) -> Store:
        return self.app.state.store  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(30)


@pytest.fixture
def live_server(tmp_path) -> Iterator[Callable[..., LiveServer]]:
    """Factory: ``live_server(api_key=..., max_body_bytes=...)`` -> a started LiveServer on a fresh store."""
    started: list[LiveServer] = []

    def start(db_name: str = "served.db", **kwargs: Any) -> LiveServer:
        server = LiveServer(str(tmp_path / db_name), **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def api(live_server) -> Iterator[httpx.Client]:
    """An httpx client on a server with ``API_KEY`` and a 4 kB body limit; the server is ``api.server``."""
    server = live_server(api_key=API_KEY, max_body_bytes=4_000)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        http.server = server  # type: ignore[attr-defined]
        yield http


def assert_error(resp: httpx.Response, status: int, code: str, message_part: str = "") -> None:
    """``resp`` is the server's JSON error: ``status``, ``{"error": code, "message": ...message_part...}``."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error", "message"}
    assert body["error"] == code
    assert message_part in body["message"]
    assert "Traceback" not in resp.text
