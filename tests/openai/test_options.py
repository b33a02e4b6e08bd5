"""The keyword options, declared once (OpenAIOptions) and spelled out in both public signatures."""

from __future__ import annotations

import inspect

import pytest

from sentrial_integrations.openai import instrument_openai, wrap_openai
from sentrial_integrations.openai.options import OpenAIOptions, Options

OPTIONS = (
    "provider: 'str | None' = None, session_name: 'str | None' = None, agent_name: 'str | None' = None, "
    "user_id: 'str | None' = None, metadata: 'Mapping[str, Any] | None' = None, "
    "include_usage: 'bool | None' = None"
)


def test_the_public_signatures_spell_the_options_out():
    assert str(inspect.signature(wrap_openai)) == (
        f"(openai_client: 'T', client: 'SentrialClient | None' = None, *, {OPTIONS}) -> 'T'"
    )
    assert str(inspect.signature(instrument_openai)) == (
        f"(client: 'SentrialClient | None' = None, *, {OPTIONS}) -> 'bool'"
    )


def test_an_unknown_keyword_is_a_type_error_even_where_the_rest_never_raises(make_oai):
    with pytest.raises(TypeError, match="wrap_openai\\(\\) got an unexpected keyword argument 'sesion_name'"):
        wrap_openai(make_oai(), sesion_name="typo")


def test_options_read_every_keyword_and_copy_the_metadata():
    meta = {"team": "a"}
    given: OpenAIOptions = {
        "provider": "p",
        "session_name": "s",
        "agent_name": "a",
        "user_id": "u",
        "metadata": meta,
        "include_usage": False,
    }
    opts = Options(None, given)
    assert (opts.provider, opts.session_name, opts.agent_name, opts.user_id, opts.include_usage) == (
        "p",
        "s",
        "a",
        "u",
        False,
    )
    assert opts.metadata == meta and opts.metadata is not meta
    empty = Options()
    assert [getattr(empty, name) for name in Options.__slots__] == [None] * len(Options.__slots__)
