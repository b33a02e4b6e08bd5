"""The command's context: where the store is and how it is opened, the consoles, the clock, and the
open-session timeout."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from typing import Any

from rich.console import Console

from ..core.config import store_location
from ..core.model import RUNNING, TIMEOUT
from ..core.store import Store, StoreError, live_totals, match_session_ids, schema_version
from .common import CLIError, UsageError, stdout_is_utf8
from .timeparse import parse_timeout


class Ctx:
    """What a command needs: where the store is, the consoles, the time, the open-session timeout."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.now = time.time()
        # --db, else SENTRIAL_LOCAL_PATH, else a .sentrial/ dir here or above, else the per-user data dir
        self.db_path, self.db_source = store_location(getattr(args, "db", None))
        no_color = True if getattr(args, "no_color", False) else None
        self.out = Console(highlight=False, emoji=False, markup=False, no_color=no_color)
        if not self.out.is_terminal and not os.environ.get("COLUMNS"):
            self.out.width = 120  # piped or redirected: no terminal to fit, keep tables unwrapped
        self.err = Console(stderr=True, highlight=False, emoji=False, markup=False, no_color=no_color)
        env_timeout = os.environ.get("SENTRIAL_SESSION_TIMEOUT")
        arg_timeout = getattr(args, "timeout_after", None)
        if arg_timeout is not None:
            self.timeout_s = parse_timeout(arg_timeout, "--timeout-after")
        else:
            self.timeout_s = parse_timeout(env_timeout, "SENTRIAL_SESSION_TIMEOUT")
        self._store: Store | None = None
        self._timeouts_stored = False

    # output

    def write(self, text: str) -> None:
        sys.stdout.write(text)

    def dump_json(self, data: Any, indent: int | None = 2) -> str:
        return json.dumps(data, ensure_ascii=not stdout_is_utf8(), indent=indent, default=str)

    def print_json(self, data: Any) -> None:
        self.write(self.dump_json(data) + "\n")

    # the store

    def store(self, write: bool = False) -> Store:
        """Open the existing store (never create one); mark sessions open past the timeout as ``timeout``."""
        if self._store is not None:
            return self._store
        path = self.db_path
        hint = "record a session first, or pass --db PATH / set SENTRIAL_LOCAL_PATH"
        if not os.path.exists(path):
            raise CLIError(f"no Sentrial store at {path} ({hint})")
        if os.path.isdir(path):
            raise CLIError(f"{path} is a directory, not a Sentrial store ({hint})")
        if os.path.getsize(path) == 0:
            raise CLIError(f"{path} is empty, not a Sentrial store")
        store = Store(path, create=False, readonly=True)
        if schema_version(store) is None:
            store.close()
            raise CLIError(f"{path} is an SQLite file but not a Sentrial store")
        if write or self.timeout_s is not None:
            try:
                writable = Store(path, create=False)
                if self.timeout_s is not None:
                    writable.mark_timeouts(self.timeout_s, now=self.now)
                    self._timeouts_stored = True
                store.close()
                store = writable
            except (StoreError, sqlite3.Error) as exc:
                if write:
                    raise CLIError(f"cannot write to the Sentrial store at {path}: {exc}") from None
                # a read-only store: show old open sessions as timed out without storing it
        self._store = store
        return store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def resolve(self, prefix: str) -> str:
        store = self.store()
        prefix = prefix.strip()
        if not prefix:
            raise UsageError("a session id (or a unique prefix of one) is required")
        ids = match_session_ids(store, prefix, limit=6)
        if not ids:
            raise CLIError(f"no session matches {prefix!r} in {self.db_path}")
        if len(ids) > 1:
            shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
            raise CLIError(f"{prefix!r} matches several sessions ({shown}); give more characters")
        return ids[0]

    # session views

    def view_sessions(self, sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Sessions ready to show: running ones get live totals; display-only timeouts if unstored."""
        running = [s["id"] for s in sessions if s.get("status") == RUNNING]
        totals = live_totals(self.store(), running) if running else {}
        out = []
        for s in sessions:
            s = dict(s)
            if s.get("status") == RUNNING:
                if (
                    not self._timeouts_stored
                    and self.timeout_s is not None
                    and s.get("started_at") is not None
                    and s["started_at"] < self.now - self.timeout_s
                ):
                    s["status"] = TIMEOUT
                    s["ended_at"] = s["started_at"] + self.timeout_s
                live = totals.get(s["id"], {})
                for key in ("prompt_tokens", "completion_tokens", "total_tokens", "cost"):
                    if s.get(key) is None:
                        s[key] = live.get(key)
            out.append(s)
        return out
