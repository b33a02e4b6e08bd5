"""OpenAI integration: ``wrap_openai(OpenAI())`` records every LLM call as Sentrial events.

Chat completions (``create``, ``parse``, ``stream``), the Responses API (``create``, ``parse``,
``stream``), embeddings and legacy completions; sync and async; streamed or not; through
``with_raw_response`` and ``with_streaming_response`` too. The client, its return values, stream
chunks and exceptions stay exactly those of the OpenAI SDK.

Importing this package does not import the OpenAI SDK: ``instrument_openai`` / ``uninstrument_openai``
/ ``is_instrumented`` (and :data:`.integration.INTEGRATION`) need it only when they patch, and
``wrap_openai`` / ``unwrap_openai`` import it on first use (an ``ImportError`` saying what to install
if it is missing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .integration import instrument_openai, is_instrumented, uninstrument_openai

if TYPE_CHECKING:
    from .wrapper import unwrap_openai, wrap_openai

__all__ = ["instrument_openai", "is_instrumented", "uninstrument_openai", "unwrap_openai", "wrap_openai"]


def __getattr__(name: str) -> Any:
    if name in ("wrap_openai", "unwrap_openai"):
        try:
            import openai  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "sentrial_integrations.openai needs the OpenAI SDK: pip install 'sentrial-integrations[openai]'"
            ) from exc
        from . import wrapper

        return getattr(wrapper, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
