"""Shared plumbing: statistics, result rows, loopback server subprocesses, machine facts."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_KEY = "test-key"

perf_ns = time.perf_counter_ns
process_ns = time.process_time_ns  # CPU time of the whole process (all threads)
thread_ns = time.thread_time_ns  # CPU time of the calling thread


# --- statistics -------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    if not n:
        return float("nan")
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def spread(values: Sequence[float]) -> tuple[float, float] | None:
    return (min(values), max(values)) if values else None


# --- result rows ------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table. Costs are "lower is better" unless ``higher_is_better``."""

    suite: str
    measurement: str
    unit: str
    ours: float | None
    official: float | None = None
    langfuse: float | None = None
    target: str = "—"
    ok: bool | None = None  # None: informational (no target)
    higher_is_better: bool = False
    ours_spread: tuple[float, float] | None = None  # min..max of the per-round medians
    # optional second statistic shown after a slash (the p99 where the main value is a p50)
    ours_p99: float | None = None
    official_p99: float | None = None
    langfuse_p99: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def ratio_text(self) -> str:
        parts = []
        for label, other in (("official", self.official), ("Langfuse", self.langfuse)):
            if other is None or self.ours is None or self.ours <= 0 or other <= 0:
                continue
            r = self.ours / other if self.higher_is_better else other / self.ours
            parts.append(f"{fmt_ratio(r)} vs {label}")
        return "; ".join(parts) if parts else "—"

    def verdict(self) -> str:
        if self.ok is None:
            return "—"
        return "✅" if self.ok else "❌"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratio"] = self.ratio_text()
        d["verdict"] = self.verdict()
        return d


def fmt_ratio(r: float) -> str:
    if r >= 100:
        return f"{r:,.0f}×"
    if r >= 10:
        return f"{r:.0f}×"
    return f"{r:.2f}×" if r < 1 else f"{r:.1f}×"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if value != value:
        return "n/a"
    if unit in ("µs", "ms"):
        if abs(value) >= 1000 and unit == "µs":
            return f"{value / 1000:,.1f} ms" if value < 1e6 else f"{value / 1e6:,.2f} s"
        if abs(value) >= 100:
            return f"{value:,.0f} {unit}"
        if abs(value) >= 10:
            return f"{value:.1f} {unit}"
        return f"{value:.2f} {unit}"
    if unit == "events/s":
        return f"{value:,.0f} ev/s"
    if unit == "MB":
        return f"{value:,.1f} MB"
    return f"{value:,.3g} {unit}"


def render_table(rows: list[Row]) -> str:
    head = "| measurement | ours (median) | official SDK | Langfuse | ratio | target | verdict |"
    sep = "| --- | --- | --- | --- | --- | --- | --- |"
    lines = [head, sep]
    for r in rows:
        ours = cell(r.ours, r.ours_p99, r.unit)
        if r.ours_spread is not None and r.ours is not None:
            lo, hi = r.ours_spread
            ours += f" [spread {fmt(lo, r.unit)} … {fmt(hi, r.unit)}]"
        measurement = r.measurement + (f" — {r.note}" if r.note else "")
        lines.append(
            f"| {measurement} | {ours} | {cell(r.official, r.official_p99, r.unit)} | "
            f"{cell(r.langfuse, r.langfuse_p99, r.unit)} | {r.ratio_text()} | {r.target} | {r.verdict()} |"
        )
    return "\n".join(lines)


def cell(main: float | None, p99: float | None, unit: str) -> str:
    if main is None or p99 is None:
        return fmt(main, unit)
    return f"{fmt(main, unit)} / p99 {fmt(p99, unit)}"


# --- loopback servers in their own processes ----------------------------------------------------------


class ServerProcess:
    """``python -m <module> --port 0 ...`` in a subprocess; waits for its ``READY <url>`` line."""

    def __init__(self, module: str, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
        env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--port", "0", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"{module} did not start: {line!r}")
        self.url = line.split(" ", 1)[1]
        # the admin endpoints live at the server root, also for the OpenAI server (url ends in /v1)
        self.root = self.url[: -len("/v1")] if self.url.endswith("/v1") else self.url

    def admin(self, op: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
        data = json.dumps(body or {}).encode() if method == "POST" else None
        req = urllib.request.Request(
            f"{self.root}/_test/{op}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sentrial_api_server() -> ServerProcess:
    return ServerProcess("tests.servers.sentrial_api", "--api-key", API_KEY)


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused: the "backend down" case)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def temp_dir(prefix: str = "sentrial-bench-") -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        yield d


def settle() -> None:
    """Between measured blocks: collect garbage so one contender's garbage is not another's pause."""
    gc.collect()


def rotations(items: Sequence[Any], r: int) -> list[Any]:
    """The contenders in round ``r``: rotated so none always goes first."""
    k = r % len(items)
    return list(items[k:]) + list(items[:k])


# --- machine facts ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    from importlib import metadata

    for dist in (
        "sentrial-integrations",
        "sentrial",
        "langfuse",
        "langchain-core",
        "langchain",
        "langgraph",
        "openai",
        "llama-index-core",
        "httpx",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "sentrial_integrations"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", ""
    return {
        "git_commit": commit,
        "library_has_uncommitted_changes": bool(dirty),
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg(),
        "versions": versions,
    }


@dataclass
class Cfg:
    smoke: bool = False
    log: Any = None  # callable(str) for progress lines

    def n(self, full: int, smoke: int) -> int:
        return smoke if self.smoke else full

    def say(self, msg: str) -> None:
        if self.log is not None:
            self.log(msg)


def timer_overhead_ns(samples: int = 20_000) -> float:
    """Median cost of an empty perf_counter_ns() pair (subtracted from per-call timings)."""
    out = []
    for _ in range(samples):
        t0 = perf_ns()
        t1 = perf_ns()
        out.append(t1 - t0)
    return median(out)
