"""The ``sentrial_replay`` pytest fixture, used by a test suite of its own (run in a subprocess) against
a recording exported into it, with the scripted server switched off."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap

from .conftest import assert_no_server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

USER_TESTS = textwrap.dedent(
    """
    import pytest
    from sentrial_integrations.rerun import ReplayMismatch
    from tests.replay import helpers

    URL = {url!r}
    RECORDING = {recording!r}

    def test_same_answer_and_steps(sentrial_replay):
        with sentrial_replay(RECORDING, on_mismatch="raise") as rp:
            result = helpers.run(helpers.weather_agent(URL), sentrial_replay.client)
        assert result["messages"][-1].content == helpers.FINAL
        sentrial_replay.assert_same_steps(rp)
        assert sentrial_replay.diff(rp)["structurally_equal"]
        assert [e["type"] for e in sentrial_replay.events(rp)] == ["llm_call", "decision", "tool_call", "llm_call"]
        assert sentrial_replay.session(rp)["metadata"]["replay_of"] == rp.recording.id

    def test_a_changed_prompt_is_caught(sentrial_replay):
        with pytest.raises(ReplayMismatch) as info:
            with sentrial_replay(RECORDING, on_mismatch="raise"):
                helpers.run(helpers.weather_agent(URL, system_prompt="be verbose"), sentrial_replay.client)
        assert info.value.step == 1
    """
)


def plugin_args() -> list[str]:
    """``-p`` the plugin unless the installed entry point already loads it."""
    names = {ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    return (
        []
        if "sentrial_integrations.rerun.pytest_plugin" in names
        else ["-p", "sentrial_integrations.rerun.pytest_plugin"]
    )


def test_the_fixture_runs_an_agent_against_a_checked_in_recording(recorded, openai_server, tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    recording = str(suite / "weather.json")
    export = subprocess.run(
        [
            sys.executable,
            "-m",
            "sentrial_integrations",
            "--db",
            recorded.store_path,
            "export",
            recorded.session_id,
            "-o",
            recording,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert export.returncode == 0, export.stderr
    openai_server.stop()
    assert_no_server(recorded.url)
    (suite / "test_user.py").write_text(USER_TESTS.format(url=recorded.url, recording=recording))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
    env["SENTRIAL_LOCAL_PATH"] = str(tmp_path / "must-not-be-used.db")
    env["PYTHONPATH"] = ROOT
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *plugin_args(),
            "--rootdir",
            str(suite),
            str(suite),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(suite),
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
    assert not os.path.exists(tmp_path / "must-not-be-used.db")
