"""core/store split into schema / columns / writer / queries / stats: what each part does on its own, and
the old import paths (``sentrial_integrations.store``, ``core.store``) still giving the same names."""

from __future__ import annotations

import sqlite3

import pytest

from sentrial_integrations.core import store as core_store
from sentrial_integrations.core.store import (
    SessionFilter,
    Store,
    compute_stats,
    match_session_ids,
    percentile,
)
from sentrial_integrations.core.store.queries import where_clause
from sentrial_integrations.core.store.schema import SCHEMA_VERSION, create_schema, schema_version

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def _session(sid: str, name: str, ts: float, events: list[dict]) -> list[dict]:
    recs = [{"kind": "session_start", "session_id": sid, "name": name, "ts": ts}]
    for i, e in enumerate(events):
        recs.append({"kind": "event", "session_id": sid, "id": f"{sid}-{i}", "seq": i, **e})
    recs.append({"kind": "session_close", "session_id": sid, "status": "success", "ts": ts + 10})
    return recs


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "s.db"))
    s.ingest(
        _session("abc_1", "first", T0, [
            {"type": "tool_call", "name": "search", "ts": T0 + 1, "duration_ms": 1000},
            {"type": "llm_call", "name": "chat", "model": "gpt-4o", "ts": T0 + 3, "duration_ms": 2000,
             "total_tokens": 30, "cost": 0.5},
            {"type": "tool_call", "name": "search", "ts": T0 + 6, "duration_ms": 3000, "error": {"message": "x"}},
        ])
        + _session("abc_2", "second", T0 + 100, [])
        + _session("abd", "third", T0 + 200, [])
    )  # fmt: skip
    yield s
    s.close()


def test_old_import_paths_give_the_same_names():
    import sentrial_integrations.store as shim

    for name in core_store.__all__:
        assert getattr(shim, name) is getattr(core_store, name)
    assert not hasattr(Store, "all_events")  # dead code, gone


def test_schema_is_created_once_and_versioned(tmp_path):
    conn = sqlite3.connect(str(tmp_path / "raw.db"))
    create_schema(conn)
    create_schema(conn)  # idempotent: tables and columns exist, the version row stays
    cols = {r[1] for r in conn.execute("PRAGMA table_info(sessions)")}
    assert {"user_input", "unpriced_calls", "convo_id"} <= cols
    assert conn.execute("SELECT value FROM meta").fetchall() == [(str(SCHEMA_VERSION),)]
    conn.close()
    s = Store(str(tmp_path / "raw.db"), create=False, readonly=True)
    assert schema_version(s) == SCHEMA_VERSION
    s.close()


def test_prefix_lookups_share_one_query(store):
    assert match_session_ids(store, "abc") == ["abc_1", "abc_2"]
    assert match_session_ids(store, "abc", limit=1) == ["abc_1"]
    assert match_session_ids(store, "abd") == ["abd"]
    assert store.resolve_id("abd") == "abd"
    assert store.resolve_id("abc_1") == "abc_1"  # an exact id wins
    assert store.resolve_id("abc") is None  # ambiguous
    assert store.resolve_id("ab_") is None and match_session_ids(store, "ab_") == []  # _ is literal
    assert store.resolve_id("zzz") is None


def test_where_clause_escapes_like_patterns():
    where, args = where_clause(SessionFilter(name="50%_a\\b", status="success", meta={"k": "v"}))
    assert where.startswith("WHERE status = ? AND name LIKE ? ESCAPE")
    assert args == ["success", "%50\\%\\_a\\\\b%", '$."k"', "v"]
    assert where_clause(SessionFilter()) == ("", [])


def test_stats_from_the_store_alone(store):
    stats = compute_stats(store, SessionFilter(name="first", limit=-1), top=2, now=T0 + 1000)
    assert stats["summary"]["sessions"] == 1 and stats["summary"]["events"] == 3
    assert stats["summary"]["errors"] == 1 and stats["summary"]["errors_by_step"] == {"search": 1}
    assert stats["summary"]["idle_ms"] == pytest.approx(1000 + 1000)  # 2-3 s and 5-6 s
    (tool,) = stats["tools"]
    assert (tool["name"], tool["count"], tool["errors"], tool["p50_ms"]) == ("search", 2, 1, 2000)
    (model,) = stats["models"]
    assert (model["name"], model["total_tokens"], model["cost"]) == ("gpt-4o", 30, 0.5)
    assert [r["duration_ms"] for r in stats["slowest"]] == [3000, 2000]
    assert stats["slowest"][0]["share_of_session"] == pytest.approx(0.3)
    assert [g["gap_ms"] for g in stats["gaps"]] == [pytest.approx(1000), pytest.approx(1000)]
    seen: list[int] = []
    compute_stats(store, SessionFilter(limit=-1), top=1, now=T0, view=lambda ss: seen.append(len(ss)) or ss)
    assert seen == [3]
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
