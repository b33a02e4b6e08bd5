"""The one provider table: the names translators find (LangChain's ``model_provider``, LlamaIndex class
names, the OpenAI SDK's provider runtime), the canonical Sentrial name, the OpenTelemetry GenAI name and
the genai-prices provider id.

Records keep the name the translator found; the consumers (pricing, the OTLP exporter, the LlamaIndex
class-name mapping, the provider guess for a bare model name) read it through this module only.
"""

from __future__ import annotations

#: alias (lower case) -> canonical provider name
CANONICAL: dict[str, str] = {
    "openai": "openai",
    "openai_like": "openai",
    "openailike": "openai",
    "azure": "azure",
    "azure_openai": "azure",
    "azureopenai": "azure",
    "anthropic": "anthropic",
    "bedrock": "bedrock",
    "bedrock_converse": "bedrock",
    "amazon_bedrock": "bedrock",
    "google": "google",
    "gemini": "google",
    "google_genai": "google",
    "googlegenai": "google",
    "vertex": "google",
    "vertexai": "google",
    "google_vertexai": "google",
    "google_anthropic_vertex": "google",
    "mistral": "mistral",
    "mistralai": "mistral",
    "groq": "groq",
    "ollama": "ollama",
    "cohere": "cohere",
    "mock": "mock",
    "custom": "custom",
}

#: alias or canonical name -> ``gen_ai.provider.name`` (OpenTelemetry GenAI semantic conventions)
OTEL: dict[str, str] = {
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "google": "gcp.gen_ai",
    "google_genai": "gcp.gen_ai",
    "gemini": "gcp.gemini",
    "vertexai": "gcp.vertex_ai",
    "google_vertexai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
}

#: canonical name -> genai-prices provider id, where they differ
PRICE_IDS: dict[str, str] = {"bedrock": "aws"}

#: model-name prefixes -> provider, for a call recorded with a model but no provider
_MODEL_PREFIXES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("gpt", "o1", "o3", "o4", "text-embedding", "davinci", "babbage", "chatgpt"), "openai"),
    (("claude",), "anthropic"),
    (("gemini",), "google"),
)


def canonical(name: object) -> str | None:
    """``google_genai`` → ``google``; an unknown name lower-cased; ``None`` for nothing usable."""
    if not isinstance(name, str) or not name or name == "unknown":
        return None
    low = name.lower()
    return CANONICAL.get(low, low)


def otel_name(name: object) -> str | None:
    """The ``gen_ai.provider.name`` value for a recorded provider name."""
    if not isinstance(name, str) or not name or name == "unknown":
        return None
    low = name.lower()
    return OTEL.get(low, low)


def price_id(name: str) -> str:
    """The genai-prices provider id for a recorded provider name (``unknown`` stays ``unknown``)."""
    canon = canonical(name)
    if canon is None:
        return name
    return PRICE_IDS.get(canon, canon)


def guess(model: str) -> str:
    """The provider of a bare model name (``gpt-4o`` → ``openai``), else ``unknown``."""
    m = model.lower()
    for prefixes, provider in _MODEL_PREFIXES:
        if m.startswith(prefixes):
            return provider
    return "unknown"
