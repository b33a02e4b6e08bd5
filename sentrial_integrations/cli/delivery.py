"""``sentrial-integrations status`` and ``ship``: look at the outboxes, and run a shipper in the foreground
(a sidecar container, a cron drain, a host where background processes are not wanted)."""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys
import time
from typing import Any

from ..core.config import default_spool_dir, resolve
from ..core.delivery.launch import sentrial_http_spec
from ..core.delivery.outbox import Outbox, outbox_path
from ..core.delivery.shipper import ShipperLock, run_process
from .common import add_command, add_json, fail


def _outbox_dir(args: argparse.Namespace) -> str:
    return args.dir or os.environ.get("SENTRIAL_SPOOL_PATH") or default_spool_dir()


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _cmd_status(args: argparse.Namespace, ctx: Any) -> int:
    folder = _outbox_dir(args)
    rows: list[dict[str, Any]] = []
    for path in sorted(glob.glob(os.path.join(folder, "outbox-*.db"))):
        try:
            st = Outbox(path).status()
        except Exception as exc:
            rows.append({"path": path, "error": str(exc)})
            continue
        if not ShipperLock.held_by_someone(path):
            st["shipper_pid"] = None  # the recorded pid is stale: no shipper holds the lock
        rows.append(st)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no outboxes in {folder}")
        return 0
    for st in rows:
        if "error" in st:
            print(f"{st['path']}: unreadable ({st['error']})")
            continue
        shipper = f"pid {st['shipper_pid']}" if st["shipper_pid"] else "not running"
        print(f"{st['path']}")
        print(f"  destination  {st.get('destination') or '?'}")
        print(f"  waiting      {st['depth']:,} records (oldest {_age(st['oldest_age_s'])})")
        print(
            f"  delivered    {st['delivered']:,}   dropped {st['dropped']:,}   set aside {st['set_aside']:,}"
        )
        print(f"  shipper      {shipper}")
        if st.get("last_error"):
            print(f"  last error   {st['last_error']}")
    return 0


def _cmd_ship(args: argparse.Namespace, ctx: Any) -> int:
    cfg = resolve(spool_path=args.dir)
    if cfg.mode != "http" or not cfg.api_key:
        fail("ship needs SENTRIAL_API_KEY (and SENTRIAL_BASE_URL)")
        return 1
    path = outbox_path(cfg.resolved_spool_dir(), cfg.destination_key())
    if not os.path.exists(path):
        print(f"nothing to ship: no outbox for {cfg.base_url} in {cfg.resolved_spool_dir()}")
        return 0
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("sentrial_integrations").addHandler(handler)
    logging.getLogger("sentrial_integrations").setLevel(logging.INFO)
    spec = sentrial_http_spec(cfg)
    if args.once:  # a drain: leave when empty, or after 30 s without progress
        spec.update(idle_exit=0.0, give_up_after=30.0, retry_max_backoff=min(cfg.retry_max_backoff, 5.0))
    else:  # a sidecar: stay
        spec.update(idle_exit=None, give_up_after=None)
    if ShipperLock.held_by_someone(path):
        print("a shipper is already running for this outbox (see 'sentrial-integrations status')")
        return 0
    started = time.monotonic()
    run_process(path, spec)
    left = Outbox(path).depth()
    if left:
        fail(f"{left} records could not be delivered yet")
        return 1
    print(f"outbox empty ({time.monotonic() - started:.1f} s)")
    return 0


def _add_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dir", metavar="PATH", help="the outbox folder (default: $SENTRIAL_SPOOL_PATH, else the default)"
    )


def add_status(sub: Any, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        common,
        "status",
        _cmd_status,
        help="the outboxes: records waiting, oldest age, shipper, last error, delivered/dropped",
        description="Show each outbox (one per destination and key): how many records wait and since "
        "when, whether a shipper is running (its pid), its last error, and what was delivered or dropped.",
    )
    _add_dir(p)
    add_json(p, "machine-readable output")


def add_ship(sub: Any, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        common,
        "ship",
        _cmd_ship,
        help="deliver the outbox in the foreground (sidecar, cron); --once: until it is empty",
        description="Run the shipper for the outbox of $SENTRIAL_API_KEY / $SENTRIAL_BASE_URL in the "
        "foreground. Without --once it keeps running (a sidecar container); with --once it exits when the "
        "outbox is empty (a cron drain), non-zero if records are left.",
    )
    _add_dir(p)
    p.add_argument("--once", action="store_true", help="exit when the outbox is empty")
