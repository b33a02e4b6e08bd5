"""Reliability under outage and load: nothing lost, nothing duplicated, nothing mixed up."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import tracemalloc

from sentrial_integrations import SentrialClient
from sentrial_integrations.core.store import SessionFilter
from tests.conftest import read_store


def test_outage_in_the_middle_of_a_steady_run_loses_and_duplicates_nothing(sentrial_api, tmp_path):
    """~2,000 events/s for 6 s across 4 sessions; the backend is away from second 1.5 to 4.5."""
    client = SentrialClient(
        api_key="test-key",
        base_url=sentrial_api.url,
        spool_path=str(tmp_path),
        request_timeout=2,
        retry_initial_backoff=0.05,
        retry_max_backoff=0.5,
    )
    sessions = [client.create_session(f"steady-{n}") for n in range(4)]
    rate, duration, tick = 2_000, 6.0, 0.01
    per_tick = int(rate * tick)
    sent = 0
    start = time.monotonic()
    down = up = False
    while (elapsed := time.monotonic() - start) < duration:
        if not down and elapsed >= 1.5:
            sentrial_api.go_down()
            down = True
        if down and not up and elapsed >= 4.5:
            sentrial_api.come_up()
            up = True
        for _ in range(per_tick):
            client.track_tool_call(sessions[sent % 4], "step", {"i": sent})
            sent += 1
        pause = start + (sent // per_tick) * tick - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # pacing the load, not synchronisation
    for sid in sessions:
        client.close_session(sid)
    assert client.flush(60)
    # How long a call takes is the benchmarks' business (no timing asserts here: a loaded machine can
    # deschedule any thread); that a call never waits on I/O is what test_http_delivery shows.

    seen: list[int] = []
    for n in range(4):
        sess = sentrial_api.session_by_name(f"steady-{n}")
        ids = [e["toolInput"]["i"] for e in sess["events"]]
        assert ids == sorted(ids), "per-session order kept"
        assert [e["sequence"] for e in sess["events"]] == list(range(1, len(ids) + 1))
        assert len(sess["closes"]) == 1 and sess["closes"][0]["status"] == "completed"
        seen.extend(ids)
    assert sorted(seen) == list(range(sent)), "every event exactly once"
    assert sentrial_api.duplicates == 0
    client.shutdown(2)


def _chat_agent_run(handler, fake_model_cls, tag: str) -> None:
    from langchain_core.messages import AIMessage

    model = fake_model_cls(messages=iter([AIMessage(content=f"answer {tag}")]))
    model.invoke(f"question {tag}", config={"callbacks": [handler], "run_name": f"lc-{tag}"})


def test_threads_and_tasks_through_every_integration_at_once_never_mix(openai_server, tmp_path):
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from openai import AsyncOpenAI

    from sentrial_integrations.langchain import SentrialCallbackHandler
    from sentrial_integrations.openai import wrap_openai

    client = SentrialClient(local_path=str(tmp_path / "load.db"), spool_path=str(tmp_path))
    handler = SentrialCallbackHandler(client=client)

    def core_work(tag: str) -> None:
        with client.session(f"core-{tag}") as s:
            for i in range(10):
                s.track_tool_call("step", {"tag": tag, "i": i})

    tracemalloc.start()
    baseline = None

    def thread_main(n: int) -> None:
        for k in range(5):
            _chat_agent_run(handler, GenericFakeChatModel, f"t{n}-{k}")
            core_work(f"t{n}-{k}")

    async def task_main(oai, n: int) -> None:
        async with client.session(f"oai-{n}") as s:
            await oai.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{n}"}]
            )
            s.track_tool_call("after", {"n": n})
        core_work(f"a{n}")

    async def run_tasks() -> None:
        oai = wrap_openai(
            AsyncOpenAI(base_url=openai_server.url, api_key="sk-test", max_retries=0), client=client
        )
        await asyncio.gather(*(task_main(oai, n) for n in range(200)))
        await oai.close()

    for rnd in range(2):  # the second round must not grow memory
        threads = [threading.Thread(target=thread_main, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        asyncio.run(run_tasks())
        for t in threads:
            t.join()
        assert client.flush(60)
        gc.collect()
        if rnd == 0:
            baseline = tracemalloc.get_traced_memory()[0]
    grown = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()

    store = read_store(client)
    sessions = store.list_sessions(SessionFilter(limit=10_000))
    by_name: dict[str, list[dict]] = {}
    for s in sessions:
        by_name.setdefault(s["name"], []).append(s)
    # every session closed, each named session twice (two rounds), events only of its own
    assert all(s["status"] == "success" for s in sessions)
    for n in range(8):
        for k in range(5):
            assert len(by_name[f"lc-t{n}-{k}"]) == 2
            for s in by_name[f"core-t{n}-{k}"]:
                events = store.get_events(s["id"])
                assert {e["input"]["tag"] for e in events} == {f"t{n}-{k}"} and len(events) == 10
            for s in by_name[f"lc-t{n}-{k}"]:
                (llm,) = store.get_events(s["id"])
                assert llm["type"] == "llm_call" and llm["output"]["content"] == f"answer t{n}-{k}"
    for n in range(200):
        assert len(by_name[f"oai-{n}"]) == 2
        for s in by_name[f"oai-{n}"]:
            events = sorted(store.get_events(s["id"]), key=lambda e: e["seq"])
            assert [e["type"] for e in events] == ["llm_call", "tool_call"]
            assert events[0]["input"]["messages"] == [{"role": "user", "content": f"q{n}"}]
            assert events[1]["input"] == {"n": n}
    assert len(sessions) == 2 * (8 * 5 * 2 + 200 * 2)
    # memory returns to baseline: no per-run state left behind
    assert not client._sessions
    assert client.stats()["queued"] == 0 and client.stats()["outbox"] == 0
    assert grown < 2_000_000, f"memory grew by {grown} bytes over a second identical round"
    client.shutdown(5)
