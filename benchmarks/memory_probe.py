"""Peak RSS of a process that queues N events while the backend is down (or slow).

    python -m benchmarks.memory_probe --url URL --events N --spool DIR

Prints one JSON line: the peak RSS before / after (KiB), the peak increase in MiB, and the pipeline's
counters (dropped, spooled...). Run in a fresh subprocess so the peak belongs to this workload only.

The peak is ``VmHWM`` from ``/proc/self/status`` (the address space's high-water mark). It is what
``ru_maxrss`` reports too, except that Linux carries ``ru_maxrss`` over from the parent across
fork + exec: a probe started by a 300 MB benchmark process would start at "300 MB" and show no
increase. Both are in the output.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import time

from benchmarks.core import TOOL_INPUT, TOOL_OUTPUT


def maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def hwm_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return maxrss_kib()


def current_rss_kib() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * (resource.getpagesize() // 1024)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--wait", type=float, default=120.0, help="max seconds to wait for the spool")
    args = parser.parse_args(argv)

    from sentrial_integrations import SentrialClient

    client = SentrialClient(api_key="test-key", base_url=args.url, spool_path=args.spool, exit_timeout=0.5)
    sid = client.create_session("memory-probe", agent_name="bench")
    for _ in range(100):  # warm up: threads started, spool opened, code paths imported
        client.track_tool_call(sid, "search_kb", TOOL_INPUT, TOOL_OUTPUT, reasoning="warm up")
    client.persist(10)
    gc.collect()
    time.sleep(0.2)
    before, before_now, hwm_before = maxrss_kib(), current_rss_kib(), hwm_kib()
    t0 = time.perf_counter()
    for i in range(args.events):
        client.track_tool_call(sid, "search_kb", TOOL_INPUT, TOOL_OUTPUT, reasoning=f"step {i}")
    enqueue_s = time.perf_counter() - t0
    after_enqueue = hwm_kib()
    queued_after_enqueue = client.stats()["queued"]
    persisted = client.persist(args.wait)
    drain_s = time.perf_counter() - t0 - enqueue_s
    after, hwm_after = maxrss_kib(), hwm_kib()
    stats = client.stats()
    print(
        json.dumps(
            {
                "events": args.events,
                "max_queue_size": client.config.max_queue_size,
                "ru_maxrss_before_kib": before,
                "ru_maxrss_after_kib": after,
                "hwm_before_kib": hwm_before,
                "hwm_after_enqueue_kib": after_enqueue,
                "hwm_after_kib": hwm_after,
                "rss_before_kib": before_now,
                "rss_after_kib": current_rss_kib(),
                "peak_increase_mib": (hwm_after - hwm_before) / 1024,
                "queued_after_enqueue": queued_after_enqueue,
                "persisted": persisted,
                "enqueue_s": enqueue_s,
                "drain_s": drain_s,
                "stats": stats,
            }
        ),
        flush=True,
    )
    client.shutdown(0.5)


if __name__ == "__main__":
    main()
