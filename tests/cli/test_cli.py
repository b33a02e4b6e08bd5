"""The ``sentrial-integrations`` CLI, run as a real subprocess (and in-process through ``main(argv)``)
on SQLite stores filled through the public client API.

Times are deterministic: the client's clock (``core.client._time_ns``) is pinned while the store is
built, and every event gets an explicit ``start_time``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sentrial_integrations import SentrialClient
from sentrial_integrations import cli as cli_module
from sentrial_integrations.cli import context as cli_context
from sentrial_integrations.cli import fmt_cost, fmt_ms, main, parse_duration, parse_when, percentile
from sentrial_integrations.cli import serve as cli_serve
from sentrial_integrations.cli import stats as cli_stats
from sentrial_integrations.core.api import client as client_module
from sentrial_integrations.core.store import Store

SNAPSHOT = Path(__file__).parent / "show_timeline.txt"
T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
HUGE = "x" * 5_000_000
NOW = time.time()


class PinnedClock:
    """Stands in for the client's ``time.time_ns`` while a store is built."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> int:
        return round(self.t * 1e9)


def _boom() -> ConnectionError:
    try:
        raise ConnectionError("SMTP server unreachable")
    except ConnectionError as exc:
        return exc


def _build(path: str, spool: str) -> dict[str, str]:
    """Fill a store through the client API; returns the session ids by role."""
    clock = PinnedClock()
    ids: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("SENTRIAL_"):
                mp.delenv(key)
        mp.setattr(client_module, "_time_ns", clock)
        client = SentrialClient(local_path=path, spool_path=spool)
        try:
            # 1. the timeline session (fixed date, nested steps, an error, unicode)
            clock.t = T0
            sid = client.create_session(
                "Support – Password Reset 🔑",
                metadata={"ticket": "T-1", "env": "prod", "user_id": "u_123"},
                agent_name="support-bot",
            )
            ids["support"] = sid
            client.track_llm_call(
                sid,
                "gpt-4o-mini",
                provider="openai",
                messages=[
                    {"role": "system", "content": "You are a support agent."},
                    {"role": "user", "content": "Réinitialiser mon mot de passe 🙏"},
                ],
                response="Je vais chercher la procédure.",
                prompt_tokens=120,
                completion_tokens=30,
                cost=0.000036,
                duration_ms=820,
                span_id="llm-1",
                start_time=T0 + 0.010,
            )
            client.track_decision(
                sid,
                "The user wants a reset link; the knowledge base has the procedure.",
                decision="search_kb",
                alternatives=["ask_clarification", "escalate"],
                confidence=0.9,
                start_time=T0 + 0.840,
            )
            client.track_tool_call(
                sid, "search_kb", {"query": "password reset"}, {"hits": 2}, duration_ms=300,
                span_id="kb", start_time=T0 + 0.850,
            )  # fmt: skip
            client.track_tool_call(
                sid, "vector_lookup", {"k": 5}, ["doc-1", "doc-7"], duration_ms=200,
                span_id="vec", parent_span_id="kb", start_time=T0 + 0.870,
            )  # fmt: skip
            client.track_tool_call(
                sid, "rerank", ["doc-1", "doc-7"], ["doc-7"], duration_ms=60,
                span_id="rr", parent_span_id="vec", start_time=T0 + 0.950,
            )  # fmt: skip
            client.track_tool_call(
                sid, "send_email", {"to": "user@example.com"}, error=_boom(), duration_ms=40,
                start_time=T0 + 1.250,
            )  # fmt: skip
            client.track_error(
                sid, "retry budget exhausted", error_type="RetryError", tool_name="send_email",
                start_time=T0 + 1.300,
            )  # fmt: skip
            client.track_llm_call(
                sid,
                "gpt-4o-mini",
                provider="openai",
                messages=[{"role": "user", "content": "Summarise"}],
                response="Impossible d'envoyer l'e-mail.",
                prompt_tokens=200,
                completion_tokens=50,
                cost=0.00006,
                duration_ms=600,
                span_id="llm-2",
                start_time=T0 + 1.400,
            )
            clock.t = T0 + 2.1
            client.close_session(sid, "failure", failure_reason="email not sent", output={"sent": False})

            # 2. three days ago: a huge payload, prices from the core's table
            start = NOW - 3 * 86400
            clock.t = start
            sid = client.create_session("Nightly batch", metadata={"env": "staging", "run": 7})
            ids["batch"] = sid
            client.track_tool_call(
                sid, "load_corpus", HUGE, {"rows": 3}, duration_ms=1500, start_time=start + 0.1
            )
            client.track_llm_call(
                sid, "gpt-4o", provider="openai", messages=[{"role": "user", "content": "hi"}], response="ok",
                prompt_tokens=1000, completion_tokens=100, duration_ms=2500, start_time=start + 2.0,
            )  # fmt: skip
            clock.t = start + 5
            client.close_session(sid, "success")

            # 3. ten minutes ago
            start = NOW - 600
            clock.t = start
            sid = client.create_session("数据 agent ✓", metadata={"env": "prod", "team": "a"})
            ids["recent"] = sid
            client.track_tool_call(sid, "search_kb", "q", "a", duration_ms=100, start_time=start + 0.2)
            clock.t = start + 1
            client.close_session(sid, "success")
            assert client.flush(20)
        finally:
            client.shutdown(5)
    # 4. left open 30 hours ago (written with the store API: a client would close it at exit)
    store = Store(path)
    ids["stuck"] = "ses_stuck000000000000000000"
    store.ingest(
        [
            {"kind": "session_start", "session_id": ids["stuck"], "name": "Stuck run", "metadata": {}, "ts": NOW - 30 * 3600},
            {
                "kind": "event", "id": ids["stuck"] + ".1", "session_id": ids["stuck"], "seq": 1,
                "type": "tool_call", "name": "wait_forever", "ts": NOW - 30 * 3600 + 1, "duration_ms": 5.0,
            },
        ]
    )  # fmt: skip
    store.close()
    return ids


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[str, dict[str, str]]:
    base = tmp_path_factory.mktemp("cli")
    path = str(base / "template.db")
    ids = _build(path, str(base / "spool"))
    return path, ids


@pytest.fixture
def store_copy(built, tmp_path) -> Iterator[tuple[str, dict[str, str]]]:
    """A private copy of the built store (commands may write: timeouts, purge)."""
    template, ids = built
    path = str(tmp_path / "sentrial.db")
    src = sqlite3.connect(template)
    dst = sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    yield path, ids


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
    full_env.update({"NO_COLOR": "1", "COLUMNS": "100", "TZ": "UTC", "PYTHONIOENCODING": "utf-8"})
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "sentrial_integrations", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=full_env,
        cwd=str(cwd) if cwd else None,
        timeout=60,
    )


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, out: str, err: str, expected_code: int, contains: str) -> None:
    assert code == expected_code, (code, out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sentrial-integrations: error: ")
    assert contains in lines[0]
    assert "Traceback" not in err


def normalise(text: str, ids: dict[str, str]) -> str:
    for role, sid in ids.items():
        text = text.replace(sid, f"<{role}-id>")
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


# --- sessions -------------------------------------------------------------------------------------------


def test_sessions_table_newest_first_with_timeout_marked_and_stored(store_copy):
    path, ids = store_copy
    proc = run_cli("sessions", "--db", path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["name", "status", "started", "duration", "events", "tokens", "cost", "id"]
    rows = [line for line in lines[2:] if line.strip()]
    assert [r.split()[0] for r in rows] == ["数据", "Stuck", "Nightly", "Support"]  # newest first
    recent, stuck, batch, support = rows
    assert "success" in recent and "1.00 s" in recent and ids["recent"][:12] in recent
    assert "timeout" in stuck
    assert "5.00 s" in batch and "1,100" in batch and "$0.0035" in batch  # gpt-4o: 1000 in, 100 out
    assert "failure" in support and "2.10 s" in support and "8 (2✗)" in support and "400" in support
    assert "$0.000096" in support
    # the timeout is stored, not only shown
    store = Store(path, create=False, readonly=True)
    stuck_row = store.get_session(ids["stuck"])
    store.close()
    assert stuck_row is not None
    assert stuck_row["status"] == "timeout"
    assert stuck_row["ended_at"] == pytest.approx(stuck_row["started_at"] + 24 * 3600)


def test_sessions_json_and_filters(store_copy, capsys):
    path, ids = store_copy
    code, out, err = run_main(capsys, "--db", path, "sessions", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert [s["id"] for s in data] == [ids["recent"], ids["stuck"], ids["batch"], ids["support"]]
    support = data[3]
    assert support == {
        "id": ids["support"],
        "name": "Support – Password Reset 🔑",
        "status": "failure",
        "agent_name": "support-bot",
        "user_id": "u_123",
        "parent_session_id": None,
        "project_id": None,
        "metadata": {"ticket": "T-1", "env": "prod", "user_id": "u_123"},
        "started_at": pytest.approx(T0),
        "started_at_iso": "2026-01-01T00:00:00.000Z",
        "ended_at": pytest.approx(T0 + 2.1),
        "ended_at_iso": "2026-01-01T00:00:02.100Z",
        "duration_ms": pytest.approx(2100.0),
        "event_count": 8,
        "error_count": 2,
        "prompt_tokens": 320,
        "completion_tokens": 80,
        "total_tokens": 400,
        "cost": pytest.approx(0.000096),
        "failure_reason": "email not sent",
        "output": {"sent": False},
        "custom_metrics": None,
    }

    def names(*args: str) -> list[str]:
        code, out, err = run_main(capsys, "sessions", "--db", path, "--json", *args)
        assert code == 0, err
        return [s["name"] for s in json.loads(out)]

    assert names("--status", "failure") == ["Support – Password Reset 🔑"]
    assert names("--status", "timeout") == ["Stuck run"]
    assert names("--meta", "env=prod") == ["数据 agent ✓", "Support – Password Reset 🔑"]
    assert names("--meta", "env=prod", "--meta", "team=a") == ["数据 agent ✓"]
    assert names("--meta", "run=7") == ["Nightly batch"]  # numbers compare as text
    assert names("--name", "BATCH") == ["Nightly batch"]
    assert names("--since", "2h") == ["数据 agent ✓"]
    assert names("--since", "2d") == ["数据 agent ✓", "Stuck run"]
    assert names("--since", "2025-12-31", "--until", "2026-01-02") == ["Support – Password Reset 🔑"]
    assert names("--agent", "support-bot") == ["Support – Password Reset 🔑"]
    assert names("--limit", "2") == ["数据 agent ✓", "Stuck run"]

    code, out, _ = run_main(capsys, "sessions", "--db", path, "--limit", "1")
    assert code == 0
    assert "1 of 4 sessions shown" in out
    code, out, _ = run_main(capsys, "sessions", "--db", path, "--status", "error")
    assert code == 0 and out.strip() == "No sessions match these filters."


def test_timeout_is_configurable_and_can_be_disabled(store_copy, capsys):
    path, ids = store_copy
    code, out, _ = run_main(capsys, "--timeout-after", "48h", "--db", path, "sessions", "--json")
    assert code == 0
    assert {s["id"]: s["status"] for s in json.loads(out)}[ids["stuck"]] == "running"
    stuck = next(s for s in json.loads(out) if s["id"] == ids["stuck"])
    assert stuck["duration_ms"] is None  # still open: raw value stays null in JSON
    code, out, _ = run_main(capsys, "--db", path, "--timeout-after", "off", "show", ids["stuck"])
    assert code == 0 and "running" in out and "so far" in out
    # the environment variable, in a real process
    proc = run_cli(
        "sessions", "--db", path, "--status", "timeout", "--json", env={"SENTRIAL_SESSION_TIMEOUT": "12h"}
    )
    assert proc.returncode == 0, proc.stderr
    assert [s["id"] for s in json.loads(proc.stdout)] == [ids["stuck"]]
    store = Store(path, create=False, readonly=True)
    row = store.get_session(ids["stuck"])
    store.close()
    assert row is not None and row["status"] == "timeout"
    assert row["ended_at"] == pytest.approx(row["started_at"] + 12 * 3600)


def test_read_only_store_shows_timeouts_without_storing_them(store_copy, capsys, monkeypatch):
    path, ids = store_copy
    real_store = cli_context.Store

    def read_only(p: str, create: bool = True, readonly: bool = False) -> Store:
        if not readonly:
            raise cli_module.StoreError(
                f"cannot open Sentrial store at {p}: attempt to write a readonly database"
            )
        return real_store(p, create=create, readonly=readonly)

    monkeypatch.setattr(cli_context, "Store", read_only)
    code, out, _ = run_main(capsys, "sessions", "--db", path, "--json")
    assert code == 0
    assert {s["id"]: s["status"] for s in json.loads(out)}[ids["stuck"]] == "timeout"
    code, out, err = run_main(capsys, "purge", "--db", path, "--older-than", "1d")
    assert_one_line_error(code, out, err, 1, "cannot write to the Sentrial store")
    store = real_store(path, create=False, readonly=True)
    row = store.get_session(ids["stuck"])
    store.close()
    assert row is not None and row["status"] == "running"


# --- show ------------------------------------------------------------------------------------------------


def test_show_timeline_matches_snapshot(store_copy):
    path, ids = store_copy
    proc = run_cli("show", ids["support"][:10], "--db", path)  # a unique prefix is enough
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "\x1b[" not in proc.stdout  # NO_COLOR / not a terminal: no escape codes
    text = normalise(proc.stdout, ids)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == SNAPSHOT.read_text(encoding="utf-8")


def test_show_json_lists_events_in_order_with_nesting_and_errors(store_copy):
    path, ids = store_copy
    proc = run_cli("show", ids["support"], "--json", "--db", path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) == {"session", "events"}
    assert doc["session"]["id"] == ids["support"]
    assert doc["session"]["status"] == "failure"
    events = doc["events"]
    assert [(e["type"], e["name"], e["depth"]) for e in events] == [
        ("llm_call", "llm:openai:gpt-4o-mini", 0),
        ("decision", "decision", 0),
        ("tool_call", "search_kb", 0),
        ("tool_call", "vector_lookup", 1),
        ("tool_call", "rerank", 2),
        ("tool_call", "send_email", 0),
        ("error", "send_email", 0),
        ("llm_call", "llm:openai:gpt-4o-mini", 0),
    ]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [round(e["offset_ms"], 3) for e in events] == [10, 840, 850, 870, 950, 1250, 1300, 1400]
    assert events[0]["ts"] == pytest.approx(T0 + 0.010)
    assert events[0]["ts_iso"] == "2026-01-01T00:00:00.010Z"
    llm = events[0]
    assert llm["input"]["messages"][1] == {"role": "user", "content": "Réinitialiser mon mot de passe 🙏"}
    assert llm["output"]["content"] == "Je vais chercher la procédure."
    assert (llm["prompt_tokens"], llm["completion_tokens"], llm["total_tokens"]) == (120, 30, 150)
    assert llm["cost"] == pytest.approx(0.000036)
    assert llm["duration_ms"] == 820
    decision = events[1]
    assert decision["decision"] == "search_kb"
    assert decision["alternatives"] == ["ask_clarification", "escalate"]
    assert decision["confidence"] == 0.9
    assert (events[3]["span_id"], events[3]["parent_span_id"]) == ("vec", "kb")
    assert events[4]["output"] == ["doc-7"]
    failed = events[5]
    assert failed["error"]["type"] == "ConnectionError"
    assert failed["error"]["message"] == "SMTP server unreachable"
    assert "Traceback" in failed["error"]["stack_trace"]
    assert events[6]["error"]["type"] == "RetryError"
    assert events[6]["error"]["message"] == "retry budget exhausted"


# --- replay ----------------------------------------------------------------------------------------------


def test_replay_prints_every_step_in_full(store_copy):
    path, ids = store_copy
    proc = run_cli("replay", ids["support"], "--no-pause", "--db", path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    steps = re.findall(r"^Step (\d+)/8 ", out, flags=re.M)
    assert steps == [str(i) for i in range(1, 9)]
    assert "[system] You are a support agent." in out
    assert "[user] Réinitialiser mon mot de passe 🙏" in out
    assert "Je vais chercher la procédure." in out
    assert "tokens 120 in, 30 out   cost $0.000036" in out
    assert "The user wants a reset link; the knowledge base has the procedure." in out
    assert '"ask_clarification",' in out
    assert "ConnectionError: SMTP server unreachable" in out
    assert "Traceback (most recent call last)" in out  # the stack trace, in full
    assert "RetryError: retry budget exhausted" in out
    assert "(after 10 ms idle)" in out  # time between steps
    assert "+870 ms (inside search_kb)  tool_call  vector_lookup  200 ms" in out
    assert "End of session: ✗ failure  2.10 s" in out
    assert "email not sent" in out
    # huge payloads: what the core kept (100 000 chars and its marker), printed whole
    proc = run_cli("replay", ids["batch"][:12], "--db", path)  # no TTY: no pause
    assert proc.returncode == 0, proc.stderr
    kept = re.search(r"x{1000,}…\[truncated (\d+) chars\]", proc.stdout)
    assert kept is not None
    assert len(kept.group(0)) == 100_000 + len(f"…[truncated {kept.group(1)} chars]")
    assert int(kept.group(1)) == 5_000_000 - 100_000


class _TTYInput(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_replay_pauses_between_steps_on_a_terminal(store_copy, capsys, monkeypatch):
    path, ids = store_copy
    monkeypatch.setattr(sys, "stdin", _TTYInput("\n\nq\n"))
    code, out, _ = run_main(capsys, "replay", ids["support"], "--db", path)
    assert code == 0 and "⏎" not in out and "Step 8/8" in out  # stdout is not a terminal: no pause
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, out, _ = run_main(capsys, "replay", ids["support"], "--db", path)
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)  # a terminal gets styles
    assert code == 0
    assert re.findall(r"^Step (\d+)/8", out, flags=re.M) == ["1", "2", "3"]
    assert out.count("⏎ next step · q quit") == 3
    assert "End of session" not in out
    monkeypatch.setattr(sys, "stdin", _TTYInput(""))
    code, out, _ = run_main(capsys, "replay", ids["support"], "--db", path, "--no-pause")
    assert code == 0 and "⏎" not in out and "Step 8/8" in out


# --- stats -----------------------------------------------------------------------------------------------


def test_stats_per_tool_and_model_bottlenecks_and_gaps(store_copy, capsys):
    path, _ = store_copy
    proc = run_cli("stats", "--db", path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith(
        "4 sessions (failure 1, success 2, timeout 1) · 12 events · 2 errors · 1,500 tokens"
    )
    for title in ("Tools", "Models", "Bottlenecks: slowest steps", "Gaps: longest idle time between steps"):
        assert title in out
    assert re.search(r"send_email\s+1\s+100%\s+40 ms", out)
    assert re.search(r"search_kb\s+2\s+0%\s+200 ms\s+290 ms\s+300 ms\s+400 ms", out)
    assert re.search(r"gpt-4o\s+1\s+0%\s+2\.50 s", out)

    code, out, _ = run_main(capsys, "stats", "--db", path, "--name", "password", "--json", "--top", "3")
    assert code == 0
    stats = json.loads(out)
    assert stats["summary"]["sessions"] == 1
    assert stats["summary"]["events"] == 8
    assert stats["summary"]["errors_by_step"] == {"send_email": 2}
    tools = {t["name"]: t for t in stats["tools"]}
    assert set(tools) == {"search_kb", "vector_lookup", "rerank", "send_email"}
    assert tools["send_email"]["error_rate"] == 1.0
    assert tools["search_kb"]["error_rate"] == 0.0
    (model,) = stats["models"]
    assert model["name"] == "gpt-4o-mini" and model["provider"] == "openai"
    assert model["count"] == 2
    assert model["p50_ms"] == pytest.approx(710.0)
    assert model["p95_ms"] == pytest.approx(809.0)
    assert (model["prompt_tokens"], model["completion_tokens"], model["total_tokens"]) == (320, 80, 400)
    assert model["cost"] == pytest.approx(0.000096)
    assert [(s["name"], s["duration_ms"]) for s in stats["slowest"]] == [
        ("llm:openai:gpt-4o-mini", 820.0),
        ("llm:openai:gpt-4o-mini", 600.0),
        ("search_kb", 300.0),
    ]
    assert stats["slowest"][0]["share_of_session"] == pytest.approx(820 / 2100)
    gaps = [(g["after"]["name"], g["before"]["name"], round(g["gap_ms"])) for g in stats["gaps"]]
    assert gaps == [
        ("search_kb", "send_email", 100),
        ("send_email", "llm:openai:gpt-4o-mini", 100),
        ("llm:openai:gpt-4o-mini", "decision", 10),
    ]
    assert stats["summary"]["idle_ms"] == pytest.approx(230.0)


# --- purge and export ------------------------------------------------------------------------------------


def test_purge_deletes_old_sessions_and_their_events(store_copy, capsys):
    path, ids = store_copy
    code, out, _ = run_main(capsys, "purge", "--db", path, "--older-than", "2d", "--dry-run")
    assert code == 0 and "Would delete 2 sessions" in out
    proc = run_cli("purge", "--older-than", "2d", "--db", path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Deleted 2 sessions (and their events) started before ")
    store = Store(path, create=False, readonly=True)
    try:
        assert {s["id"] for s in store.list_sessions()} == {ids["recent"], ids["stuck"]}
        assert store.get_events(ids["support"]) == []
        assert store.get_events(ids["batch"]) == []
        assert len(store.get_events(ids["recent"])) == 1
    finally:
        store.close()


def test_export_json_and_jsonl(store_copy, tmp_path):
    path, ids = store_copy
    proc = run_cli("export", ids["support"][:12], "--format", "json", "--db", path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["session"]["name"] == "Support – Password Reset 🔑"
    assert len(doc["events"]) == 8
    # the same document as show --json
    code_doc = json.loads(run_cli("show", ids["support"], "--json", "--db", path).stdout)
    assert doc == code_doc

    target = tmp_path / "batch.jsonl"
    proc = run_cli("export", ids["batch"], "--format", "jsonl", "-o", str(target), "--db", path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    lines = target.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["kind"] for r in records] == ["session", "event", "event"]
    assert records[0]["id"] == ids["batch"] and records[0]["metadata"] == {"env": "staging", "run": 7}
    assert records[1]["name"] == "load_corpus"
    assert records[1]["input"].endswith("…[truncated 4900000 chars]")
    assert records[2]["model"] == "gpt-4o" and records[2]["cost"] == pytest.approx(0.0035)


# --- errors ----------------------------------------------------------------------------------------------


def test_missing_store_is_an_error_and_is_not_created(tmp_path):
    missing = tmp_path / "nothing" / "sentrial.db"
    proc = run_cli("sessions", cwd=tmp_path, env={"SENTRIAL_LOCAL_PATH": str(missing)})
    assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, 1, f"no Sentrial store at {missing}")
    assert not missing.exists() and not missing.parent.exists()
    # the default location: .sentrial/sentrial.db under the working directory
    code = main(["--db", str(tmp_path / "x.db"), "sessions"])
    assert code == 1 and not (tmp_path / "x.db").exists()


def test_unknown_and_ambiguous_ids(store_copy, capsys):
    path, _ = store_copy
    proc = run_cli("show", "ses_nope", "--db", path)
    assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, 1, "no session matches 'ses_nope'")
    code, out, err = run_main(capsys, "replay", "ses_", "--db", path)
    assert_one_line_error(code, out, err, 1, "'ses_' matches several sessions")
    code, out, err = run_main(capsys, "export", "nope", "--db", path)
    assert_one_line_error(code, out, err, 1, "no session matches 'nope'")


def test_corrupt_and_foreign_stores(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not sqlite at all" * 100)
    proc = run_cli("sessions", "--db", str(corrupt))
    assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, 1, "cannot open Sentrial store")
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE sessions (id TEXT)")
    conn.commit()
    conn.close()
    code, out, err = run_main(capsys, "stats", "--db", str(foreign))
    assert_one_line_error(code, out, err, 1, "not a Sentrial store")
    assert [r[0] for r in sqlite3.connect(foreign).execute("SELECT name FROM sqlite_master")] == ["sessions"]
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    code, out, err = run_main(capsys, "sessions", "--db", str(empty))
    assert_one_line_error(code, out, err, 1, "is empty")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sessions", "--since", "last tuesday"], "--since: cannot read 'last tuesday'"),
        (["sessions", "--meta", "env"], "--meta: expected key=value, got 'env'"),
        (["sessions", "--status", "done"], "--status: unknown status 'done'"),
        (["sessions", "--limit", "many"], "argument --limit: invalid int value"),
        (["purge", "--older-than", "30"], "--older-than: cannot read '30'"),
        (["purge"], "the following arguments are required: --older-than"),
        (["--timeout-after", "soon", "sessions"], "--timeout-after: cannot read 'soon'"),
        (["show"], "the following arguments are required: id"),
        (["export", "x", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(store_copy, capsys, args, message):
    path, _ = store_copy
    code, out, err = run_main(capsys, "--db", path, *args)
    assert_one_line_error(code, out, err, 2, message)


def test_usage_error_in_a_real_process(store_copy):
    path, _ = store_copy
    proc = run_cli("sessions", "--db", path, "--meta", "=x")
    assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, 2, "--meta: expected key=value")
    proc = run_cli("sessions", "--db", path, env={"SENTRIAL_SESSION_TIMEOUT": "later"})
    assert_one_line_error(
        proc.returncode, proc.stdout, proc.stderr, 2, "SENTRIAL_SESSION_TIMEOUT: cannot read"
    )


def test_unexpected_failures_are_one_line_too(store_copy, capsys, monkeypatch):
    path, _ = store_copy

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(cli_stats, "compute_stats", broken)
    code, out, err = run_main(capsys, "stats", "--db", path)
    assert_one_line_error(code, out, err, 1, "internal error: RuntimeError: kaboom")


# --- entry points ------------------------------------------------------------------------------------------


def test_console_script_and_help():
    exe = shutil.which("sentrial-integrations")
    if exe is None:
        exe = os.path.join(os.path.dirname(sys.executable), "sentrial-integrations")
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for command in ("sessions", "show", "replay", "stats", "export", "purge", "serve"):
        assert command in proc.stdout
    assert main(["--version"]) == 0


def test_serve_passes_options_to_the_server(tmp_path, monkeypatch):
    calls: list[tuple[Any, ...]] = []

    class FakeServer:
        from sentrial_integrations.server.app import server_key

        @staticmethod
        def serve(host: str, port: int, db: str, api_key: str | None) -> None:
            calls.append((host, port, db, api_key))

    real_import = cli_serve.importlib.import_module
    monkeypatch.setattr(
        cli_serve.importlib,
        "import_module",
        lambda name: FakeServer if name == "sentrial_integrations.server.app" else real_import(name),
    )
    db = str(tmp_path / "served.db")
    assert main(["serve", "--db", db, "--port", "9999", "--api-key", "k"]) == 0
    assert calls == [("127.0.0.1", 9999, db, "k")]


def test_serve_without_the_server_extra(monkeypatch, capsys):
    def missing(name: str) -> Any:
        raise ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn")

    monkeypatch.setattr(cli_serve.importlib, "import_module", missing)
    code, out, err = run_main(capsys, "serve")
    assert_one_line_error(code, out, err, 1, "pip install 'sentrial-integrations[server]'")


# --- formatting and parsing helpers -------------------------------------------------------------------------


def test_human_durations_and_costs():
    assert [fmt_ms(v) for v in (None, 0, 0.25, 4.5, 42, 999.4, 1200, 12_500, 185_000, 7_800_000, 90_000_000)] == [
        "–", "0 ms", "0.25 ms", "4.5 ms", "42 ms", "999 ms", "1.20 s", "12.5 s", "3 min 05 s", "2 h 10 min", "1 d 1 h",
    ]  # fmt: skip
    assert [fmt_cost(v) for v in (None, 0, 0.000036, 0.0012346, 0.5, 1.23456, 12.3456, 1234.5)] == [
        "–", "$0", "$0.000036", "$0.001235", "$0.50", "$1.235", "$12.35", "$1,234.50",
    ]  # fmt: skip
    assert percentile([820.0, 600.0], 0.5) == pytest.approx(710.0)
    assert percentile([], 0.5) is None


def test_durations_and_dates_parse():
    assert parse_duration("90s") == 90
    assert parse_duration("1h30m") == 5400
    assert parse_duration("2 d") == 172_800
    assert parse_duration("1.5h") == 5400
    assert parse_duration("30") is None
    assert parse_duration("30", bare_seconds=True) == 30
    assert parse_duration("3 parsecs") is None
    assert parse_when("2h", 10_000.0, "--since") == 10_000.0 - 7200
    assert parse_when("2026-01-01T00:00:00Z", 0.0, "--since") == T0
    with pytest.raises(cli_module.UsageError):
        parse_when("soonish", 0.0, "--since")


def test_python_dash_m_and_the_run_bootstrap_dir():
    proc = subprocess.run(
        [sys.executable, "-m", "sentrial_integrations.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("sentrial-integrations "), proc.stderr
    from sentrial_integrations import zerocode
    from sentrial_integrations.cli.serve import BOOTSTRAP_DIR

    assert Path(BOOTSTRAP_DIR) == Path(zerocode.__file__).parent / "sitecustomize"
    assert (Path(BOOTSTRAP_DIR) / "sitecustomize.py").is_file()
