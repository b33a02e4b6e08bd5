"""LlamaIndexIntegration (integration.py): idempotent, version-gated, and its uninstrument() takes
back exactly the two handlers it added."""

from __future__ import annotations

import warnings

import pytest
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import NullEventHandler
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler
from llama_index.core.llms import MockLLM

from sentrial_integrations import SentrialClient
from sentrial_integrations.core.config import SentrialConfigWarning
from sentrial_integrations.llamaindex import instrument, is_instrumented, last_session_id, uninstrument
from sentrial_integrations.llamaindex.integration import INTEGRATION, LlamaIndexIntegration
from tests.core.test_config import _python  # a fresh interpreter, without the SENTRIAL_* environment
from tests.llamaindex.conftest import brief, events, sessions


def _ours(handlers: list) -> list:
    return [h for h in handlers if type(h).__name__ in ("SentrialSpanHandler", "SentrialEventHandler")]


def test_instrument_is_idempotent(local_client):
    d = get_dispatcher()
    try:
        assert INTEGRATION.instrument(client=local_client) is True
        assert INTEGRATION.instrument(client=local_client) is True
        assert INTEGRATION.instrumented and is_instrumented()
        assert len(_ours(d.span_handlers)) == 1 and len(_ours(d.event_handlers)) == 1
    finally:
        INTEGRATION.uninstrument()
    assert not is_instrumented() and INTEGRATION.tracker is None
    assert _ours(d.span_handlers) == [] and _ours(d.event_handlers) == []


def test_uninstrument_removes_exactly_our_handlers(local_client):
    d = get_dispatcher()
    theirs_span, theirs_event = SimpleSpanHandler(), NullEventHandler()
    INTEGRATION.instrument(client=local_client)
    d.add_span_handler(theirs_span)  # added after ours: they stay, in their place
    d.add_event_handler(theirs_event)
    try:
        before_span = [h for h in d.span_handlers if h not in _ours(d.span_handlers)]
        before_event = [h for h in d.event_handlers if h not in _ours(d.event_handlers)]
        INTEGRATION.uninstrument()
        INTEGRATION.uninstrument()  # idempotent
        assert d.span_handlers == before_span and d.event_handlers == before_event
        assert theirs_span in d.span_handlers and theirs_event in d.event_handlers
    finally:
        d.span_handlers = [h for h in d.span_handlers if h is not theirs_span]
        d.event_handlers = [h for h in d.event_handlers if h is not theirs_event]


def test_a_version_outside_the_supported_range_is_left_alone(local_client):
    d = get_dispatcher()
    before = (list(d.span_handlers), list(d.event_handlers))
    gated = LlamaIndexIntegration()
    gated.supported = ("0.15", None)  # the installed 0.14.x is below it
    with pytest.warns(SentrialConfigWarning) as caught:
        assert gated.instrument(client=local_client) is False
    (w,) = caught
    message = str(w.message)
    assert f"llama-index-core {gated.installed_version()} is not supported" in message
    assert "(supported: >=0.15)" in message
    assert (d.span_handlers, d.event_handlers) == before
    assert not gated.instrumented and gated.tracker is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second call warns again (nothing was remembered as on)
        with pytest.raises(SentrialConfigWarning):
            gated.instrument(client=local_client)


def test_a_second_instrument_call_replaces_the_client_for_new_runs(local_client, tmp_path, index):
    other = SentrialClient(local_path=str(tmp_path / "other.db"), spool_path=str(tmp_path / "spool2"))
    try:
        instrument(local_client)
        try:
            index.as_query_engine(llm=MockLLM(max_tokens=1), similarity_top_k=1).query("first")
            first = last_session_id()
            instrument(other)
            index.as_query_engine(llm=MockLLM(max_tokens=1), similarity_top_k=1).query("second")
            second = last_session_id()
        finally:
            uninstrument()
        assert last_session_id() is None
        assert [s["id"] for s in sessions(local_client)] == [first]
        assert [s["id"] for s in sessions(other)] == [second]
        assert [brief(e) for e in events(other, second)] == [
            ("tool_call", "retrieve"),
            ("llm_call", "llm:mock:unknown"),
        ]
    finally:
        other.shutdown(5)


def test_importing_the_integration_does_not_import_llamaindex(tmp_path):
    proc = _python(
        """
        import sys
        import sentrial_integrations.llamaindex
        from sentrial_integrations.llamaindex.integration import INTEGRATION
        print(sorted(m for m in sys.modules if m.split(".")[0] == "llama_index"), INTEGRATION.name)
        """,
        tmp_path,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "[] llamaindex\n", "")


def test_without_llamaindex_the_integration_declines_with_a_warning(tmp_path):
    proc = _python(
        """
        import sys, warnings
        sys.modules["llama_index"] = None  # as if llama-index were not installed
        from sentrial_integrations.llamaindex.integration import INTEGRATION
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            print(INTEGRATION.instrument(), INTEGRATION.instrumented)
        print([(type(w.message).__name__, str(w.message)) for w in caught])
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first == "False False"
    assert second == repr(
        [
            (
                "SentrialConfigWarning",
                "Sentrial: the llamaindex integration was not enabled: sentrial_integrations.llamaindex "
                "needs LlamaIndex (llama-index-core 0.14): pip install 'sentrial-integrations[llamaindex]' "
                "(from a checkout: pip install -e '.[llamaindex]')",
            )
        ]
    )
