"""README and the code cannot drift apart: the set-up section is the two commands CI runs in a fresh
venv (``.ci/readme_setup.py``, run by ``.ci/run``: not from here, since README's test command runs this
suite), the quickstart prints what README shows, the core snippet runs as written, every documented
name imports, help texts say what README says, every example is listed and the extras hold what the
examples import."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sentrial_integrations.core.store import Store

REPO = Path(__file__).resolve().parents[1]
README_TEXT = (REPO / "README.md").read_text(encoding="utf-8")
README_FLAT = " ".join(README_TEXT.split())  # phrases may wrap across lines


def _load_setup_script():
    spec = importlib.util.spec_from_file_location("readme_setup", REPO / ".ci" / "readme_setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


setup = _load_setup_script()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_") and k != "COLUMNS"}
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), PYTHONIOENCODING="utf-8", **extra)
    return env


def test_setup_section_is_the_two_commands_ci_runs_in_a_fresh_venv():
    assert setup.setup_commands(README_TEXT) == [
        "pip install -e . && python examples/quickstart.py",
        'pip install -e ".[dev]" && python -m pytest -q',
    ]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "python .ci/readme_setup.py" in ci


def test_quickstart_prints_what_readme_shows(tmp_path):
    proc = subprocess.run(
        [sys.executable, "examples/quickstart.py"],
        cwd=REPO,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert setup.compare(setup.quickstart_output(README_TEXT), proc.stdout) == []
    # the store it names is the per-user one, and the CLI reads it from anywhere
    store = tmp_path / "data" / "sentrial" / "sentrial.db"
    (sid,) = re.findall(r"sentrial-integrations show (ses_[0-9a-f]+)", proc.stdout)
    shown = subprocess.run(
        [sys.executable, "-m", "sentrial_integrations", "show", sid, "--json"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["session"]["name"] == "Support - Password Reset" and len(data["events"]) == 5
    assert store.is_file()


def test_compare_catches_drift():
    expected = setup.quickstart_output(README_TEXT)
    assert setup.compare(expected, expected) == []
    assert setup.compare(expected, expected.replace("tool_call  search_kb", "tool_call  search"))
    assert setup.compare(expected, expected + "one more line\n")
    assert setup.compare(expected, "\n".join(expected.splitlines()[:-1]))


def _section(title: str) -> str:
    return setup.section(README_TEXT, title)


def test_core_snippet_runs_as_written(tmp_path):
    (snippet,) = setup.code_blocks(_section("The core API"), "python")
    db = tmp_path / "core.db"
    proc = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path,
        env=_env(tmp_path, SENTRIAL_LOCAL_PATH=str(db)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    store = Store(str(db))
    try:
        first, second = sorted(store.list_sessions(), key=lambda s: s["started_at"])
        events = store.get_events(first["id"])
        assert (first["name"], first["status"], first["metadata"]) == (
            "Support - Password Reset",
            "success",
            {"user_id": "user_123", "ticket_id": "T-456"},
        )
        assert [e["type"] for e in events] == ["tool_call", "decision", "llm_call", "error"]
        assert events[3]["error"]["type"] == "ConnectionError" and events[3]["name"] == "send_reset_link"
        assert (first["prompt_tokens"], first["completion_tokens"]) == (412, 38)
        assert (second["status"], [e["name"] for e in store.get_events(second["id"])]) == (
            "success",
            ["search_kb"],
        )
    finally:
        store.close()


def test_every_documented_import_works():
    names = re.findall(r"from (sentrial_integrations[\w.]*) import ([\w, ]+)", README_TEXT)
    assert len(names) >= 6
    for module_name, items in names:
        module = importlib.import_module(module_name)
        for item in (i.strip() for i in items.split(",")):
            if item:
                assert hasattr(module, item), f"README imports {item} from {module_name}"
    # dotted names in the text: `sentrial_integrations.llamaindex.last_session_id()`, ...
    dotted_names = set(re.findall(r"`(sentrial_integrations(?:\.\w+)+)", README_TEXT))
    for dotted in dotted_names - {"sentrial_integrations.pth"}:  # a file name, not a module
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                assert hasattr(obj, attr), f"README names {dotted}"
                obj = getattr(obj, attr)
            break
    for documented in ("Price", "SentrialConfigWarning", "set_price", "configure", "get_client"):
        assert documented in importlib.import_module("sentrial_integrations").__all__


def _help(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "sentrial_integrations", *args, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "1000"},
    )
    assert proc.returncode == 0, proc.stderr
    return " ".join(proc.stdout.split())


def test_help_texts_say_what_readme_says():
    run_help = _help("run")
    assert (
        "every framework run and OpenAI call of the program joins, from any thread or asyncio task"
        in run_help
    )
    assert "main thread" not in run_help
    assert "every framework run and OpenAI call of the program — any thread, any asyncio task" in README_FLAT
    serve_help = _help("serve")
    assert "from SDK clients (Authorization: Bearer KEY) and from the browser" in serve_help
    assert "password for the dashboard" in serve_help
    assert "the browser asks for it as a password" in README_FLAT
    db_help = _help()
    assert (
        "nearest .sentrial/ directory here or above, else sentrial.db in the per-user data directory"
        in db_help
    )
    assert "else the nearest `.sentrial/` directory's store, else the per-user one" in README_FLAT


def test_every_example_is_listed_in_readme():
    examples = sorted(p.name for p in (REPO / "examples").iterdir() if p.is_file())
    assert examples
    for name in examples:
        assert f"(examples/{name})" in README_TEXT, f"examples/{name} is not listed in README"


def _extra(name: str) -> str:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(rf"^{name} = \[(.*?)\]\s*$", pyproject, re.M | re.S)
    assert match is not None, name
    return match.group(1)


def test_extras_hold_what_readme_examples_import():
    assert '"langchain-core' in _extra("langchain") and '"langchain>=1' in _extra("langchain")
    assert "from langchain.agents import create_agent" in README_TEXT
    assert '"llama-index-llms-openai' in _extra("llamaindex") and '"llama-index-core' in _extra("llamaindex")
    assert '"setuptools' in _extra("dev") and '"wheel"' in _extra("dev")
    assert "platformdirs" in (REPO / "pyproject.toml").read_text(encoding="utf-8")
    perf = _section("Performance")
    assert 'pip install -e ".[dev,bench]"' in perf


def test_every_index_install_line_has_its_checkout_twin():
    from_index = set(re.findall(r'pip install "sentrial-integrations\[([\w,]+)\]"', README_TEXT))
    from_checkout = set(re.findall(r'pip install -e "\.\[([\w,]+)\]"', README_TEXT))
    assert from_index and from_index <= from_checkout, from_index - from_checkout
    extras = {"langchain", "llamaindex", "openai", "server", "otel", "all", "dev", "bench"}
    for group in from_index | from_checkout:
        assert set(group.split(",")) <= extras, group
        for extra in group.split(","):
            _extra(extra)


@pytest.mark.parametrize("name", ["quickstart.py"])
def test_examples_docstrings_name_the_default_store(name):
    text = (REPO / "examples" / name).read_text(encoding="utf-8")
    assert "per-user" in text and ".sentrial/sentrial.db under" not in text


def test_compare_allows_a_cell_cut_at_another_width_only():
    readme = (
        "  +80 ms  decision  → send_reset_link (confidence 0…\n   The user is locked out and KB-001 co…\n"
    )
    wider = "  +80 ms  decision  → send_reset_link (confidence 0.92)\n   The user is locked out and KB-001 covers …\n"
    problems = setup.compare(readme, wider)
    assert len(problems) == 1 and "confidence" in problems[0]  # uncut vs cut: a real difference
    assert setup.compare(readme, readme.replace("co…", "covers …")) == []
    assert setup.compare(readme, readme.replace("KB-001 co…", "KB-002 co…"))
