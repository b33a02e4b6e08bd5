"""``python -m benchmarks [--smoke] [--only core,delivery,...] [--out FILE]``

Runs every comparison (contenders alternately, in the same process run), prints a markdown table and
writes JSON: ``benchmarks/results/<UTC time>.json``, and for a full run of every suite also
``benchmarks/results/latest.json``. Exit status: 0 even if a target is missed (the verdicts are in the
table); 1 only if the harness itself broke (a suite raised).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
from typing import Any

from .common import REPO, Cfg, Row, machine, render_table

SUITES = ("core", "delivery", "langchain", "openai", "llamaindex")
RESULTS = os.path.join(REPO, "benchmarks", "results")


def _isolate_env() -> None:
    """No SENTRIAL_* / LANGCHAIN_* / LANGFUSE_* settings from the caller's shell leak into the runs
    (SENTRIAL_TRACING would add our LangChain handler to every run, for instance)."""
    for key in list(os.environ):
        if key.startswith(("SENTRIAL_", "LANGCHAIN_", "LANGSMITH_", "LANGFUSE_", "OPENAI_")):
            del os.environ[key]
    os.environ["LANGCHAIN_TRACING_V2"] = "false"
    # the official SDK logs every failed request (the "backend down" case) through the last-resort
    # handler; that is expected here, not news
    logging.getLogger("sentrial").setLevel(logging.CRITICAL)


def _load(name: str) -> Any:
    import importlib

    return importlib.import_module(f"benchmarks.{name}_bench" if name != "core" else "benchmarks.core")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    parser.add_argument("--smoke", action="store_true", help="tiny N, a few seconds per comparison")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(SUITES)}")
    parser.add_argument("--out", default=None, help="JSON output file (default: benchmarks/results/)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()] or list(SUITES)
    unknown = [s for s in only if s not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(unknown)}")

    _isolate_env()
    if REPO not in sys.path:
        sys.path.insert(0, REPO)

    def log(msg: str) -> None:
        if not args.quiet:
            print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    cfg = Cfg(smoke=args.smoke, log=log)
    started = time.time()
    facts = machine()
    log(
        f"machine: {facts['nproc']} CPUs, {facts['cpu_model']}, Python {facts['python']}, load {facts['loadavg']}"
    )
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    broken: list[str] = []
    for name in only:
        t0 = time.time()
        log(f"== {name} ==")
        try:
            suite_rows, suite_raw = _load(name).run(cfg)
        except Exception:
            broken.append(name)
            tb = traceback.format_exc()
            log(f"{name}: HARNESS ERROR\n{tb}")
            raw[name] = {"error": tb}
            rows.append(Row(suite=name, measurement=f"{name}: harness error (see JSON)", unit="", ours=None))
            continue
        rows.extend(suite_rows)
        raw[name] = suite_raw
        raw[name]["seconds"] = time.time() - t0
        log(f"{name}: {time.time() - t0:.1f} s")

    elapsed = time.time() - started
    table = render_table(rows)
    print(table)
    missed = [r for r in rows if r.ok is False]
    print()
    if args.smoke:
        print("smoke mode: tiny N, the numbers and verdicts are only a sign of life, not measurements")
    print(
        f"{len(rows)} measurements, {sum(1 for r in rows if r.ok)} targets met, {len(missed)} missed; "
        f"{elapsed:.0f} s; mode {'smoke' if args.smoke else 'full'}"
    )
    for r in missed:
        print(f"  ❌ {r.measurement}: {r.ours} {r.unit} (target {r.target})")
    facts["loadavg_end"] = os.getloadavg()
    doc = {
        "mode": "smoke" if args.smoke else "full",
        "suites": only,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": elapsed,
        "machine": facts,
        "command": "python -m benchmarks"
        + (" --smoke" if args.smoke else "")
        + (f" --only {args.only}" if args.only else ""),
        "rows": [r.to_json() for r in rows],
        "table_markdown": table,
        "raw": raw,
        "harness_errors": broken,
    }
    os.makedirs(RESULTS, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    out = args.out or os.path.join(RESULTS, f"{'smoke-' if args.smoke else ''}{stamp}.json")
    with open(out, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    if not args.smoke and not args.out and list(only) == list(SUITES) and not broken:
        with open(os.path.join(RESULTS, "latest.json"), "w") as f:
            json.dump(doc, f, indent=1, default=str)
    log(f"JSON: {out}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
