"""Migration from the official SDK (``pip install sentrial``): a script written for its documented API runs
unchanged against this package (only the import names it) and records the same sessions, calls and closes
on the (loopback) Sentrial API."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from sentrial_integrations import SentrialClient
from tests.conftest import only_session, read_store

# Written against the official SDK's documented API (sentrial 0.6: README / docstrings), nothing else.
OFFICIAL_SCRIPT = textwrap.dedent(
    """
    import os

    from sentrial import SentrialClient, begin, configure

    URL, KEY = os.environ["DEMO_API_URL"], os.environ["DEMO_API_KEY"]

    client = SentrialClient(api_url=URL, api_key=KEY, fail_silently=True)
    session_id = client.create_session(
        name="Support Request #123",
        agent_name="support-agent",
        user_id="user_123",
        metadata={"ticket": "T-1"},
    )
    client.track_tool_call(
        session_id=session_id,
        tool_name="search_kb",
        tool_input={"query": "password reset"},
        tool_output={"articles": ["KB-001"]},
        reasoning="the user asked about passwords",
    )
    client.track_decision(
        session_id=session_id,
        reasoning="send the KB article",
        alternatives=["escalate", "send_article"],
        confidence=0.85,
    )
    client.track_tool_call(
        session_id=session_id,
        tool_name="crm_lookup",
        tool_input={"customer": 7},
        tool_output={},
        tool_error={"message": "CRM timeout", "type": "TimeoutError"},
    )
    client.track_error(
        session_id=session_id,
        error_message="retry budget exhausted",
        error_type="RetryError",
        tool_name="crm_lookup",
    )
    client.complete_session(
        session_id=session_id,
        success=False,
        failure_reason="CRM down",
        custom_metrics={"customer_satisfaction": 40},
        user_input="How do I reset my password?",
        assistant_output="Sorry, please try again later.",
    )

    configure(api_key=KEY, api_url=URL)
    interaction = begin(user_id="user_7", event="chat_message", input="What is 6*7?", event_id="11111111-aaaa")
    interaction.track_tool_call(tool_name="calculator", tool_input={"expr": "6*7"}, tool_output={"value": 42})
    interaction.finish(output="42", custom_metrics={"turns": 1})

    with client.begin(user_id="user_8", event="faq", input="Opening hours?", event_id="22222222-bbbb") as it:
        it.track_decision(reasoning="a known answer", confidence=0.9)
        it.set_output("9 to 5, Monday to Friday")

    client.flush()
    client.close()
    """
)

EVENT_KEYS = (
    "eventType",
    "toolName",
    "toolInput",
    "toolOutput",
    "reasoning",
    "alternativesConsidered",
    "confidence",
)
CLOSE_KEYS = ("status", "success", "failureReason", "userInput", "assistantOutput", "customMetrics")


def _run(script: str, server: Any, tmp_path, name: str) -> None:
    path = tmp_path / f"{name}.py"
    path.write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
    env.update(
        DEMO_API_URL=server.url,
        DEMO_API_KEY="test-key",
        SENTRIAL_SPOOL_PATH=str(tmp_path / f"spool-{name}"),
        PYTHONPATH=os.getcwd(),
    )
    proc = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=60, cwd=str(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def _clean(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: d[k] for k in keys if d.get(k) is not None}


def _recorded(server: Any) -> list[dict[str, Any]]:
    """What the API received, in the fields both SDKs send (each SDK adds its own extras)."""
    out = []
    for s in server.sessions.values():
        body = s["body"]
        events = []
        for e in s["events"]:
            ev = _clean(e, EVENT_KEYS)
            if e.get("toolError"):
                ev["toolError"] = {k: e["toolError"].get(k) for k in ("message", "type")}
            events.append(ev)
        out.append(
            {
                "name": body.get("name"),
                "agentName": body.get("agentName"),
                "userId": body.get("userId"),
                "metadata": body.get("metadata") or {},
                "events": events,
                "closes": [_clean(c, CLOSE_KEYS) for c in s["closes"]],
            }
        )
    return sorted(out, key=lambda s: s["name"])


def test_an_official_sdk_script_runs_unchanged_and_records_the_same_sessions(tmp_path):
    pytest.importorskip("sentrial")
    from tests.servers.sentrial_api import SentrialAPIServer

    ours_script = OFFICIAL_SCRIPT.replace("from sentrial import", "from sentrial_integrations import")
    assert ours_script.count("sentrial_integrations") == 1  # the import is the only change
    with SentrialAPIServer() as official, SentrialAPIServer() as ours:
        _run(OFFICIAL_SCRIPT, official, tmp_path, "official")
        _run(ours_script, ours, tmp_path, "ours")
        expected, got = _recorded(official), _recorded(ours)

    assert [s["name"] for s in expected] == [
        "Support Request #123",
        "chat_message:11111111",
        "faq:22222222",
    ]
    assert got == expected
    support = expected[0]
    assert [e["eventType"] for e in support["events"]] == ["tool_call", "llm_decision", "tool_call", "error"]
    assert support["closes"] == [
        {
            "status": "failed",
            "success": False,
            "failureReason": "CRM down",
            "userInput": "How do I reset my password?",
            "assistantOutput": "Sorry, please try again later.",
            "customMetrics": {"customer_satisfaction": 40},
        }
    ]
    chat = expected[1]
    assert chat["metadata"] == {"input": "What is 6*7?", "event_id": "11111111-aaaa"}
    assert chat["closes"][0]["userInput"] == "What is 6*7?" and chat["closes"][0]["assistantOutput"] == "42"


def test_official_names_map_onto_ours_in_the_store(local_client):
    sid = local_client.create_session(name="mapped", agent_name="a", user_id="u")
    local_client.track_tool_call(
        session_id=sid,
        tool_name="t",
        tool_input={"x": 1},
        tool_output={"y": 2},
        estimated_cost=0.5,
        token_count=12,
        trace_id="tr-1",
    )
    local_client.track_error(session_id=sid, error_message="boom", error_type="E", stack_trace="line 1")
    local_client.update_state("step", "searching")  # no current session: only the thread's state
    assert local_client.current_state == {"step": "searching"}
    local_client.complete_session(session_id=sid, success=True, estimated_cost=1.25, duration_ms=1500)
    store = read_store(local_client)
    s = only_session(store)
    assert s["status"] == "success" and s["cost"] == 1.25 and s["duration_ms"] == 1500
    tool, err = store.get_events(sid)
    assert tool["metadata"] == {"estimated_cost": 0.5, "token_count": 12, "trace_id": "tr-1"}
    assert err["error"]["message"] == "boom" and err["error"]["type"] == "E"
    assert err["error"]["stack_trace"] == "line 1"


def test_begin_makes_the_session_current_and_update_state_records_changes(local_client):
    with local_client.begin(user_id="u1", event="chat", input="hi") as it:
        local_client.update_state("mood", "happy")
        it.set_output("hello")
    store = read_store(local_client)
    s = only_session(store)
    assert s["name"].startswith("chat:") and s["agent_name"] == "chat" and s["user_id"] == "u1"
    assert s["user_input"] == "hi" and s["output"] == "hello" and s["status"] == "success"
    (change,) = store.get_events(s["id"])
    assert change["type"] == "state_change"
    assert change["input"] == {"input": "hi"} and change["output"] == {"input": "hi", "mood": "happy"}


def test_failed_interaction_and_misuse_never_raise(local_client, recwarn):
    with pytest.raises(KeyError), local_client.begin(user_id="u1", event="chat"):
        raise KeyError("lost")
    assert local_client.track_tool_call("ses_nope", "t", no_such_kwarg=1) is None
    client = SentrialClient(
        api_url="https://api.example.invalid", api_key="k", pii=True, batching=True, disabled=True
    )
    assert client.config.base_url == "https://api.example.invalid" and client.config.redact_pii is True
    assert SentrialClient.calculate_openai_cost("gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)
    assert SentrialClient.calculate_anthropic_cost("no-such-model", 10, 10) == 0.0
    client.close()
    s = only_session(read_store(local_client))
    assert s["status"] == "failure" and s["failure_reason"] == "KeyError: 'lost'"
