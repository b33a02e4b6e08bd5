"""Comparison and record helpers for the OpenAI integration tests."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from sentrial_integrations.core.store import Store
from tests.servers.openai_server import DEFAULT_CHAT_MODEL

# Values the scripted server makes up per request (ids, clocks): everything else must be identical.
VOLATILE = frozenset({"id", "created", "created_at", "completed_at", "item_id", "_request_id"})

USER_MSG = [{"role": "user", "content": "Say hello"}]


def normalise(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json", exclude_unset=True, warnings=False)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def assert_same(a: Any, b: Any) -> None:
    """``b`` (wrapped) is what ``a`` (unwrapped) was: same type, same fields set, same data."""
    assert type(a) is type(b), (type(a), type(b))
    if hasattr(a, "model_fields_set"):
        assert a.model_fields_set == b.model_fields_set
        assert normalise(a) == normalise(b)
        assert normalise(a.model_dump(warnings=False)) == normalise(b.model_dump(warnings=False))
    else:
        assert normalise(a) == normalise(b)


def same_through_the_wrapper(make_oai: Any, local_client: Any, call: Any) -> Any:
    """``call(client)`` on a plain client and on a wrapped one: the wrapped result (asserted the same)."""
    from sentrial_integrations.openai import wrap_openai

    a = call(make_oai())
    b = call(wrap_openai(make_oai(), local_client))
    assert_same(a, b)
    return b


def assert_same_items(a: list[Any], b: list[Any]) -> None:
    assert len(a) == len(b), (len(a), len(b))
    for x, y in zip(a, b, strict=True):
        assert_same(x, y)


def sessions_with_events(store: Store) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    return [
        (s, store.get_events(s["id"])) for s in sorted(store.list_sessions(), key=lambda s: s["started_at"])
    ]


def recorded_contents(client: Any) -> list[Any]:
    """The ``content`` of every event ``client`` recorded, over all its sessions, sorted."""
    from tests.conftest import read_store

    store = read_store(client)
    return sorted(e["output"]["content"] for s in store.list_sessions() for e in store.get_events(s["id"]))


def chat_tokens(
    prompt: int = 12, completion: int = 5, cached: int | None = 0, reasoning: int | None = 0
) -> dict[str, Any]:
    tokens: dict[str, Any] = {"prompt": prompt, "completion": completion, "total": prompt + completion}
    if cached is not None:
        tokens["cached"] = cached
    if reasoning is not None:
        tokens["reasoning"] = reasoning
    return tokens


def mini_cost(prompt: int = 12, completion: int = 5) -> float:
    """gpt-4o-mini: $0.15 / $0.60 per 1M tokens."""
    return round((prompt * 0.15 + completion * 0.60) / 1_000_000, 10)


def pop_timing(event: dict[str, Any], *, ttft: bool = False) -> dict[str, Any]:
    """Check and remove the time-dependent parts of an llm_call event's output."""
    out = dict(event["output"])
    assert event["duration_ms"] is not None and event["duration_ms"] > 0
    if ttft:
        first = out.pop("time_to_first_token_ms")
        assert 0 < first <= event["duration_ms"]
    else:
        assert "time_to_first_token_ms" not in out
    return out


def expected_output(
    content: Any,
    *,
    tool_calls: Any = None,
    finish_reason: str | None = "stop",
    tokens: dict[str, Any] | None = None,
    cost: float | None = None,
    model: str = DEFAULT_CHAT_MODEL,
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "content": content,
        "tool_calls": tool_calls,
        "tokens": tokens if tokens is not None else chat_tokens(),
        "cost_usd": cost if cost is not None else mini_cost(),
    }
    if finish_reason is not None:
        out["finish_reason"] = finish_reason
    out["response_model"] = model
    out.update(extra)
    return out


def collect_until_closed(client: Any, tries: int = 500) -> None:
    """Run the garbage collector until the (only) session of ``client`` is closed.

    ``gc.collect()`` returns at once when another thread (the pipeline worker, a server thread) is in
    the middle of a collection, so one call is not enough to know the garbage is gone.
    """
    from tests.conftest import only_session, read_store

    sid = only_session(read_store(client))["id"]
    for _ in range(tries):
        gc.collect()
        if not client.is_open(sid):
            return
    raise AssertionError("the session was not closed by garbage collection")


async def acollect_until_closed(client: Any, tries: int = 500) -> None:
    """As :func:`collect_until_closed`, letting the event loop run async generators' finalizers."""
    from tests.conftest import only_session, read_store

    sid = only_session(read_store(client))["id"]
    for _ in range(tries):
        gc.collect()
        await asyncio.sleep(0)
        if not client.is_open(sid):
            return
    raise AssertionError("the session was not closed by garbage collection")
