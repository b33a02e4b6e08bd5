"""Configuration a newcomer gets right or is told about: environment booleans, visible warnings for a
client that would record or export nothing, the API key's stray whitespace, where the store is by
default, and ``SENTRIAL_DEBUG=1`` showing the library's warnings on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from sentrial_integrations import SentrialClient, SentrialConfigWarning
from sentrial_integrations.core import config as C
from sentrial_integrations.core.store import Store
from sentrial_integrations.zerocode import autoload
from tests.conftest import only_session, read_store

REPO = Path(__file__).resolve().parents[2]

TRUE = ["1", "true", "TRUE", "True", "yes", "YES", "on", "On", " true\n"]
FALSE = ["0", "false", "FALSE", "False", "no", "NO", "off", "Off", " off "]


@pytest.mark.parametrize("raw", TRUE)
def test_true_values(raw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SentrialConfigWarning)
        assert C.parse_bool(raw, False) is True


@pytest.mark.parametrize("raw", FALSE)
def test_false_values(raw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SentrialConfigWarning)
        assert C.parse_bool(raw, True) is False


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_unset_or_empty_is_the_default(raw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SentrialConfigWarning)
        assert C.parse_bool(raw, True) is True
        assert C.parse_bool(raw, False) is False


def test_anything_else_warns_and_keeps_the_default(monkeypatch):
    monkeypatch.setenv("SENTRIAL_STRICT", "maybe")
    with pytest.warns(
        SentrialConfigWarning, match=r"SENTRIAL_STRICT='maybe' is not a boolean.*default \(off\)"
    ):
        assert C.env_flag("SENTRIAL_STRICT") is False


@pytest.mark.parametrize(("raw", "disabled"), [("OFF", False), ("no", False), ("Yes", True), ("ON", True)])
def test_client_reads_environment_booleans_the_usual_way(monkeypatch, tmp_path, raw, disabled):
    monkeypatch.setenv("SENTRIAL_DISABLED", raw)
    client = SentrialClient(local_path=str(tmp_path / "b.db"))
    try:
        assert client.config.disabled is disabled
        sid = client.create_session("flag")
        client.close_session(sid)
        if disabled:
            assert client.flush(5) and not (tmp_path / "b.db").exists()
        else:
            assert only_session(read_store(client))["name"] == "flag"
    finally:
        client.shutdown(2)


@pytest.mark.parametrize(
    ("raw", "on"),
    [
        ("false", False),
        ("FALSE", False),
        ("no", False),
        ("off", False),
        ("0", False),
        ("true", True),
        ("YES", True),
        ("on", True),
        ("1", True),
    ],
)
def test_sentrial_tracing_is_read_the_usual_way(monkeypatch, raw, on):
    monkeypatch.setenv("SENTRIAL_TRACING", raw)
    assert autoload.enabled() is on
    # the .pth line (run by Python at start-up) agrees, without importing anything of ours
    called = []
    line = autoload.PTH_LINE.replace("__import__(", "called.append(").replace(
        ", fromlist=['install']).install()", ")"
    )
    exec(line, {"called": called})
    assert bool(called) is on


def test_sentrial_tracing_garbage_warns_and_stays_off(monkeypatch):
    monkeypatch.setenv("SENTRIAL_TRACING", "maybe")
    with pytest.warns(SentrialConfigWarning, match="SENTRIAL_TRACING='maybe'"):
        assert autoload.enabled() is False


# --- a client that would record or export nothing says so, once, at construction -------------------------


def test_plain_http_base_url_warns_and_records_nothing(tmp_path):
    with pytest.warns(SentrialConfigWarning, match="refusing to send the API key over plain http") as record:
        client = SentrialClient(api_key="k-123456", base_url="http://example.com", spool_path=str(tmp_path))
    assert len([w for w in record if w.category is SentrialConfigWarning]) == 1
    assert record[0].filename == __file__  # points at the caller's line, not at our internals
    assert client.config.mode == "disabled"
    assert "k-123456" not in str(record[0].message)
    client.shutdown(0.1)


def test_otlp_endpoint_without_the_otel_extra_warns(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "otel_installed", lambda: False)
    monkeypatch.setenv("SENTRIAL_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    with pytest.warns(SentrialConfigWarning, match=r"OpenTelemetry exporter is not installed.*\[otel\]"):
        client = SentrialClient(local_path=str(tmp_path / "o.db"))
    client.shutdown(1)


def test_otel_installed_is_true_where_the_extra_is():
    pytest.importorskip("opentelemetry.sdk")
    pytest.importorskip("opentelemetry.exporter.otlp.proto.common")
    assert C.otel_installed() is True  # the warning above is no false alarm when the extra is there


@pytest.mark.parametrize("raw", ["sk-live-123456\n", "  sk-live-123456 ", "\tsk-live-123456"])
def test_api_key_whitespace_is_stripped_with_a_warning_that_hides_the_key(monkeypatch, tmp_path, raw):
    monkeypatch.setenv("SENTRIAL_API_KEY", raw)
    with pytest.warns(SentrialConfigWarning, match="SENTRIAL_API_KEY.*whitespace") as record:
        client = SentrialClient(base_url="https://127.0.0.1:9", spool_path=str(tmp_path))
    assert client.config.api_key == "sk-live-123456"
    assert all("sk-live" not in str(w.message) for w in record)
    client.shutdown(0.1)
    with pytest.warns(SentrialConfigWarning, match="api_key argument"):
        arg = SentrialClient(api_key=raw, base_url="https://127.0.0.1:9", spool_path=str(tmp_path))
    assert arg.config.api_key == "sk-live-123456"
    arg.shutdown(0.1)


def test_a_blank_api_key_means_the_local_store_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("SENTRIAL_API_KEY", " \n")
    with pytest.warns(SentrialConfigWarning, match="blank"):
        client = SentrialClient(local_path=str(tmp_path / "blank.db"))
    assert client.config.mode == "local"
    client.shutdown(1)


def test_a_good_setup_warns_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTRIAL_DEBUG", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SentrialConfigWarning)
        client = SentrialClient(local_path=str(tmp_path / "ok.db"))
        https = SentrialClient(api_key="k-123456", base_url="https://127.0.0.1:9", spool_path=str(tmp_path))
    client.shutdown(1)
    https.shutdown(0.1)


def _python(code: str, tmp_path: Path, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_") and k != "PYTHONWARNINGS"}
    env.update(SENTRIAL_SPOOL_PATH=str(tmp_path / "spool"), SENTRIAL_LOCAL_PATH=str(tmp_path / "s.db"))
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_warning_is_visible_without_any_logging_setup(tmp_path):
    proc = _python(
        """
        from sentrial_integrations import SentrialClient
        client = SentrialClient(api_key="k-123456", base_url="http://example.com")
        print(client.config.mode, client.flush(1))
        """,
        tmp_path,
    )
    assert proc.returncode == 0 and proc.stdout == "disabled True\n"
    lines = [line for line in proc.stderr.splitlines() if "SentrialConfigWarning" in line]
    assert len(lines) == 1 and "refusing to send the API key over plain http" in lines[0]
    assert lines[0].startswith("<string>:3: SentrialConfigWarning")  # the user's line
    # our message never shows the key (Python >= 3.13 also prints the user's source line, which has it)
    assert "k-123456" not in lines[0]


# --- SENTRIAL_DEBUG=1: the logger's warnings reach stderr ------------------------------------------------------


MISUSE = """
from sentrial_integrations import SentrialClient
client = SentrialClient()
sid = client.create_session("twice")
client.close_session(sid)
client.close_session(sid)
client.track_tool_call("ses_unknown", "t")
client.shutdown(5)
"""


def test_misuse_warnings_are_silent_by_default_and_on_stderr_with_debug(tmp_path):
    quiet = _python(MISUSE, tmp_path)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    loud = _python(MISUSE, tmp_path, SENTRIAL_DEBUG="1", SENTRIAL_LOCAL_PATH=str(tmp_path / "loud.db"))
    assert loud.returncode == 0 and loud.stdout == ""
    warned = [line for line in loud.stderr.splitlines() if line.startswith("sentrial_integrations WARNING:")]
    assert len(warned) == 2, loud.stderr
    assert "close_session on session ses_" in warned[0] and "after it was closed" in warned[0]
    assert "ses_unknown" in warned[1]
    store = Store(str(tmp_path / "loud.db"))
    s = only_session(store)
    assert (s["name"], s["status"]) == ("twice", "success")
    store.close()


def test_debug_handler_is_attached_once(tmp_path):
    proc = _python(
        """
        import logging
        from sentrial_integrations import SentrialClient
        a = SentrialClient(debug=True)
        b = SentrialClient(debug=True)
        log = logging.getLogger("sentrial_integrations")
        print(sum(type(h).__name__ == "_StderrHandler" for h in log.handlers), log.level)
        a.shutdown(1); b.shutdown(1)
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "1 10\n"


# --- where the store is ---------------------------------------------------------------------------------------


@pytest.fixture
def no_store_env(monkeypatch, tmp_path):
    monkeypatch.delenv("SENTRIAL_LOCAL_PATH", raising=False)
    monkeypatch.delenv("SENTRIAL_SPOOL_PATH", raising=False)
    data = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))  # platformdirs' per-user data dir on Linux
    work = tmp_path / "work" / "deep" / "er"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    return data, work


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG layout is Linux's")
def test_default_store_is_per_user(no_store_env, tmp_path):
    data, _ = no_store_env
    path, source = C.store_location()
    assert (path, source) == (str(data / "sentrial" / "sentrial.db"), "user")
    client = SentrialClient()
    assert client.config.local_path == path
    assert client.config.spool_path == str(data / "sentrial")
    sid = client.create_session("per user")
    client.close_session(sid)
    assert only_session(read_store(client))["name"] == "per user"
    client.shutdown(2)
    assert not any(p.name == ".sentrial" for p in (tmp_path / "work").rglob("*"))  # nothing in the cwd


def test_a_project_dir_in_a_parent_wins_over_the_user_dir(no_store_env, tmp_path):
    project = tmp_path / "work" / ".sentrial"
    project.mkdir()
    assert C.store_location() == (str(project / "sentrial.db"), "project")
    client = SentrialClient(api_key="k-123456", base_url="https://127.0.0.1:9")
    assert client.config.spool_path == str(project)  # the spool goes there too, not into the cwd
    client.shutdown(0.1)


def test_env_and_explicit_paths_win(no_store_env, tmp_path, monkeypatch):
    (tmp_path / "work" / ".sentrial").mkdir()
    monkeypatch.setenv("SENTRIAL_LOCAL_PATH", "env.db")
    assert C.store_location() == (os.path.abspath("env.db"), "env")
    assert C.store_location(str(tmp_path / "x.db")) == (str(tmp_path / "x.db"), "explicit")
    client = SentrialClient()
    assert client.config.local_path == os.path.abspath("env.db")  # absolute, fixed at construction
    client.shutdown(1)


@pytest.mark.parametrize(("raw", "recorded"), [("off", 0), ("no", 0), ("FALSE", 0), ("YES", 1), ("On", 1)])
def test_sentrial_tracing_in_process_after_importing_the_integration(monkeypatch, raw, recorded):
    """langchain-core's configure hook would take ``off`` / ``no`` for on: ours decides instead."""
    pytest.importorskip("langchain_core")
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from sentrial_integrations import get_client
    from sentrial_integrations.langchain import SentrialCallbackHandler  # registers the configure hook

    assert SentrialCallbackHandler is not None

    monkeypatch.setenv("SENTRIAL_TRACING", raw)
    assert GenericFakeChatModel(messages=iter([AIMessage("hi")])).invoke("hello").content == "hi"
    client = get_client()
    assert client.flush(10)
    path = client.config.local_path
    assert path is not None
    names = [] if not os.path.exists(path) else [s["name"] for s in Store(path).list_sessions()]
    assert names == ["GenericFakeChatModel"] * recorded


def test_llamaindex_instrument_without_llamaindex_says_what_to_install(tmp_path):
    proc = _python(
        """
        import sys
        sys.modules["llama_index"] = None  # as if llama-index were not installed
        from sentrial_integrations.llamaindex import instrument, is_instrumented, uninstrument
        uninstrument()  # harmless without LlamaIndex
        try:
            instrument()
        except ImportError as exc:
            print(type(exc).__name__, exc.__cause__, exc.__suppress_context__, is_instrumented())
            print(exc)
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    first, message = proc.stdout.splitlines()
    assert first == "ImportError None True False"  # one clear error, no chained ModuleNotFoundError
    assert message == (
        "sentrial_integrations.llamaindex needs LlamaIndex (llama-index-core 0.14): "
        "pip install 'sentrial-integrations[llamaindex]' (from a checkout: pip install -e '.[llamaindex]')"
    )


def test_a_store_that_cannot_be_created_warns(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.warns(
        SentrialConfigWarning, match=r"is a file, not a directory\), so nothing will be recorded"
    ):
        client = SentrialClient(local_path=str(blocker / "sub" / "s.db"))
    client.shutdown(1)
    with pytest.warns(SentrialConfigWarning, match="is a directory"):
        client = SentrialClient(local_path=str(tmp_path))
    client.shutdown(1)


@pytest.mark.parametrize("url", ["api.sentrial.com", "ftp://api.sentrial.com", "https://"])
def test_a_base_url_that_is_not_a_url_warns(tmp_path, url):
    with pytest.warns(SentrialConfigWarning, match="is not an http"):
        client = SentrialClient(api_key="k-123456", base_url=url, spool_path=str(tmp_path))
    client.shutdown(0.1)
