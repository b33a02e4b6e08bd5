"""OpenAIIntegration (``instrument_openai``): the SDK's resource classes patched once, restored exactly."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings
from importlib import metadata

import pytest
from openai import AsyncOpenAI
from openai.resources.chat.completions.completions import AsyncCompletions, Completions
from openai.resources.embeddings import Embeddings

from sentrial_integrations.core.config import SentrialConfigWarning
from sentrial_integrations.openai import instrument_openai, is_instrumented, uninstrument_openai
from sentrial_integrations.openai.calls import MARK
from sentrial_integrations.openai.integration import INTEGRATION, OpenAIIntegration
from sentrial_integrations.openai.mapping import OPS
from tests.conftest import only_session, read_store
from tests.openai.helpers import USER_MSG
from tests.servers.openai_server import chat


def traced_methods() -> dict[tuple[type, str], object]:
    """Every (resource class, method) the integration traces, with what the class holds right now."""
    out = {}
    for op in OPS:
        module = importlib.import_module(op.module)
        for cls_name in (op.sync_cls, op.async_cls):
            cls = getattr(module, cls_name, None)
            if isinstance(cls, type) and op.method in vars(cls):  # as the integration: what this SDK has
                out[(cls, op.method)] = vars(cls)[op.method]
    assert (Completions, "create") in out and (AsyncCompletions, "create") in out
    return out


def test_the_integration_names_the_sdk_and_its_versions():
    assert INTEGRATION.name == "openai"
    assert INTEGRATION.distribution == "openai"
    assert INTEGRATION.supported == ("1.109.1", "4")
    assert INTEGRATION.unsupported() is None  # the installed SDK is supported


def test_instrument_patches_classes_idempotently_and_restores_them(make_oai, openai_server, local_client):
    originals = (Completions.create, Completions.parse, AsyncCompletions.create, Embeddings.create)
    openai_server.script(chat("global"), chat("after"))
    assert not is_instrumented()
    assert instrument_openai(local_client) is True
    assert instrument_openai(local_client) is False
    assert Completions.create is not originals[0]
    client = make_oai()  # created after: tracked, untouched instance
    assert "create" not in vars(client.chat.completions)
    client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    assert uninstrument_openai() is True
    assert uninstrument_openai() is False
    assert (Completions.create, Completions.parse, AsyncCompletions.create, Embeddings.create) == originals
    client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    store = read_store(local_client)
    session = only_session(store)
    [event] = store.get_events(session["id"])
    assert event["output"]["content"] == "global"


def test_instrument_twice_by_any_door_patches_once_and_records_once(make_oai, openai_server, local_client):
    openai_server.script(chat("once"))
    assert instrument_openai(local_client, session_name="first") is True
    patched = traced_methods()
    assert INTEGRATION.instrument(session_name="second") is True  # the core protocol: already on
    assert instrument_openai(local_client, session_name="third") is False
    assert traced_methods() == patched
    make_oai().chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    store = read_store(local_client)
    session = only_session(store)
    assert session["name"] == "first"
    assert session["event_count"] == 1


def test_uninstrument_puts_back_exactly_the_functions_it_replaced():
    before = traced_methods()
    assert instrument_openai() is True
    during = traced_methods()
    assert set(during) == set(before)
    for key, ours in during.items():
        assert ours is not before[key]
        assert getattr(ours, MARK).method == key[1]
        assert ours.__wrapped__ is before[key]  # functools.update_wrapper over the SDK's function
    assert uninstrument_openai() is True
    after = traced_methods()
    assert all(after[key] is before[key] for key in before)
    assert INTEGRATION.patches == {} and not is_instrumented()


def test_a_function_patched_over_ours_is_left_in_place(caplog_sentrial):
    sdk_original = vars(Embeddings)["create"]
    instrument_openai()
    theirs = Embeddings.create  # a later patch calling ours, as mock.patch(wraps=...) would
    replacement = lambda self, *a, **kw: theirs(self, *a, **kw)  # noqa: E731
    try:
        Embeddings.create = replacement  # type: ignore[method-assign]
        assert uninstrument_openai() is True
        assert Embeddings.create is replacement
        assert "Embeddings.create was replaced by someone else" in caplog_sentrial.text
        assert getattr(Completions.create, MARK, None) is None  # the others are restored
    finally:
        # the SDK's own function, not ours: a later test must find the class as the SDK made it
        Embeddings.create = sdk_original  # type: ignore[method-assign]


def test_an_unsupported_sdk_version_is_left_alone_with_one_warning(local_client):
    before = traced_methods()
    gated = OpenAIIntegration()
    gated.supported = ("0.1", "1")  # the installed 2.x is outside
    found = metadata.version("openai")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert gated.instrument(client=local_client) is False
    [warning] = [w for w in caught if issubclass(w.category, SentrialConfigWarning)]
    assert f"openai {found} is not supported" in str(warning.message)
    assert ">=0.1,<1" in str(warning.message)
    assert not gated.instrumented and gated.patches == {}
    assert traced_methods() == before
    assert not is_instrumented()


async def test_instrument_covers_async_clients_and_raw_containers(make_oai, openai_server, local_client):
    openai_server.script(chat("async global"), chat("raw global"))
    instrument_openai(local_client, session_name="instrumented")
    client = make_oai(AsyncOpenAI)
    await client.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    raw = await client.with_raw_response.chat.completions.create(model="gpt-4o-mini", messages=USER_MSG)
    raw.parse()
    uninstrument_openai()
    store = read_store(local_client)
    sessions = store.list_sessions()
    assert [s["name"] for s in sessions] == ["instrumented", "instrumented"]
    contents = sorted(e["output"]["content"] for s in sessions for e in store.get_events(s["id"]))
    assert contents == ["async global", "raw global"]


def test_importing_the_integration_does_not_import_the_sdk():
    code = (
        "import sys\n"
        "from sentrial_integrations.openai.integration import INTEGRATION\n"
        "from sentrial_integrations.openai import instrument_openai, is_instrumented\n"
        "assert 'openai' not in sys.modules, sorted(m for m in sys.modules if m.startswith('openai'))\n"
        "assert not is_instrumented()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_bad_option_raises_before_anything_is_patched():
    before = traced_methods()
    with pytest.raises(
        TypeError, match="instrument_openai\\(\\) got an unexpected keyword argument 'sesion_name'"
    ):
        instrument_openai(sesion_name="typo")
    with pytest.raises(TypeError):
        instrument_openai(metadata=5)  # as before: dict(5)
    assert traced_methods() == before and not is_instrumented()


def test_the_integration_refuses_an_unknown_option_without_raising(caplog_sentrial):
    before = traced_methods()
    assert INTEGRATION.instrument(sesion_name="typo") is False
    assert "unexpected keyword argument 'sesion_name'" in caplog_sentrial.text
    assert traced_methods() == before and not is_instrumented()
