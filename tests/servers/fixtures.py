"""Pytest fixtures for the loopback servers.

Import them into a conftest.py::

    from tests.servers.fixtures import openai_server, sentrial_api  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.openai_server import ScriptedOpenAIServer
from tests.servers.sentrial_api import SentrialAPIServer


@pytest.fixture
def sentrial_api() -> Iterator[SentrialAPIServer]:
    """A started fake Sentrial API (api_key="test-key"); stopped after the test."""
    with SentrialAPIServer() as server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[ScriptedOpenAIServer]:
    """A started scripted OpenAI-compatible server; ``OpenAI(base_url=openai_server.url, api_key="sk-test")``."""
    with ScriptedOpenAIServer() as server:
        yield server
