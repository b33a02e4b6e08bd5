"""Fixtures for the OpenAI integration tests: SDK clients pointed at the scripted loopback server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openai import OpenAI

from sentrial_integrations.openai import is_instrumented, uninstrument_openai


@pytest.fixture
def make_oai(openai_server) -> Callable[..., Any]:
    """``make_oai()`` → a fresh OpenAI client (or ``make_oai(AsyncOpenAI)``) on the scripted server, no retries."""

    def make(cls: type = OpenAI, **kw: Any) -> Any:
        kw.setdefault("max_retries", 0)
        kw.setdefault("api_key", "sk-test")
        kw.setdefault("base_url", openai_server.url)
        return cls(**kw)

    return make


@pytest.fixture(autouse=True)
def _no_leftover_instrumentation() -> Iterator[None]:
    yield
    if is_instrumented():
        uninstrument_openai()
