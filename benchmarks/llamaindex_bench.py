"""5. LlamaIndex: added µs per span for a query engine run, uninstrumented vs instrumented.

A ``VectorStoreIndex`` over a few nodes (``MockEmbedding``) queried through ``as_query_engine`` with
``MockLLM``: retrieval, embedding, synthesis and an LLM call per query, all real LlamaIndex code. The
number of instrumentation spans one query opens is counted with a counting span handler; our
``instrument()`` (recording to the loopback Sentrial-API server) is installed and removed between
alternating blocks of queries. Added µs per span = (median query time instrumented − uninstrumented)
÷ spans per query. Neither the official SDK nor Langfuse (without extra packages) instruments
LlamaIndex, so there is no anchor here.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from .common import API_KEY, Cfg, Row, median, perf_ns, process_ns, rotations, sentrial_api_server, settle


def _engine() -> Any:
    from llama_index.core import VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.llms import MockLLM
    from llama_index.core.schema import TextNode

    nodes = [
        TextNode(id_=f"node-{i}", text=f"Password reset step {i}: open Settings, then Security, then Reset.")
        for i in range(8)
    ]
    index = VectorStoreIndex(nodes=nodes, embed_model=MockEmbedding(embed_dim=8))
    return index.as_query_engine(llm=MockLLM(max_tokens=16), similarity_top_k=2)


def _count_spans(engine: Any) -> int:
    from llama_index.core.instrumentation import get_dispatcher
    from llama_index.core.instrumentation.span import SimpleSpan
    from llama_index.core.instrumentation.span_handlers import BaseSpanHandler

    class Counting(BaseSpanHandler[SimpleSpan]):  # type: ignore[misc]
        n: int = 0

        def new_span(self, *args: Any, **kwargs: Any) -> None:
            self.n += 1
            return None

        def prepare_to_exit_span(self, *args: Any, **kwargs: Any) -> None:
            return None

        def prepare_to_drop_span(self, *args: Any, **kwargs: Any) -> None:
            return None

    h = Counting()
    d = get_dispatcher()
    d.add_span_handler(h)
    try:
        engine.query("How do I reset my password?")
    finally:
        d.span_handlers.remove(h)
    return h.n


def run(cfg: Cfg) -> tuple[list[Row], dict[str, Any]]:
    from sentrial_integrations import SentrialClient
    from sentrial_integrations.llamaindex import instrument, uninstrument

    rounds = cfg.n(15, 1)
    k = cfg.n(20, 3)
    engine = _engine()
    spans = _count_spans(engine)
    api = sentrial_api_server()
    tmp = tempfile.TemporaryDirectory(prefix="sentrial-bench-")
    ours = SentrialClient(api_key=API_KEY, base_url=api.url, exit_timeout=5.0)
    local = SentrialClient(local_path=os.path.join(tmp.name, "li.db"), exit_timeout=5.0)
    contenders = ["uninstrumented", "ours", "ours_local"]
    times: dict[str, list[float]] = {w: [] for w in contenders}
    cpu: dict[str, list[float]] = {w: [] for w in contenders}
    query = engine.query

    def block(who: str, n: int) -> list[float]:
        if who == "ours":
            instrument(client=ours)
        elif who == "ours_local":
            instrument(client=local)
        try:
            out = []
            for _ in range(n):
                t0 = perf_ns()
                query("How do I reset my password?")
                out.append((perf_ns() - t0) / 1000)
            return out
        finally:
            uninstrument()
            if who == "ours":
                ours.flush(60)
            elif who == "ours_local":
                local.flush(60)

    try:
        for who in contenders:
            block(who, 3)
        for r in range(rounds):
            for who in rotations(contenders, r):
                settle()
                c0 = process_ns()
                got = block(who, k)
                cpu[who].append((process_ns() - c0) / 1000 / k)
                times[who].extend(got)
            if (r + 1) % max(1, rounds // 3) == 0 or r + 1 == rounds:
                cfg.say(
                    f"  round {r + 1}/{rounds}: "
                    + ", ".join(f"{w} {median(times[w]):.0f} µs/query" for w in contenders)
                )
        stats = ours.stats()
    finally:
        uninstrument()
        ours.shutdown(10)
        local.shutdown(10)
        tmp.cleanup()
        api.stop()

    base = median(times["uninstrumented"])
    base_cpu = median(cpu["uninstrumented"])

    def added(w: str) -> float:
        return (median(times[w]) - base) / spans

    def halves(w: str) -> tuple[float, float]:
        xs, b = times[w], times["uninstrumented"]
        h, hb = len(xs) // 2, len(b) // 2
        a1 = (median(xs[:h]) - median(b[:hb])) / spans
        a2 = (median(xs[h:]) - median(b[hb:])) / spans
        return (min(a1, a2), max(a1, a2))

    raw: dict[str, Any] = {
        "spans_per_query": spans,
        "rounds": rounds,
        "queries_per_block": k,
        "median_query_us": {w: median(times[w]) for w in contenders},
        "added_us_per_span": {w: added(w) for w in contenders if w != "uninstrumented"},
        "cpu_per_query_us": {w: median(cpu[w]) for w in contenders},
        "added_cpu_us_per_span": {
            w: (median(cpu[w]) - base_cpu) / spans for w in contenders if w != "uninstrumented"
        },
        "ours_stats": stats,
        "queries_us": times,
    }
    rows = [
        Row(
            suite="llamaindex",
            measurement=f"LlamaIndex query engine ({base:.0f} µs/query uninstrumented, {spans} spans/query): "
            "added µs per span",
            unit="µs",
            ours=added("ours"),
            ours_spread=halves("ours"),
            note=f"local store instead of HTTP: {added('ours_local'):.1f} µs; no anchor instruments LlamaIndex",
        ),
        Row(
            suite="llamaindex",
            measurement="LlamaIndex: added host process CPU µs per span, all threads (HTTP delivery is the shipper process's)",
            unit="µs",
            ours=raw["added_cpu_us_per_span"]["ours"],
            note=f"local store: {raw['added_cpu_us_per_span']['ours_local']:.1f} µs",
        ),
    ]
    return rows, raw
