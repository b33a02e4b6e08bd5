"""Shared fixtures: a local client on a temporary store, and the loopback servers."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from sentrial_integrations import SentrialClient
from sentrial_integrations.core.api import process as client_module
from sentrial_integrations.core.store import Store

try:  # the loopback servers (tests/servers/)
    from tests.servers.fixtures import openai_server, sentrial_api  # noqa: F401
except ImportError:  # pragma: no cover - while the servers are being written
    pass


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch) -> Iterator[None]:
    """No test reads the developer's SENTRIAL_* settings or writes into the working tree."""
    for key in list(os.environ):
        if key.startswith("SENTRIAL_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SENTRIAL_LOCAL_PATH", str(tmp_path / "default.db"))
    monkeypatch.setenv("SENTRIAL_SPOOL_PATH", str(tmp_path / "spool"))
    # the per-user store (~/.local/share/sentrial) of a subprocess that drops SENTRIAL_*: a temp dir
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("SENTRIAL_SHIP_IDLE", "2")  # shipper processes of a test leave soon after it
    monkeypatch.setenv("SENTRIAL_SHIP_GIVE_UP", "60")  # ... also those left facing a backend that is gone
    client_module._reset_default_for_tests()
    yield
    default = client_module._default
    if default is not None:
        default.shutdown(2)
    client_module._reset_default_for_tests()
    _stop_shippers_of(str(tmp_path))


def _stop_shippers_of(folder: str) -> None:
    """Shipper processes of this test's outboxes end with the test: one left retrying a server that is
    gone could reach the next test's server if the port is reused."""
    import signal

    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"sentrial_integrations.core.delivery.shipper" in argv and any(
            a.startswith(folder.encode()) for a in argv
        ):
            try:
                os.kill(int(entry), signal.SIGTERM)
            except OSError:
                pass


@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "sentrial.db")


@pytest.fixture
def local_client(db_path, tmp_path) -> Iterator[SentrialClient]:
    """A client writing to a fresh embedded store; shut down after the test."""
    client = SentrialClient(local_path=db_path, spool_path=str(tmp_path / "spool"))
    yield client
    client.shutdown(5)


def read_store(client: SentrialClient) -> Store:
    """Flush the client and open its embedded store for assertions."""
    assert client.flush(10), "flush timed out"
    assert client.config.local_path is not None
    return Store(client.config.local_path)


def only_session(store: Store) -> dict:
    sessions = store.list_sessions()
    assert len(sessions) == 1, [s["name"] for s in sessions]
    return sessions[0]


@pytest.fixture
def caplog_sentrial(caplog):
    caplog.set_level(logging.WARNING, logger="sentrial_integrations")
    return caplog
