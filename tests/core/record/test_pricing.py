"""LLM costs: genai-prices on the recorder thread, user overrides, provenance, unpriced calls counted and shown."""

from __future__ import annotations

import threading
from decimal import Decimal

import genai_prices
import httpx
import pytest

from sentrial_integrations import SentrialClient, set_price
from sentrial_integrations.cli import main
from sentrial_integrations.core.record import pricing
from sentrial_integrations.core.record.pricing import Price, find_price, price_call, remove_price
from tests.conftest import only_session, read_store

LIST = f"genai-prices {genai_prices.__version__}"

# (model, provider, prompt, completion, cached, reasoning)
CALLS = [
    ("gpt-4o-mini-2024-07-18", "openai", 1_000, 500, 200, None),
    ("gpt-5", "openai", 12_000, 3_000, 8_000, 2_000),
    ("o3-mini", "openai", 2_000, 4_000, None, 3_500),
    ("claude-sonnet-4-5", "anthropic", 1_500, 700, None, None),
    ("gemini-2.5-flash", "google", 3_000, 1_000, 1_000, None),
    ("text-embedding-3-small", "openai", 10_000, None, None, None),
]


def _list_price(model, provider, pt, ct, cached, reasoning) -> float:
    usage: dict[str, int] = {"input_tokens": pt, "output_tokens": ct or 0}
    if cached:
        usage["cache_read_tokens"] = cached
    if reasoning:
        usage["output_reasoning_tokens"] = reasoning
    calc = genai_prices.calc_price(genai_prices.Usage(**usage), model, provider_id=provider)
    return float(calc.total_price)


def _record_calls(client: SentrialClient, calls) -> str:
    sid = client.create_session("pricing")
    for model, provider, pt, ct, cached, reasoning in calls:
        client.track_llm_call(
            sid,
            model,
            provider=provider,
            prompt_tokens=pt,
            completion_tokens=ct,
            cached_tokens=cached,
            reasoning_tokens=reasoning,
        )
    return sid


def test_costs_of_current_models_match_the_price_list(local_client):
    sid = _record_calls(local_client, CALLS)
    local_client.close_session(sid)
    store = read_store(local_client)
    events = sorted(store.get_events(sid), key=lambda e: e["seq"])
    assert len(events) == len(CALLS)
    for event, call in zip(events, CALLS, strict=True):
        expected = _list_price(*call)
        assert expected > 0
        assert event["cost"] == pytest.approx(expected, rel=1e-9), call
        assert event["cost_source"] == LIST and event["unpriced"] is None
        assert event["output"]["cost_usd"] == event["cost"]
    # the list's own numbers for gpt-4o-mini: $0.15 / $0.60 per 1M, cached input $0.075
    assert events[0]["cost"] == pytest.approx((800 * 0.15 + 200 * 0.075 + 500 * 0.60) / 1e6)
    s = only_session(store)
    assert s["cost"] == pytest.approx(sum(_list_price(*c) for c in CALLS))
    assert s["unpriced_calls"] == 0


def test_an_unknown_model_is_recorded_unpriced_and_counted(local_client, capsys):
    sid = local_client.create_session("mixed")
    local_client.track_llm_call(
        sid, "gpt-4o-mini", provider="openai", prompt_tokens=1000, completion_tokens=10
    )
    local_client.track_llm_call(
        sid, "acme-private-7b", provider="acme", prompt_tokens=50, completion_tokens=5
    )
    local_client.track_llm_call(
        sid, "acme-private-7b", provider="acme", prompt_tokens=70, completion_tokens=9
    )
    # a stream cut before its usage chunk: cost unknown too
    local_client.track_llm_call(sid, "gpt-4o-mini", provider="openai", partial=True)
    # a refused request without usage is not billed: not counted
    local_client.track_llm_call(sid, "gpt-4o-mini", provider="openai", error=RuntimeError("429"))
    store = read_store(local_client)
    assert store.get_session(sid)["unpriced_calls"] == 3  # counted while the session still runs
    local_client.close_session(sid)
    store = read_store(local_client)

    events = sorted(store.get_events(sid), key=lambda e: e["seq"])
    known, unknown1, unknown2, partial, refused = events
    for e in (unknown1, unknown2, partial):
        assert e["cost"] is None and e["cost_source"] is None
        assert e["output"]["cost_usd"] is None
        assert e["unpriced"] == 1
    assert refused["unpriced"] is None
    assert known["cost_source"] == LIST
    s = only_session(store)
    assert s["unpriced_calls"] == 3
    assert s["cost"] == pytest.approx(known["cost"])

    db = local_client.config.local_path
    assert main(["--db", db, "show", sid]) == 0
    out = capsys.readouterr().out
    assert "cost unknown for 3 calls" in out
    assert "cost unknown: no price for this model" in out or "acme-private-7b" in out
    assert main(["--db", db, "sessions"]) == 0
    out = capsys.readouterr().out
    assert "+?" in out  # the list marks a total that leaves calls out


def test_a_user_price_overrides_the_list(db_path, tmp_path):
    client = SentrialClient(
        local_path=db_path, spool_path=str(tmp_path / "spool"), prices={"gpt-4o-mini": Price(1.0, 2.0, 0.5)}
    )
    set_price("acme-private", 10.0, 20.0)
    try:
        sid = client.create_session("override")
        client.track_llm_call(
            sid,
            "gpt-4o-mini",
            provider="openai",
            prompt_tokens=1000,
            completion_tokens=100,
            cached_tokens=400,
        )
        client.track_llm_call(
            sid, "acme-private-7b", provider="acme", prompt_tokens=100, completion_tokens=10
        )
        client.track_llm_call(
            sid, "gpt-4o", provider="openrouter", prompt_tokens=5, cost=0.25
        )  # the provider's
        client.close_session(sid)
        store = read_store(client)
        user1, user2, provider = sorted(store.get_events(sid), key=lambda e: e["seq"])
        assert user1["cost"] == pytest.approx((600 * 1.0 + 400 * 0.5 + 100 * 2.0) / 1e6)
        assert user1["cost_source"] == "user"
        assert user2["cost"] == pytest.approx((100 * 10.0 + 10 * 20.0) / 1e6)
        assert user2["cost_source"] == "user"
        assert provider["cost"] == 0.25 and provider["cost_source"] == "provider"
        assert only_session(store)["unpriced_calls"] == 0
    finally:
        remove_price("acme-private")
        client.shutdown(5)
    assert find_price("acme-private-7b") is None
    assert price_call("acme-private-7b", "acme", 100, 10) == (None, None)


def test_reasoning_tokens_priced_at_a_user_reasoning_rate():
    cost, source = price_call(
        "my-reasoner", None, 100, 1000, reasoning_tokens=800, extra={"my-": Price(1.0, 2.0, None, 4.0)}
    )
    assert source == "user"
    assert cost == pytest.approx((100 * 1.0 + 200 * 2.0 + 800 * 4.0) / 1e6)


def test_each_provider_and_model_is_looked_up_once(monkeypatch):
    lookups: list[str] = []
    real = genai_prices.calc_price

    def counting(usage, model_ref, **kw):
        lookups.append(model_ref)
        return real(usage, model_ref, **kw)

    pricing._resolved.clear()
    pricing._memo_clear()
    monkeypatch.setattr(genai_prices, "calc_price", counting)
    for n in range(1, 6):
        assert price_call("acme-unknown-model", "acme", n, n)[1] is None
    assert lookups.count("acme-unknown-model") == 2  # provider "acme", then by model name: once
    lookups.clear()
    for n in range(1, 6):
        assert price_call("gpt-4o-mini", "openai", n, n)[1] == LIST
    assert lookups.count("gpt-4o-mini") == 1 + 5  # one lookup, then one computation per distinct usage


def test_set_price_and_find_price_concurrently_never_raise():
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(k: int) -> None:
        try:
            for i in range(2_000):
                set_price(f"race-{k}-{i}", 1.0, 2.0)
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            while not stop.is_set():
                find_price("race-0-1999-x")
                find_price("gpt-4o", {"gpt-4o": Price(1, 1)})
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    writers = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    try:
        assert errors == []
        assert find_price("race-1-1999") == Price(1.0, 2.0)
    finally:
        for k in range(2):
            for i in range(2_000):
                remove_price(f"race-{k}-{i}")
    assert find_price("race-1-1999") is None


def test_unpriced_calls_reach_the_local_server_and_the_dashboard(tmp_path):
    from tests.server.conftest import API_KEY, LiveServer

    server = LiveServer(str(tmp_path / "served.db"), api_key=API_KEY)
    client = SentrialClient(api_key=API_KEY, base_url=server.url, spool_path=str(tmp_path / "spool"))
    try:
        sid = client.create_session("served")
        client.track_llm_call(sid, "gpt-4o-mini", provider="openai", prompt_tokens=100, completion_tokens=10)
        client.track_llm_call(
            sid, "acme-private-7b", provider="acme", prompt_tokens=100, completion_tokens=10
        )
        client.close_session(sid)
        assert client.flush(10)
        sessions = server.store.list_sessions()
        assert len(sessions) == 1
        s = sessions[0]
        assert s["unpriced_calls"] == 1
        assert s["cost"] == pytest.approx(_list_price("gpt-4o-mini", "openai", 100, 10, None, None))
        events = sorted(server.store.get_events(s["id"]), key=lambda e: e["seq"])
        assert [e["cost_source"] for e in events] == [LIST, None]
        assert [e["unpriced"] for e in events] == [None, 1]
        auth = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=server.url, headers=auth, timeout=10) as http:
            page = http.get(f"/sessions/{s['id']}")
            assert page.status_code == 200
            assert "cost unknown for 1 call" in page.text
            listing = http.get("/")
            assert "cost unknown for 1 call" in listing.text
    finally:
        client.shutdown(5)
        server.stop()


def test_decimal_free_costs_are_plain_floats(local_client):
    cost, _ = price_call("gpt-4o-mini", "openai", 10, 10)
    assert type(cost) is float and not isinstance(cost, Decimal)


def test_cost_provenance_on_the_wire(sentrial_api, tmp_path):
    client = SentrialClient(api_key="test-key", base_url=sentrial_api.url, spool_path=str(tmp_path / "spool"))
    try:
        sid = client.create_session("wire")
        client.track_llm_call(sid, "gpt-4o-mini", provider="openai", prompt_tokens=100, completion_tokens=10)
        client.track_llm_call(
            sid, "acme-private-7b", provider="acme", prompt_tokens=100, completion_tokens=10
        )
        client.track_llm_call(sid, "gpt-4o", provider="openrouter", prompt_tokens=1, cost=0.5)
        client.close_session(sid)
        assert client.flush(10)
    finally:
        client.shutdown(5)
    priced, unknown, provided = sentrial_api.session_by_name("wire")["events"]
    assert priced["costSource"] == LIST and "unpriced" not in priced
    assert priced["estimatedCost"] == pytest.approx(_list_price("gpt-4o-mini", "openai", 100, 10, None, None))
    assert unknown["unpriced"] is True and "costSource" not in unknown and "estimatedCost" not in unknown
    assert provided["costSource"] == "provider" and provided["estimatedCost"] == 0.5
    (close,) = sentrial_api.session_by_name("wire")["closes"]
    assert close["unpricedCalls"] == 1
