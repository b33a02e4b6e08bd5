"""2. Delivery: events per second from the first enqueue until acknowledged, and memory while down.

* HTTP: N events spread over S sessions (created and closed in the run) to the loopback Sentrial-API
  server in its own process; the clock stops when ``flush()`` returns (every record acknowledged by
  the server), and the server's own event count is checked. Ours with 16 sessions (different sessions
  are sent concurrently) and with 1 session (a session's records go strictly one after the other).
  The official SDK on the same server: its default mode (one blocking request per call) and
  ``batching=True`` (the caller's thread sends every 10th call), timed until its last request returned.
* SQLite: the same into the embedded store (a fresh file per round), until ``flush()`` returns.
* Memory: in a fresh subprocess, ``ru_maxrss`` before and after queueing 100k events (and 3x the
  queue cap) while the backend is down, and 100k while it answers in 50 ms.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from typing import Any

from .common import (
    API_KEY,
    REPO,
    Cfg,
    Row,
    closed_port_url,
    median,
    perf_ns,
    rotations,
    sentrial_api_server,
    settle,
    temp_dir,
)
from .core import TOOL_INPUT, TOOL_OUTPUT


def _events(client: Any, sids: list[str], n: int) -> None:
    tt, td = client.track_tool_call, client.track_decision
    k = len(sids)
    for i in range(n):
        sid = sids[i % k]
        if i & 1:
            td(sid, "KB-001 matches best", alternatives=["KB-002"], confidence=0.8)
        else:
            tt(sid, "search_kb", TOOL_INPUT, TOOL_OUTPUT, reasoning="look it up in the KB")


def _warm_up(client: Any) -> None:
    """One session with one event delivered before the clock starts (exporter built, connections
    open): the steady state of a long-running program."""
    sid = client.create_session("bench-warm-up", agent_name="bench")
    client.track_tool_call(sid, "warm_up", {}, {})
    client.close_session(sid)
    client.flush(30)


def _proc_cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) another process has used so far (Linux /proc)."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _shipper_pid(spool: str) -> int | None:
    import glob

    from sentrial_integrations.core.delivery.outbox import Outbox

    for path in glob.glob(os.path.join(spool, "outbox-*.db")):
        return Outbox(path).status()["shipper_pid"]
    return None


def ours_http(url: str, n: int, sessions: int) -> dict[str, Any]:
    """Enqueue → acknowledged, with the host's own CPU (all its threads) and the shipper's separately."""
    import time

    from sentrial_integrations import SentrialClient

    with temp_dir() as spool:
        client = SentrialClient(
            api_key=API_KEY,
            base_url=url,
            spool_path=spool,
            exit_timeout=5.0,
            max_queue_size=max(100_000, n + 100),
        )
        _warm_up(client)
        shipper = _shipper_pid(spool)
        ship0 = _proc_cpu_s(shipper)
        t0 = perf_ns()
        cpu0 = time.process_time()
        sids = [client.create_session(f"bench-delivery-{i}", agent_name="bench") for i in range(sessions)]
        _events(client, sids, n)
        for sid in sids:
            client.close_session(sid)
        loop_s = (perf_ns() - t0) / 1e9
        committed = client.persist(300)
        host_cpu = time.process_time() - cpu0
        ok = client.flush(300) and committed
        elapsed = (perf_ns() - t0) / 1e9
        ship1 = _proc_cpu_s(shipper)
        stats = client.stats()
        client.shutdown(5)
    records = n + 2 * sessions
    return {
        "events_per_s": n / elapsed,
        "seconds": elapsed,
        "flushed": ok,
        "stats": stats,
        "host_cpu_us_per_record": host_cpu / records * 1e6,
        "loop_us_per_call": loop_s / n * 1e6,
        "shipper_cpu_us_per_record": None
        if ship0 is None or ship1 is None
        else (ship1 - ship0) / records * 1e6,
    }


def bare_httpx(url: str, n: int) -> dict[str, Any]:
    """The floor: one httpx keep-alive client posting the same event bodies, one after the other."""
    import httpx

    from sentrial_integrations.core.exporters import wire
    from sentrial_integrations.core.record.serialize import dumps_bytes

    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers) as http:
        sid = http.post(
            "/api/sdk/sessions", content=dumps_bytes({"name": "bench-bare", "agentName": "b"})
        ).json()["id"]
        rec = {
            "kind": "event",
            "id": "x",
            "session_id": sid,
            "seq": 1,
            "type": "tool_call",
            "name": "search_kb",
            "ts": 1.7e9,
            "duration_ms": None,
            "input": TOOL_INPUT,
            "output": TOOL_OUTPUT,
            "reasoning": "look it up in the KB",
            "metadata": None,
        }
        t0 = perf_ns()
        for i in range(n):
            rec["id"] = f"bare-{i}"
            rec["seq"] = i
            body = dumps_bytes(wire.event_body(rec, sid))
            http.post(
                "/api/sdk/events", content=body, headers={"Idempotency-Key": rec["id"]}
            ).raise_for_status()
        elapsed = (perf_ns() - t0) / 1e9
    return {"events_per_s": n / elapsed, "seconds": elapsed}


def exit_time(url: str, delivery: str, events: int = 1_000) -> dict[str, Any]:
    """A program records ``events`` with the backend down and exits: how long its exit takes."""
    code = f"""
import os, time
from sentrial_integrations import SentrialClient
c = SentrialClient(api_key="k-bench-123", base_url={url!r}, spool_path=os.environ["SPOOL"],
                   delivery={delivery!r}, exit_timeout=2.0)
sid = c.create_session("exit")
for i in range({events}):
    c.track_tool_call(sid, "t", {{"i": i}})
print(time.monotonic(), flush=True)
"""
    import time

    with temp_dir() as spool:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
        env.update(SPOOL=spool, PYTHONPATH=REPO + os.pathsep + env.get("PYTHONPATH", ""))
        proc = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True, cwd=REPO
        )
        out, _ = proc.communicate(timeout=120)
        ended = time.monotonic()
        if proc.returncode != 0:
            raise RuntimeError(f"exit probe failed with {proc.returncode}")
    return {"exit_s": ended - float(out.strip().splitlines()[-1])}


def ours_sqlite(n: int, sessions: int, cold: bool = False) -> dict[str, Any]:
    """``cold``: the burst arrives right after the client was built (no warm-up)."""
    from sentrial_integrations import SentrialClient

    with temp_dir() as d:
        path = os.path.join(d, "bench.db")
        client = SentrialClient(local_path=path, exit_timeout=5.0)
        if not cold:
            _warm_up(client)
        t0 = perf_ns()
        sids = [client.create_session(f"bench-sqlite-{i}", agent_name="bench") for i in range(sessions)]
        _events(client, sids, n)
        for sid in sids:
            client.close_session(sid)
        ok = client.flush(300)
        elapsed = (perf_ns() - t0) / 1e9
        stats = client.stats()
        client.shutdown(5)
        con = sqlite3.connect(path)
        stored = con.execute("SELECT COUNT(*) FROM events WHERE name != 'warm_up'").fetchone()[0]
        con.close()
    return {"events_per_s": n / elapsed, "seconds": elapsed, "flushed": ok, "stats": stats, "stored": stored}


def official_http(url: str, n: int, batching: bool) -> dict[str, Any]:
    from sentrial import SentrialClient as OfficialClient

    from .core import _close_official

    client = OfficialClient(api_url=url, api_key=API_KEY, batching=True if batching else None)
    other = OfficialClient(api_url=url, api_key=API_KEY, batching=True)  # only for _close_official
    t0 = perf_ns()
    sid = client.create_session(name="bench-delivery", agent_name="bench", user_id="u") or "sess_x"
    _events(client, [sid], n)
    if client._batcher is not None:
        client._batcher.flush()
    client.complete_session(sid, success=True)
    elapsed = (perf_ns() - t0) / 1e9
    _close_official(other, client if batching else other, deliver=True)
    client.session.close()
    return {"events_per_s": n / elapsed, "seconds": elapsed}


def memory_probe(url: str, events: int) -> dict[str, Any]:
    with temp_dir() as spool:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
        env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.memory_probe",
                "--url",
                url,
                "--events",
                str(events),
                "--spool",
                spool,
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode != 0:
            raise RuntimeError(f"memory probe failed: {out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])


def run(cfg: Cfg) -> tuple[list[Row], dict[str, Any]]:
    raw: dict[str, Any] = {}
    rows: list[Row] = []
    n_http = cfg.n(20_000, 400)
    n_off = cfg.n(500, 40)
    n_sqlite = cfg.n(100_000, 2_000)
    rounds = cfg.n(3, 1)
    server = sentrial_api_server()
    try:
        res: dict[str, list[dict[str, Any]]] = {
            k: []
            for k in ("ours16", "ours1", "bare", "official", "official_batching", "sqlite", "sqlite_cold")
        }
        for r in range(rounds):
            for who in rotations(list(res), r):
                settle()
                server.admin("reset")
                if who == "ours16":
                    got = ours_http(server.url, n_http, 16)
                    state = server.admin("state", method="GET")
                    got["server_events"] = sum(1 for e in state["events"] if e.get("toolName") != "warm_up")
                    got["server_sessions"] = len(state["sessions"])
                    got["server_duplicates"] = state["duplicates"]
                    del state
                elif who == "ours1":
                    got = ours_http(server.url, n_http // 4, 1)
                elif who == "bare":
                    got = bare_httpx(server.url, n_http // 4)
                elif who == "official":
                    got = official_http(server.url, n_off, batching=False)
                elif who == "official_batching":
                    got = official_http(server.url, n_off, batching=True)
                elif who == "sqlite":
                    got = ours_sqlite(n_sqlite, 16)
                else:
                    got = ours_sqlite(n_sqlite, 16, cold=True)
                res[who].append(got)
                cfg.say(f"  round {r + 1}/{rounds} {who}: {got['events_per_s']:,.0f} events/s")
        server.admin("reset")
        raw["throughput"] = res

        def eps(k: str) -> float:
            return median([x["events_per_s"] for x in res[k]])

        def rng(k: str) -> tuple[float, float]:
            v = [x["events_per_s"] for x in res[k]]
            return (min(v), max(v))

        complete = all(
            x["flushed"] and x.get("server_events", n_http) == n_http and x["stats"]["dropped"] == 0
            for x in res["ours16"]
        )
        rows.append(
            Row(
                suite="delivery",
                measurement="delivery over HTTP to loopback Sentrial API, 16 sessions (enqueue → acknowledged)",
                unit="events/s",
                ours=eps("ours16"),
                official=eps("official"),
                target="≥ 5,000 events/s",
                ok=eps("ours16") >= 5000 and complete,
                higher_is_better=True,
                ours_spread=rng("ours16"),
                note="" if complete else "NOT all events acknowledged",
            )
        )
        rows.append(
            Row(
                suite="delivery",
                measurement="delivery over HTTP, 16 sessions, vs official batching=True",
                unit="events/s",
                ours=eps("ours16"),
                official=eps("official_batching"),
                higher_is_better=True,
                ours_spread=rng("ours16"),
            )
        )
        rows.append(
            Row(
                suite="delivery",
                measurement="delivery over HTTP, 1 session (its records strictly in order, one at a time)",
                unit="events/s",
                ours=eps("ours1"),
                official=eps("official"),
                higher_is_better=True,
                ours_spread=rng("ours1"),
            )
        )
        ratio = eps("ours16") / eps("bare")
        rows.append(
            Row(
                suite="delivery",
                measurement="delivery throughput, 16 sessions, vs a bare httpx keep-alive loop posting the same bodies",
                unit="ratio",
                ours=ratio,
                target="≥ 0.8",
                ok=ratio >= 0.8,
                higher_is_better=True,
                note=f"bare loop {eps('bare'):,.0f} events/s; ours 1 session {eps('ours1'):,.0f}/s "
                f"({eps('ours1') / eps('bare'):.2f}×)",
            )
        )
        host_cpu = median([x["host_cpu_us_per_record"] for x in res["ours16"]])
        ship_cpu = [x["shipper_cpu_us_per_record"] for x in res["ours16"] if x["shipper_cpu_us_per_record"]]
        rows.append(
            Row(
                suite="delivery",
                measurement="host process CPU per record, HTTP mode (all host threads; shipper excluded)",
                unit="µs",
                ours=host_cpu,
                target="≤ 25 µs",
                ok=host_cpu <= 25,
                note=f"the shipper process: {median(ship_cpu):.0f} µs CPU per record" if ship_cpu else "",
            )
        )
        loop = median([x["loop_us_per_call"] for x in res["ours16"]])
        rows.append(
            Row(
                suite="delivery",
                measurement=f"track_* mean over a {n_http:,}-call tight loop, HTTP mode (recorder thread running)",
                unit="µs",
                ours=loop,
                target="≤ 5 µs",
                ok=loop <= 5,
            )
        )
        down = closed_port_url()
        exits: dict[str, list[float]] = {"process": [], "thread": []}
        for _ in range(cfg.n(5, 1)):
            for mode in exits:
                exits[mode].append(exit_time(down, mode)["exit_s"])
        raw["exit"] = exits
        rows.append(
            Row(
                suite="delivery",
                measurement="program exit with the backend down (1,000 events recorded), process shipper",
                unit="ms",
                ours=median(exits["process"]) * 1e3,
                target="≤ 100 ms",
                ok=median(exits["process"]) <= 0.1,
            )
        )
        rows.append(
            Row(
                suite="delivery",
                measurement="program exit with the backend down, thread delivery (exit budget 2 s)",
                unit="ms",
                ours=median(exits["thread"]) * 1e3,
                target="≤ the exit budget (2,000 ms), once per process",
                ok=median(exits["thread"]) <= 2.0 + 0.3,
            )
        )
        sqlite_ok = all(x["flushed"] and x["stored"] == n_sqlite for x in res["sqlite"] + res["sqlite_cold"])
        rows.append(
            Row(
                suite="delivery",
                measurement="delivery into the embedded SQLite store (enqueue → committed)",
                unit="events/s",
                ours=eps("sqlite"),
                target="≥ 50,000 events/s",
                ok=eps("sqlite") >= 50_000 and sqlite_ok,
                higher_is_better=True,
                ours_spread=rng("sqlite"),
                note="warm client; no official equivalent" + ("" if sqlite_ok else "; NOT all events stored"),
            )
        )
        rows.append(
            Row(
                suite="delivery",
                measurement="delivery into SQLite, cold client (the burst right after the client was built)",
                unit="events/s",
                ours=eps("sqlite_cold"),
                target="≥ 50,000 events/s",
                ok=eps("sqlite_cold") >= 50_000 and sqlite_ok,
                higher_is_better=True,
                ours_spread=rng("sqlite_cold"),
            )
        )

        # memory, each probe in a fresh process
        cap = 100_000
        probes = [("down", cfg.n(100_000, 5_000))]
        if not cfg.smoke:
            probes.append(("down", 3 * cap))
        if not cfg.smoke:
            probes.append(("slow 50 ms", 100_000))
        mem: list[dict[str, Any]] = []
        down_url = closed_port_url()
        for backend, n in probes:
            if backend == "down":
                url = down_url
            else:
                server.admin("delay", {"seconds": 0.05})
                url = server.url
            got = memory_probe(url, n)
            server.admin("delay", {"seconds": 0.0})
            server.admin("reset")
            got["backend"] = backend
            mem.append(got)
            cfg.say(
                f"  memory {backend} {n:,} events: +{got['peak_increase_mib']:.1f} MiB peak, "
                f"dropped {got['stats']['dropped']:,}, in the outbox {got['stats']['outbox']:,}"
            )
        raw["memory"] = mem
    finally:
        server.stop()

    base = mem[0]["peak_increase_mib"]
    for m in mem:
        n = m["events"]
        label = f"peak RSS increase, {n:,} events queued, backend {m['backend']}"
        if n > cap:
            ok = m["peak_increase_mib"] <= 1.5 * base + 10
            target = "bounded: ≤ 1.5× the 1×-cap figure (+10 MB)"
        else:
            ok = None
            target = "—"
        rows.append(
            Row(
                suite="delivery",
                measurement=label,
                unit="MB",
                ours=m["peak_increase_mib"],
                target=target,
                ok=ok if not cfg.smoke else None,
                note=f"dropped {m['stats']['dropped']:,} (queue cap {m['max_queue_size']:,}), "
                f"in the outbox {m['stats']['outbox']:,}",
            )
        )
    return rows, raw
