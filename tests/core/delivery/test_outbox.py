"""``core/delivery/outbox.py``: the SQLite (WAL) outbox on real files: append, take, acknowledge, the
server-id map, records set aside, state counters, the size cap and the disk reserve, reopening."""

from __future__ import annotations

import os
import sqlite3
import stat
import time

import pytest

from sentrial_integrations.core.delivery import outbox as outbox_module
from sentrial_integrations.core.delivery.outbox import (
    DISK_RESERVE,
    ID_KEEP_AFTER_CLOSE,
    Outbox,
    OutboxFull,
    loads,
    outbox_path,
)


def _start(sid: str) -> dict:
    return {"kind": "session_start", "session_id": sid, "name": f"run {sid}", "ts": 1.0}


def _event(sid: str, seq: int) -> dict:
    return {
        "kind": "event",
        "id": f"{sid}.{seq}",
        "session_id": sid,
        "seq": seq,
        "type": "tool_call",
        "ts": 2.0,
    }


def _close(sid: str, seq: int) -> dict:
    return {"kind": "session_close", "session_id": sid, "seq": seq, "status": "success", "ts": 3.0}


@pytest.fixture
def path(tmp_path) -> str:
    return outbox_path(str(tmp_path), "abc123")


@pytest.fixture
def box(path):
    ob = Outbox(path)
    yield ob
    ob.close()


def _bodies(rows) -> list[dict]:
    return [loads(r[2]) for r in rows]


def test_outbox_path_names_the_destination(tmp_path):
    assert outbox_path(str(tmp_path), "k1") == os.path.join(str(tmp_path), "outbox-k1.db")


def test_a_new_outbox_is_a_private_wal_file(box, path):
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    assert {"records", "ids", "aside", "state"} <= tables
    assert box.depth() == 0 and box.size_bytes() == 0 and box.take(10) == []


def test_append_then_take_returns_records_in_commit_order(box):
    first = box.append([_start("s1"), _event("s1", 1)])
    last = box.append([_event("s2", 1), _close("s1", 2)])
    assert (first, last) == (2, 4)  # the highest row id written by each batch
    rows = box.take(10)
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert [(r[1], r[6]) for r in rows] == [
        ("s1", "session_start"),
        ("s1", "event"),
        ("s2", "event"),
        ("s1", "session_close"),
    ]
    assert _bodies(rows) == [_start("s1"), _event("s1", 1), _event("s2", 1), _close("s1", 2)]
    _, _, _, created, tries, not_before, _ = rows[0]
    assert created > 0 and tries == 0 and not_before == 0
    assert box.depth() == 4
    assert box.size_bytes() == sum(len(r[2]) for r in rows)


def test_take_limit_and_skips(box):
    box.append([_start("s1"), _event("s1", 1), _start("s2"), _event("s2", 1), _event("s1", 2)])
    assert [r[0] for r in box.take(2)] == [1, 2]
    assert [r[0] for r in box.take(10, skip_sessions=["s1"])] == [3, 4]
    assert [r[0] for r in box.take(10, skip_ids=[1, 3])] == [2, 4, 5]
    assert [r[0] for r in box.take(10, skip_sessions=["s2"], skip_ids=[2])] == [1, 5]
    assert box.take(10, skip_sessions=["s1", "s2"]) == []


def test_a_record_without_session_or_kind_is_kept_with_empty_columns(box):
    box.append([{"ts": 1.0, 7: "int key"}])
    (row,) = box.take(1)
    assert (row[1], row[6]) == ("", "")
    assert loads(row[2]) == {"ts": 1.0, "7": "int key"}  # non-string keys become text


def test_delete_on_acknowledgement_and_pending_upto(box):
    upto = box.append([_start("s1"), _event("s1", 1), _event("s1", 2)])
    later = box.append([_close("s1", 3)])
    assert box.pending_upto(upto) == 3 and box.pending_upto(later) == 4
    box.delete([1, 3])
    assert [r[0] for r in box.take(10)] == [2, 4]
    assert box.pending_upto(upto) == 1 and box.depth() == 2
    box.delete([])  # nothing to do
    box.delete([2, 4, 99])  # an id already gone is ignored
    assert box.pending_upto(later) == 0 and box.depth() == 0 and box.size_bytes() == 0


def test_note_failure_counts_tries_and_sets_the_backoff(box):
    box.append([_event("s1", 1)])
    assert box.note_failure(1, 1_000.0) == 1
    assert box.note_failure(1, 2_000.0) == 2
    assert box.note_failure(1, 3_000.0, count=False) == 2  # delayed, not counted
    (row,) = box.take(1)
    assert (row[4], row[5]) == (2, 3_000.0)
    assert box.note_failure(42, 1.0) == 0  # no such record


def test_set_aside_moves_a_record_out_of_the_queue(box, path):
    box.append([_start("s1"), _event("s1", 1), _event("s1", 2)])
    box.set_aside(2, "HTTP 400: " + "x" * 1_000)
    assert [r[0] for r in box.take(10)] == [1, 3]
    assert box.pending_upto(3) == 2  # set aside counts as done for a flush
    assert box.status()["set_aside"] == 1
    conn = sqlite3.connect(path)
    try:
        (aside,) = conn.execute("SELECT id, session, body, reason, at FROM aside").fetchall()
    finally:
        conn.close()
    assert aside[0] == 2 and aside[1] == "s1"
    assert loads(aside[2]) == _event("s1", 1)
    assert aside[3].startswith("HTTP 400: x") and len(aside[3]) == 500
    assert aside[4] > 0


def test_session_start_row_and_has_session_start(box):
    box.append([_event("s0", 1), _start("s1"), _event("s1", 1), _start("s2")])
    row = box.session_start_row("s1")
    assert row is not None
    assert (row[0], row[1], row[6]) == (2, "s1", "session_start")
    assert loads(row[2]) == _start("s1")
    assert box.session_start_row("s0") is None and box.session_start_row("nope") is None
    assert box.has_session_start("s2") and not box.has_session_start("s0")
    box.delete([2])
    assert box.session_start_row("s1") is None and not box.has_session_start("s1")


def test_the_server_id_map(box):
    assert box.server_id("ses_a") is None and box.id_count() == 0
    box.set_server_id("ses_a", "srv-1")
    box.set_server_id("ses_b", "srv-2")
    assert (box.server_id("ses_a"), box.server_id("ses_b")) == ("srv-1", "srv-2")
    box.set_server_id("ses_a", "srv-1b")  # replaced
    assert box.server_id("ses_a") == "srv-1b" and box.id_count() == 2
    box.mark_closed([])
    box.mark_closed(["ses_a"])
    # a closed session's id is kept for ID_KEEP_AFTER_CLOSE seconds, then pruned; open ones stay
    now = time.time()
    assert box.prune_ids(now) == 0
    assert box.prune_ids(now + ID_KEEP_AFTER_CLOSE + 60) == 1
    assert box.server_id("ses_a") is None and box.server_id("ses_b") == "srv-2"
    assert box.id_count() == 1


def test_set_server_id_again_reopens_a_closed_mapping(box):
    box.set_server_id("ses_a", "srv-1")
    box.mark_closed(["ses_a"])
    box.set_server_id("ses_a", "srv-1")  # closed reset to NULL
    assert box.prune_ids(time.time() + ID_KEEP_AFTER_CLOSE + 60) == 0
    assert box.server_id("ses_a") == "srv-1"


def test_state_counters_and_status(box, path):
    box.add_counts(delivered=3, dropped=0)
    box.add_counts(delivered=2, dropped=1)
    box.add_counts()  # nothing
    box.set_state(last_error="HTTP 503", destination="https://api.example", shipper_pid="4242")
    assert box.state() == {
        "delivered": "5",
        "dropped": "1",
        "last_error": "HTTP 503",
        "destination": "https://api.example",
        "shipper_pid": "4242",
    }
    box.append([_start("s1"), _event("s1", 1)])
    st = box.status()
    assert st["path"] == path
    assert (st["depth"], st["set_aside"], st["delivered"], st["dropped"]) == (2, 0, 5, 1)
    assert (st["last_error"], st["destination"], st["shipper_pid"]) == (
        "HTTP 503",
        "https://api.example",
        4242,
    )
    assert st["oldest_age_s"] is not None and st["oldest_age_s"] >= 0


def test_status_of_an_empty_outbox(box):
    st = box.status()
    assert (st["depth"], st["oldest_age_s"], st["set_aside"], st["delivered"], st["dropped"]) == (
        0,
        None,
        0,
        0,
        0,
    )
    assert (st["last_error"], st["destination"], st["shipper_pid"]) == (None, None, None)
    box.set_state(shipper_pid="")
    assert box.status()["shipper_pid"] is None


def test_the_size_cap_refuses_a_whole_batch(path):
    one = len(outbox_module.orjson.dumps(_event("s1", 1)))
    ob = Outbox(path, max_bytes=one * 3)
    try:
        ob.append([_event("s1", 1), _event("s1", 2)])
        with pytest.raises(OutboxFull, match="cap"):
            ob.append([_event("s1", 3), _event("s1", 4)])
        assert ob.depth() == 2  # nothing of the refused batch was written
        ob.append([_event("s1", 5)])  # what fits still goes in
        assert [loads(r[2])["seq"] for r in ob.take(10)] == [1, 2, 5]
        with pytest.raises(OutboxFull):
            ob.append([_event("s1", 6)])
        ob.delete([1, 2])  # the shipper delivered: room again
        ob.append([_event("s1", 6)])
        assert [loads(r[2])["seq"] for r in ob.take(10)] == [5, 6]
    finally:
        ob.close()


def test_the_size_cap_counts_what_another_handle_deleted(path):
    one = len(outbox_module.orjson.dumps(_event("s1", 1)))
    writer, shipper = Outbox(path, max_bytes=one * 2), Outbox(path)
    try:
        writer.append([_event("s1", 1), _event("s1", 2)])
        shipper.delete([r[0] for r in shipper.take(10)])  # another process acknowledged them
        writer.append([_event("s1", 3), _event("s1", 4)])  # the recorder re-reads the size before refusing
        assert writer.depth() == 2
    finally:
        writer.close()
        shipper.close()


def test_a_nearly_full_disk_keeps_the_reserve(path, monkeypatch):
    """The disk's free space is an OS reading: set it (no root or small filesystem needed)."""
    ob = Outbox(path)
    try:
        ob.append([_event("s1", 1)])
        monkeypatch.setattr(outbox_module, "_free_bytes", lambda p: DISK_RESERVE - 1)
        with pytest.raises(OutboxFull, match="disk"):
            ob.append([_event("s1", 2)])
        assert ob.depth() == 1
        # enough room above the reserve: accepted (and the WAL handed back to the disk)
        monkeypatch.setattr(outbox_module, "_free_bytes", lambda p: DISK_RESERVE + (1 << 20))
        ob.append([_event("s1", 3)])
        assert [loads(r[2])["seq"] for r in ob.take(10)] == [1, 3]
        assert os.path.getsize(path + "-wal") == 0
    finally:
        ob.close()


def test_reserve_is_at_most_disk_reserve(path):
    assert 0 < outbox_module._reserve(path) <= DISK_RESERVE


def test_reclaim_truncates_the_wal(box, path):
    box.append([_event("s1", i) for i in range(200)])
    assert os.path.getsize(path + "-wal") > 0
    box.reclaim()
    assert os.path.getsize(path + "-wal") == 0
    assert box.depth() == 200


def test_reopening_after_close_keeps_everything(path):
    ob = Outbox(path)
    ob.append([_start("s1"), _event("s1", 1), _event("s1", 2)])
    ob.set_aside(3, "refused")
    ob.set_server_id("s1", "srv-1")
    ob.add_counts(delivered=1)
    ob.close()

    again = Outbox(path)
    try:
        assert [r[0] for r in again.take(10)] == [1, 2]
        assert _bodies(again.take(10)) == [_start("s1"), _event("s1", 1)]
        assert again.server_id("s1") == "srv-1"
        assert again.status()["set_aside"] == 1 and again.state()["delivered"] == "1"
        assert again.append([_close("s1", 3)]) == 4  # ids keep growing (AUTOINCREMENT)
    finally:
        again.close()


def test_two_handles_on_one_file_see_each_others_rows(path):
    recorder, shipper = Outbox(path), Outbox(path)
    try:
        recorder.append([_start("s1")])
        assert _bodies(shipper.take(10)) == [_start("s1")]
        shipper.delete([1])
        assert recorder.depth() == 0
    finally:
        recorder.close()
        shipper.close()
