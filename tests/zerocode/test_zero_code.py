"""Zero-code: ``sentrial-integrations run -- python app.py`` on an unmodified program that uses LangChain,
the OpenAI SDK and LlamaIndex against the scripted OpenAI server; and ``auto_instrument()`` /
``uninstrument_all()`` in-process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sentrial_integrations.core.store import Store
from tests.servers.openai_server import ScriptedOpenAIServer, chat

APP = textwrap.dedent(
    '''
    """An agent program that knows nothing about Sentrial."""
    import asyncio
    import sys

    from langchain.agents import create_agent
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.tools import FunctionTool
    from llama_index.llms.openai import OpenAI as LlamaOpenAI
    from openai import OpenAI

    URL, EXIT = sys.argv[1], sys.argv[2]


    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"


    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b


    model = ChatOpenAI(model="gpt-4o-mini", base_url=URL, api_key="sk-test", max_retries=0)
    agent = create_agent(model, [get_weather], name="weather_agent")
    result = agent.invoke({"messages": [("user", "weather in Paris?")]})
    print("langchain:", result["messages"][-1].content)

    client = OpenAI(base_url=URL, api_key="sk-test", max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    print("openai:", reply.choices[0].message.content)

    llm = LlamaOpenAI(model="gpt-4o-mini", api_base=URL, api_key="sk-test", max_retries=0)
    li_agent = FunctionAgent(tools=[FunctionTool.from_defaults(add)], llm=llm)


    async def ask():
        return await li_agent.run("What is 2+3?")


    print("llamaindex:", asyncio.run(ask()))
    if EXIT == "raise":
        raise RuntimeError("the program failed")
    sys.exit(int(EXIT))
    '''
)

STDOUT = "langchain: It is sunny in Paris\nopenai: hello\nllamaindex: The answer is 5\n"
LLM = "llm:openai:gpt-4o-mini"


def script(server: ScriptedOpenAIServer) -> None:
    server.reset()
    server.script(
        chat(
            tool_calls=[("get_weather", {"city": "Paris"}, "call_w")], prompt_tokens=11, completion_tokens=3
        ),
        chat("It is sunny in Paris", prompt_tokens=21, completion_tokens=4),
        chat("hello", prompt_tokens=5, completion_tokens=1),
        chat(tool_calls=[("add", {"a": 2, "b": 3}, "call_add")], prompt_tokens=30, completion_tokens=6),
        chat("The answer is 5", prompt_tokens=40, completion_tokens=7),
    )


def run(
    tmp_path: Path, server: ScriptedOpenAIServer, exit_arg: str, *run_args: str, wrapped: bool = True
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run APP (unmodified) plainly or through ``python -m sentrial_integrations run``."""
    script(server)
    app = tmp_path / "app.py"
    app.write_text(APP)
    db = tmp_path / ("run.db" if wrapped else "plain.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
    env.update(SENTRIAL_LOCAL_PATH=str(db), SENTRIAL_SPOOL_PATH=str(tmp_path / "spool"))
    env["SENTRIAL_OPENAI_INCLUDE_USAGE"] = "true"  # LlamaIndex streams from a loopback (not a known) endpoint
    program = [sys.executable, str(app), server.url, exit_arg]
    cmd = (
        [sys.executable, "-m", "sentrial_integrations", "run", *run_args, "--", *program]
        if wrapped
        else program
    )
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    return proc, db


def brief(e: dict[str, Any]) -> tuple[str, str | None]:
    return (e["type"], e["name"])


def by_name(db: Path) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    store = Store(str(db))
    try:
        return {s["name"]: (s, store.get_events(s["id"])) for s in store.list_sessions()}
    finally:
        store.close()


def check_llm_events(llms: list[dict[str, Any]], tokens: list[int]) -> None:
    """Each call recorded once, by the OpenAI layer (it saw the request), with the server's usage."""
    assert [e["total_tokens"] for e in llms] == tokens
    for e in llms:
        assert e["name"] == LLM and e["model"] == "gpt-4o-mini-2024-07-18" and e["provider"] == "openai"
        assert e["metadata"]["operation"] == "chat.completions.create"


def test_run_records_every_framework_each_call_once(tmp_path, openai_server):
    plain, plain_db = run(tmp_path, openai_server, "0", wrapped=False)
    assert not plain_db.exists()  # nothing of ours ran
    proc, db = run(tmp_path, openai_server, "0")
    assert (proc.returncode, proc.stdout, proc.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert (proc.returncode, proc.stdout) == (0, STDOUT)
    assert len(openai_server.requests) == 5

    sessions = by_name(db)
    assert sorted(sessions) == ["FunctionAgent.run", "openai.chat.completions.create", "weather_agent"]
    assert {s["status"] for s, _ in sessions.values()} == {"success"}

    # LangChain + ChatOpenAI: the OpenAI layer recorded each call under the LangChain run's span.
    lc, lc_events = sessions["weather_agent"]
    assert [brief(e) for e in lc_events] == [
        ("llm_call", LLM),
        ("decision", "decision"),
        ("tool_call", "get_weather"),
        ("llm_call", LLM),
    ]
    first, decision, tool, final = lc_events
    check_llm_events([first, final], [14, 25])
    assert not first["span_id"].startswith("oai_")  # the LangChain run id: the claim was taken
    assert decision["parent_span_id"] == first["span_id"]
    assert (tool["input"], tool["output"]) == ({"city": "Paris"}, "sunny in Paris")
    assert (lc["prompt_tokens"], lc["completion_tokens"], lc["total_tokens"]) == (32, 7, 39)

    # Plain OpenAI: a session of its own.
    _, oa_events = sessions["openai.chat.completions.create"]
    assert [brief(e) for e in oa_events] == [("llm_call", LLM)]
    check_llm_events(oa_events, [6])
    assert oa_events[0]["output"]["content"] == "hello"

    # LlamaIndex FunctionAgent on llama-index-llms-openai: same, under the LlamaIndex LLM spans.
    li, li_events = sessions["FunctionAgent.run"]
    assert [brief(e) for e in li_events] == [
        ("llm_call", LLM),
        ("decision", "decision"),
        ("tool_call", "add"),
        ("llm_call", LLM),
    ]
    first, decision, tool, final = li_events
    check_llm_events([first, final], [36, 47])
    assert first["span_id"].startswith("OpenAI.astream_chat-")
    assert decision["parent_span_id"] == first["span_id"]
    assert (tool["input"], tool["output"]) == ({"a": 2, "b": 3}, 5)
    assert li["output"] == "The answer is 5"


def test_one_session_for_the_program_and_a_nonzero_exit(tmp_path, openai_server):
    plain, _ = run(tmp_path, openai_server, "3", wrapped=False)
    proc, db = run(tmp_path, openai_server, "3", "--session-name", "nightly", "--metadata", "team=a", "run=7")
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, plain.stdout, plain.stderr)
    assert proc.stdout == STDOUT

    sessions = by_name(db)
    assert list(sessions) == ["nightly"]
    s, evs = sessions["nightly"]
    assert (s["status"], s["failure_reason"], s["metadata"]) == (
        "failure",
        "exit code 3",
        {"team": "a", "run": "7"},
    )
    assert s["custom_metrics"] == {"exit_code": 3}
    assert [brief(e) for e in evs] == [
        ("llm_call", LLM),
        ("decision", "decision"),
        ("tool_call", "get_weather"),
        ("llm_call", LLM),
        ("llm_call", LLM),
        ("llm_call", LLM),
        ("decision", "decision"),
        ("tool_call", "add"),
        ("llm_call", LLM),
    ]
    check_llm_events([e for e in evs if e["type"] == "llm_call"], [14, 25, 6, 36, 47])
    assert s["total_tokens"] == 128


def test_uncaught_exception(tmp_path, openai_server):
    plain, _ = run(tmp_path, openai_server, "raise", wrapped=False)
    proc, db = run(tmp_path, openai_server, "raise", "--session-name", "crashy")
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, plain.stdout, plain.stderr)
    assert proc.stderr.rstrip().endswith("RuntimeError: the program failed")
    s, evs = by_name(db)["crashy"]
    assert (s["status"], s["failure_reason"]) == ("error", "RuntimeError: the program failed")
    assert brief(evs[-1]) == ("error", None)
    assert evs[-1]["error"]["type"] == "RuntimeError" and evs[-1]["error"]["message"] == "the program failed"
    assert len([e for e in evs if e["type"] == "llm_call"]) == 5


def _tiny(tmp_path: Path, body: str, *run_args: str, env_extra: dict[str, str] | None = None):
    prog = tmp_path / "tiny.py"
    prog.write_text(textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
    env.update(SENTRIAL_LOCAL_PATH=str(tmp_path / "tiny.db"), **(env_extra or {}))
    cmd = [sys.executable, "-m", "sentrial_integrations", "run", *run_args, "--", sys.executable, str(prog)]
    return subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)


NEEDS_MONITORING = pytest.mark.skipif(
    sys.version_info < (3, 12), reason="a bare raise SystemExit is seen through sys.monitoring (3.12+)"
)


@pytest.mark.parametrize(
    ("body", "code", "status", "reason"),
    [
        ("import sys\nsys.exit(3)\n", 3, "failure", "exit code 3"),
        ("exit(3)\n", 3, "failure", "exit code 3"),
        ("quit(4)\n", 4, "failure", "exit code 4"),
        ("def main():\n    exit(5)\n\nmain()\n", 5, "failure", "exit code 5"),
        pytest.param("raise SystemExit(3)\n", 3, "failure", "exit code 3", marks=NEEDS_MONITORING),
        pytest.param(
            "def main():\n    raise SystemExit(6)\n\nmain()\n",
            6,
            "failure",
            "exit code 6",
            marks=NEEDS_MONITORING,
        ),
        pytest.param("raise SystemExit('bye')\n", 1, "failure", "exit: bye", marks=NEEDS_MONITORING),
        ("try:\n    raise SystemExit(3)\nexcept SystemExit:\n    pass\n", 0, "success", None),
        ("import sys\nsys.exit(0)\n", 0, "success", None),
        ("exit()\n", 0, "success", None),
    ],
)
def test_the_umbrella_records_the_real_exit_status(tmp_path, body, code, status, reason):
    proc = _tiny(tmp_path, "print('working')\n" + body, "--session-name", "exits")
    plain = subprocess.run(
        [sys.executable, str(tmp_path / "tiny.py")], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert proc.returncode == code and proc.stdout == "working\n"
    store = Store(str(tmp_path / "tiny.db"))
    (s,) = store.list_sessions()
    store.close()
    assert (s["name"], s["status"], s["failure_reason"]) == ("exits", status, reason)
    if status == "success":
        assert s["custom_metrics"] == {"exit_code": 0}
    elif isinstance(code, int) and reason and reason.startswith("exit code"):
        assert s["custom_metrics"] == {"exit_code": code}


def test_interrupted_program(tmp_path):
    body = "print('working')\nraise KeyboardInterrupt\n"
    plain = subprocess.run(
        [sys.executable, "-c", body], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    proc = _tiny(tmp_path, body, "--session-name", "interrupted")
    assert (proc.returncode, proc.stdout) == (plain.returncode, "working\n")
    assert proc.returncode != 0 and proc.stderr.rstrip().endswith("KeyboardInterrupt")
    store = Store(str(tmp_path / "tiny.db"))
    (s,) = store.list_sessions()
    assert (s["name"], s["status"], s["failure_reason"], s["event_count"]) == (
        "interrupted",
        "abandoned",
        "KeyboardInterrupt",
        0,
    )
    store.close()


def test_existing_sitecustomize_still_runs(tmp_path):
    site = tmp_path / "usersite"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import os\nos.environ['USER_SITECUSTOMIZE'] = 'ran'\n")
    old = os.environ.get("PYTHONPATH")
    proc = _tiny(
        tmp_path,
        """
        import os, sys
        import sentrial_integrations.zerocode.auto as auto
        print(os.environ.get("USER_SITECUSTOMIZE"), os.environ.get("SENTRIAL_TRACING"), sorted(auto.instrumented()))
        print("openai" in sys.modules, "langchain_core" in sys.modules)
        """,
        env_extra={"PYTHONPATH": os.pathsep.join([str(site), *([old] if old else [])])},
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    # instrumentation waits for the frameworks' first import: none was imported by start-up
    # ... and nothing was written to the environment (a subprocess inherits no SENTRIAL_TRACING)
    assert proc.stdout == "ran None ['langchain', 'llamaindex', 'openai']\nFalse False\n"


def test_metadata_alone_names_the_session_after_the_program(tmp_path):
    proc = _tiny(tmp_path, "print('hi')\n", "--metadata", "k=v")
    assert (proc.returncode, proc.stdout) == (0, "hi\n")
    store = Store(str(tmp_path / "tiny.db"))
    (s,) = store.list_sessions()
    store.close()
    assert (s["name"], s["status"], s["metadata"]) == ("tiny.py", "success", {"k": "v"})


def test_umbrella_is_not_reopened_by_python_subprocesses(tmp_path):
    proc = _tiny(
        tmp_path,
        """
        import os, subprocess, sys
        child = "import os; print(os.environ.get('SENTRIAL_RUN_SESSION_NAME'), 'sentrial_integrations' in __import__('sys').modules)"
        subprocess.run([sys.executable, "-c", child], check=True)
        """,
        "--session-name",
        "outer",
    )
    assert (proc.returncode, proc.stdout) == (0, "None True\n")  # the child is instrumented, no umbrella
    store = Store(str(tmp_path / "tiny.db"))
    assert [s["name"] for s in store.list_sessions()] == ["outer"]
    store.close()


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        ([], 2, "give the program after --"),
        (["--"], 2, "give the program after --"),
        (["--metadata", "oops", "--", "true"], 2, "--metadata: expected KEY=VALUE, got 'oops'"),
        (["--", "no-such-program-xyz"], 127, "command not found: no-such-program-xyz"),
    ],
)
def test_run_usage(tmp_path, argv, code, message):
    proc = subprocess.run(
        [sys.executable, "-m", "sentrial_integrations", "run", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == code
    assert message in proc.stderr and proc.stderr.count("\n") == 1


# --- in-process ---------------------------------------------------------------------------------------


def test_import_stays_light():
    code = (
        "import sys, sentrial_integrations as s; "
        "print(sorted(m for m in ('sentrial_integrations.zerocode.auto', 'openai', 'langchain_core', 'llama_index.core', "
        "'opentelemetry.sdk') if m in sys.modules)); print(callable(s.auto_instrument), 'sentrial_integrations.zerocode.auto' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout == "[]\nTrue True\n"


def test_frameworks_imported_later_are_instrumented_on_import():
    code = textwrap.dedent(
        """
        import sys
        from sentrial_integrations import auto_instrument, uninstrument_all
        print(auto_instrument(langchain=False, llamaindex=False), "openai" in sys.modules)
        import openai
        from openai.resources.chat.completions.completions import Completions
        from sentrial_integrations.openai import is_instrumented
        print(is_instrumented(), hasattr(Completions.create, "__sentrial_openai__"))
        uninstrument_all()
        print(is_instrumented(), hasattr(Completions.create, "__sentrial_openai__"))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stderr == ""
    assert proc.stdout == "{'openai': 'on import'} False\nTrue True\nFalse False\n"


def test_auto_instrument_is_idempotent_and_uninstrument_all_restores(monkeypatch):
    import langchain_core  # noqa: F401
    from llama_index.core.instrumentation import get_dispatcher
    from openai.resources.chat.completions.completions import AsyncCompletions, Completions
    from openai.resources.embeddings import Embeddings

    from sentrial_integrations import auto_instrument, uninstrument_all
    from sentrial_integrations.llamaindex import is_instrumented as li_on
    from sentrial_integrations.openai import is_instrumented as oa_on
    from sentrial_integrations.zerocode.autoload import process_wide as lc_on

    monkeypatch.delenv("SENTRIAL_TRACING", raising=False)
    originals = (Completions.create, AsyncCompletions.create, Embeddings.create)
    dispatcher = get_dispatcher()
    handlers = (list(dispatcher.span_handlers), list(dispatcher.event_handlers))
    assert not oa_on() and not li_on()

    everything = {"langchain": "instrumented", "openai": "instrumented", "llamaindex": "instrumented"}
    try:
        assert auto_instrument() == everything
        patched = (Completions.create, AsyncCompletions.create, Embeddings.create)
        assert all(p is not o for p, o in zip(patched, originals, strict=True))
        assert auto_instrument() == everything  # idempotent: nothing patched twice
        assert (Completions.create, AsyncCompletions.create, Embeddings.create) == patched
        assert len(dispatcher.span_handlers) == len(handlers[0]) + 1
        assert len(dispatcher.event_handlers) == len(handlers[1]) + 1
        assert lc_on() and oa_on() and li_on()
        assert "SENTRIAL_TRACING" not in os.environ  # process-wide without touching the environment
    finally:
        uninstrument_all()
    assert (Completions.create, AsyncCompletions.create, Embeddings.create) == originals
    assert (dispatcher.span_handlers, dispatcher.event_handlers) == handlers
    assert "SENTRIAL_TRACING" not in os.environ and not lc_on() and not oa_on() and not li_on()
    uninstrument_all()  # twice is fine


WORKFLOW_ONLY = textwrap.dedent(
    """
    import asyncio, sys
    from sentrial_integrations import auto_instrument, get_client
    print(auto_instrument(langchain=False, openai=False))
    from workflows import Workflow, step
    from workflows.events import StartEvent, StopEvent


    class Greeter(Workflow):
        @step
        async def greet(self, ev: StartEvent) -> StopEvent:
            return StopEvent(result="hello " + ev.name)


    async def main():
        return await Greeter().run(name="ada")


    print(asyncio.run(main()))
    get_client().flush(10)
    """
)


def test_auto_instrument_covers_llama_index_workflows_used_on_their_own(tmp_path):
    """A program that imports llama-index-workflows and never ``llama_index.core``."""
    db = tmp_path / "wf.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
    env.update(SENTRIAL_LOCAL_PATH=str(db), SENTRIAL_SPOOL_PATH=str(tmp_path / "spool"))
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", WORKFLOW_ONLY],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "{'llamaindex': 'on import'}\nhello ada\n", "")
    store = Store(str(db))
    [session] = store.list_sessions()
    assert (session["name"], session["status"]) == ("Greeter.run", "success")
    store.close()


def test_uninstrument_all_keeps_the_users_tracing_setting(monkeypatch):
    from sentrial_integrations import auto_instrument, uninstrument_all

    monkeypatch.setenv("SENTRIAL_TRACING", "1")
    try:
        auto_instrument(openai=False, llamaindex=False)
        assert os.environ["SENTRIAL_TRACING"] == "1"  # never written
    finally:
        uninstrument_all()
    assert os.environ["SENTRIAL_TRACING"] == "1"


# --- packaging: the .pth file that makes SENTRIAL_TRACING=true work with no import ------------------------

REPO = Path(__file__).resolve().parents[2]


def _project_copy(tmp_path: Path) -> Path:
    """The project files a build needs (pyproject.toml, setup.py, the package), outside the work tree."""
    import shutil

    dest = tmp_path / "project"
    dest.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, dest / name)
    shutil.copytree(
        REPO / "sentrial_integrations",
        dest / "sentrial_integrations",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return dest


def _pip(python: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [python, "-m", "pip", *args, "--no-build-isolation", "--no-deps", "--no-index", "-q"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _venv_over_this_environment(venv: Path) -> tuple[str, str]:
    """A new venv that sees this environment's packages (pip, setuptools, wheel, langchain-core: the dev
    extra has them) — not the base interpreter's, which may have none (``--system-site-packages``
    would read those). Its own site-packages comes first, so what is installed there wins."""
    import site as site_module
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = {
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
        *site_module.getsitepackages(),
    }
    lines = sorted(p for p in ours if os.path.isdir(p))
    # a plain path line in a .pth file: appended to sys.path, the .pth files there are not run
    (Path(purelib) / "_this_environment.pth").write_text("".join(line + "\n" for line in lines))
    return python, purelib


def test_wheel_ships_the_pth_file(tmp_path):
    import zipfile

    from sentrial_integrations.zerocode.autoload import PTH_LINE

    proc = _pip(sys.executable, "wheel", "-w", str(tmp_path / "dist"), str(_project_copy(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp_path / "dist").glob("sentrial_integrations-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("sentrial_integrations.pth").decode() == PTH_LINE + "\n"
        record = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        assert any(
            line.startswith("sentrial_integrations.pth,sha256=")
            for line in zf.read(record).decode().splitlines()
        )


def test_editable_install_ships_the_pth_file_and_tracing_needs_no_import(tmp_path):
    """``pip install -e .``: SENTRIAL_TRACING=true alone records LangChain runs of a program that never
    imports sentrial_integrations; unset, the package is not even imported."""
    python, site = _venv_over_this_environment(tmp_path / "venv")
    proc = _pip(python, "install", "-e", str(_project_copy(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    assert (Path(site) / "sentrial_integrations.pth").is_file()

    prog = tmp_path / "prog.py"
    prog.write_text(
        textwrap.dedent(
            """
            import sys
            print("sentrial_integrations" in sys.modules)
            from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
            from langchain_core.messages import AIMessage
            print(GenericFakeChatModel(messages=iter([AIMessage("hi")])).invoke("hello").content)
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_") and k != "PYTHONPATH"}
    env["SENTRIAL_LOCAL_PATH"] = str(tmp_path / "pth.db")
    off = subprocess.run([python, str(prog)], env=env, capture_output=True, text=True, timeout=60)
    assert (off.returncode, off.stdout) == (0, "False\nhi\n")
    assert not (tmp_path / "pth.db").exists()
    on = subprocess.run(
        [python, str(prog)],
        env={**env, "SENTRIAL_TRACING": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (on.returncode, on.stdout) == (0, "True\nhi\n"), on.stderr
    store = Store(str(tmp_path / "pth.db"))
    sessions = store.list_sessions()
    assert [(s["name"], s["status"], s["event_count"]) for s in sessions] == [
        ("GenericFakeChatModel", "success", 1)
    ]
    assert [brief(e) for e in store.get_events(sessions[0]["id"])] == [
        ("llm_call", "llm:genericfakechatmodel:unknown")
    ]
    store.close()


def test_auto_instrument_does_not_report_a_framework_its_integration_refused(monkeypatch):
    """A framework whose version the integration does not support is left alone, said once in a
    warning, and not listed as instrumented."""
    import warnings

    import openai  # noqa: F401
    from openai.resources.embeddings import Embeddings

    from sentrial_integrations import auto_instrument, uninstrument_all
    from sentrial_integrations.core.config import SentrialConfigWarning
    from sentrial_integrations.openai.integration import INTEGRATION

    monkeypatch.setattr(INTEGRATION, "supported", ("99", None))
    before = vars(Embeddings)["create"]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            covered = auto_instrument(langchain=False, llamaindex=False)
        assert "openai" not in covered
        assert vars(Embeddings)["create"] is before and not INTEGRATION.instrumented
        gate = [w for w in caught if issubclass(w.category, SentrialConfigWarning)]
        assert len(gate) == 1 and "is not supported by the openai integration" in str(gate[0].message)
    finally:
        uninstrument_all()
