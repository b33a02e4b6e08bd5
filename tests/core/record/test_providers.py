"""``core/record/providers.py``: the one provider table (canonical, OpenTelemetry and price-list names)."""

from __future__ import annotations

import pytest

from sentrial_integrations.core.record import providers


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("openai", "openai"),
        ("OpenAI", "openai"),
        ("openai_like", "openai"),
        ("AzureOpenAI", "azure"),
        ("google_genai", "google"),
        ("Gemini", "google"),
        ("vertexai", "google"),
        ("bedrock_converse", "bedrock"),
        ("mistralai", "mistral"),
        ("Some-New-Provider", "some-new-provider"),  # unknown: lower-cased
    ],
)
def test_canonical(name, expected):
    assert providers.canonical(name) == expected


@pytest.mark.parametrize("name", [None, "", "unknown", 42, ["openai"]])
def test_canonical_of_nothing_usable_is_none(name):
    assert providers.canonical(name) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("azure", "azure.ai.openai"),
        ("Azure_OpenAI", "azure.ai.openai"),
        ("google", "gcp.gen_ai"),
        ("gemini", "gcp.gemini"),
        ("google_vertexai", "gcp.vertex_ai"),
        ("bedrock", "aws.bedrock"),
        ("mistral", "mistral_ai"),
        ("openai", "openai"),  # the same name in both vocabularies
        ("Groq", "groq"),
    ],
)
def test_otel_name(name, expected):
    assert providers.otel_name(name) == expected


@pytest.mark.parametrize("name", [None, "", "unknown", 3.5])
def test_otel_name_of_nothing_usable_is_none(name):
    assert providers.otel_name(name) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bedrock", "aws"),
        ("amazon_bedrock", "aws"),
        ("google_genai", "google"),
        ("OpenAI", "openai"),
        ("unknown", "unknown"),
        ("", ""),
    ],
)
def test_price_id(name, expected):
    assert providers.price_id(name) == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini", "openai"),
        ("GPT-4.1", "openai"),
        ("o3-mini", "openai"),
        ("text-embedding-3-small", "openai"),
        ("claude-sonnet-4-5", "anthropic"),
        ("gemini-2.5-flash", "google"),
        ("llama-3.1-70b", "unknown"),
        ("my-model", "unknown"),
        ("", "unknown"),
    ],
)
def test_guess(model, expected):
    assert providers.guess(model) == expected


def test_every_alias_maps_to_a_canonical_name_that_maps_to_itself():
    canon = set(providers.CANONICAL.values())
    for alias, name in providers.CANONICAL.items():
        assert alias == alias.lower()
        assert providers.CANONICAL.get(name, name) == name, alias
    # every guessed provider and every price-id key is a canonical name
    assert {p for _, p in providers._MODEL_PREFIXES} <= canon
    assert set(providers.PRICE_IDS) <= canon
