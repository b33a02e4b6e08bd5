"""``sentrial-integrations``: see what your agent did, offline.

Reads the embedded SQLite store the client writes when it has no API key: list and filter sessions,
show one session's timeline, replay it step by step, find slow steps and idle gaps, purge old data
and export sessions as JSON. Errors are one line on stderr with exit code 2 (bad usage) or 1
(missing store, unknown session, unreadable data); never a traceback (``SENTRIAL_DEBUG=1`` shows one).

Each subcommand is a module (or a small family of them: ``serve.py`` has serve and run, ``delivery.py``
status and ship) with an ``add_<name>(subparsers, common)`` that declares its options and a
``_cmd_<name>(args, ctx)`` that runs it; :data:`_COMMANDS` lists them in help order. The values are
written by :mod:`..core.format`, the statistics computed by :mod:`..core.store.stats`.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from .. import __version__
from ..core.config import env_flag
from ..core.format import fmt_cost, fmt_tokens
from ..core.format import fmt_duration as fmt_ms
from ..core.store import StoreError, percentile
from .common import PROG, CLIError, UsageError, fail
from .context import Ctx
from .export import add_export
from .purge import add_purge
from .replay import add_replay
from .serve import add_run, add_serve
from .sessions import add_sessions
from .show import add_show
from .stats import add_stats
from .timeparse import parse_duration, parse_when
from .views import session_document, session_json

__all__ = [
    "PROG",
    "CLIError",
    "UsageError",
    "build_parser",
    "fmt_cost",
    "fmt_ms",
    "fmt_tokens",
    "main",
    "parse_duration",
    "parse_when",
    "percentile",
    "session_document",
    "session_json",
]


def _add_status(sub: Any, common: argparse.ArgumentParser) -> None:
    from .delivery import add_status  # the outbox commands: imported when a parser is built

    add_status(sub, common)


def _add_ship(sub: Any, common: argparse.ArgumentParser) -> None:
    from .delivery import add_ship

    add_ship(sub, common)


def _add_diff(sub: Any, common: argparse.ArgumentParser) -> None:
    from ..rerun.diff_cli import add_command  # the comparison (rerun/diff.py) and its rendering

    add_command(sub, common)


# One function per subcommand: it adds its subparser and sets ``func`` (in help order).
_COMMANDS: list[Callable[[Any, argparse.ArgumentParser], None]] = [
    add_sessions,
    add_show,
    add_replay,
    _add_diff,
    add_stats,
    add_export,
    add_purge,
    add_serve,
    add_run,
    _add_status,
    _add_ship,
]


# --- entry point ---------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (raised, so main() decides the exit code)."""

    def error(self, message: str) -> Any:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=default,
        help="the store (default: $SENTRIAL_LOCAL_PATH, else .sentrial/sentrial.db in the nearest "
        ".sentrial/ directory here or above, else sentrial.db in the per-user data directory, "
        "e.g. ~/.local/share/sentrial/)",
    )
    parser.add_argument(
        "--timeout-after",
        metavar="DURATION",
        default=default,
        help="sessions open longer than this are stored as 'timeout' "
        "(default: $SENTRIAL_SESSION_TIMEOUT, else 24h; 'off' to disable)",
    )
    parser.add_argument(
        "--no-color",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="no colours (also when NO_COLOR is set or output is not a terminal)",
    )


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    _global_options(common, suppress=True)
    parser = _Parser(
        prog=PROG,
        description="See what your agent did, offline: sessions, timelines, replays and bottlenecks "
        "from the local Sentrial store.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:
        add(sub, common)
    return parser


def _silence_stdout() -> None:
    """After a broken pipe (``... | head``), send the rest of stdout nowhere so exit is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except Exception:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 failed, 2 bad usage, 130 interrupted)."""
    debug = env_flag("SENTRIAL_DEBUG")
    ctx: Ctx | None = None
    try:
        try:
            sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
        except Exception:
            pass
        parser = build_parser()
        args = parser.parse_args(list(argv) if argv is not None else None)
        if getattr(args, "command", None) is None:
            parser.print_help()
            return 2
        ctx = Ctx(args)
        return int(args.func(args, ctx) or 0)
    except UsageError as exc:
        fail(str(exc))
        return 2
    except (CLIError, StoreError) as exc:
        fail(str(exc))
        return 1
    except sqlite3.Error as exc:
        fail(f"cannot read the Sentrial store: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        fail(f"internal error: {type(exc).__name__}: {exc} (SENTRIAL_DEBUG=1 shows details)")
        return 1
    finally:
        if ctx is not None:
            ctx.close()
