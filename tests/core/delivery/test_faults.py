"""Delivery under faults (issue 14's numbered cases): a loopback API that cuts, garbles, drips, hangs and
lies; real subprocesses, signals, forks, multiprocessing, a full tmpfs, pid namespaces and a locked store.

Every test asserts what arrived: each event once per id, per-session order, the close after the last
event, and nothing left in the outbox.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from sentrial_integrations import SentrialClient
from sentrial_integrations.core.delivery import launch
from sentrial_integrations.core.delivery.outbox import Outbox

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

PRELUDE = """
import os, sys, threading, time
from sentrial_integrations import SentrialClient
def make(**kw):
    opts = dict(api_key="test-key", base_url=os.environ["API_URL"], spool_path=os.environ["SPOOL"],
                request_timeout=2, retry_initial_backoff=0.05, retry_max_backoff=0.5)
    opts.update(kw)
    return SentrialClient(**opts)
"""


def run_child(code: str, api_url: str, spool: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "API_URL": api_url, "SPOOL": spool, "PYTHONPATH": ROOT}
    env.update(popen.pop("env", {}))
    os.makedirs(spool, exist_ok=True)
    fd, script = tempfile.mkstemp(suffix=".py", dir=spool)  # a file: spawn/forkserver re-import __main__
    with os.fdopen(fd, "w") as f:
        f.write(PRELUDE + textwrap.dedent(code))
    return subprocess.Popen(
        [sys.executable, script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def http_client(server, tmp_path, **kw) -> SentrialClient:
    opts = dict(
        api_key="test-key",
        base_url=server.url,
        spool_path=str(tmp_path / "spool"),
        request_timeout=2,
        retry_initial_backoff=0.05,
        retry_max_backoff=0.5,
    )
    opts.update(kw)
    return SentrialClient(**opts)


def assert_delivered_once_in_order(server, name: str, n: int, close: str | None = "success") -> dict:
    """The session arrived once, with events 0..n-1 once each in order, and its close after them."""
    matching = [s for s in server.sessions.values() if s["body"]["name"] == name]
    assert len(matching) == 1, f"{len(matching)} sessions named {name!r}"
    sess = matching[0]
    ids = [e["eventId"] for e in sess["events"]]
    assert len(ids) == len(set(ids)), "an event arrived twice"
    assert [e["toolInput"]["i"] for e in sess["events"]] == list(range(n))
    if close is not None:
        assert [c["sentrialStatus"] for c in sess["closes"]] == [close]
        reqs = server.requests
        close_at = max(i for i, r in enumerate(reqs) if r["method"] == "PATCH" and sess["id"] in r["path"])
        event_at = [
            i
            for i, r in enumerate(reqs)
            if r["path"] == "/api/sdk/events" and (r["body"] or {}).get("sessionId") == sess["id"]
        ]
        assert not event_at or close_at > max(event_at), "the close was sent before the last event"
    return sess


def wait_closed(server, name: str, timeout: float = 30) -> None:
    ok = server.wait_for(
        lambda s: any(x["body"]["name"] == name and x["closes"] for x in s.sessions.values()), timeout
    )
    assert ok, f"session {name!r} was not delivered and closed"


def outbox_files(spool: str) -> list[str]:
    return [p for p in glob.glob(os.path.join(spool, "outbox-*.db")) if not p.endswith("-wal")]


def outbox_depth(spool: str) -> int:
    return sum(Outbox(p).depth() for p in outbox_files(spool))


# 1. A cut-off or garbled 2xx answer to session create never loses the session's events ----------------


@pytest.mark.parametrize("how", ["cut_headers", "no_length", "garbage", "conflict_no_id"])
def test_a_cut_or_garbled_create_answer_is_asked_again_and_nothing_is_lost(sentrial_api, tmp_path, how):
    sentrial_api.mangle_next(1, how, path="/api/sdk/sessions")
    client = http_client(sentrial_api, tmp_path)
    with client.session("garbled") as s:
        for i in range(50):
            s.track_tool_call("t", {"i": i})
    assert client.flush(30)
    assert_delivered_once_in_order(sentrial_api, "garbled", 50)
    assert [r["mangled"] for r in sentrial_api.requests if r["mangled"]] == [how]
    assert outbox_depth(str(tmp_path / "spool")) == 0
    assert client.stats()["dropped"] == 0
    client.shutdown(2)


# 2. multiprocessing children (fork, forkserver, spawn) end with os._exit: their records still arrive ---


@pytest.mark.skipif(sys.platform != "linux", reason="fork and forkserver start methods")
@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_multiprocessing_children_commit_at_their_exit(sentrial_api, tmp_path, method):
    proc = run_child(
        f"""
        import multiprocessing as mp
        client = None
        def work(n):
            global client
            if client is None:
                client = make()
            with client.session(f"mp-{{n}}") as s:
                for i in range(50):
                    s.track_tool_call("t", {{"i": i}})
            # no flush: the child ends with os._exit, atexit never runs
        if __name__ == "__main__":
            client = make()
            ctx = mp.get_context("{method}")
            procs = [ctx.Process(target=work, args=(n,)) for n in range(4)]
            for p in procs: p.start()
            for p in procs: p.join()
            print("CODES", [p.exitcode for p in procs], flush=True)
        """,
        sentrial_api.url,
        str(tmp_path),
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.strip() == "CODES [0, 0, 0, 0]", err
    for n in range(4):
        wait_closed(sentrial_api, f"mp-{n}")
        assert_delivered_once_in_order(sentrial_api, f"mp-{n}", 50)


# 3. A child forked right after create_session records into the parent's session ----------------------


@pytest.mark.parametrize("backend_down", [False, True])
def test_a_child_forked_right_after_create_session_loses_nothing(sentrial_api, tmp_path, backend_down):
    if backend_down:
        sentrial_api.go_down()
    proc = run_child(
        """
        client = make()
        sid = client.create_session("forked-early")
        pid = os.fork()  # before the parent committed (let alone delivered) the session
        if pid == 0:
            for i in range(100, 200):
                client.track_tool_call(sid, "t", {"i": i})
            os._exit(0 if client.persist(10) else 7)
        for i in range(100):
            client.track_tool_call(sid, "t", {"i": i})
        _, status = os.waitpid(pid, 0)
        client.close_session(sid)
        assert client.persist(10)
        print("CHILD", os.waitstatus_to_exitcode(status), flush=True)
        """,
        sentrial_api.url,
        str(tmp_path),
    )
    out, err = proc.communicate(timeout=60)
    assert out.strip() == "CHILD 0", err
    if backend_down:
        sentrial_api.come_up()
    wait_closed(sentrial_api, "forked-early")
    sess = next(s for s in sentrial_api.sessions.values() if s["body"]["name"] == "forked-early")
    got = [e["toolInput"]["i"] for e in sess["events"]]
    assert sorted(got) == list(range(200)) and len(set(e["eventId"] for e in sess["events"])) == 200
    assert [i for i in got if i < 100] == list(range(100))  # each process's events in its order
    assert [i for i in got if i >= 100] == list(range(100, 200))


# 4. SIGKILL while a session create is in flight (in the host, and in the shipper) ---------------------


def test_sigkill_of_host_and_shipper_while_create_is_in_flight(sentrial_api, tmp_path):
    spool = str(tmp_path / "spool")
    sentrial_api.hang(True)
    proc = run_child(
        """
        client = make()
        sid = client.create_session("killed-in-flight")
        for i in range(60):
            client.track_tool_call(sid, "t", {"i": i})
        client.close_session(sid)
        assert client.persist(10)
        print("PERSISTED", flush=True)
        threading.Event().wait()
        """,
        sentrial_api.url,
        spool,
    )
    assert proc.stdout.readline().strip() == "PERSISTED"
    assert sentrial_api.wait_for(lambda s: s.hanging >= 1, 30)  # the create is in flight
    proc.kill()
    proc.communicate(timeout=30)
    (path,) = outbox_files(spool)
    pid = Outbox(path).status()["shipper_pid"]
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # the shipper dies with the create in flight too
    sentrial_api.hang(False)
    # the next process that records to this destination finds the records and has them delivered
    nxt = run_child("client = make()\nprint('STARTED', flush=True)\n", sentrial_api.url, spool)
    nxt.communicate(timeout=60)
    wait_closed(sentrial_api, "killed-in-flight")
    assert_delivered_once_in_order(sentrial_api, "killed-in-flight", 60)
    assert sentrial_api.wait_for(lambda s: outbox_depth(spool) == 0, 10) or outbox_depth(spool) == 0


def test_sigkill_with_a_slow_backend_then_the_next_process_delivers_all(sentrial_api, tmp_path):
    spool = str(tmp_path / "spool")
    sentrial_api.set_delay(0.02)
    proc = run_child(
        """
        client = make()
        for n in range(3):
            sid = client.create_session(f"slow-{n}")
            for i in range(40):
                client.track_tool_call(sid, "t", {"i": i})
            client.close_session(sid)
        assert client.persist(10)
        print("PERSISTED", flush=True)
        threading.Event().wait()
        """,
        sentrial_api.url,
        spool,
    )
    assert proc.stdout.readline().strip() == "PERSISTED"
    assert sentrial_api.wait_for(lambda s: s.event_count >= 5, 30)
    proc.kill()
    proc.communicate(timeout=30)
    (path,) = outbox_files(spool)
    pid = Outbox(path).status()["shipper_pid"]
    os.kill(pid, signal.SIGKILL)
    sentrial_api.set_delay(0)
    nxt = run_child("client = make()\nprint('STARTED', flush=True)\n", sentrial_api.url, spool)
    nxt.communicate(timeout=60)
    for n in range(3):
        wait_closed(sentrial_api, f"slow-{n}")
        assert_delivered_once_in_order(sentrial_api, f"slow-{n}", 40)


# 5. SIGTERM during the exit commit; configure() twice ------------------------------------------------


@pytest.mark.timeout(300)
def test_sigterm_arriving_during_the_exit_commit_loses_nothing(sentrial_api, tmp_path):
    proc = run_child(
        """
        import signal
        from sentrial_integrations.core.api import process as core_client
        client = make()
        sid = client.create_session("term-at-exit")
        for i in range(5000):
            client.track_tool_call(sid, "t", {"i": i})
        client.close_session(sid)
        def kill_during_exit():
            while not core_client._exiting:  # the exit commit has started
                time.sleep(0.0005)
            os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=kill_during_exit, daemon=True).start()
        """,
        sentrial_api.url,
        str(tmp_path),
    )
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGTERM  # it still dies of the SIGTERM, after committing
    wait_closed(sentrial_api, "term-at-exit", timeout=240)
    assert_delivered_once_in_order(sentrial_api, "term-at-exit", 5000)


def test_configure_twice_then_exit_keeps_the_first_clients_events(sentrial_api, tmp_path):
    proc = run_child(
        """
        import sentrial_integrations as si
        opts = dict(api_key="test-key", base_url=os.environ["API_URL"], spool_path=os.environ["SPOOL"])
        first = si.configure(**opts)
        sid = first.create_session("first-client")
        for i in range(500):
            first.track_tool_call(sid, "t", {"i": i})
        first.close_session(sid)
        si.configure(**opts)  # replaces the default; the first client must still commit
        """,
        sentrial_api.url,
        str(tmp_path),
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    wait_closed(sentrial_api, "first-client")
    assert_delivered_once_in_order(sentrial_api, "first-client", 500)


# 6. A full disk under the outbox --------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    yield str(mnt)
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_full_disk_never_duplicates_and_counts_the_overflow(sentrial_api, tmp_path, tiny_disk, caplog):
    caplog.set_level(logging.WARNING, logger="sentrial_integrations")
    client = http_client(sentrial_api, tmp_path, spool_path=tiny_disk, max_queue_size=3_000)
    sentrial_api.go_down()
    sid = client.create_session("full-disk")
    for i in range(10_000):
        client.track_tool_call(sid, "t", {"i": i, "pad": "x" * 1000})
    client.close_session(sid)
    assert not client.persist(5)  # it cannot all be committed: the disk is full, and it says so
    st = client.stats()
    assert st["dropped"] > 0  # the overflow is counted (memory stays bounded by the queue cap) ...
    assert st["queued"] <= 3_000
    messages = [r.getMessage() for r in caplog.records]
    assert any("disk" in m and "full" in m for m in messages)  # ... and warned
    sentrial_api.come_up()
    assert sentrial_api.wait_for(lambda s: s.event_count > 0, 30)
    client.flush(5)
    sess = next(s for s in sentrial_api.sessions.values() if s["body"]["name"] == "full-disk")
    got = [e["toolInput"]["i"] for e in sess["events"]]
    assert got == list(range(len(got)))  # what was committed arrives in order, nothing twice
    assert sentrial_api.duplicates == 0  # not even a repeated request
    client.shutdown(1)


# 7. Ownership survives pid namespaces and pid reuse ------------------------------------------------


def test_writers_in_separate_pid_namespaces_share_one_outbox_without_duplicates(sentrial_api, tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    probe = subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no pid namespaces here")
    spool = str(tmp_path / "spool")
    code = PRELUDE + textwrap.dedent(
        """
        assert os.getpid() == 1  # both writers are pid 1, each in its own namespace
        client = make()
        with client.session(f"ns-{sys.argv[1]}") as s:
            for i in range(500):
                s.track_tool_call("t", {"i": i})
        # one shipper (in either namespace) serves both; a namespace's processes end with its pid 1
        assert client.flush(60)
        """
    )
    env = {**os.environ, "API_URL": sentrial_api.url, "SPOOL": spool, "PYTHONPATH": ROOT}
    procs = [
        subprocess.Popen(
            ["unshare", "--pid", "--fork", sys.executable, "-c", code, str(n)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    for n in range(2):
        wait_closed(sentrial_api, f"ns-{n}")
        assert_delivered_once_in_order(sentrial_api, f"ns-{n}", 500)
    events = [r for r in sentrial_api.requests if r["path"] == "/api/sdk/events" and r["status"] == 200]
    assert len({r["headers"]["idempotency-key"] for r in events}) == 1000


# 8. A backend that drips its answer ----------------------------------------------------------------


def test_a_dripping_backend_cannot_stall_delivery(sentrial_api, tmp_path):
    sentrial_api.drip_interval = 1.0
    client = http_client(sentrial_api, tmp_path, request_timeout=1.0)
    sid = client.create_session("drip")
    assert client.flush(20)
    sentrial_api.mangle_next(3, "drip", path="/api/sdk/events")
    for i in range(30):
        client.track_tool_call(sid, "t", {"i": i})
    client.close_session(sid)
    assert client.flush(60)
    assert_delivered_once_in_order(sentrial_api, "drip", 30)
    client.shutdown(2)


# 9. One odd value or one refused record never blocks or drops its neighbours ------------------------


def test_odd_values_are_normalised_and_a_record_refused_with_500_is_set_aside(sentrial_api, tmp_path):
    sentrial_api.fail_matching(
        lambda method, path, body: isinstance(body, dict) and (body.get("toolInput") or {}).get("i") == 7, 500
    )
    client = http_client(sentrial_api, tmp_path)
    with client.session("neighbours") as s:
        s.track_error({"message": {"code": 42}})
        s.track_llm_call("gpt-4o-mini", prompt_tokens=2**63, completion_tokens=1)
        for i in range(20):
            s.track_tool_call("t", {"i": i})
    assert client.flush(60)
    sess = next(x for x in sentrial_api.sessions.values() if x["body"]["name"] == "neighbours")
    tools = [e["toolInput"]["i"] for e in sess["events"] if e.get("toolName") == "t"]
    assert tools == [i for i in range(20) if i != 7]
    err = next(e for e in sess["events"] if e["eventType"] == "error")
    assert isinstance(err["toolError"]["message"], str) and "42" in err["toolError"]["message"]
    assert len(sess["closes"]) == 1
    assert client.stats()["dropped"] == 1
    (path,) = outbox_files(str(tmp_path / "spool"))
    status = Outbox(path).status()
    assert status["depth"] == 0 and status["set_aside"] == 1
    client.shutdown(2)


def test_a_row_that_is_json_but_not_a_record_is_set_aside(sentrial_api, tmp_path):
    client = http_client(sentrial_api, tmp_path)
    sid = client.create_session("after-bad-row")
    assert client.flush(20)
    (path,) = outbox_files(str(tmp_path / "spool"))
    conn = sqlite3.connect(path, timeout=10)
    conn.execute("INSERT INTO records(session, kind, body, created) VALUES ('x', 'event', '[1, 2]', 0)")
    conn.commit()
    conn.close()
    for i in range(5):
        client.track_tool_call(sid, "t", {"i": i})
    client.close_session(sid)
    assert client.flush(30)
    assert_delivered_once_in_order(sentrial_api, "after-bad-row", 5)
    assert Outbox(path).status()["set_aside"] == 1
    client.shutdown(2)


def test_a_redact_hook_returning_a_non_dict_is_marked_not_fatal(sentrial_api, tmp_path):
    client = http_client(sentrial_api, tmp_path, redact=lambda rec: "not a dict")
    with client.session("hook") as s:
        for i in range(3):
            s.track_tool_call("t", {"i": i})
    assert client.flush(30)
    wait_closed(sentrial_api, "hook")
    sess = next(x for x in sentrial_api.sessions.values() if x["body"]["name"] == "hook")
    assert len(sess["events"]) == 3
    client.shutdown(2)


# 10. An API key with a trailing newline --------------------------------------------------------------


def test_an_api_key_with_a_trailing_newline_still_delivers_and_is_never_logged(
    sentrial_api, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG, logger="sentrial_integrations")
    with pytest.warns(Warning):
        client = http_client(sentrial_api, tmp_path, api_key="test-key\n")
    with client.session("newline-key") as s:
        s.track_tool_call("t", {"i": 0})
    assert client.flush(30)
    assert_delivered_once_in_order(sentrial_api, "newline-key", 1)
    assert all("test-key" not in r.getMessage() for r in caplog.records)
    client.shutdown(2)


# 11. A locked local store never holds fork, persist, flush or exit ---------------------------------


def test_a_write_locked_store_never_holds_fork_persist_flush_or_exit(tmp_path):
    db = str(tmp_path / "locked.db")
    SentrialClient(local_path=db).shutdown(2)  # create the store
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('BEGIN IMMEDIATE');"
            "print('LOCKED', flush=True); sys.stdin.read()",
            db,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "LOCKED"
    try:
        code = f"""
        import time
        from sentrial_integrations import SentrialClient
        client = SentrialClient(local_path={db!r}, exit_timeout=1.0)
        with client.session("locked") as s:
            for i in range(100):
                s.track_tool_call("t", {{"i": i}})
        t = time.monotonic(); ok = client.persist(0.5); p = time.monotonic() - t
        t = time.monotonic(); pid = os.fork()
        if pid == 0:
            os._exit(0)
        f = time.monotonic() - t
        os.waitpid(pid, 0)
        t = time.monotonic(); fl = client.flush(0.5); fd = time.monotonic() - t
        print(json.dumps({{"persist": ok, "persist_s": p, "fork_s": f, "flush": fl, "flush_s": fd}}), flush=True)
        """
        proc = run_child(
            "import json\n" + textwrap.dedent(code), "http://127.0.0.1:9", str(tmp_path / "spool")
        )
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=60)
        total = time.monotonic() - t0
        assert proc.returncode == 0, err
        got = json.loads(out.strip().splitlines()[-1])
        assert got["persist"] is False and got["flush"] is False  # it could not commit: it says so
        # deadlines that hold (generous margins: a loaded machine, never SQLite's 10 s busy wait)
        assert got["persist_s"] < 3 and got["flush_s"] < 3 and got["fork_s"] < 1
        assert total < 20
    finally:
        holder.communicate("", timeout=10)
    # the lock is gone: a new client records as usual
    client = SentrialClient(local_path=db)
    with client.session("after-lock") as s:
        s.track_tool_call("t", {"i": 0})
    assert client.flush(10)
    client.shutdown(2)


# 12. One exit budget per process; a down backend costs the exit nothing ----------------------------


@pytest.mark.parametrize("delivery", ["process", "thread"])
def test_exit_with_three_clients_and_a_hanging_backend(sentrial_api, tmp_path, delivery):
    sentrial_api.hang(True)
    proc = run_child(
        f"""
        clients = [make(exit_timeout=2.0, delivery="{delivery}", request_timeout=30) for _ in range(3)]
        for n, c in enumerate(clients):
            sid = c.create_session(f"budget-{{n}}")
            c.track_tool_call(sid, "t", {{"i": 0}})
        assert all(c.persist(10) for c in clients)
        print("T0", time.monotonic(), flush=True)
        """,
        sentrial_api.url,
        str(tmp_path),
    )
    out, err = proc.communicate(timeout=60)
    ended = time.monotonic()
    assert proc.returncode == 0, err
    t0 = float(out.split()[-1])
    exit_s = ended - t0
    if delivery == "process":
        assert exit_s < 1.5, exit_s  # no network at exit (measured ~0.05 s; margin for a loaded machine)
    else:
        assert exit_s < 2.0 + 1.5, exit_s  # one budget for the whole process, not one per client
    sentrial_api.hang(False)


# 13. SIGTERM when the first client was created off the main thread ---------------------------------


def test_sigterm_commits_when_the_first_client_was_made_on_another_thread(sentrial_api, tmp_path):
    proc = run_child(
        """
        ready = threading.Event()
        def work():
            client = make()
            s = client.session("off-main")
            s.__enter__()
            for i in range(100):
                s.track_tool_call("t", {"i": i})
            ready.set()
            threading.Event().wait()
        threading.Thread(target=work, daemon=True).start()
        ready.wait()
        print("READY", flush=True)
        threading.Event().wait()
        """,
        sentrial_api.url,
        str(tmp_path),
    )
    assert proc.stdout.readline().strip() == "READY"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM
    wait_closed(sentrial_api, "off-main")
    assert_delivered_once_in_order(sentrial_api, "off-main", 100, close="abandoned")


# 14. The server-id map does not grow with the number of sessions -----------------------------------


def test_the_server_id_map_is_pruned_when_sessions_are_done(sentrial_api, tmp_path):
    client = http_client(sentrial_api, tmp_path, delivery="thread")
    for n in range(300):
        with client.session(f"many-{n}") as s:
            s.track_tool_call("t", {"i": 0})
    assert client.flush(60)
    assert sentrial_api.session_count == 300
    (path,) = outbox_files(str(tmp_path / "spool"))
    (handle,) = [h for h in launch.thread_handles() if h.path == path]
    assert handle.shipper is not None
    assert len(handle.shipper.exporter._ids) == 0  # the exporter's cache forgets closed sessions
    outbox = Outbox(path)
    assert outbox.id_count() == 300  # kept a while for late children ...
    outbox.prune_ids(now=time.time() + 3600)
    assert outbox.id_count() == 0  # ... then pruned
    client.shutdown(2)


# the `status` and `ship` commands ------------------------------------------------------------------


def test_status_and_ship_commands(sentrial_api, tmp_path):
    spool = str(tmp_path / "spool")
    sentrial_api.go_down()
    proc = run_child(
        """
        client = make()
        with client.session("via-ship") as s:
            for i in range(10):
                s.track_tool_call("t", {"i": i})
        assert client.persist(10)
        """,
        sentrial_api.url,
        spool,
        env={"SENTRIAL_DELIVERY": "thread"},  # nobody ships after this process: `ship` will
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    cli = [sys.executable, "-m", "sentrial_integrations"]
    env = {**os.environ, "SENTRIAL_SPOOL_PATH": spool, "PYTHONPATH": ROOT}
    st = subprocess.run([*cli, "status", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert st.returncode == 0, st.stderr
    (row,) = json.loads(st.stdout)
    assert row["depth"] == 12 and row["shipper_pid"] is None
    sentrial_api.come_up()
    env_key = {**env, "SENTRIAL_API_KEY": "test-key", "SENTRIAL_BASE_URL": sentrial_api.url}
    sh = subprocess.run([*cli, "ship", "--once"], env=env_key, capture_output=True, text=True, timeout=60)
    assert sh.returncode == 0, sh.stderr
    assert_delivered_once_in_order(sentrial_api, "via-ship", 10)
    st = subprocess.run([*cli, "status", "--json"], env=env, capture_output=True, text=True, timeout=60)
    (row,) = json.loads(st.stdout)
    assert row["depth"] == 0 and row["delivered"] == 12


# the outbox is private -------------------------------------------------------------------------------


def test_a_foreign_outbox_file_is_refused_and_said(sentrial_api, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="sentrial_integrations")
    spool = tmp_path / "spool"
    probe = http_client(sentrial_api, tmp_path)
    probe.shutdown(0.1)
    from sentrial_integrations.core.delivery.outbox import outbox_path

    path = outbox_path(str(spool), probe.config.destination_key())
    spool.mkdir(exist_ok=True)
    with open(path, "w"):
        pass
    os.chmod(path, 0o666)  # pre-created by someone else in a shared folder: world-writable
    client = http_client(sentrial_api, tmp_path)
    with client.session("foreign") as s:
        s.track_tool_call("t", {"i": 0})
    assert not client.persist(1)  # nothing is committed into that file ...
    assert os.path.getsize(path) == 0
    assert any(
        path in r.getMessage() and "refusing" in r.getMessage() for r in caplog.records
    )  # ... and said
    client.shutdown(0.5)
