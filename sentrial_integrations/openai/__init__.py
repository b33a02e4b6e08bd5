"""OpenAI integration: ``wrap_openai(OpenAI())`` records every LLM call as Sentrial events.

Chat completions (``create``, ``parse``, ``stream``), the Responses API (``create``, ``parse``,
``stream``), embeddings and legacy completions; sync and async; streamed or not; through
``with_raw_response`` and ``with_streaming_response`` too. The client, its return values, stream
chunks and exceptions stay exactly those of the OpenAI SDK.
"""

from __future__ import annotations

try:
    import openai as _openai  # noqa: F401
except ImportError as exc:  # pragma: no cover
    raise ImportError(
        "sentrial_integrations.openai needs the OpenAI SDK: pip install 'sentrial-integrations[openai]'"
    ) from exc

from .wrapper import instrument_openai, is_instrumented, uninstrument_openai, unwrap_openai, wrap_openai

__all__ = ["instrument_openai", "is_instrumented", "uninstrument_openai", "unwrap_openai", "wrap_openai"]
