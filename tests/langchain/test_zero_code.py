"""Tracing without a handler in the code: ``SENTRIAL_TRACING=true`` (subprocess, nothing of ours
imported by the program) and the ``tracing()`` block."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from langchain.agents import create_agent

from sentrial_integrations import get_client
from sentrial_integrations.core.store import Store
from sentrial_integrations.langchain import SentrialCallbackHandler, tracing
from sentrial_integrations.zerocode.autoload import PTH_LINE
from tests.conftest import only_session, read_store

from .fakes import ChatEcho, brief, get_weather

REPO = Path(__file__).resolve().parents[2]

PROGRAM = textwrap.dedent(
    '''
    import sys
    assert "sentrial_integrations.langchain.hook" not in sys.modules  # nothing loaded before LangChain

    from langchain.agents import create_agent
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool


    class ChatFake(GenericFakeChatModel):
        model: str = "fake-1"

        def bind_tools(self, tools, **kwargs):
            return self


    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"


    for city in ("Paris", "Oslo"):
        model = ChatFake(messages=iter([
            AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": city}, "id": "c1"}],
                      usage_metadata={"input_tokens": 10, "output_tokens": 3, "total_tokens": 13}),
            AIMessage(f"sunny in {city}", usage_metadata={"input_tokens": 20, "output_tokens": 4, "total_tokens": 24}),
        ]))
        agent = create_agent(model, [get_weather], name="plain_agent")
        result = agent.invoke({"messages": [("user", f"weather in {city}?")]}, {"metadata": {"city": city}})
        print(result["messages"][-1].content)
    '''
)


def _run_program(tmp_path: Path, tracing_value: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run PROGRAM in a fresh interpreter whose start-up runs the package's .pth line."""
    site = tmp_path / "site"
    site.mkdir()
    # A .pth line is executed by site.py at start-up; sitecustomize runs the same line the same way.
    (site / "sitecustomize.py").write_text(PTH_LINE + "\n")
    (tmp_path / "program.py").write_text(PROGRAM)
    db = tmp_path / "zero.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
    env.update(
        SENTRIAL_TRACING=tracing_value,
        SENTRIAL_LOCAL_PATH=str(db),
        SENTRIAL_SPOOL_PATH=str(tmp_path / "spool"),
        PYTHONPATH=os.pathsep.join([str(site), str(REPO)]),
    )
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "program.py")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc, db


def test_env_var_traces_every_run_with_no_code_change(tmp_path):
    proc, db = _run_program(tmp_path, "true")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["sunny", "in", "Paris", "sunny", "in", "Oslo"]
    store = Store(str(db))
    sessions = sorted(store.list_sessions(), key=lambda s: s["started_at"])
    assert [(s["name"], s["status"], s["metadata"]) for s in sessions] == [
        ("plain_agent", "success", {"city": "Paris"}),
        ("plain_agent", "success", {"city": "Oslo"}),
    ]
    for s, city in zip(sessions, ("Paris", "Oslo"), strict=True):
        events = store.get_events(s["id"])
        assert [brief(e) for e in events] == [
            ("llm_call", "llm:fake:fake-1"),
            ("decision", "decision"),
            ("tool_call", "get_weather"),
            ("llm_call", "llm:fake:fake-1"),
        ]
        assert events[2]["input"] == {"city": city}
        assert (s["prompt_tokens"], s["completion_tokens"], s["output"]) == (30, 7, f"sunny in {city}")


def test_env_var_false_records_nothing(tmp_path):
    proc, db = _run_program(tmp_path, "false")
    assert proc.returncode == 0, proc.stderr
    assert not db.exists()


def test_env_var_in_process_and_an_explicit_handler_is_not_doubled(monkeypatch, local_client):
    monkeypatch.setenv("SENTRIAL_TRACING", "true")
    agent = create_agent(ChatEcho(), [get_weather], name="echo_agent")
    agent.invoke({"messages": [("user", "weather in Oslo")]})  # default client (SENTRIAL_LOCAL_PATH)
    agent.invoke(
        {"messages": [("user", "weather in Lima")]}, {"callbacks": [SentrialCallbackHandler(local_client)]}
    )
    default_store = read_store(get_client())
    s = only_session(default_store)
    assert [e["input"] for e in default_store.get_events(s["id"]) if e["type"] == "tool_call"] == [
        {"city": "Oslo"}
    ]
    explicit = read_store(local_client)
    s2 = only_session(explicit)
    assert s2["event_count"] == 4


def test_tracing_block(local_client):
    agent = create_agent(ChatEcho(), [get_weather], name="echo_agent")
    with tracing(local_client, session_name="in block", metadata={"k": "v"}) as handler:
        assert isinstance(handler, SentrialCallbackHandler)
        agent.invoke({"messages": [("user", "weather in Oslo")]})
        # an explicit handler inside the block is used instead, not in addition
        agent.invoke({"messages": [("user", "weather in Rome")]}, {"callbacks": [handler]})
    agent.invoke({"messages": [("user", "weather in Lima")]})  # outside: not recorded
    store = read_store(local_client)
    sessions = store.list_sessions()
    assert sorted((s["name"], s["event_count"]) for s in sessions) == [("in block", 4), ("in block", 4)]
    assert all(s["metadata"] == {"k": "v"} for s in sessions)
    cities = sorted(
        e["input"]["city"] for s in sessions for e in store.get_events(s["id"]) if e["type"] == "tool_call"
    )
    assert cities == ["Oslo", "Rome"]


async def test_tracing_block_async(local_client):
    agent = create_agent(ChatEcho(), [get_weather], name="echo_agent")
    with tracing(local_client):
        await agent.ainvoke({"messages": [("user", "weather in Oslo")]})
    store = read_store(local_client)
    s = only_session(store)
    assert (s["name"], s["status"], s["event_count"]) == ("echo_agent", "success", 4)
