"""3. LangChain: added µs per callback event on an agent loop.

The agent is langchain's ``create_agent`` (LangGraph) over a fake chat model that calls a tool
``STEPS`` times (with usage metadata, as a real model reports it), then answers; the tool is a plain
function. Contenders, alternately, on the same agent: no handler; a counting no-op handler (what
LangChain's own callback machinery costs once any handler is attached); ours
(``SentrialCallbackHandler``, HTTP to the loopback Sentrial-API server); the official SDK's handler
(its default client, same server; a session created before each run, outside the timing, as its
docs show); Langfuse's ``CallbackHandler`` (exporting to an accept-everything loopback server).

Added µs per callback event = (median run time with the handler − median without) ÷ the number of
callback events one run dispatches (counted by the no-op handler). Sync (``invoke``) and async
(``ainvoke``) paths. Background work a contender leaves behind is flushed outside the timing before
the next contender runs (the same rule for everybody).
"""

from __future__ import annotations

import asyncio
from typing import Any

from .common import (
    API_KEY,
    Cfg,
    Row,
    ServerProcess,
    median,
    perf_ns,
    process_ns,
    rotations,
    sentrial_api_server,
    settle,
    thread_ns,
)

STEPS = 10


def _build_parts() -> tuple[Any, Any]:
    """The fake chat model and the tool."""
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.tools import StructuredTool

    class StepModel(BaseChatModel):
        """Calls ``lookup`` until STEPS tool results are in the conversation, then answers."""

        steps: int = STEPS
        model_name: str = "bench-fake-1"

        @property
        def _llm_type(self) -> str:
            return "bench-fake"

        def bind_tools(self, tools: Any, **kwargs: Any) -> StepModel:
            return self

        def _reply(self, messages: list[Any]) -> ChatResult:
            done = sum(1 for m in messages if m.type == "tool")
            usage = {"input_tokens": 20 + 10 * done, "output_tokens": 8, "total_tokens": 28 + 10 * done}
            if done < self.steps:
                msg = AIMessage(
                    content=f"I should look up part {done}",
                    tool_calls=[
                        {
                            "name": "lookup",
                            "args": {"query": f"part {done}"},
                            "id": f"call-{done}",
                            "type": "tool_call",
                        }
                    ],
                    usage_metadata=usage,  # type: ignore[arg-type]
                )
            else:
                msg = AIMessage(content="Here is the answer.", usage_metadata=usage)  # type: ignore[arg-type]
            return ChatResult(
                generations=[ChatGeneration(message=msg)], llm_output={"model_name": self.model_name}
            )

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
            return self._reply(messages)

        async def _agenerate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> Any:
            return self._reply(messages)

    def lookup(query: str) -> str:
        """Look something up."""
        return f"result for {query}"

    async def alookup(query: str) -> str:
        """Look something up."""
        return f"result for {query}"

    tool = StructuredTool.from_function(func=lookup, coroutine=alookup, name="lookup")
    return StepModel(), tool


def build_loop_agent() -> Any:
    """A plain agent loop as one chain run: model → tool calls → model … (no LangGraph machinery,
    so the measurement is the callbacks, not LangGraph's thread pool per tool step)."""
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_core.runnables import RunnableConfig, RunnableLambda

    model, tool = _build_parts()

    def start(inputs: dict[str, Any]) -> list[Any]:
        return [SystemMessage("be brief"), HumanMessage(inputs["messages"][0][1])]

    def loop(inputs: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        messages = start(inputs)
        while True:
            reply = model.invoke(messages, config)
            messages.append(reply)
            if not reply.tool_calls:
                return {"messages": messages}
            for call in reply.tool_calls:
                messages.append(tool.invoke(call, config))

    async def aloop(inputs: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        messages = start(inputs)
        while True:
            reply = await model.ainvoke(messages, config)
            messages.append(reply)
            if not reply.tool_calls:
                return {"messages": messages}
            for call in reply.tool_calls:
                messages.append(await tool.ainvoke(call, config))

    return RunnableLambda(loop, afunc=aloop, name="bench_agent")


def build_langgraph_agent() -> Any:
    """langchain's create_agent (LangGraph) over the same model and tool."""
    from langchain.agents import create_agent

    model, tool = _build_parts()
    return create_agent(model, [tool], name="bench_agent", system_prompt="be brief")


def _counting_handler() -> Any:
    from langchain_core.callbacks import BaseCallbackHandler

    def make(name: str) -> Any:
        def hook(self: Any, *args: Any, **kwargs: Any) -> None:
            self.count += 1

        hook.__name__ = name
        return hook

    ns: dict[str, Any] = {"run_inline": True, "count": 0}
    for name in dir(BaseCallbackHandler):
        if name.startswith("on_"):
            ns[name] = make(name)
    return type("CountingHandler", (BaseCallbackHandler,), ns)()


INPUT = {"messages": [("user", "Collect all ten parts, please.")]}

CONTENDERS = ["none", "noop", "ours", "ours_local", "official", "langfuse"]


def _timed_subclass(cls: type) -> type:
    """``cls`` with every hook it defines timed: wall time and the caller thread's CPU time inside
    our hooks (the CPU figure excludes waiting for the GIL)."""

    def wrap(fn: Any) -> Any:
        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            t0, c0 = perf_ns(), thread_ns()
            try:
                return fn(self, *args, **kwargs)
            finally:
                self.hook_cpu_ns += thread_ns() - c0
                self.hook_ns += perf_ns() - t0

        return timed

    ns: dict[str, Any] = {"hook_ns": 0, "hook_cpu_ns": 0}
    for name, fn in vars(cls).items():
        if name.startswith("on_") and callable(fn):
            ns[name] = wrap(fn)
    return type("Timed" + cls.__name__, (cls,), ns)


class _Contenders:
    """Everything each contender needs for one run, and what to do (untimed) around a block of runs."""

    def __init__(self, sentrial_url: str, sink_url: str, local_path: str) -> None:
        from langfuse import Langfuse
        from langfuse.langchain import CallbackHandler as LangfuseHandler
        from sentrial import SentrialClient as OfficialClient
        from sentrial.langchain import SentrialCallbackHandler as OfficialHandler

        from sentrial_integrations import SentrialClient
        from sentrial_integrations.langchain import SentrialCallbackHandler

        self.ours_client = SentrialClient(api_key=API_KEY, base_url=sentrial_url, exit_timeout=5.0)
        self.ours = SentrialCallbackHandler(client=self.ours_client)
        self.local_client = SentrialClient(local_path=local_path, exit_timeout=5.0)
        self.ours_local = SentrialCallbackHandler(client=self.local_client)
        self.timed = _timed_subclass(SentrialCallbackHandler)(client=self.ours_client)
        self.official_client = OfficialClient(api_url=sentrial_url, api_key=API_KEY)
        self.OfficialHandler = OfficialHandler
        self.langfuse = Langfuse(
            public_key="pk-lf-bench", secret_key="sk-lf-bench", base_url=sink_url, flush_interval=1.0
        )
        self.langfuse_handler = LangfuseHandler(public_key="pk-lf-bench")
        self.counting = _counting_handler()

    def callbacks(self, who: str) -> tuple[list[Any] | None, Any]:
        """-> (callbacks for the run, finisher to call after it, untimed)."""
        if who == "none":
            return None, None
        if who == "noop":
            return [self.counting], None
        if who == "ours":
            return [self.ours], None
        if who == "ours_local":
            return [self.ours_local], None
        if who == "timed":
            return [self.timed], None
        if who == "langfuse":
            return [self.langfuse_handler], None
        sid = self.official_client.create_session(name="bench_agent", agent_name="bench", user_id="u")
        handler = self.OfficialHandler(self.official_client, sid or "sess_x")
        return [handler], handler.finish

    def after_block(self, who: str) -> None:
        if who in ("ours", "timed"):
            self.ours_client.flush(60)
        elif who == "ours_local":
            self.local_client.flush(60)
        elif who == "langfuse":
            self.langfuse.flush()

    def close(self) -> None:
        self.ours_client.shutdown(10)
        self.local_client.shutdown(10)
        self.langfuse.shutdown()
        self.official_client.session.close()


def _count_events(agent: Any, handler: Any, async_: bool) -> int:
    handler.count = 0
    if async_:
        asyncio.run(agent.ainvoke(INPUT, config={"callbacks": [handler]}))
    else:
        agent.invoke(INPUT, config={"callbacks": [handler]})
    return int(handler.count)


def _block_sync(agent: Any, c: _Contenders, who: str, k: int) -> list[float]:
    out = []
    for _ in range(k):
        callbacks, finish = c.callbacks(who)
        config = {"callbacks": callbacks} if callbacks else {}
        t0 = perf_ns()
        agent.invoke(INPUT, config=config)
        out.append((perf_ns() - t0) / 1000)
        if finish is not None:
            finish()
    return out


def _block_async(agent: Any, c: _Contenders, who: str, k: int) -> list[float]:
    async def go() -> list[float]:
        out = []
        for _ in range(k):
            callbacks, finish = c.callbacks(who)
            config = {"callbacks": callbacks} if callbacks else {}
            t0 = perf_ns()
            await agent.ainvoke(INPUT, config=config)
            out.append((perf_ns() - t0) / 1000)
            if finish is not None:
                finish()
        return out

    return asyncio.run(go())


def _scenario(cfg: Cfg, c: _Contenders, agent: Any, path: str, rounds: int, k: int) -> dict[str, Any]:
    """Wall time per run (median over all runs) and process CPU time (all threads, including the
    untimed flush of what the contender left behind) per run, for every contender, alternately."""
    block = _block_async if path == "async" else _block_sync
    events = _count_events(agent, c.counting, path == "async")
    for who in CONTENDERS:  # warm up every contender (imports, first-use caches)
        block(agent, c, who, 1 if cfg.smoke else 2)
        c.after_block(who)
    times: dict[str, list[float]] = {w: [] for w in CONTENDERS}
    cpu: dict[str, list[float]] = {w: [] for w in CONTENDERS}  # per run, one value per block
    for r in range(rounds):
        for who in rotations(CONTENDERS, r):
            settle()
            c0 = process_ns()
            got = block(agent, c, who, k)
            c.after_block(who)
            cpu[who].append((process_ns() - c0) / 1000 / k)
            times[who].extend(got)
        if (r + 1) % max(1, rounds // 3) == 0 or r + 1 == rounds:
            cfg.say(
                f"    round {r + 1}/{rounds}: "
                + ", ".join(f"{w} {median(times[w]) / 1000:.2f} ms" for w in CONTENDERS)
            )
    # the time inside our hooks (a separate phase: the timing wrapper costs ~1 µs per hook)
    settle()
    c.timed.hook_ns = c.timed.hook_cpu_ns = 0
    n_timed = max(4, k)
    block(agent, c, "timed", n_timed)
    c.after_block("timed")

    base, noop = median(times["none"]), median(times["noop"])
    cpu_base = median(cpu["none"])
    others = [w for w in CONTENDERS if w != "none"]
    return {
        "callback_events_per_run": events,
        "median_run_us": {w: median(times[w]) for w in CONTENDERS},
        "added_us_per_event": {w: (median(times[w]) - base) / events for w in others},
        "beyond_noop_us_per_event": {w: (median(times[w]) - noop) / events for w in others if w != "noop"},
        # half-samples: the same statistic over the first and the second half of the rounds
        "halves_added_us_per_event": {w: _halves(times[w], times["none"], events) for w in others},
        "cpu_per_run_us": {w: median(cpu[w]) for w in CONTENDERS},
        "added_cpu_us_per_event": {w: (median(cpu[w]) - cpu_base) / events for w in others},
        "ours_inside_hooks_us_per_event": c.timed.hook_ns / 1000 / n_timed / events,
        "ours_inside_hooks_cpu_us_per_event": c.timed.hook_cpu_ns / 1000 / n_timed / events,
        "runs_us": times,
        "cpu_blocks_us_per_run": cpu,
    }


def _halves(xs: list[float], base: list[float], events: int) -> list[float]:
    h, hb = len(xs) // 2, len(base) // 2
    return [(median(xs[:h]) - median(base[:hb])) / events, (median(xs[h:]) - median(base[hb:])) / events]


def run(cfg: Cfg) -> tuple[list[Row], dict[str, Any]]:
    import os

    from .common import temp_dir

    plans = [
        ("loop", "sync", cfg.n(15, 1), cfg.n(5, 2)),
        ("loop", "async", cfg.n(15, 1), cfg.n(5, 2)),
        ("langgraph", "sync", cfg.n(12, 1), cfg.n(3, 1)),
        ("langgraph", "async", cfg.n(12, 1), cfg.n(3, 1)),
    ]
    if cfg.smoke:  # still both agents and both paths, in a few seconds
        plans = [plans[0], plans[3]]
    raw: dict[str, Any] = {"steps": STEPS, "scenarios": {}}
    rows: list[Row] = []
    api = sentrial_api_server()
    sink = ServerProcess("benchmarks.sink_server")
    with temp_dir() as d:
        c = _Contenders(api.url, sink.url, os.path.join(d, "lc.db"))
        try:
            for kind, path, rounds, k in plans:
                cfg.say(f"  {kind} agent, {path}")
                agent = build_loop_agent() if kind == "loop" else build_langgraph_agent()
                res = _scenario(cfg, c, agent, path, rounds, k)
                res.update(rounds=rounds, runs_per_block=k)
                raw["scenarios"][f"{kind} {path}"] = res
                rows.extend(_rows(kind, path, res))
        finally:
            c.close()
            api.stop()
            sink.stop()
    return rows, raw


def _rows(kind: str, path: str, res: dict[str, Any]) -> list[Row]:
    a = res["added_us_per_event"]
    cpu = res["added_cpu_us_per_event"]
    events = res["callback_events_per_run"]
    label = "agent loop" if kind == "loop" else "create_agent (LangGraph)"
    head = f"LangChain {label}, {STEPS} tool steps ({events} callback events/run), {path}"
    halves = res["halves_added_us_per_event"]["ours"]
    b = res["beyond_noop_us_per_event"]
    return [
        Row(
            suite="langchain",
            measurement=f"{head}: added wall µs per callback event",
            unit="µs",
            ours=a["ours"],
            official=a["official"],
            langfuse=a["langfuse"],
            target="≤ 30 µs and below Langfuse",
            ok=a["ours"] <= 30 and a["ours"] < a["langfuse"],
            ours_spread=(min(halves), max(halves)),
            note=f"local store instead of HTTP: {a['ours_local']:.1f} µs; a no-op handler: {a['noop']:.1f} µs",
        ),
        Row(
            suite="langchain",
            measurement=f"{head}: wall µs per callback event beyond a no-op handler (whole run, background included)",
            unit="µs",
            ours=b["ours"],
            official=b["official"],
            langfuse=b["langfuse"],
            target="≤ 20 µs over HTTP and into the local store",
            ok=b["ours"] <= 20 and b["ours_local"] <= 20,
            note=f"local store: {b['ours_local']:.1f} µs",
        ),
        Row(
            suite="langchain",
            measurement=f"{head}: added host process CPU µs per event, all threads (delivery is the shipper process's)",
            unit="µs",
            ours=cpu["ours"],
            official=cpu["official"],
            langfuse=cpu["langfuse"],
            target="≤ 30 µs and below Langfuse",
            ok=cpu["ours"] <= 30 and cpu["ours"] < cpu["langfuse"],
            note=f"local store instead of HTTP: {cpu['ours_local']:.1f} µs; inside our hooks: "
            f"{res['ours_inside_hooks_cpu_us_per_event']:.1f} µs CPU",
        ),
    ]
