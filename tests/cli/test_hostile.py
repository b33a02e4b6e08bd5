"""CLI readers are total: a store holding any values SQLite can hold (rows written by an older version or
another writer, straight into the file) is read by every command with exit 0, bad values shown as markers."""

from __future__ import annotations

import json
import sqlite3

import pytest

from sentrial_integrations.core.store import Store
from tests.readers import every_cli_command, run_cli


def nested_json(levels: int) -> str:
    return '{"n":' * levels + "1" + "}" * levels


@pytest.fixture
def hostile_store(tmp_path) -> tuple[str, list[str]]:
    db = str(tmp_path / "hostile.db")
    Store(db).close()  # the schema
    conn = sqlite3.connect(db)
    rows = [
        # id, name, status, started_at, ended_at, duration_ms, tokens, cost, metadata, failure, output
        ("huge-ts", "huge", "success", 1e308, 1e308, float("inf"), 2**62, float("nan"), "{}", None, None),
        ("neg-ts", "neg", "failure", -1e18, None, -5.0, -1, -1e300, "[1,2]", {"x": 1}, "not json {"),
        (
            "text-cols",
            "txt",
            "running",
            "yesterday",
            "x",
            "slow",
            "many",
            "cheap",
            nested_json(600),
            3,
            "NaN",
        ),
        (
            "odd-status",
            b"\xff\xfe bytes",
            "weird",
            35184372088833,
            None,
            None,
            None,
            None,
            "Infinity",
            None,
            None,
        ),
    ]
    for sid, name, status, started, ended, dur, tok, cost, meta, failure, output in rows:
        conn.execute(
            "INSERT INTO sessions(id, name, status, agent_name, started_at, ended_at, duration_ms, total_tokens,"
            " prompt_tokens, cost, metadata, failure_reason, output) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (sid, name, status, name, started, ended, dur, tok, tok, cost, meta, str(failure), output),
        )
        events = [
            (
                "llm_call",
                "llm:openai:gpt-4o",
                1e308,
                float("inf"),
                "many",
                1e300,
                '{"input": ' + nested_json(700) + "}",
            ),
            ("tool_call", "t", -1e18, -1.0, 2**62, float("-inf"), "not json"),
            ("error", None, "now", "long", None, None, '{"error": {"message": {"a": [1]}, "type": 5}}'),
            ("decision", "d", None, None, None, None, '{"confidence": "high", "alternatives": 5}'),
        ]
        for i, (etype, ename, ts, edur, etok, ecost, payload) in enumerate(events):
            conn.execute(
                "INSERT INTO events(id, session_id, seq, type, name, ts, duration_ms, prompt_tokens, total_tokens,"
                " cost, error, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    f"{sid}.{i}",
                    sid,
                    i if i != 2 else "two",
                    etype,
                    ename,
                    ts,
                    edur,
                    etok,
                    etok,
                    ecost,
                    "boom" if etype == "error" else None,
                    payload,
                ),
            )
        conn.execute("UPDATE sessions SET event_count = ? WHERE id = ?", (len(events), sid))
    conn.execute("UPDATE sessions SET event_count = 'lots' WHERE id = 'text-cols'")
    conn.commit()
    conn.close()
    return db, [r[0] for r in rows]


def test_every_command_reads_a_hostile_store(hostile_store):
    db, ids = hostile_store
    outputs = every_cli_command(db, ids)
    listed = json.loads(outputs["sessions --json"])
    sessions = listed if isinstance(listed, list) else listed.get("sessions", listed)
    assert {s["id"] for s in sessions} == set(ids)
    shown = json.loads(outputs["show huge-ts --json"])
    started = shown["session"]["started_at"]
    assert started == 32_503_680_000.0 or str(started).startswith("3000-01-01")  # clamped into range
    assert "3000-01-01" in outputs["show huge-ts"]
    assert "[max depth reached]" in outputs["show text-cols --json"]
    name = json.loads(outputs["show odd-status --json"])["session"]["name"]
    assert name == "\ufffd\ufffd bytes"  # bytes that are not UTF-8 read as text


def test_purge_on_a_hostile_store(hostile_store):
    db, _ = hostile_store
    code, out, err = run_cli("--db", db, "purge", "--older-than", "1d")
    assert code == 0, err
    code, out, err = run_cli("--db", db, "sessions", "--json")
    assert code == 0, err
    left = {s["id"] for s in json.loads(out)}
    assert "neg-ts" not in left and "huge-ts" in left


def test_token_sums_past_the_integer_range_neither_break_readers_nor_the_close(tmp_path):
    db = str(tmp_path / "big.db")
    store = Store(db)
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO sessions(id, name, status, started_at) VALUES ('big', 'big', 'running', 1000.0)"
    )
    for i in range(3):  # each fits in SQLite's 64-bit integer, their sum does not
        conn.execute(
            "INSERT INTO events(id, session_id, seq, type, name, ts, prompt_tokens, total_tokens, cost)"
            " VALUES (?, 'big', ?, 'llm_call', 'llm:openai:gpt-4o', 1001.0, ?, ?, 0.5)",
            (f"big.{i}", i, 2**62, 2**62),
        )
    conn.execute("UPDATE sessions SET event_count = 3 WHERE id = 'big'")
    conn.commit()
    conn.close()
    outputs = every_cli_command(db, ["big"])
    assert json.loads(outputs["sessions --json"])[0]["id"] == "big"
    store.ingest([{"kind": "session_close", "session_id": "big", "status": "success", "ts": 1002.0}])
    closed = store.get_session("big")
    assert closed["status"] == "success"
    assert closed["prompt_tokens"] is None and closed["cost"] == 1.5  # a sum past 2^53 is not a count
    store.close()
