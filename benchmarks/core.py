"""1. Core: caller-thread cost of each track_* call, ours vs the official SDK's SentrialClient.

The workload alternates ``track_tool_call`` (small dict input / output, reasoning) and
``track_decision`` (reasoning, alternatives, confidence) with the same arguments for both SDKs. Every
call is timed on its own (``perf_counter_ns`` around it, the timer's own cost subtracted), so p50 and
p99 are per call. Three backends, all behind the same loopback Sentrial-API server process:
``0 ms`` (answers at once), ``slow`` (50 ms per request) and ``down`` (nothing listening: connection
refused). Contenders run alternately, round by round, in the same process.
"""

from __future__ import annotations

from time import sleep
from typing import Any

from .common import (
    API_KEY,
    Cfg,
    Row,
    closed_port_url,
    median,
    percentile,
    perf_ns,
    rotations,
    sentrial_api_server,
    settle,
    temp_dir,
    timer_overhead_ns,
)

SPACED = "0 ms, calls 1 ms apart"
TOOL_INPUT = {"query": "password reset", "limit": 5}
TOOL_OUTPUT = {"articles": ["KB-001", "KB-002"], "score": 0.92}
MESSAGES = [
    {"role": "system", "content": "You are a support agent."},
    {"role": "user", "content": "How do I reset my password?"},
]


def ours_calls(client: Any, sid: str, n: int, overhead: float, gap: float = 0.0) -> list[float]:
    tt, td = client.track_tool_call, client.track_decision
    out: list[float] = []
    add = out.append
    for i in range(n):
        if gap:
            sleep(gap)
        if i & 1:
            t0 = perf_ns()
            td(sid, "KB-001 matches best", alternatives=["KB-002"], confidence=0.8)
            t1 = perf_ns()
        else:
            t0 = perf_ns()
            tt(sid, "search_kb", TOOL_INPUT, TOOL_OUTPUT, reasoning="look it up in the KB")
            t1 = perf_ns()
        add((t1 - t0 - overhead) / 1000)
    return out


def ours_llm_calls(client: Any, sid: str, n: int, overhead: float, gap: float = 0.0) -> list[float]:
    tl = client.track_llm_call
    out: list[float] = []
    for _ in range(n):
        if gap:
            sleep(gap)
        t0 = perf_ns()
        tl(
            sid,
            "gpt-4o-mini",
            provider="openai",
            messages=MESSAGES,
            response="Open Settings > Security and choose Reset password.",
            prompt_tokens=42,
            completion_tokens=12,
            duration_ms=830.0,
            finish_reason="stop",
        )
        t1 = perf_ns()
        out.append((t1 - t0 - overhead) / 1000)
    return out


class _Floor:
    """No-op track_* methods: what any call costs with the same arguments and spacing (cold caches
    after a sleep, the timer itself)."""

    def track_tool_call(self, *args: Any, **kwargs: Any) -> None:
        return None

    track_decision = track_tool_call


def official_calls(client: Any, sid: str, n: int, overhead: float, gap: float = 0.0) -> list[float]:
    tt, td = client.track_tool_call, client.track_decision
    out: list[float] = []
    for i in range(n):
        if gap:
            sleep(gap)
        if i & 1:
            t0 = perf_ns()
            td(sid, "KB-001 matches best", alternatives=["KB-002"], confidence=0.8)
            t1 = perf_ns()
        else:
            t0 = perf_ns()
            tt(sid, "search_kb", TOOL_INPUT, TOOL_OUTPUT, reasoning="look it up in the KB")
            t1 = perf_ns()
        out.append((t1 - t0 - overhead) / 1000)
    return out


def _summary(samples: list[float], per_round: list[float]) -> dict[str, Any]:
    return {
        "n": len(samples),
        "p50": median(samples),
        "p99": percentile(samples, 99),
        "mean": sum(samples) / len(samples) if samples else None,
        "max": max(samples) if samples else None,
        "round_p50s": per_round,
    }


def run(cfg: Cfg) -> tuple[list[Row], dict[str, Any]]:
    from sentrial import SentrialClient as OfficialClient

    from sentrial_integrations import SentrialClient

    overhead = timer_overhead_ns()
    raw: dict[str, Any] = {"timer_overhead_ns": overhead, "backends": {}}
    rows: list[Row] = []
    server = sentrial_api_server()
    try:
        plans = [
            # backend, rounds, ours calls per round, official default / batching calls per round
            ("0 ms", cfg.n(7, 1), cfg.n(5000, 300), cfg.n(200, 20), cfg.n(200, 20)),
            # the usual agent: one event now and then (here every ~1 ms), not a tight loop
            (SPACED, cfg.n(5, 1), cfg.n(1000, 50), cfg.n(100, 5), cfg.n(100, 10)),
            ("slow 50 ms", cfg.n(5, 1), cfg.n(5000, 300), cfg.n(10, 2), cfg.n(20, 10)),
            # the official SDK sleeps 0.5 + 1 + 2 s in retries per request when the backend is down,
            # so it gets one round of 2 calls (default) and 10 calls (batching: one flush of 10)
            ("down", cfg.n(5, 1), cfg.n(5000, 300), cfg.n(2, 0), cfg.n(10, 0)),
        ]
        for backend, rounds, n_ours, n_def, n_batch in plans:
            cfg.say(f"core: backend {backend}")
            if backend == "down":
                url = closed_port_url()
            else:
                url = server.url
                server.admin("reset")
                server.admin("delay", {"seconds": 0.05 if backend.startswith("slow") else 0.0})
            gap = 0.001 if backend == SPACED else 0.0
            raw["backends"][backend] = _run_backend(
                cfg,
                backend,
                url,
                rounds,
                n_ours,
                n_def,
                n_batch,
                overhead,
                gap,
                SentrialClient,
                OfficialClient,
            )
            server.admin("delay", {"seconds": 0.0})
            server.admin("reset")
    finally:
        server.stop()

    for backend, res in raw["backends"].items():
        ours = res["ours"]
        for mode in ("default", "batching=True"):
            off = res["official"].get(mode)
            ok = None
            target = "≤ 5 µs"
            if ours["p50"] == ours["p50"]:
                ok = ours["p50"] <= 5.0
            if backend in ("0 ms", SPACED) and mode == "default":
                target = "≤ 5 µs and ≥ 100× below official"
                if off is not None:
                    ok = bool(ok) and off["p50"] / ours["p50"] >= 100
            rows.append(
                Row(
                    suite="core",
                    measurement=f"core track_* caller cost, backend {backend}, vs official {mode}",
                    unit="µs",
                    ours=ours["p50"],
                    ours_p99=ours["p99"],
                    official=off["p50"] if off else None,
                    official_p99=off["p99"] if off else None,
                    target=target,
                    ok=ok,
                    ours_spread=(min(ours["round_p50s"]), max(ours["round_p50s"])),
                    note="; ".join(
                        x
                        for x in (
                            "" if off else "official skipped in smoke (3.5 s of retry sleeps per call)",
                            f"floor (a no-op call, same spacing): {res['floor']['p50']:.2f} µs"
                            if "floor" in res
                            else "",
                        )
                        if x
                    ),
                )
            )
    for backend in ("0 ms", SPACED):
        llm = raw["backends"].get(backend, {}).get("ours_llm")
        if llm:
            rows.append(
                Row(
                    suite="core",
                    measurement=f"core track_llm_call caller cost (2 messages, tokens), backend {backend}",
                    unit="µs",
                    ours=llm["p50"],
                    ours_p99=llm["p99"],
                    target="≤ 5 µs",
                    ok=llm["p50"] <= 5.0,
                    ours_spread=(min(llm["round_p50s"]), max(llm["round_p50s"])),
                    note="no official equivalent",
                )
            )
    return rows, raw


def _run_backend(
    cfg: Cfg,
    backend: str,
    url: str,
    rounds: int,
    n_ours: int,
    n_def: int,
    n_batch: int,
    overhead: float,
    gap: float,
    SentrialClient: Any,
    OfficialClient: Any,
) -> dict[str, Any]:
    samples: dict[str, list[float]] = {
        "ours": [],
        "ours_llm": [],
        "floor": [],
        "default": [],
        "batching=True": [],
    }
    per_round: dict[str, list[float]] = {k: [] for k in samples}
    with temp_dir() as spool:
        ours = SentrialClient(api_key=API_KEY, base_url=url, spool_path=spool, exit_timeout=1.0)
        official = OfficialClient(api_url=url, api_key=API_KEY)
        batching = OfficialClient(api_url=url, api_key=API_KEY, batching=True)
        # official sessions are created on the server (a blocking call); a made-up id when it is down
        if backend == "down":
            off_sid = bat_sid = "sess_down"
        else:
            off_sid = official.create_session(name="bench", agent_name="bench", user_id="u") or "sess_x"
            bat_sid = batching.create_session(name="bench", agent_name="bench", user_id="u") or "sess_x"
        contenders = ["ours", "ours_llm"] + (["floor"] if gap else [])
        if n_def:
            contenders.append("default")
        if n_batch:
            contenders.append("batching=True")
        try:
            for r in range(rounds):
                for who in rotations(contenders, r):
                    settle()
                    if who == "ours":
                        sid = ours.create_session("bench-core", agent_name="bench")
                        got = ours_calls(ours, sid, n_ours, overhead, gap)
                        ours.close_session(sid)
                        if backend.startswith("0 ms"):  # delivered before the next contender runs
                            ours.flush(30)
                    elif who == "floor":
                        got = ours_calls(_Floor(), "x", n_ours, overhead, gap)
                    elif who == "ours_llm":
                        if not backend.startswith("0 ms"):
                            continue
                        sid = ours.create_session("bench-core-llm", agent_name="bench")
                        got = ours_llm_calls(ours, sid, max(1, n_ours // 5), overhead, gap)
                        ours.close_session(sid)
                        ours.flush(30)
                    elif who == "default":
                        if backend == "down" and r > 0:
                            continue
                        got = official_calls(official, off_sid, n_def, overhead, gap)
                    else:
                        if backend == "down" and r > 0:
                            continue
                        got = official_calls(batching, bat_sid, n_batch, overhead, gap)
                    samples[who].extend(got)
                    per_round[who].append(median(got))
                cfg.say(
                    f"  round {r + 1}/{rounds}: "
                    + ", ".join(f"{k} p50 {per_round[k][-1]:.2f} µs" for k in contenders if per_round[k])
                )
        finally:
            stats = ours.stats()
            ours.shutdown(10.0 if backend.startswith("0 ms") else 0.5)
            _close_official(official, batching, deliver=backend != "down")
    out: dict[str, Any] = {"ours_pipeline_stats": stats}
    out["ours"] = _summary(samples["ours"], per_round["ours"])
    for extra in ("ours_llm", "floor"):
        if samples[extra]:
            out[extra] = _summary(samples[extra], per_round[extra])
    out["official"] = {
        k: _summary(samples[k], per_round[k]) for k in ("default", "batching=True") if samples[k]
    }
    return out


def _close_official(official: Any, batching: Any, deliver: bool) -> None:
    """Close the official clients; against a dead backend, drop what the batcher still holds (its
    atexit flush would otherwise sleep 3.5 s per queued event at interpreter exit)."""
    import atexit
    import queue

    b = batching._batcher
    if b is not None:
        atexit.unregister(b._atexit_flush)
        b._shutdown_event.set()
        if deliver:
            b.flush()
        else:
            while True:
                try:
                    b._queue.get_nowait()
                except queue.Empty:
                    break
    official.session.close()
    batching.session.close()
