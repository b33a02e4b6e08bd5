"""With our handler attached, LangChain's other observers see exactly what they see without it, and
every top-level run gets a session of its own.

Counterparts of langchain-core's own tests that failed with tracing on
(``tests/unit_tests/runnables/test_runnable_events_v2.py::test_with_llm``,
``tests/unit_tests/language_models/llms/test_base.py::test_async_batch_size``, RunCollector and
``astream_log`` users, ``tests/unit_tests/_api/test_deprecation.py::
test_importing_deprecation_does_not_load_pydantic_v1``) and of the sibling-session losses.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.language_models import FakeListLLM, FakeStreamingListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_core.tracers.context import collect_runs

from sentrial_integrations.langchain import SentrialCallbackHandler, tracing
from sentrial_integrations.zerocode.autoload import PTH_LINE
from tests.conftest import read_store

REPO = Path(__file__).resolve().parents[2]

_EVENTS = (
    "on_llm_start",
    "on_chat_model_start",
    "on_llm_new_token",
    "on_llm_end",
    "on_llm_error",
    "on_chain_start",
    "on_chain_end",
    "on_chain_error",
)


def _recorder_methods(sync: bool) -> dict[str, Any]:
    def make(name: str) -> Callable[..., Any]:
        if sync:

            def method(self: Any, *args: Any, **kwargs: Any) -> None:
                self.seen.append(name)

        else:

            async def method(self: Any, *args: Any, **kwargs: Any) -> None:  # type: ignore[misc]
                self.seen.append(name)

        return method

    return {name: make(name) for name in _EVENTS}


#: A user's own handlers: plain (run in a thread pool by async runs), async-native, and inline.
Recorder = type("Recorder", (BaseCallbackHandler,), _recorder_methods(sync=True))
AsyncRecorder = type("AsyncRecorder", (AsyncCallbackHandler,), _recorder_methods(sync=False))
InlineRecorder = type(
    "InlineRecorder", (BaseCallbackHandler,), {**_recorder_methods(sync=True), "run_inline": True}
)


def _new(cls: type) -> Any:
    handler = cls()
    handler.seen = []
    return handler


async def _adrain(stream: Any) -> list[Any]:
    return [x async for x in stream]


def _completion() -> FakeListLLM:
    return FakeListLLM(responses=["alpha", "beta", "gamma"])


def _chat() -> FakeListChatModel:
    return FakeListChatModel(responses=["alpha", "beta", "gamma"])


#: name -> run(config): sync, async, chat and completion models, streams and batches
CASES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "llm.invoke": lambda c: _completion().invoke("hi", c),
    "llm.ainvoke": lambda c: asyncio.run(_completion().ainvoke("hi", c)),
    "llm.batch": lambda c: _completion().batch(["a", "b", "c"], c),
    "llm.abatch": lambda c: asyncio.run(_completion().abatch(["a", "b", "c"], c)),
    "llm.agenerate": lambda c: asyncio.run(
        _completion().agenerate(["a", "b", "c"], callbacks=c["callbacks"])
    ),
    "llm.stream": lambda c: list(FakeStreamingListLLM(responses=["abc"]).stream("hi", c)),
    "llm.astream": lambda c: asyncio.run(_adrain(FakeStreamingListLLM(responses=["abc"]).astream("hi", c))),
    "chat.invoke": lambda c: _chat().invoke("hi", c),
    "chat.ainvoke": lambda c: asyncio.run(_chat().ainvoke("hi", c)),
    "chat.batch": lambda c: _chat().batch(["a", "b"], c),
    "chat.abatch": lambda c: asyncio.run(_chat().abatch(["a", "b"], c)),
    "chat.stream": lambda c: list(_chat().stream("hi", c)),
    "chat.astream": lambda c: asyncio.run(_adrain(_chat().astream("hi", c))),
    "chain.ainvoke": lambda c: asyncio.run((RunnableLambda(lambda x: x) | _completion()).ainvoke("hi", c)),
    "chain.abatch": lambda c: asyncio.run(
        (RunnableLambda(lambda x: x) | _completion()).abatch(["a", "b"], c)
    ),
}


@pytest.mark.parametrize(
    "user_cls", [Recorder, AsyncRecorder, InlineRecorder], ids=["sync", "async", "inline"]
)
@pytest.mark.parametrize("case", list(CASES))
def test_a_users_handler_gets_the_same_callbacks_beside_ours(case, user_cls, local_client):
    run = CASES[case]
    alone = _new(user_cls)
    run({"callbacks": [alone]})
    beside = _new(user_cls)
    ours = SentrialCallbackHandler(local_client)
    run({"callbacks": [beside, ours]})
    assert sorted(beside.seen) == sorted(alone.seen)  # the same callbacks (async ones may interleave)
    assert beside.seen.count("on_llm_start") + beside.seen.count("on_chat_model_start") >= 1
    if user_cls is not AsyncRecorder:  # run inline or in order: the very same sequence
        assert beside.seen == alone.seen
    store = read_store(local_client)
    assert store.list_sessions(), "our handler recorded the runs too"


async def test_astream_events_v2_with_a_completion_model_has_every_event(local_client):
    """langchain-core ``test_runnable_events_v2.py::test_with_llm`` (there: 7 events instead of 9)."""
    chain = (
        ChatPromptTemplate.from_messages([("system", "You are Cat Agent 007"), ("human", "{question}")])
        | FakeStreamingListLLM(responses=["abc"])
        | StrOutputParser()
    )

    async def events() -> list[tuple[str, str]]:
        return [
            (e["event"], e["name"]) async for e in chain.astream_events({"question": "hello"}, version="v2")
        ]

    plain = await events()
    with tracing(local_client):
        traced = await events()
    assert traced == plain
    assert ("on_llm_start", "FakeStreamingListLLM") in traced
    store = read_store(local_client)
    assert len(store.list_sessions()) == 1


async def test_run_collector_sees_every_run_of_an_async_batch(local_client):
    """langchain-core ``llms/test_base.py::test_async_batch_size``."""
    llm = FakeListLLM(responses=["foo"] * 3)
    with tracing(local_client), collect_runs() as cb:
        await llm.abatch(["foo", "bar", "foo"], {"callbacks": [cb]})
    assert len(cb.traced_runs) == 3
    assert all((r.extra or {}).get("batch_size") == 3 for r in cb.traced_runs)
    assert all(r.inputs["prompts"] for r in cb.traced_runs)  # the runs started (on_llm_start reached it)
    store = read_store(local_client)
    assert len(store.list_sessions()) == 3  # one per prompt


async def test_astream_log_of_an_async_completion_model_is_unchanged(local_client):
    chain = RunnableLambda(lambda x: x) | FakeListLLM(responses=["foo"])

    async def log() -> list[str]:
        ops = []
        async for patch in chain.astream_log("hi"):
            ops.extend(op["path"] for op in patch.ops)
        return ops

    plain = await log()
    with tracing(local_client):
        traced = await log()
    assert traced == plain
    assert "/logs/FakeListLLM" in plain  # the model run's start reached the log


# --- one session per top-level run ----------------------------------------------------------------


def _sessions(local_client: Any) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    store = read_store(local_client)
    return [
        (s, store.get_events(s["id"])) for s in sorted(store.list_sessions(), key=lambda s: s["started_at"])
    ]


def _no_closed_warning(caplog: Any) -> None:
    assert not [r for r in caplog.records if "after it was closed" in r.getMessage()]


def test_a_batch_of_prompts_gives_one_session_per_prompt(local_client, caplog_sentrial):
    FakeListLLM(responses=["a", "b", "c"]).batch(
        ["1", "2", "3"], {"callbacks": [SentrialCallbackHandler(local_client)]}
    )
    sessions = _sessions(local_client)
    assert len(sessions) == 3
    assert sorted(e["output"]["content"] for _, evs in sessions for e in evs) == ["a", "b", "c"]
    assert all(s["status"] == "success" and len(evs) == 1 for s, evs in sessions)
    _no_closed_warning(caplog_sentrial)


async def test_an_async_batch_of_prompts_gives_one_session_per_prompt(local_client, caplog_sentrial):
    await FakeListLLM(responses=["a", "b", "c"]).agenerate(
        ["1", "2", "3"], callbacks=[SentrialCallbackHandler(local_client)]
    )
    sessions = _sessions(local_client)
    assert [len(evs) for _, evs in sessions] == [1, 1, 1]
    _no_closed_warning(caplog_sentrial)


def test_batch_with_return_exceptions_records_every_input(local_client, caplog_sentrial):
    def maybe_fail(x: str) -> str:
        if x == "bad":
            raise ValueError("bad input")
        return x

    chain = RunnableLambda(maybe_fail) | _completion()
    out = chain.batch(
        ["x", "bad", "y"], {"callbacks": [SentrialCallbackHandler(local_client)]}, return_exceptions=True
    )
    assert isinstance(out[1], ValueError)
    sessions = _sessions(local_client)
    assert sorted(s["status"] for s, _ in sessions) == ["error", "success", "success"]
    assert sorted(len(evs) for _, evs in sessions) == [1, 1, 1]  # 2 LLM events + 1 error event
    _no_closed_warning(caplog_sentrial)


def test_fallbacks_are_one_session(local_client, caplog_sentrial):
    def broken(x: str) -> str:
        raise RuntimeError("primary down")

    chain = RunnableLambda(broken).with_fallbacks([RunnableLambda(lambda x: x) | _completion()])
    assert chain.invoke("hi", {"callbacks": [SentrialCallbackHandler(local_client)]}) == "alpha"
    [(session, events)] = _sessions(local_client)
    assert session["status"] == "success"
    assert [e["type"] for e in events] == ["error", "llm_call"]
    _no_closed_warning(caplog_sentrial)


async def test_a_call_after_an_abandoned_astream_has_its_own_session(local_client, caplog_sentrial):
    handler = SentrialCallbackHandler(local_client)
    chain = RunnableLambda(lambda x: x) | FakeStreamingListLLM(responses=["abcdef", "second"])
    stream = chain.astream("hi", {"callbacks": [handler]})
    assert await stream.__anext__() == "a"  # ... and never read further, never closed
    assert (
        await (RunnableLambda(lambda x: x) | _completion()).ainvoke("again", {"callbacks": [handler]})
        == "alpha"
    )
    await stream.aclose()
    sessions = _sessions(local_client)
    assert len(sessions) == 2
    (_, first_events), (second, second_events) = sessions
    assert [e["name"] for e in first_events] == ["llm:fakestreaminglist:unknown"]  # the abandoned run's
    assert (second["status"], [e["output"]["content"] for e in second_events]) == ("success", ["alpha"])
    _no_closed_warning(caplog_sentrial)


# --- the event loop ------------------------------------------------------------------------------


def test_async_runs_make_no_blocking_call_on_the_event_loop():
    """langchain-core's suite runs under blockbuster: a handler made by the program (off the loop)
    with the default client must record async runs without touching the file system on the loop."""
    from blockbuster import BlockBuster

    from sentrial_integrations import get_client

    handler = SentrialCallbackHandler()  # no client: the process-wide one

    async def main() -> None:
        chat, llm = _chat(), _completion()
        await chat.ainvoke("warm up")  # LangChain's own first-call imports, before blockbuster
        bb = BlockBuster()
        bb.activate()
        try:
            await chat.ainvoke("hi", {"callbacks": [handler]})
            await llm.ainvoke("hi", {"callbacks": [handler]})
        finally:
            bb.deactivate()

    asyncio.run(main())
    store = read_store(get_client())
    assert sorted(len(store.get_events(s["id"])) for s in store.list_sessions()) == [1, 1]


# --- imports and the environment --------------------------------------------------------------------

IMPORT_PROBE = (
    "import sys; import langchain_core; import langchain_core._api.deprecation; "
    "import json; print(json.dumps([len(sys.modules), 'pydantic.v1' in sys.modules, "
    "sorted(m for m in sys.modules if m.startswith('langchain_core.callbacks.manager') "
    "or m.startswith('langchain_core.tracers'))]))"
)


def _probe(tmp_path: Path, tracing_value: str | None) -> list[Any]:
    site = tmp_path / f"site-{tracing_value}"
    site.mkdir()
    (site / "sitecustomize.py").write_text(PTH_LINE + "\n")  # what the installed .pth runs at start-up
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRIAL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])
    if tracing_value is not None:
        env["SENTRIAL_TRACING"] = tracing_value
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    result: list[Any] = json.loads(proc.stdout)
    return result


def test_importing_langchain_core_with_tracing_on_loads_what_it_loads_without(tmp_path):
    plain_count, plain_v1, plain_heavy = _probe(tmp_path, None)
    traced_count, traced_v1, traced_heavy = _probe(tmp_path, "true")
    assert traced_v1 is False and plain_v1 is False
    assert traced_heavy == plain_heavy == []  # the callbacks manager and tracers wait for LangChain
    assert traced_count <= plain_count * 1.05, (plain_count, traced_count)
