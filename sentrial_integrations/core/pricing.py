"""LLM prices (USD per 1M tokens), matched on the response model by longest prefix.

An unknown model gets no cost (``None``) rather than a guess. Users add or override prices with
:func:`set_price` or ``SentrialClient(prices={...})``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cached_input: float | None = None  # price for cached prompt tokens, when the provider discounts them


# Prefix -> price. Longer prefixes win, so "gpt-4o-mini" beats "gpt-4o".
_DEFAULT_PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-5": Price(1.25, 10.0, 0.125),
    "gpt-5-mini": Price(0.25, 2.0, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "gpt-4.1": Price(2.0, 8.0, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4o": Price(2.50, 10.0, 1.25),
    "gpt-4o-2024-05-13": Price(5.0, 15.0),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4-turbo": Price(10.0, 30.0),
    "gpt-4": Price(30.0, 60.0),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "o1": Price(15.0, 60.0, 7.50),
    "o1-mini": Price(1.10, 4.40, 0.55),
    "o3": Price(2.0, 8.0, 0.50),
    "o3-mini": Price(1.10, 4.40, 0.55),
    "o4-mini": Price(1.10, 4.40, 0.275),
    "text-embedding-3-small": Price(0.02, 0.0),
    "text-embedding-3-large": Price(0.13, 0.0),
    "text-embedding-ada-002": Price(0.10, 0.0),
    # Anthropic
    "claude-opus-4": Price(15.0, 75.0, 1.50),
    "claude-opus-4-5": Price(5.0, 25.0, 0.50),
    "claude-sonnet-4": Price(3.0, 15.0, 0.30),
    "claude-3-7-sonnet": Price(3.0, 15.0, 0.30),
    "claude-3-5-sonnet": Price(3.0, 15.0, 0.30),
    "claude-3-5-haiku": Price(0.80, 4.0, 0.08),
    "claude-haiku-4-5": Price(1.0, 5.0, 0.10),
    "claude-3-opus": Price(15.0, 75.0, 1.50),
    "claude-3-haiku": Price(0.25, 1.25, 0.03),
    # Google
    "gemini-2.5-pro": Price(1.25, 10.0, 0.31),
    "gemini-2.5-flash": Price(0.30, 2.50, 0.075),
    "gemini-2.5-flash-lite": Price(0.10, 0.40, 0.025),
    "gemini-2.0-flash": Price(0.10, 0.40, 0.025),
    "gemini-1.5-pro": Price(1.25, 5.0),
    "gemini-1.5-flash": Price(0.075, 0.30),
}

_lock = threading.Lock()
_prices: dict[str, Price] = dict(_DEFAULT_PRICES)


def set_price(
    model_prefix: str, input_per_1m: float, output_per_1m: float, cached_input_per_1m: float | None = None
) -> None:
    """Add or override the price of every model whose name starts with ``model_prefix``."""
    with _lock:
        _prices[model_prefix.lower()] = Price(input_per_1m, output_per_1m, cached_input_per_1m)


def find_price(model: str | None, extra: dict[str, Price] | None = None) -> Price | None:
    """Longest-prefix match of ``model`` (provider prefixes like ``openai/`` are ignored)."""
    if not model:
        return None
    name = model.lower().rsplit("/", 1)[-1]
    if name.startswith("models/"):
        name = name[7:]
    best: tuple[int, Price] | None = None
    tables = [_prices] if not extra else [_prices, {k.lower(): v for k, v in extra.items()}]
    for table in tables:
        for prefix, price in table.items():
            if name.startswith(prefix) and (best is None or len(prefix) >= best[0]):
                best = (len(prefix), price)
    return best[1] if best else None


def estimate_cost(
    model: str | None,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    cached_tokens: int | None = None,
    extra: dict[str, Price] | None = None,
) -> float | None:
    """Cost in USD, or ``None`` when the model is unknown or no tokens are known."""
    if prompt_tokens is None and completion_tokens is None:
        return None
    price = find_price(model, extra)
    if price is None:
        return None
    p = int(prompt_tokens or 0)
    c = int(completion_tokens or 0)
    cached = min(int(cached_tokens or 0), p)
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    cost = ((p - cached) * price.input + cached * cached_rate + c * price.output) / 1_000_000
    return round(cost, 10)
