"""Fixtures: one recorded LangChain agent run in a temporary store."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import read_store

from .helpers import run, script_weather, weather_agent


@dataclass
class Recorded:
    session_id: str
    store_path: str
    url: str  # the scripted server's address (stopped unless the test restarts it)


@pytest.fixture
def recorded(local_client, openai_server) -> Recorded:
    """A ``create_agent`` run recorded against the scripted server (left running, its log cleared)."""
    script_weather(openai_server)
    result = run(weather_agent(openai_server.url), local_client)
    assert result["messages"][-1].content.startswith("It is sunny")
    store = read_store(local_client)
    (session,) = store.list_sessions()
    store.close()
    openai_server.reset()
    return Recorded(session["id"], local_client.config.local_path, openai_server.url)


def assert_no_server(url: str) -> None:
    import httpx

    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/models", timeout=2)
