"""``sentrial_integrations.langchain.instrument()`` / ``uninstrument()``: the LangChain Integration
(idempotent, version-gated, importing nothing of LangChain)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from langchain.agents import create_agent

import sentrial_integrations.langchain as lc
from sentrial_integrations import get_client
from sentrial_integrations.core.config import SentrialConfigWarning
from sentrial_integrations.langchain.integration import INTEGRATION, LangChainIntegration
from sentrial_integrations.zerocode import autoload
from tests.conftest import read_store

from .fakes import ChatEcho, brief, get_weather

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _not_instrumented() -> Iterator[None]:
    """Every test starts and ends with LangChain not instrumented."""
    INTEGRATION.uninstrument()
    autoload.set_process_wide(False)
    yield
    INTEGRATION.uninstrument()
    autoload.set_process_wide(False)


def _cities(store) -> list[str]:
    return sorted(
        e["input"]["city"]
        for s in store.list_sessions()
        for e in store.get_events(s["id"])
        if e["type"] == "tool_call"
    )


def test_the_integration_names_langchain_core_and_its_supported_versions():
    assert isinstance(INTEGRATION, LangChainIntegration)
    assert (INTEGRATION.name, INTEGRATION.distribution, INTEGRATION.supported) == (
        "langchain",
        "langchain-core",
        ("1.4", "2"),
    )
    assert INTEGRATION.installed_version() == metadata.version("langchain-core")
    assert INTEGRATION.unsupported() is None  # the installed langchain-core is a supported one


def test_instrument_traces_every_run_and_is_idempotent():
    agent = create_agent(ChatEcho(), [get_weather], name="echo_agent")
    agent.invoke({"messages": [("user", "weather in Oslo")]})  # not instrumented: not recorded

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a supported version: no warning
        assert lc.instrument() is True
        assert lc.instrument() is True  # a second call changes nothing
    assert INTEGRATION.instrumented and autoload.process_wide()
    agent.invoke({"messages": [("user", "weather in Rome")]})  # one handler per run, not two

    lc.uninstrument()
    lc.uninstrument()  # idempotent
    assert not INTEGRATION.instrumented and not autoload.process_wide()
    agent.invoke({"messages": [("user", "weather in Lima")]})  # not recorded any more

    assert lc.instrument() is True  # and again after uninstrument()
    agent.invoke({"messages": [("user", "weather in Kyiv")]})
    lc.uninstrument()

    store = read_store(get_client())  # the runs' handlers record into the default client
    assert _cities(store) == ["Kyiv", "Rome"]
    sessions = store.list_sessions()
    assert [(s["name"], s["status"], s["event_count"]) for s in sessions] == [
        ("echo_agent", "success", 4)
    ] * 2
    for s in sessions:
        assert [brief(e)[0] for e in store.get_events(s["id"])] == [
            "llm_call",
            "decision",
            "tool_call",
            "llm_call",
        ]


@pytest.mark.parametrize("supported", [("99", None), ("1.0", "1.4")], ids=["too old", "too new"])
def test_an_unsupported_version_is_left_alone_with_one_warning(supported, monkeypatch):
    found = metadata.version("langchain-core")
    monkeypatch.setattr(INTEGRATION, "supported", supported)  # the installed version is outside
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert lc.instrument() is False
    (warning,) = caught
    assert warning.category is SentrialConfigWarning
    span = f">={supported[0]}" + (f",<{supported[1]}" if supported[1] else "")
    assert str(warning.message) == (
        f"Sentrial: langchain-core {found} is not supported by the langchain integration "
        f"(supported: {span}); it was not instrumented and nothing of it will be recorded"
    )
    assert warning.filename == __file__  # it points at the caller of instrument()
    # nothing instrumented: the process-wide hook stays off and a run records nothing
    assert not INTEGRATION.instrumented and not autoload.process_wide()
    agent = create_agent(ChatEcho(), [get_weather], name="echo_agent")
    agent.invoke({"messages": [("user", "weather in Oslo")]})
    lc.uninstrument()  # nothing to undo
    assert not autoload.process_wide()
    assert read_store(get_client()).list_sessions() == []


def test_a_subclass_outside_its_versions_instruments_nothing():
    class Gated(LangChainIntegration):
        supported = ("0", "1.0")

    gated = Gated()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert gated.instrument() is False
        assert gated.instrument() is False  # still refused, warned again (not instrumented)
    assert [w.category for w in caught] == [SentrialConfigWarning] * 2
    assert metadata.version("langchain-core") in str(caught[0].message)
    assert not gated.instrumented and not INTEGRATION.instrumented and not autoload.process_wide()


def test_importing_and_instrumenting_import_nothing_of_langchain(tmp_path):
    program = textwrap.dedent(
        """
        import sys
        from sentrial_integrations.langchain.integration import INTEGRATION
        import sentrial_integrations.langchain as lc
        assert lc.instrument() is True
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("langchain", "langchain_core", "langgraph"))
        assert loaded == [], loaded
        assert "sentrial_integrations.langchain.handler" not in sys.modules
        lc.uninstrument()
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"
