"""Process life cycle: exit flush, SIGTERM, sys.exit in a thread, SIGKILL + spool replay, fork."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

PRELUDE = """
import os, sys, threading
from sentrial_integrations import SentrialClient
client = SentrialClient(api_key="test-key", base_url=os.environ["API_URL"], spool_path=os.environ["SPOOL"],
                        request_timeout=2, retry_initial_backoff=0.05, retry_max_backoff=0.5)
"""


def run_child(code: str, api_url: str, spool: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "API_URL": api_url, "SPOOL": spool, "PYTHONPATH": ROOT}
    return subprocess.Popen(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def delivered(server, name: str, closes: int = 1, timeout: float = 30) -> None:
    """Wait until the shipper (which outlives the recording process) delivered the session's close."""
    ok = server.wait_for(
        lambda s: (sess := s.session_by_name(name)) is not None and len(sess["closes"]) >= closes, timeout
    )
    assert ok, f"session {name!r} was not delivered and closed"


def events_of(server, name: str) -> list[int]:
    sess = server.session_by_name(name)
    assert sess is not None, f"no session {name!r}"
    return [e["toolInput"]["i"] for e in sess["events"]]


def closes_of(server, name: str) -> list[str]:
    return [c["sentrialStatus"] for c in server.session_by_name(name)["closes"]]


def test_normal_exit_delivers_queued_events_and_closes_open_sessions(sentrial_api, tmp_path):
    sentrial_api.set_delay(0.002)
    proc = run_child(
        """
        sid = client.create_session("exit-normal")
        for i in range(300):
            client.track_tool_call(sid, "t", {"i": i})
        # no flush, no close: the exit hook does both
        """,
        sentrial_api.url,
        str(tmp_path),
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    delivered(sentrial_api, "exit-normal")
    assert events_of(sentrial_api, "exit-normal") == list(range(300))
    assert closes_of(sentrial_api, "exit-normal") == ["abandoned"]


def test_sigterm_flushes_then_dies_of_sigterm(sentrial_api, tmp_path):
    sentrial_api.set_delay(0.002)
    proc = run_child(
        """
        with client.session("sigterm") as s:
            for i in range(200):
                s.track_tool_call("t", {"i": i})
            print("READY", flush=True)
            threading.Event().wait()
        """,
        sentrial_api.url,
        str(tmp_path),
    )
    assert proc.stdout.readline().strip() == "READY"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM  # same death as without us
    delivered(sentrial_api, "sigterm")
    assert events_of(sentrial_api, "sigterm") == list(range(200))
    assert closes_of(sentrial_api, "sigterm") == ["abandoned"]


def test_sys_exit_inside_a_thread_still_delivers(sentrial_api, tmp_path):
    proc = run_child(
        """
        def work():
            with client.session("thread-exit") as s:
                for i in range(50):
                    s.track_tool_call("t", {"i": i})
            sys.exit(3)
        t = threading.Thread(target=work)
        t.start(); t.join()
        """,
        sentrial_api.url,
        str(tmp_path),
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    delivered(sentrial_api, "thread-exit")
    assert events_of(sentrial_api, "thread-exit") == list(range(50))
    assert closes_of(sentrial_api, "thread-exit") == ["success"]


def test_spool_left_by_a_killed_process_is_delivered_by_the_next_one(sentrial_api, tmp_path):
    sentrial_api.go_down()
    proc = run_child(
        """
        sid = client.create_session("killed")
        for i in range(120):
            client.track_tool_call(sid, "t", {"i": i})
        client.close_session(sid, "success")
        assert client.persist(10)
        print("PERSISTED", client.stats()["spooled"], flush=True)
        os.kill(os.getpid(), 9)
        """,
        sentrial_api.url,
        str(tmp_path),
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    assert out.strip() == "PERSISTED 122"
    sentrial_api.come_up()  # the shipper the killed process started delivers its outbox
    delivered(sentrial_api, "killed")
    assert events_of(sentrial_api, "killed") == list(range(120))
    assert closes_of(sentrial_api, "killed") == ["success"]
    assert sentrial_api.duplicates == 0


def test_fork_parent_and_child_each_deliver_their_own_events(sentrial_api, tmp_path):
    proc = run_child(
        """
        with client.session("parent-before") as s:
            s.track_tool_call("t", {"i": 0})
        pid = os.fork()
        if pid == 0:
            with client.session("child") as s:
                for i in range(40):
                    s.track_tool_call("t", {"i": i})
            ok = client.flush(20)
            os._exit(0 if ok else 7)
        with client.session("parent-after") as s:
            for i in range(30):
                s.track_tool_call("t", {"i": i})
        _, status = os.waitpid(pid, 0)
        assert client.flush(20)
        print("CHILD", os.waitstatus_to_exitcode(status), flush=True)
        """,
        sentrial_api.url,
        str(tmp_path),
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip() == "CHILD 0"
    assert events_of(sentrial_api, "parent-before") == [0]
    assert events_of(sentrial_api, "child") == list(range(40))
    assert events_of(sentrial_api, "parent-after") == list(range(30))
    assert sentrial_api.session_count == 3


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_multiprocessing_fork_workers_deliver(sentrial_api, tmp_path):
    proc = run_child(
        """
        import multiprocessing as mp
        import faulthandler
        def work(n):
            with client.session(f"worker-{n}") as s:
                for i in range(10):
                    s.track_tool_call("t", {"i": i})
            ok = client.flush(20)
            if not ok:  # diagnostics for the assertion message
                print("flush failed in", os.getpid(), client.stats(), file=sys.stderr, flush=True)
                faulthandler.dump_traceback(all_threads=True)
            return ok
        if __name__ == "__main__":
            client.create_session("preload")  # the gunicorn --preload pattern: client made before fork
            with mp.get_context("fork").Pool(3) as pool:
                print(pool.map(work, range(6)), flush=True)
        """,
        sentrial_api.url,
        str(tmp_path),
    )
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert out.strip() == str([True] * 6), err
    for n in range(6):
        assert events_of(sentrial_api, f"worker-{n}") == list(range(10))


def test_forked_child_recording_into_the_parents_session_loses_nothing(sentrial_api, tmp_path):
    proc = run_child(
        """
        sid = client.create_session("shared")
        client.track_tool_call(sid, "t", {"i": 0})
        assert client.flush(10)
        pid = os.fork()
        if pid == 0:
            client.track_tool_call(sid, "t", {"i": 100})
            os._exit(0 if client.flush(20) else 7)
        client.track_tool_call(sid, "t", {"i": 1})
        _, status = os.waitpid(pid, 0)
        client.close_session(sid)
        assert client.flush(20)
        print("CHILD", os.waitstatus_to_exitcode(status), flush=True)
        """,
        sentrial_api.url,
        str(tmp_path),
    )
    out, err = proc.communicate(timeout=60)
    assert out.strip() == "CHILD 0", err
    assert sorted(events_of(sentrial_api, "shared")) == [0, 1, 100]
    assert closes_of(sentrial_api, "shared") == ["success"]


def test_a_forked_childs_event_ids_are_the_ids_it_stores(tmp_path):
    """``track_*`` in a forked child returns the id its record carries (``<session>.<seq>-<pid>``),
    so the id a caller keeps finds the stored event."""
    db = tmp_path / "local.db"
    code = textwrap.dedent(
        f"""
        import os, sys
        from sentrial_integrations import SentrialClient
        client = SentrialClient(local_path={str(db)!r})
        sid = client.create_session("shared")
        parent_id = client.track_tool_call(sid, "t", {{"i": 0}})
        assert client.persist(10)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            child_id = client.track_tool_call(sid, "t", {{"i": 100}})
            os.write(w, child_id.encode())
            os._exit(0 if client.persist(20) else 7)
        os.close(w)
        child_id = os.read(r, 200).decode()
        _, status = os.waitpid(pid, 0)
        client.close_session(sid)
        assert client.persist(20)
        print(sid, parent_id, child_id, os.waitstatus_to_exitcode(status), pid)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    sid, parent_id, child_id, child_code, child_pid = proc.stdout.split()
    assert child_code == "0", proc.stderr
    assert parent_id == f"{sid}.1"
    assert child_id == f"{sid}.2-{child_pid}"
    from sentrial_integrations.core.store import Store

    store = Store(str(db))
    try:
        stored = {e["id"]: e for e in store.get_events(sid)}
    finally:
        store.close()
    assert set(stored) == {parent_id, child_id}
    assert stored[child_id]["input"] == {"i": 100}
