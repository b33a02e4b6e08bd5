"""``diff``: two sessions' steps aligned on (type, name), the first divergence, per-step and total deltas,
prompts as text diffs and arguments as JSON diffs — on constructed pairs, and through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from sentrial_integrations import SentrialClient
from sentrial_integrations.rerun.diff import align, diff_sessions, json_diff, text_diff


def llm(
    prompt: str,
    answer: str = "",
    *,
    tokens: int = 10,
    cost: float = 0.001,
    ms: float = 100.0,
    calls: Any = None,
) -> dict[str, Any]:
    return {
        "type": "llm_call",
        "name": "llm:openai:gpt-4o-mini",
        "total_tokens": tokens,
        "cost": cost,
        "duration_ms": ms,
        "input": {
            "messages": [
                {"role": "system", "content": prompt},
                {"role": "user", "content": "weather in Paris?"},
            ],
            "model": "gpt-4o-mini",
        },
        "output": {"content": answer, "tool_calls": calls},
    }


def tool(name: str, args: Any, result: str, ms: float = 5.0) -> dict[str, Any]:
    return {"type": "tool_call", "name": name, "duration_ms": ms, "input": args, "output": result}


def session(sid: str, events: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    llms = [e for e in events if e["type"] == "llm_call"]
    return (
        {
            "id": sid,
            "name": "agent",
            "status": "success",
            "total_tokens": sum(e["total_tokens"] for e in llms),
            "cost": sum(e["cost"] for e in llms),
            "duration_ms": sum(e["duration_ms"] for e in events),
        },
        events,
    )


CALL = [{"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}]


def weather_run(sid: str, **changes: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    prompt = changes.get("prompt", "be brief")
    tool_name = changes.get("tool", "get_weather")
    args = changes.get("args", {"city": "Paris"})
    events = [
        llm(
            prompt, calls=[{"id": "c1", "name": tool_name, "arguments": args}], tokens=17, cost=0.002, ms=300
        ),
        tool(tool_name, args, "sunny in Paris"),
        llm(
            prompt,
            "It is sunny",
            tokens=changes.get("tokens", 36),
            cost=changes.get("cost", 0.004),
            ms=changes.get("ms", 200),
        ),
    ]
    return session(sid, events)


def test_identical_sessions_are_equal():
    result = diff_sessions(*weather_run("A"), *weather_run("B"))
    assert result["equal"] and result["structurally_equal"]
    assert result["first_divergence"] is None
    assert [r["kind"] for r in result["rows"]] == ["same", "same", "same"]
    assert [(r["a_step"], r["b_step"]) for r in result["rows"]] == [(1, 1), (2, 2), (3, 3)]
    assert result["totals"]["tokens"] == {"a": 53.0, "b": 53.0, "delta": 0.0}
    assert [r["deltas"] for r in result["rows"]] == [
        {"tokens": 0.0, "cost": 0.0, "duration_ms": 0.0},
        {"tokens": None, "cost": None, "duration_ms": 0.0},  # a tool step has no tokens or cost
        {"tokens": 0.0, "cost": 0.0, "duration_ms": 0.0},
    ]


def test_ids_differing_between_runs_do_not_count():
    a, b = weather_run("A"), weather_run("B")
    b[1][0]["output"]["tool_calls"][0]["id"] = "call_other"
    assert diff_sessions(*a, *b)["equal"]


def test_one_tool_swapped():
    result = diff_sessions(*weather_run("A"), *weather_run("B", tool="get_rain"))
    assert not result["structurally_equal"]
    assert [(r["kind"], r["a_step"], r["b_step"], r["name"]) for r in result["rows"]] == [
        ("changed", 1, 1, "llm:openai:gpt-4o-mini"),
        ("removed", 2, None, "get_weather"),
        ("added", None, 2, "get_rain"),
        ("same", 3, 3, "llm:openai:gpt-4o-mini"),
    ]
    assert result["first_divergence"]["a_step"] == 1 and result["first_divergence"]["kind"] == "changed"
    assert result["first_structural_divergence"] == {
        "row": 2,
        "kind": "removed",
        "a_step": 2,
        "b_step": None,
        "type": "tool_call",
        "name": "get_weather",
        "summary": "step 2 (tool_call get_weather) is only in A",
    }
    first = result["rows"][0]
    assert first["a_content"]["tool_calls"] == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert first["b_content"]["tool_calls"] == [{"name": "get_rain", "arguments": {"city": "Paris"}}]
    assert result["rows"][1]["a_content"]["arguments"] == {"city": "Paris"}
    assert result["rows"][1]["b_content"] is None
    assert "a_content" not in result["rows"][3]
    assert first["changes"] == {
        "tool_calls": [{"path": "$[0].name", "change": "changed", "a": "get_weather", "b": "get_rain"}]
    }
    assert result["rows"][1]["deltas"]["duration_ms"] == -5.0
    assert result["rows"][2]["deltas"]["duration_ms"] == 5.0
    assert result["counts"] == {"same": 1, "changed": 1, "removed": 1, "added": 1}


def test_one_prompt_edited_is_a_text_diff_and_structurally_equal():
    result = diff_sessions(
        *weather_run("A"), *weather_run("B", prompt="be verbose", tokens=40, cost=0.005, ms=260)
    )
    assert result["structurally_equal"] and not result["equal"]
    assert [r["kind"] for r in result["rows"]] == ["changed", "same", "changed"]
    prompt = result["rows"][0]["changes"]["prompt"]
    assert prompt == [
        "--- A",
        "+++ B",
        "@@ -1,4 +1,4 @@",
        " [system]",
        "-be brief",
        "+be verbose",
        " [user]",
        " weather in Paris?",
    ]
    assert (
        result["first_divergence"]["summary"]
        == "step 1 of A / 1 of B (llm_call llm:openai:gpt-4o-mini): prompt differ"
    )
    last = result["rows"][2]["deltas"]
    assert last["tokens"] == 4.0 and round(last["cost"], 6) == 0.001 and last["duration_ms"] == 60.0
    assert result["totals"]["tokens"] == {"a": 53.0, "b": 57.0, "delta": 4.0}
    assert result["totals"]["duration_ms"]["delta"] == 60.0


def test_tool_arguments_are_a_json_diff():
    result = diff_sessions(*weather_run("A"), *weather_run("B", args={"city": "Lyon", "units": "C"}))
    tool_row = result["rows"][1]
    assert tool_row["kind"] == "changed"
    assert tool_row["changes"]["arguments"] == [
        {"path": "$.city", "change": "changed", "a": "Paris", "b": "Lyon"},
        {"path": "$.units", "change": "added", "a": None, "b": "C"},
    ]


def test_different_lengths():
    a = weather_run("A")
    _, eb = weather_run("B")
    extra = [
        tool("get_weather", {"city": "Paris"}, "sunny in Paris"),
        llm("be brief", "Still sunny", tokens=40, cost=0.004, ms=150),
    ]
    b = session("B", eb + extra)
    result = diff_sessions(*a, *b)
    assert not result["structurally_equal"]
    assert [(r["kind"], r["a_step"], r["b_step"]) for r in result["rows"]] == [
        ("same", 1, 1),
        ("same", 2, 2),
        ("same", 3, 3),
        ("added", None, 4),
        ("added", None, 5),
    ]
    assert result["first_divergence"]["b_step"] == 4
    assert result["rows"][4]["deltas"] == {"tokens": 40.0, "cost": 0.004, "duration_ms": 150.0}
    assert result["totals"]["steps"] == {"a": 3, "b": 5, "delta": 2.0}
    # and the other way round
    back = diff_sessions(*b, *a)
    assert [r["kind"] for r in back["rows"]][-2:] == ["removed", "removed"]


def test_align_is_a_longest_common_subsequence():
    a = list("ABCBDAB")
    b = list("BDCABA")
    pairs = align(a, b)
    paired = [(i, j) for i, j in pairs if i is not None and j is not None]
    assert len(paired) == 4  # the LCS of these two has length 4
    assert all(a[i] == b[j] for i, j in paired)
    assert sorted(i for i, _ in pairs if i is not None) == list(range(len(a)))
    assert sorted(j for _, j in pairs if j is not None) == list(range(len(b)))


def test_text_and_json_diff_helpers():
    assert text_diff("x", "x") == []
    assert json_diff({"a": [1, 2]}, {"a": [1]}) == [
        {"path": "$.a[1]", "change": "removed", "a": 2, "b": None}
    ]
    assert json_diff(1, 1.0) == [{"path": "$", "change": "changed", "a": 1, "b": 1.0}]


# --- the CLI ----------------------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentrial_integrations", *args], capture_output=True, text=True, timeout=60
    )


def record_pair(db: str, tmp_path: Any) -> tuple[str, str]:
    client = SentrialClient(local_path=db, spool_path=str(tmp_path / "spool"))
    ids = []
    t0 = time.time() - 60
    for tool_name in ("get_weather", "get_rain"):
        with client.session("agent") as s:
            s.track_llm_call(
                "gpt-4o-mini",
                messages=[{"role": "user", "content": "hi"}],
                response="",
                prompt_tokens=5,
                completion_tokens=2,
                duration_ms=10,
                start_time=t0,
            )
            s.track_tool_call(tool_name, {"city": "Paris"}, "sunny", duration_ms=3, start_time=t0 + 1)
            s.track_llm_call(
                "gpt-4o-mini",
                messages=[{"role": "user", "content": "hi"}],
                response="sunny",
                prompt_tokens=9,
                completion_tokens=3,
                duration_ms=12,
                start_time=t0 + 2,
            )
        ids.append(s.id)
    assert client.flush(10)
    client.shutdown(5)
    return ids[0], ids[1]


def test_cli_diff_exit_codes_and_json(tmp_path):
    db = str(tmp_path / "s.db")
    a, b = record_pair(db, tmp_path)
    same = cli("--db", db, "diff", a, a, "--json")
    assert same.returncode == 0, same.stderr
    doc = json.loads(same.stdout)
    assert doc["structurally_equal"] and doc["equal"]
    differ = cli("--db", db, "diff", a, b, "--json")
    assert differ.returncode == 1, differ.stderr
    doc = json.loads(differ.stdout)
    assert doc["first_structural_divergence"]["name"] == "get_weather"
    assert [r["kind"] for r in doc["rows"]] == ["same", "removed", "added", "same"]
    text = cli("--db", db, "--no-color", "diff", a[:12], b)
    assert text.returncode == 1
    assert "First divergence: step 2 (tool_call get_weather) is only in A" in text.stdout
    assert "Diverged: 1 step(s) only in A, 1 only in B." in text.stdout


def test_cli_diff_accepts_export_files(tmp_path):
    db = str(tmp_path / "s.db")
    a, b = record_pair(db, tmp_path)
    fa, fb = str(tmp_path / "a.json"), str(tmp_path / "b.jsonl")
    assert cli("--db", db, "export", a, "-o", fa).returncode == 0
    assert cli("--db", db, "export", b, "--format", "jsonl", "-o", fb).returncode == 0
    res = cli("--db", db, "diff", fa, fb, "--json")
    assert res.returncode == 1, res.stderr
    assert json.loads(res.stdout)["a"]["id"] == a
    same = cli("--db", db, "diff", fa, a)
    assert same.returncode == 0, same.stderr
    assert "Equal: same steps, same contents." in same.stdout


def test_cli_diff_unknown_session_is_one_line_error(tmp_path):
    db = str(tmp_path / "s.db")
    a, _ = record_pair(db, tmp_path)
    res = cli("--db", db, "diff", a, "ses_nope")
    assert res.returncode == 1
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1 and "no session matches 'ses_nope'" in res.stderr
