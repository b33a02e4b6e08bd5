"""LLM call costs, and where each cost came from.

Prices come from `genai-prices <https://github.com/pydantic/genai-prices>`_, a maintained, offline price
list for LLM inference APIs (installed with any framework extra, or ``pip install genai-prices``). It is
imported and consulted only on the recorder thread, never on the caller's, and each (provider, model)
lookup is made once and cached. Cached-input and reasoning tokens are priced as the list prices them.

Users override or add prices with :func:`set_price` (every client) or ``SentrialClient(prices={...})``
(one client); an override beats the list. Each priced call records its ``cost_source``:

* ``"genai-prices <version>"`` — computed from the price list;
* ``"user"`` — computed from a price set with :func:`set_price` / ``prices=``;
* ``"provider"`` — the provider returned the cost itself (set by the integration);
* ``None`` — unknown (the event says ``unpriced: true``; sessions count such calls).

An unknown model gets no cost rather than a guess.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from . import providers

log = logging.getLogger("sentrial_integrations")

USER_SOURCE = "user"
PROVIDER_SOURCE = "provider"


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens. ``cached_input`` prices cached prompt tokens (default: ``input``);
    ``reasoning`` prices reasoning tokens, which are part of the completion (default: ``output``)."""

    input: float
    output: float
    cached_input: float | None = None
    reasoning: float | None = None


# --- user overrides ---------------------------------------------------------------------------------
# Copy-on-write: set_price builds a new dict and swaps the reference, so a reader iterating the table it
# read never sees it change (no "dictionary changed size during iteration" under concurrent set_price).

_lock = threading.Lock()
_prices: dict[str, Price] = {}


def set_price(
    model_prefix: str,
    input_per_1m: float,
    output_per_1m: float,
    cached_input_per_1m: float | None = None,
    reasoning_per_1m: float | None = None,
) -> None:
    """Add or override the price of every model whose name starts with ``model_prefix`` (all clients).

    An override beats the price list; the longest matching prefix wins."""
    global _prices
    price = Price(float(input_per_1m), float(output_per_1m), cached_input_per_1m, reasoning_per_1m)
    with _lock:
        table = dict(_prices)
        table[model_prefix.lower()] = price
        _prices = table
    _memo_clear()


def remove_price(model_prefix: str) -> None:
    """Remove an override made with :func:`set_price` (the price list applies again)."""
    global _prices
    with _lock:
        table = dict(_prices)
        table.pop(model_prefix.lower(), None)
        _prices = table
    _memo_clear()


def _model_name(model: str) -> str:
    name = model.strip().lower()
    if name.startswith("models/"):  # Google's "models/gemini-..."
        name = name[7:]
    return name


def find_price(model: str | None, extra: dict[str, Price] | None = None) -> Price | None:
    """The user price of ``model``: longest-prefix match over :func:`set_price` prices and ``extra``
    (``extra`` wins a tie). Provider prefixes such as ``openai/`` are ignored. ``None`` if none."""
    if not model:
        return None
    full = _model_name(model)
    short = full.rsplit("/", 1)[-1]
    best: tuple[int, Price] | None = None
    table = _prices  # one read of the reference: a consistent snapshot
    tables: tuple[dict[str, Price], ...] = (table,) if not extra else (table, extra)
    for tbl in tables:
        for prefix, price in tbl.items():
            p = prefix.lower()
            if (short.startswith(p) or full.startswith(p)) and (best is None or len(p) >= best[0]):
                best = (len(p), price)
    return best[1] if best else None


def _user_cost(price: Price, p: int, c: int, cached: int, reasoning: int) -> float:
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    reasoning_rate = price.reasoning if price.reasoning is not None else price.output
    return (
        (p - cached) * price.input
        + cached * cached_rate
        + (c - reasoning) * price.output
        + reasoning * reasoning_rate
    ) / 1_000_000


# --- genai-prices -----------------------------------------------------------------------------------

_gp_lock = threading.Lock()
_gp: Any = None  # the genai_prices module once imported; False when it is not installed
_gp_source: str | None = None
#: (provider, model) -> (provider_id to ask genai-prices with, model ref) or None when the list has no price
_resolved: dict[tuple[str, str], tuple[str | None, str] | None] = {}
#: (provider, model, tokens...) -> cost: repeated identical calls skip the computation
_memo: dict[tuple[Any, ...], float | None] = {}
_MEMO_MAX = 4096
_MISSING: Any = object()

#: our provider names (integrations, LangChain's ls_provider) -> genai-prices provider ids


def _memo_clear() -> None:
    _memo.clear()


def _genai_prices() -> Any:
    """The genai_prices module, imported on first use (on the recorder thread), or ``None``."""
    global _gp, _gp_source
    if _gp is None:
        with _gp_lock:
            if _gp is None:
                try:
                    import genai_prices

                    _gp_source = f"genai-prices {genai_prices.__version__}"
                    _gp = genai_prices
                except Exception as exc:  # not installed (or broken): calls stay unpriced
                    log.info(
                        "Sentrial: genai-prices is not available (%s); LLM costs are only computed from "
                        "set_price() prices. pip install genai-prices",
                        exc,
                    )
                    _gp = False
    return _gp or None


def price_list_source() -> str | None:
    """``"genai-prices <version>"`` when the price list is available, else ``None``."""
    return _gp_source if _genai_prices() is not None else None


def _resolve(gp: Any, provider: str, model: str) -> tuple[str | None, str] | None:
    key = (provider, model)
    hit = _resolved.get(key, _MISSING)
    if hit is not _MISSING:
        return hit  # type: ignore[return-value]
    probe = gp.Usage(input_tokens=1)
    refs = [model]
    if "/" in model:
        refs.append(model.rsplit("/", 1)[-1])
    pid = providers.price_id(provider)
    candidates: list[str | None] = [pid] if pid and pid != "unknown" else []
    candidates.append(None)  # let genai-prices find the provider from the model name
    found: tuple[str | None, str] | None = None
    for ref in refs:
        for cand in candidates:
            try:
                gp.calc_price(probe, ref, provider_id=cand)
            except LookupError:
                continue
            except Exception:
                continue
            found = (cand, ref)
            break
        if found:
            break
    if len(_resolved) > 10_000:
        _resolved.clear()
    _resolved[key] = found
    return found


def _list_cost(
    gp: Any, provider: str, model: str, p: int, c: int, cached: int, reasoning: int
) -> float | None:
    resolved = _resolve(gp, provider, model)
    if resolved is None:
        return None
    pid, ref = resolved
    usage: dict[str, int] = {"input_tokens": p, "output_tokens": c}
    if cached:
        usage["cache_read_tokens"] = cached
    if reasoning:
        usage["output_reasoning_tokens"] = reasoning
    calc = gp.calc_price(gp.Usage(**usage), ref, provider_id=pid)
    return float(calc.total_price)


# --- the entry point --------------------------------------------------------------------------------


def price_call(
    model: str | None,
    provider: str | None,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    cached_tokens: int | None = None,
    reasoning_tokens: int | None = None,
    extra: dict[str, Price] | None = None,
) -> tuple[float | None, str | None]:
    """``(cost in USD, cost_source)`` of one LLM call; ``(None, None)`` when it cannot be priced.

    User prices (``extra``, then :func:`set_price`) beat the price list. Never raises. Call it on the
    recorder thread: the first call imports genai-prices, and a new (provider, model) is looked up once.
    """
    if prompt_tokens is None and completion_tokens is None:
        return None, None
    if not model:
        return None, None
    try:
        p = max(int(prompt_tokens or 0), 0)
        c = max(int(completion_tokens or 0), 0)
        cached = min(max(int(cached_tokens or 0), 0), p)
        reasoning = min(max(int(reasoning_tokens or 0), 0), c)
        user = find_price(model, extra)
        if user is not None:
            return round(_user_cost(user, p, c, cached, reasoning), 10), USER_SOURCE
        gp = _genai_prices()
        if gp is None:
            return None, None
        name = _model_name(model)
        prov = (provider or "").strip().lower()
        key = (prov, name, p, c, cached, reasoning)
        cost = _memo.get(key, _MISSING)
        if cost is _MISSING:
            cost = _list_cost(gp, prov, name, p, c, cached, reasoning)
            if len(_memo) >= _MEMO_MAX:
                _memo.clear()
            _memo[key] = cost
        if cost is None:
            return None, None
        return round(cost, 10), _gp_source
    except Exception as exc:  # a price must never cost the caller anything
        log.debug("Sentrial: pricing %r failed: %r", model, exc)
        return None, None


def estimate_cost(
    model: str | None,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    cached_tokens: int | None = None,
    extra: dict[str, Price] | None = None,
    *,
    provider: str | None = None,
    reasoning_tokens: int | None = None,
) -> float | None:
    """Cost in USD (user prices, else the genai-prices list), or ``None`` when the model is unknown or
    no tokens are known. :func:`price_call` also says where the cost came from."""
    return price_call(
        model, provider, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, extra
    )[0]
