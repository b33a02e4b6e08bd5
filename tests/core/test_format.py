"""core/format.py: the one set of formatters of the CLI and the dashboard, and app.js writing durations
exactly as they do (checked in Node, when it is installed)."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sentrial_integrations.core import format as fmt
from sentrial_integrations.server import pages

APP_JS = Path(fmt.__file__).parents[1] / "server" / "static" / "app.js"

DURATIONS = [0, 0.001, 0.125, 0.25, 0.995, 1, 4.5, 9.95, 9.96, 10, 42, 42.5, 43.5, 999.4, 999.5, 1000, 1200,
             9994, 9995, 12_500, 59_940, 59_950, 59_999, 60_000, 90_500, 91_500, 185_000, 3_599_499,
             3_599_500, 7_800_000, 86_399_999, 90_000_000, 1e12, -1500]  # fmt: skip


def test_one_duration_style_everywhere():
    expected = ["–", "0 ms", "0.25 ms", "4.5 ms", "42 ms", "999 ms", "1.00 s", "1.20 s", "12.5 s",
                "1 min 00 s", "3 min 05 s", "1 h 00 min", "2 h 10 min", "1 d 1 h", "-1.50 s"]  # fmt: skip
    values = [None, 0, 0.25, 4.5, 42, 999.4, 999.5, 1200, 12_500, 59_950, 185_000, 3_599_500, 7_800_000,
              90_000_000, -1500]  # fmt: skip
    assert [fmt.fmt_duration(v) for v in values] == expected
    # the dashboard writes the same text, with its own mark for a missing value
    assert [pages.fmt_duration(v) for v in values] == ["—", *expected[1:]]
    for junk in ("12", True, float("nan"), float("inf"), [], {}):
        assert fmt.fmt_duration(junk) == "–" and pages.fmt_duration(junk) == "—"


def test_dashboard_formatters_keep_their_output():
    assert [pages.fmt_cost(v) for v in (None, 0, 0.0035, 0.000036, 0.5, 12.3456, 1234.5)] == [
        "—", "$0", "$0.0035", "$0.000036", "$0.5000", "$12.35", "$1,234.50",
    ]  # fmt: skip
    assert [pages.fmt_int(v) for v in (None, 1100, 2.7, "3", float("inf"))] == ["—", "1,100", "2", "—", "—"]
    assert pages.fmt_time(None) == "—" and pages.fmt_time(float("nan")) == "—"
    assert [pages.fmt_ago(1000 - d, 1000) for d in (5, 300, 7200, 172_800, -5)] == [
        "5s ago", "5m ago", "2h ago", "2d ago", "0s ago",
    ]  # fmt: skip
    assert pages.fmt_ago(None) == ""
    assert pages._unpriced(2) == ' <span class="warn unpriced">cost unknown for 2 calls</span>'
    assert pages._unpriced(0) == "" and pages._unpriced(True) == ""
    assert fmt.unpriced_note(1) == " (cost unknown for 1 call)"


def _js_function(source: str, name: str) -> str:
    match = re.search(rf"^  function {name}\(.*?^  }}$", source, re.S | re.M)
    assert match, f"{name} not found in app.js"
    return match.group(0)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_app_js_writes_durations_as_core_format_does():
    source = APP_JS.read_text(encoding="utf-8")
    rng = random.Random(18)
    values = [*DURATIONS]
    values += [round(rng.uniform(0, 2000), rng.choice((1, 2, 3))) for _ in range(300)]
    values += [rng.uniform(0, 10 ** rng.randint(0, 11)) for _ in range(300)]
    script = "\n".join(_js_function(source, n) for n in ("isNum", "pyFixed", "fmtDuration"))
    script += f"\nprocess.stdout.write(JSON.stringify({json.dumps(values)}.map(fmtDuration)));\n"
    proc = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [pages.fmt_duration(v) for v in values]
