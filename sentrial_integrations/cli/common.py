"""What every command shares: the program name, the two errors (bad usage, cannot be done), one-line
messages on stderr, key=value options, and the declaration of a subcommand."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from typing import Any

PROG = "sentrial-integrations"


class UsageError(Exception):
    """Bad command line (exit code 2)."""


class CLIError(Exception):
    """The command cannot be carried out: missing store, unknown session... (exit code 1)."""


def fail(message: str) -> None:
    """The one-line error on stderr: ``sentrial-integrations: error: ...``."""
    text = " ".join(str(message).splitlines()).strip() or "failed"
    note(f"error: {text}")


def note(message: str) -> None:
    """An informational line on stderr (stdout stays the command's output)."""
    try:
        sys.stderr.write(f"{PROG}: {message}\n")
        sys.stderr.flush()
    except Exception:
        pass


def isatty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except Exception:
        return False


def stdout_is_utf8() -> bool:
    enc = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    return enc.startswith("utf8") or enc == "utf"


def parse_key_values(
    items: Iterable[str], option: str, form: str = "key=value", hint: str = ""
) -> dict[str, str]:
    """``{key: value}`` from ``KEY=VALUE`` items; a :class:`UsageError` names ``option`` for a bad one."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option}: expected {form}, got {item!r}{hint}")
        values[key.strip()] = value
    return values


Command = Callable[[argparse.Namespace, Any], int]


def add_command(
    sub: Any,
    common: argparse.ArgumentParser,
    name: str,
    func: Command,
    help: str,
    description: str,
    **kw: Any,
) -> argparse.ArgumentParser:
    """Declare subcommand ``name`` (with the global options of ``common``) run by ``func(args, ctx)``."""
    p: argparse.ArgumentParser = sub.add_parser(
        name, parents=[common], help=help, description=description, **kw
    )
    p.set_defaults(func=func)
    return p


def add_session_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="session id or a unique prefix of one")


def add_json(p: argparse.ArgumentParser, help: str = "print JSON instead of a table") -> None:
    p.add_argument("--json", action="store_true", help=help)
