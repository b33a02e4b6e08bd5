"""examples/replay_and_diff.py (README's "Replay and diff" walk-through) runs and prints what README says."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_worked_example(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
    env["SENTRIAL_LOCAL_PATH"] = str(tmp_path / "unused.db")
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "replay_and_diff.py")],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=str(tmp_path),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "recorded: It is sunny in Paris today"
    assert lines[1] == "replayed: It is sunny in Paris today (answered from steps [1, 4])"
    assert "Equal: same steps, same contents." in lines
    assert lines.count("diff exit status: 0") == 2
    assert (
        "mismatch at step 4: messages[3] (tool): recorded 'sunny in Paris', the request has 'rainy in Paris'"
        in lines
    )
    assert "live from step 4: Take an umbrella" in lines
    assert "First divergence: step 3 of A / 3 of B (tool_call get_weather): result differ" in lines
    assert "    +rainy in Paris" in lines and "    +Take an umbrella" in lines
    assert not (tmp_path / "unused.db").exists()
