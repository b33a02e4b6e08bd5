"""Every reader of a store, run for real: each CLI command (in-process ``main``) and each dashboard route."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
from typing import Any

import httpx

from sentrial_integrations.cli import main


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def cli_commands(sid: str) -> list[list[str]]:
    return [
        ["sessions"],
        ["sessions", "--json"],
        ["sessions", "--json", "--status", "running"],
        ["show", sid],
        ["show", sid, "--json"],
        ["replay", sid, "--no-pause"],
        ["stats"],
        ["stats", "--json"],
        ["export", sid],
        ["export", sid, "--format", "jsonl"],
    ]


def every_cli_command(db: str, session_ids: list[str]) -> dict[str, str]:
    """Run every reading CLI command on the store; all must exit 0. Returns each command's stdout."""
    outputs: dict[str, str] = {}
    seen: set[tuple[str, ...]] = set()
    for sid in session_ids:
        for args in cli_commands(sid):
            if sid != session_ids[0] and args[0] in ("sessions", "stats"):
                continue
            key = tuple(args)
            if key in seen:
                continue
            seen.add(key)
            code, out, err = run_cli("--db", db, *args)
            assert code == 0, (args, err)
            if "--json" in args or args[0] == "export":
                for line in out.splitlines() if "jsonl" in args else [out]:
                    json.loads(line)
            outputs[" ".join(args)] = out
    for a, b in itertools.pairwise(session_ids):  # diff: exit 1 only means "the steps diverge"
        for args in (["diff", a, b], ["diff", a, b, "--json"]):
            code, out, err = run_cli("--db", db, *args)
            assert code in (0, 1) and "internal error" not in err, (args, err)
            if "--json" in args:
                json.loads(out)
            outputs[" ".join(args)] = out
    return outputs


def every_page(url: str, session_ids: list[str], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """GET every dashboard page and read-API route; all must answer 200. Returns the bodies."""
    bodies: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=30, headers=headers or {}) as http:
        paths = ["/", "/?status=running", "/api/sessions", "/api/sessions?limit=500"]
        for sid in session_ids:
            paths += [f"/sessions/{sid}", f"/api/sessions/{sid}"]
        for a, b in itertools.pairwise(session_ids):  # the comparison page, where the server has one
            if http.get(f"/compare?a={a}&b={b}").status_code != 404:
                paths.append(f"/compare?a={a}&b={b}")
        for path in paths:
            resp = http.get(path)
            assert resp.status_code == 200, (path, resp.status_code, resp.text[:500])
            bodies[path] = resp.json() if path.startswith("/api/") else resp.text
    return bodies
