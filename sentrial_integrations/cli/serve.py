"""``sentrial-integrations serve`` (the local dashboard and Sentrial-compatible API) and ``run`` (a program
with every supported framework traced, without changing its code)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any

from .common import CLIError, UsageError, add_command, fail, note, parse_key_values
from .context import Ctx

DEFAULT_PORT = 8777
# the zero-code bootstrap: a sitecustomize.py that every Python process of the program imports
BOOTSTRAP_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "zerocode", "sitecustomize"
)


def add_serve(sub: Any, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        common,
        "serve",
        _cmd_serve,
        help="run the local dashboard and Sentrial-compatible ingestion server",
        description="Serve the dashboard and a local Sentrial API over the store (needs the 'server' extra).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--api-key",
        default=None,
        help="require this key on every request: from SDK clients (Authorization: Bearer KEY) and from "
        "the browser, which asks for it as a password for the dashboard (visible to other local users in "
        "the process list: prefer SENTRIAL_SERVER_API_KEY or --api-key-file)",
    )
    p.add_argument(
        "--api-key-file", metavar="FILE", default=None, help="read the API key from FILE (first line)"
    )


def _cmd_serve(args: argparse.Namespace, ctx: Ctx) -> int:
    try:
        app = importlib.import_module("sentrial_integrations.server.app")
    except ImportError as exc:
        missing = getattr(exc, "name", None) or ""
        if missing.startswith("sentrial_integrations"):
            raise CLIError("the local server is not available in this installation") from None
        raise CLIError(
            f"the local server needs the 'server' extra ({missing or exc} is not installed): "
            "pip install 'sentrial-integrations[server]' (from a checkout: pip install -e '.[server]')"
        ) from None
    try:
        api_key = app.server_key(args.api_key, args.api_key_file)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    path = ctx.db_path
    if not os.path.exists(path) and ctx.db_source == "env":
        # only --db or the default location is created: a mistyped SENTRIAL_LOCAL_PATH is not
        raise CLIError(
            f"no Sentrial store at {path} (from SENTRIAL_LOCAL_PATH); record a session first, "
            "or pass --db PATH to create one there"
        )
    if not os.path.exists(path):
        note(f"creating a new, empty store at {path}")
    result = app.serve(args.host, args.port, path, api_key)
    return result if isinstance(result, int) else 0


def add_run(sub: Any, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        common,
        "run",
        _cmd_run,
        help="run a program with every supported framework traced, without changing its code",
        description="Run COMMAND (e.g. 'python app.py') with LangChain/LangGraph, OpenAI and LlamaIndex "
        "traced in every Python process it starts, and deliver the data at exit. Output and exit code "
        "are the program's own.",
        usage="%(prog)s [--session-name NAME] [--metadata KEY=VALUE ...] -- COMMAND [ARGS ...]",
    )
    p.add_argument(
        "--session-name",
        metavar="NAME",
        default=None,
        help="record the whole program as one session called NAME, which every framework run and "
        "OpenAI call of the program joins, from any thread or asyncio task (default: one session per "
        "top-level run)",
    )
    p.add_argument(
        "--metadata",
        metavar="KEY=VALUE",
        nargs="+",
        action="extend",
        default=[],
        help="metadata of that session (implies one session for the program, named after it "
        "unless --session-name is given)",
    )
    p.add_argument("command", nargs=argparse.REMAINDER, help="the program and its arguments, after --")


def _cmd_run(args: argparse.Namespace, ctx: Ctx) -> int:
    from ..zerocode.sitecustomize import METADATA_VAR, SESSION_VAR

    command = list(args.command or [])
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("run: give the program after --, e.g. 'sentrial-integrations run -- python app.py'")
    metadata = parse_key_values(args.metadata, "--metadata", "KEY=VALUE", " (put the program after --)")
    env = dict(os.environ)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = BOOTSTRAP_DIR + (os.pathsep + old if old else "")
    env.pop(SESSION_VAR, None)
    env.pop(METADATA_VAR, None)
    if args.session_name is not None:
        env[SESSION_VAR] = args.session_name
    if metadata:
        env[METADATA_VAR] = json.dumps(metadata)
    db = getattr(args, "db", None)
    if db:
        env["SENTRIAL_LOCAL_PATH"] = os.path.abspath(db)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        if os.name == "posix":  # become the program: same pid, signals, output and exit status
            os.execvpe(command[0], command, env)
        import subprocess

        return subprocess.call(command, env=env)
    except FileNotFoundError:
        fail(f"run: command not found: {command[0]}")
        return 127
    except OSError as exc:
        fail(f"run: cannot run {command[0]}: {exc.strerror or exc}")
        return 126
