"""The integration's own mistakes: logged (rate-limited), never raised, never recorded as LLM errors."""

from __future__ import annotations

from ..core.log import RateLimitedWarner

_warner = RateLimitedWarner()


def internal_error(exc: BaseException, where: str) -> None:
    _warner.warn(
        f"openai:{where}",
        "Sentrial: internal error in the OpenAI integration (%s): %r; the OpenAI call itself is unaffected",
        where,
        exc,
    )
