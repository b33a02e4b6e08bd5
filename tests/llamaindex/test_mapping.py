"""mapping.py: LlamaIndex class names → provider names (through the one provider table)."""

from __future__ import annotations

import pytest

from sentrial_integrations.llamaindex.mapping import merge_usage, provider_name


@pytest.mark.parametrize(
    ("class_name", "provider"),
    [
        ("openai_llm", "openai"),
        ("OpenAI", "openai"),
        ("OpenAILike", "openai"),
        ("openai_like_llm", "openai"),
        ("azure_openai_llm", "azure"),
        ("AzureOpenAI", "azure"),
        ("Anthropic", "anthropic"),
        ("Bedrock", "bedrock"),
        ("bedrock_converse_llm", "bedrock"),
        ("Gemini", "google"),
        ("google_genai_llm", "google"),
        ("GoogleGenAI", "google"),
        ("Vertex", "google"),
        ("MistralAI", "mistral"),
        ("Mistral", "mistral"),
        ("Groq", "groq"),
        ("Ollama_llm", "ollama"),
        ("Cohere", "cohere"),
        ("MockLLM", "mock"),
        ("CustomLLM", "custom"),
        ("SomeNewProviderLLM", "somenewprovider"),  # unknown names: lower-cased, suffix stripped
        ("UnknownLLM", "unknown"),
        ("LLM", "llm"),  # nothing would be left without the suffix: kept
        ("__", None),
    ],
)
def test_provider_name(class_name, provider):
    assert provider_name({"class_name": class_name}) == provider


@pytest.mark.parametrize("model_dict", [None, {}, {"class_name": ""}, {"class_name": 3}, "openai"])
def test_provider_name_of_nothing_usable(model_dict):
    assert provider_name(model_dict) is None


def test_merge_usage_later_values_win_and_total_covers_the_parts():
    merged = merge_usage([{"prompt_tokens": 7}, {"completion_tokens": 3, "total_tokens": 0}])
    assert merged == {"prompt": 7, "completion": 3, "total": 10, "cached": None, "reasoning": None}
    assert merge_usage([]) == {
        "prompt": None,
        "completion": None,
        "total": None,
        "cached": None,
        "reasoning": None,
    }
