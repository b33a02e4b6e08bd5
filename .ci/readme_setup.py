"""Run README's "Set up" commands verbatim in a brand-new venv and check them.

    python .ci/readme_setup.py                      # with this interpreter
    python .ci/readme_setup.py --python python3.12  # with another one
    python .ci/readme_setup.py --install-only       # the first command only (install + quickstart)

The commands are the ```bash blocks of README's "## Set up" section, run one after the other with
``bash -c`` in the repository, the new venv first on ``PATH`` (as after ``source venv/bin/activate``),
no ``SENTRIAL_*`` or ``PYTHONPATH`` from the caller, and a fresh per-user data directory (so the
quickstart writes a new store). Checks: every command exits 0, and the quickstart's output has the
shape README shows (:func:`normalize`: ids, times and bar lengths aside, line for line the same).

Not part of the pytest suite on purpose: README's test command runs the whole suite, so a test that
ran it would recurse. ``tests/test_readme.py`` runs the quickstart check in-process instead, and
``.ci/run`` runs this script.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
QUICKSTART_PROMPT = "$ python examples/quickstart.py"


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section (up to the next ``## `` heading)."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.S | re.M)
    if match is None:
        raise SystemExit(f"README has no '## {title}' section")
    return match.group(1)


def code_blocks(text: str, lang: str) -> list[str]:
    return [m.group(1) for m in re.finditer(rf"^```{lang}\n(.*?)^```", text, re.S | re.M)]


def setup_commands(readme: str) -> list[str]:
    """The commands of README's set-up section, one per ```bash block (comments and blanks dropped)."""
    commands = []
    for block in code_blocks(section(readme, "Set up"), "bash"):
        lines = [ln for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        commands.append(" && ".join(lines))
    return commands


def quickstart_output(readme: str) -> str:
    """The quickstart output README shows (the ```text block that starts with the command)."""
    for block in code_blocks(section(readme, "Set up"), "text"):
        if block.startswith(QUICKSTART_PROMPT + "\n"):
            return block[len(QUICKSTART_PROMPT) + 1 :]
    raise SystemExit(f"README's set-up section shows no output of '{QUICKSTART_PROMPT}'")


_IDS = re.compile(r"ses_[0-9a-f]{8,}")
_STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
_NUMBER_UNIT = re.compile(r"[+]?\d+(?:\.\d+)?\s?(?:ms|s)\b")
_BAR = re.compile(r"[█·▏]+")
_RULE = re.compile(r"^─+$")


def normalize(text: str) -> list[str]:
    """The quickstart's output with what changes from run to run (ids, times, durations, bar lengths,
    column widths) replaced by placeholders; how much of a cut cell shows is left to :func:`compare`."""
    lines = []
    for raw in text.splitlines():
        line = _IDS.sub("ses_ID", raw)
        line = _STAMP.sub("TIME", line)
        line = _NUMBER_UNIT.sub("DUR", line)
        line = _BAR.sub("BAR", line)
        line = " ".join(line.split())
        if _RULE.match(line):
            line = "───"
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def compare(expected: str, actual: str) -> list[str]:
    """Differences between README's quickstart output and a run's (empty: they agree)."""
    want, got = normalize(expected), normalize(actual)
    got = got[-len(want) :] if len(got) >= len(want) else got  # pip's own lines come first
    problems = []
    for i in range(max(len(want), len(got))):
        w = want[i] if i < len(want) else "<nothing>"
        g = got[i] if i < len(got) else "<nothing>"
        if w != g and not _same_cut(w, g):
            problems.append(f"line {i + 1}: README {w!r} vs run {g!r}")
    return problems


def _same_cut(w: str, g: str) -> bool:
    """Two cells cut to different widths (``KB-001 co…`` / ``KB-001 covers …``): one shown part is a
    prefix of the other, and what follows the cut is the same."""
    if w.count("…") != 1 or g.count("…") != 1:
        return False
    (w_head, w_tail), (g_head, g_tail) = w.split("…"), g.split("…")
    w_head, g_head = w_head.rstrip(), g_head.rstrip()
    return w_tail == g_tail and (w_head.startswith(g_head) or g_head.startswith(w_head)) and bool(w_head)


def fresh_env(venv: Path, data_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PIP_REQUIRE_VIRTUALENV", "VIRTUAL_ENV", "COLUMNS")
    for key in drop:
        env.pop(key, None)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    env.update(
        PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        XDG_DATA_HOME=str(data_home),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run(command: str, env: dict[str, str]) -> tuple[int, str]:
    """``bash -c command`` in the repository; output streamed through and returned."""
    print(f"\n$ {command}", flush=True)
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    assert proc.stdout is not None
    out = []
    for line in proc.stdout:
        sys.stdout.write(line)
        out.append(line)
    return proc.wait(), "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter for the new venv")
    parser.add_argument("--install-only", action="store_true", help="run the first command only")
    parser.add_argument("--keep", action="store_true", help="keep the venv (its path is printed)")
    args = parser.parse_args(argv)

    readme = README.read_text(encoding="utf-8")
    commands = setup_commands(readme)
    expected = quickstart_output(readme)
    if len(commands) != 2:
        print(f"README set-up: expected 2 commands, found {len(commands)}: {commands}")
        return 1
    work = Path(tempfile.mkdtemp(prefix="readme-setup-"))
    venv = work / "venv"
    version = subprocess.run(
        [args.python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"README set-up with Python {version} in a new venv at {venv}", flush=True)
    subprocess.run([args.python, "-m", "venv", str(venv)], check=True)
    env = fresh_env(venv, work / "data")
    results: list[str] = []
    failed = False
    try:
        for i, command in enumerate(commands[:1] if args.install_only else commands):
            started = time.monotonic()
            code, out = run(command, env)
            took = time.monotonic() - started
            summary = out.strip().splitlines()[-1] if out.strip() else ""
            results.append(f"[{code}] {command}  ({took:.0f} s)  last line: {summary}")
            failed |= code != 0
            if i == 0 and code == 0:
                problems = compare(expected, out)
                if problems:
                    failed = True
                    results.append("quickstart output differs from README:\n  " + "\n  ".join(problems))
                else:
                    results.append("quickstart output matches README")
            if code != 0:
                break
    finally:
        print(f"\n== README set-up, Python {version}:", flush=True)
        for line in results:
            print(line)
        if args.keep:
            print(f"venv kept at {venv}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
