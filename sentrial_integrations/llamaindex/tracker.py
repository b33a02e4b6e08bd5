"""The state behind the LlamaIndex handlers: runs, span records, LLM calls, and what they record.

How a run is followed (llama-index-core 0.14):

* Every ``@dispatcher.span`` method reports enter / exit / drop with its span id, its parent span id
  and the instance. The outermost span whose instance is a query engine, chat engine, retriever or
  workflow (FunctionAgent, ReActAgent, AgentWorkflow are workflows) starts a *run*: one Sentrial
  session (or the current session, when the user opened one). Every span below it belongs to the run,
  found through its parent id. Spans outside any run (index building, splitters, stray embedding or
  LLM calls) record nothing, unless a Sentrial session is current: they then record into it.
* LLM calls are the ``LLMChat*`` / ``LLMCompletion*`` events, dispatched under the span of the call.
  A call made inside another call (``acomplete`` → ``complete``, ``stream_chat`` → ``stream_complete``,
  ``predict`` → ``chat``) records only the innermost one. The start event opens an ``LLMClaim`` in the
  context where the provider's HTTP call runs; if the OpenAI wrapper takes it, it records the call and
  this module does not.
* A streaming call's span exits at once with a generator; its events arrive later under that span's
  id, maybe from another thread. Span records are kept until their run closes, and a run whose root
  returned a stream (a ``StreamingResponse``, a streaming chat response, an LLM generator) closes when
  the stream is consumed, fails, is closed, or is garbage-collected.

Nothing here does I/O or serialisation: the handlers read attributes and enqueue ``track_*`` calls;
bulky values are handed to the worker as :class:`~.mapping.Lazy` conversions.
"""

from __future__ import annotations

import contextvars
import inspect
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, cast

from ..core import context as ctx
from ..core.api.client import SentrialClient, Session
from ..core.context import LLMClaim, close_llm_claim, current_session, open_llm_claim, peek_llm_claim
from ..core.log import RateLimitedWarner
from ..core.record.llm import decision_from_tool_calls, normalize_tool_calls
from ..core.record.serialize import snapshot
from ..core.runs import open_run
from . import mapping as mp
from .streams import StreamState, wrap_async, wrap_sync

_warner = RateLimitedWarner()

# Kinds of span instances.
K_OTHER, K_LLM, K_TOOL, K_RETRIEVER, K_QUERY, K_CHAT, K_WORKFLOW, K_CHAT_STREAM = range(8)
_RUN_KINDS = frozenset((K_RETRIEVER, K_QUERY, K_CHAT, K_WORKFLOW))

# Span flags.
F_LLM_BELOW = 1  # an LLM call inside this span was recorded (by us or by an inner layer)
F_DECISION_BELOW = 2  # a decision inside this span was recorded
F_INNER_TOOL = 4  # a tool span inside the span of the same tool (``__call__`` → ``call``)

_KEEP_EXITED = 4_096  # exited span records kept per run for late events and late children
_MAX_OPEN_RUNS = 10_000

#: The run whose response stream is being consumed (set by :mod:`.streams` around each step).
_stream_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "sentrial_llamaindex_stream", default=None
)


def _internal(what: str, exc: BaseException) -> None:
    _warner.warn(
        f"llamaindex:{what}",
        "Sentrial: internal error in the LlamaIndex integration (%s): %r; nothing was raised to you",
        what,
        exc,
    )


def _span_name(id_: str) -> str:
    """``RetrieverQueryEngine.query-<uuid4>`` → ``RetrieverQueryEngine.query``."""
    if len(id_) > 37 and id_[-37] == "-":
        return id_[:-37]
    return id_


class LlamaClasses:
    """The LlamaIndex classes the tracker tells apart (imported once, at ``instrument()``)."""

    def __init__(self) -> None:
        from llama_index.core.agent.workflow.workflow_events import AgentOutput
        from llama_index.core.base.base_query_engine import BaseQueryEngine
        from llama_index.core.base.base_retriever import BaseRetriever
        from llama_index.core.base.llms.base import BaseLLM
        from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
        from llama_index.core.chat_engine.types import BaseChatEngine, StreamingAgentChatResponse
        from llama_index.core.tools.types import BaseTool
        from llama_index.core.workflow import Workflow

        self.kinds: tuple[tuple[type, int], ...] = (
            (BaseLLM, K_LLM),
            (BaseTool, K_TOOL),
            (BaseRetriever, K_RETRIEVER),
            (BaseQueryEngine, K_QUERY),
            (BaseChatEngine, K_CHAT),
            (Workflow, K_WORKFLOW),
            (StreamingAgentChatResponse, K_CHAT_STREAM),
        )
        self.AgentOutput = AgentOutput
        self.StreamingResponse = StreamingResponse
        self.AsyncStreamingResponse = AsyncStreamingResponse
        self.StreamingAgentChatResponse = StreamingAgentChatResponse


class LLMCall:
    """One LLM call (from its start event to its end, error or abandoned stream)."""

    __slots__ = (
        "claim",
        "claim_token",
        "done",
        "fin",
        "kwargs",
        "last",
        "messages",
        "model",
        "parent",
        "prev",
        "prompt",
        "provider",
        "stream",
        "t0",
        "ttft",
        "usages",
    )

    def __init__(self, model: str, provider: str | None, t0: float) -> None:
        self.model = model
        self.provider = provider
        self.t0 = t0
        self.messages: tuple[Any, ...] | None = None
        self.prompt: Any = None
        self.kwargs: dict[str, Any] | None = None
        self.claim: LLMClaim | None = None
        self.claim_token: Any = None
        self.done = False
        self.stream = False
        self.fin: weakref.finalize[Any, Any] | None = None
        self.last: Any = None
        self.prev: Any = None
        self.ttft: float | None = None
        self.usages: list[Any] = []
        self.parent: SpanRecord | None = None


class SpanRecord:
    """What the tracker keeps about one span of a run."""

    __slots__ = (
        "anchor",
        "flags",
        "id",
        "kind",
        "llm",
        "pa",
        "parent",
        "run",
        "sess_token",
        "span_cm",
        "t0",
        "tool",
    )

    def __init__(self, id_: str, run: Run, parent: SpanRecord | None, kind: int) -> None:
        self.id = id_
        self.run = run
        self.parent = parent
        self.kind = kind
        self.pa: str | None = parent.anchor if parent is not None else None  # parent_span_id of our events
        self.anchor: str | None = self.pa  # parent_span_id for events below this span
        self.flags = 0
        self.llm: LLMCall | None = None
        self.tool: tuple[str, Any] | None = None
        self.t0 = 0.0
        self.sess_token: Any = None
        self.span_cm: Any = None


class Run:
    """One top-level run: the session it records into and what is still pending before it closes."""

    __slots__ = (
        "client",
        "closed",
        "emb_calls",
        "emb_texts",
        "failure",
        "kept",
        "lock",
        "owned",
        "pending",
        "result",
        "root",
        "root_done",
        "seen",
        "session",
        "sid",
        "spans",
        "status",
        "streamed",
        "user_input",
        "waiting_writer",
        "writers_done",
    )

    def __init__(self, client: SentrialClient, session: Session, owned: bool) -> None:
        self.client = client
        self.session = session
        self.sid = session.id
        self.owned = owned
        self.lock = threading.RLock()
        self.closed = False
        self.root: SpanRecord | None = None
        self.root_done = False
        self.pending = 0
        self.status = "success"
        self.failure: str | None = None
        self.result: Any = None
        self.streamed: list[str] | None = None
        self.user_input: str | None = None  # the run's input text: userInput on close
        self.spans: set[str] = set()
        self.kept = 0
        self.emb_calls = 0
        self.emb_texts = 0
        self.seen: dict[int, BaseException] = {}
        self.waiting_writer: int | None = None
        self.writers_done: set[int] = set()


class Tracker:
    """All the state of one ``instrument()``: open runs and the span records of each."""

    def __init__(self, client: SentrialClient | None, classes: LlamaClasses) -> None:
        self.client = client
        self.C = classes
        self.active = True
        self.spans: dict[str, SpanRecord] = {}
        self.runs: dict[str, Run] = {}
        self.kinds: dict[type, int] = {type(None): K_OTHER}
        self.events: dict[type, Callable[[Any], None] | None] = {}
        #: The session the most recent top-level run recorded into.
        self.last_session_id: str | None = None
        self._event_handlers = self._load_event_handlers()

    # --- kinds ---------------------------------------------------------------------------------

    def _kind(self, instance: Any) -> int:
        t = type(instance)
        kind = K_OTHER
        for cls, k in self.C.kinds:
            if isinstance(instance, cls):
                kind = k
                break
        self.kinds[t] = kind
        return kind

    # --- spans ---------------------------------------------------------------------------------

    def span_enter(self, id_: str, bound_args: Any, instance: Any, parent_id: str | None) -> None:
        if not self.active:
            return
        try:
            self._enter(id_, bound_args, instance, parent_id)
        except Exception as exc:
            _internal("span_enter", exc)

    def _enter(self, id_: str, bound_args: Any, instance: Any, parent_id: str | None) -> None:
        spans = self.spans
        kind = self.kinds.get(type(instance))
        if kind is None:
            kind = self._kind(instance)
        parent = spans.get(parent_id) if parent_id is not None else None
        run: Run | None = None
        if parent is not None and not parent.run.closed:
            run = parent.run
        else:
            parent = None
            streaming = _stream_run.get()
            if streaming is not None and not streaming.closed:
                run, parent = streaming, streaming.root  # entered lazily by a response stream
            elif kind in _RUN_KINDS:
                self._open_run(id_, bound_args, instance, kind)
                return
            elif kind == K_LLM:
                owner = self._live_claim_owner()
                if owner is not None:  # an LLM call made lazily inside a streaming LLM call
                    run, parent = owner.run, owner
            if run is None:
                session = current_session()
                if session is None:
                    return  # a stray span outside any run: not recorded
                run = self._join(id_, session)
                rec = SpanRecord(id_, run, None, kind)
                run.root = rec
                self._add(run, rec, bound_args, instance)
                return
        assert run is not None
        self._add(run, SpanRecord(id_, run, parent, kind), bound_args, instance)

    def _add(self, run: Run, rec: SpanRecord, bound_args: Any, instance: Any) -> None:
        kind = rec.kind
        if kind == K_TOOL:
            self._tool_enter(rec, bound_args, instance)
        elif kind == K_RETRIEVER:
            name = _span_name(rec.id)
            if name.endswith((".retrieve", ".aretrieve")):
                rec.anchor = rec.id
                rec.t0 = time.time()
        self.spans[rec.id] = rec
        run.spans.add(rec.id)

    def _live_claim_owner(self) -> SpanRecord | None:
        claim = peek_llm_claim()
        if claim is None or claim.taken or claim.span_id is None:
            return None
        owner = self.spans.get(claim.span_id)
        if owner is None or owner.llm is None or owner.llm.claim is not claim or owner.run.closed:
            return None
        return owner

    def _open_run(self, id_: str, bound_args: Any, instance: Any, kind: int) -> None:
        name = _span_name(id_)
        metadata: dict[str, Any] = {"framework": "llamaindex", "entrypoint": name}
        text = _run_input(kind, bound_args)
        if text is not None:
            metadata["input"] = text
        agent_name = _agent_name(instance) if kind == K_WORKFLOW else None
        target = open_run(self.client, name, metadata=metadata, agent_name=agent_name)
        session: Session | None = None
        if not target.owned:
            session = current_session()
        if session is None or session.id != target.session_id:
            session = Session(target.client, target.session_id, name)
        run = Run(target.client, session, target.owned)
        run.user_input = text
        self.last_session_id = run.sid
        rec = SpanRecord(id_, run, None, kind)
        run.root = rec
        if target.owned:
            rec.sess_token = ctx.set_current_session(session)
        if len(self.runs) >= _MAX_OPEN_RUNS:
            self._evict_oldest()
        self.runs[id_] = run
        self._add(run, rec, bound_args, instance)

    def _join(self, id_: str, session: Session) -> Run:
        """A stray span inside a user's ``client.session()`` block: record into that session."""
        run = Run(session.client, session, owned=False)
        if len(self.runs) >= _MAX_OPEN_RUNS:
            self._evict_oldest()
        self.runs[id_] = run
        return run

    def _evict_oldest(self) -> None:
        try:
            oldest = next(iter(self.runs.values()))
        except (StopIteration, RuntimeError):
            return
        with oldest.lock:
            oldest.status, oldest.failure = "abandoned", "too many LlamaIndex runs open at once"
        self._close(oldest)

    def _tool_enter(self, rec: SpanRecord, bound_args: Any, instance: Any) -> None:
        meta = getattr(instance, "metadata", None)
        name = getattr(meta, "name", None)
        if not isinstance(name, str) or not name:
            name = type(instance).__name__
        parent = rec.parent
        if (
            parent is not None
            and parent.kind == K_TOOL
            and parent.tool is not None
            and parent.tool[0] == name
        ):
            rec.flags |= F_INNER_TOOL  # ``__call__`` → ``call``, or an async adapter around the tool
            return
        skip = getattr(instance, "ctx_param_name", None)
        rec.tool = (name, snapshot(mp.tool_input(bound_args, skip if isinstance(skip, str) else None)))
        rec.anchor = rec.id
        rec.t0 = time.time()
        try:
            cm = ctx.span(rec.id)
            cm.__enter__()
            rec.span_cm = cm
        except Exception:
            rec.span_cm = None

    def span_exit(self, id_: str, instance: Any, result: Any) -> None:
        if not self.active:
            return
        rec = self.spans.get(id_)
        if rec is None:
            return
        try:
            self._exit(rec, instance, result)
        except Exception as exc:
            _internal("span_exit", exc)

    def _exit(self, rec: SpanRecord, instance: Any, result: Any) -> None:
        run = rec.run
        if rec.span_cm is not None:
            _exit_cm(rec.span_cm)
            rec.span_cm = None
        kind = rec.kind
        if kind == K_TOOL and rec.tool is not None:
            self._tool_done(rec, result, None)
        elif rec.llm is not None and not rec.llm.done:
            llm = rec.llm
            if inspect.isgenerator(result) or inspect.isasyncgen(result):
                self._stream_opened(rec, llm, result)
            else:
                self._finish_llm(rec, llm, result if hasattr(result, "raw") else None)
        elif kind == K_CHAT_STREAM:
            self._writer_done(run, instance, None)
        if result is not None and result.__class__ is self.C.AgentOutput:
            self._agent_output(rec, result)
        if rec is run.root:
            self._root_exit(run, rec, result)
        else:
            self._maybe_forget(run, rec)

    def span_drop(self, id_: str, instance: Any, err: BaseException | None) -> None:
        if not self.active:
            return
        rec = self.spans.get(id_)
        if rec is None:
            return
        try:
            self._drop(rec, instance, err)
        except Exception as exc:
            _internal("span_drop", exc)

    def _drop(self, rec: SpanRecord, instance: Any, err: BaseException | None) -> None:
        run = rec.run
        if rec.span_cm is not None:
            _exit_cm(rec.span_cm)
            rec.span_cm = None
        is_error = isinstance(err, Exception)
        if rec.kind == K_TOOL and rec.tool is not None:
            self._tool_done(rec, None, err)
        elif rec.llm is not None and not rec.llm.done:
            self._finish_llm(rec, rec.llm, None, error=err if is_error else None, silent=not is_error)
            if is_error and err is not None:
                self._error(run, err, rec.id)
        elif rec.kind == K_CHAT_STREAM:
            self._writer_done(run, instance, err)
        elif is_error and err is not None:
            self._error(run, err, rec.anchor)
        if rec is run.root:
            self._root_drop(run, rec, err)
        else:
            self._maybe_forget(run, rec)

    def _maybe_forget(self, run: Run, rec: SpanRecord) -> None:
        """Keep exited records (late events, late children) up to a bound per run."""
        if run.kept < _KEEP_EXITED or (rec.llm is not None and not rec.llm.done):
            run.kept += 1
            return
        self.spans.pop(rec.id, None)
        run.spans.discard(rec.id)

    # --- tools ---------------------------------------------------------------------------------

    def _tool_done(self, rec: SpanRecord, result: Any, err: BaseException | None) -> None:
        run = rec.run
        if run.closed or rec.tool is None:
            return
        name, tool_input = rec.tool
        rec.tool = (name, None)  # recorded once, even if both exit and drop were reported
        now = time.time()
        error: Any = err if isinstance(err, Exception) else None
        if error is None and err is None and getattr(result, "is_error", False) is True:
            error = getattr(result, "exception", None) or getattr(result, "content", None) or "tool error"
        output = mp.Lazy(mp.tool_output_json, result) if result is not None else None
        run.client.track_tool_call(
            run.sid,
            name,
            tool_input,
            output,
            error=error,
            duration_ms=(now - rec.t0) * 1000.0,
            span_id=rec.id,
            parent_span_id=rec.pa,
            start_time=rec.t0,
        )
        if error is not None:
            if isinstance(error, BaseException):
                self._error(run, error, rec.id, tool_name=name)
            else:
                run.client.track_error(
                    run.sid, str(error), error_type="ToolError", tool_name=name, parent_span_id=rec.id
                )

    # --- LLM calls -----------------------------------------------------------------------------

    def _llm_start(self, event: Any, chat: bool) -> None:
        rec = self.spans.get(event.span_id) if event.span_id is not None else None
        if rec is None or rec.llm is not None or rec.run.closed:
            return
        md = event.model_dict
        llm = LLMCall(mp.model_name(md), mp.provider_name(md), time.time())
        if chat:
            llm.messages = tuple(event.messages or ())
        else:
            llm.prompt = event.prompt
        kwargs = event.additional_kwargs
        if kwargs:
            llm.kwargs = dict(kwargs)
        owner = self._live_claim_owner()
        if owner is not None and owner is not rec and owner.run is rec.run:
            llm.parent = owner  # made inside that (streaming) call
        claim = LLMClaim(rec.run.session, rec.id, rec.pa)
        llm.claim = claim
        llm.claim_token = open_llm_claim(claim)  # visible where the provider's HTTP call runs
        rec.llm = llm

    def _llm_progress(self, event: Any) -> None:
        rec = self.spans.get(event.span_id) if event.span_id is not None else None
        if rec is None:
            return
        llm = rec.llm
        if llm is None or llm.done:
            return
        response = event.response
        if llm.ttft is None:
            llm.ttft = (time.time() - llm.t0) * 1000.0
        llm.prev = llm.last
        llm.last = response
        usage = mp.usage_object(response)
        if usage is not None:
            llm.usages.append(usage)

    def _llm_end(self, event: Any) -> None:
        rec = self.spans.get(event.span_id) if event.span_id is not None else None
        if rec is None:
            return
        llm = rec.llm
        if llm is None or llm.done:
            return
        response = event.response
        if response is None:
            response = llm.last
        self._finish_llm(rec, llm, response)

    def _stream_opened(self, rec: SpanRecord, llm: LLMCall, gen: Any) -> None:
        """An LLM call returned a generator: its end (or error) arrives later, maybe elsewhere."""
        run = rec.run
        with run.lock:
            if run.closed:
                return
            llm.stream = True
            run.pending += 1
        try:
            fin = weakref.finalize(gen, self._llm_dropped, rec)
            fin.atexit = False
            llm.fin = fin
        except TypeError:
            pass

    def _llm_dropped(self, rec: SpanRecord) -> None:
        """Finalizer: a streaming LLM call's generator was garbage-collected before it ended."""
        try:
            llm = rec.llm
            if llm is not None and not llm.done:
                self._finish_llm(rec, llm, llm.last, partial=True, silent=llm.last is None)
        except Exception as exc:
            _internal("llm stream finalizer", exc)

    def _finish_llm(
        self,
        rec: SpanRecord,
        llm: LLMCall,
        response: Any,
        *,
        error: BaseException | None = None,
        partial: bool | None = None,
        silent: bool = False,
    ) -> None:
        if llm.done:
            return
        llm.done = True
        claim = llm.claim
        taken = False
        if claim is not None:
            taken = claim.taken
            claim.taken = True  # neutralised: nothing may take it once the call is over
            if peek_llm_claim() is claim:
                close_llm_claim(llm.claim_token)
        if llm.fin is not None:
            llm.fin.detach()
            llm.fin = None
        run = rec.run
        if not (silent or taken or rec.flags & F_LLM_BELOW or run.closed):
            try:
                self._record_llm(run, rec, llm, response, error, partial)
            except Exception as exc:  # bookkeeping below must happen regardless
                _internal("llm event", exc)
        if not silent or taken:
            _mark(rec, llm, F_LLM_BELOW)
        if taken and response is not None and mp.response_tool_calls(response):
            _mark(rec, llm, F_DECISION_BELOW)  # the layer that took the claim records the decision too
        if llm.stream:
            self._release(run)

    def _record_llm(
        self,
        run: Run,
        rec: SpanRecord,
        llm: LLMCall,
        response: Any,
        error: BaseException | None,
        partial: bool | None,
    ) -> None:
        now = time.time()
        text = mp.response_text(response)
        calls = mp.response_tool_calls(response) if response is not None else []
        usages = llm.usages
        last_usage = mp.usage_object(response)
        if last_usage is not None:
            usages = [*usages, last_usage]
        tokens = mp.merge_usage(usages)
        messages = (
            mp.Lazy(mp.messages_json, llm.messages)
            if llm.messages is not None
            else mp.Lazy(mp.prompt_json, llm.prompt)
        )
        run.client.track_llm_call(
            run.sid,
            llm.model,
            provider=llm.provider,
            messages=messages,
            response=text,
            prompt_tokens=tokens["prompt"],
            completion_tokens=tokens["completion"],
            total_tokens=tokens["total"],
            cached_tokens=tokens["cached"],
            reasoning_tokens=tokens["reasoning"],
            duration_ms=(now - llm.t0) * 1000.0,
            params=cast(Any, mp.Lazy(mp.params_json, llm.kwargs)) if mp.has_params(llm.kwargs) else None,
            tool_calls=calls or None,
            response_model=mp.response_model(response, llm.prev),
            finish_reason=mp.finish_reason(response, llm.prev),
            time_to_first_token_ms=llm.ttft if llm.stream else None,
            error=error,
            partial=partial,
            span_id=rec.id,
            parent_span_id=rec.pa,
            start_time=llm.t0,
        )
        if calls and error is None and not partial:
            reasoning, decision = decision_from_tool_calls(calls, text)
            run.client.track_decision(
                run.sid, reasoning, decision=decision, parent_span_id=rec.id, start_time=now
            )
            _mark(rec, llm, F_DECISION_BELOW)

    def _agent_output(self, rec: SpanRecord, output: Any) -> None:
        """A workflow agent step chose tools without an LLM tool call (ReAct parses them from text)."""
        calls_in = getattr(output, "tool_calls", None)
        if not calls_in or rec.flags & F_DECISION_BELOW or rec.run.closed:
            return
        calls = normalize_tool_calls(calls_in)
        text = getattr(getattr(output, "response", None), "content", None)
        reasoning, decision = decision_from_tool_calls(calls, text)
        run = rec.run
        run.client.track_decision(run.sid, reasoning, decision=decision, parent_span_id=rec.pa)
        node: SpanRecord | None = rec
        while node is not None:
            node.flags |= F_DECISION_BELOW
            node = node.parent

    # --- retrieval, embeddings, exceptions -----------------------------------------------------

    def _retrieval_end(self, event: Any) -> None:
        rec = self.spans.get(event.span_id) if event.span_id is not None else None
        if rec is None or rec.run.closed:
            return
        run = rec.run
        now = time.time()
        t0 = rec.t0 or now
        nodes = [
            {"id": getattr(getattr(n, "node", None), "node_id", None), "score": getattr(n, "score", None)}
            for n in (event.nodes or ())
        ]
        retriever = _span_name(rec.id).rsplit(".", 1)[0]
        run.client.track_tool_call(
            run.sid,
            "retrieve",
            {"query": mp.query_text(event.str_or_query_bundle)},
            {"nodes": nodes},
            duration_ms=(now - t0) * 1000.0,
            metadata={"kind": "retrieval", "retriever": retriever},
            span_id=rec.id,
            parent_span_id=rec.pa,
            start_time=t0,
        )

    def _embedding_end(self, event: Any) -> None:
        rec = self.spans.get(event.span_id) if event.span_id is not None else None
        if rec is None:
            return
        run = rec.run
        with run.lock:
            run.emb_calls += 1
            run.emb_texts += len(event.chunks or ())

    def _exception(self, event: Any) -> None:
        rec = self.spans.get(event.span_id) if event.span_id is not None else None
        if rec is None:
            return
        exc = event.exception
        run = rec.run
        llm = rec.llm
        if llm is not None and not llm.done:
            if isinstance(exc, Exception):
                self._finish_llm(rec, llm, llm.last, error=exc)
                self._error(run, exc, rec.id)
                self._stream_failed(run, exc)
            else:  # GeneratorExit: the consumer closed the stream early; CancelledError
                self._finish_llm(rec, llm, llm.last, partial=True, silent=llm.last is None)
        elif isinstance(exc, Exception):
            self._error(run, exc, rec.anchor)

    def _cancelled(self, event: Any) -> None:
        """A workflow run cancelled by its caller (``handler.cancel_run()``) ends ``abandoned``."""
        rec = self.spans.get(event.span_id) if event.span_id is not None else None
        if rec is None or rec is not rec.run.root:
            return  # a cancelled step is the workflow's business
        run = rec.run
        with run.lock:
            if run.status == "success":
                reason = getattr(event, "reason", None)
                run.status, run.failure = "abandoned", reason if isinstance(reason, str) else "cancelled"

    def _error(self, run: Run, exc: BaseException, parent: str | None, tool_name: str | None = None) -> None:
        """One error event per exception (a wrapper raised ``from`` it counts as the same one)."""
        try:
            if run.closed or self._seen(run, exc):
                return
            run.client.track_error(run.sid, exc, tool_name=tool_name, parent_span_id=parent)
        except Exception as err:
            _internal("error event", err)

    @staticmethod
    def _seen(run: Run, exc: BaseException) -> bool:
        seen = run.seen
        e: BaseException | None = exc
        for _ in range(8):
            if e is None:
                break
            if seen.get(id(e)) is e:
                return True
            e = e.__cause__ or e.__context__
        seen[id(exc)] = exc
        return False

    # --- run lifecycle -------------------------------------------------------------------------

    def _root_exit(self, run: Run, rec: SpanRecord, result: Any) -> None:
        _reset_session(rec)
        C = self.C
        # The result is kept for the session output; never a generator (that would keep a dropped
        # stream alive, and its finalizer is what ends the run).
        keep = run.owned and not (inspect.isgenerator(result) or inspect.isasyncgen(result))
        with run.lock:
            if run.closed:
                return
            t = type(result)
            if (t is C.StreamingResponse or t is C.AsyncStreamingResponse) and result.response_txt is None:
                gen = result.response_gen
                if inspect.isgenerator(gen):
                    result.response_gen = wrap_sync(self, run, gen)
                    run.pending += 1
                elif inspect.isasyncgen(gen):
                    result.response_gen = wrap_async(self, run, gen)
                    run.pending += 1
                elif keep:
                    run.result = result
            else:
                if keep:
                    run.result = result
                if isinstance(result, C.StreamingAgentChatResponse) and id(result) not in run.writers_done:
                    writer = getattr(result, "write_response_to_history_thread", None) or getattr(
                        result, "awrite_response_to_history_task", None
                    )
                    if writer is not None:
                        run.waiting_writer = id(result)
                        run.pending += 1
            run.root_done = True
        self._maybe_close(run)

    def _root_drop(self, run: Run, rec: SpanRecord, err: BaseException | None) -> None:
        _reset_session(rec)
        with run.lock:
            if run.closed:
                return
            if isinstance(err, Exception):
                run.status, run.failure = "error", f"{type(err).__name__}: {err}"
            elif err is not None:  # KeyboardInterrupt, CancelledError: the run was cut short
                run.status, run.failure = "abandoned", type(err).__name__
            run.root_done = True
        if isinstance(err, Exception):
            self._error(run, err, None)
        self._close(run)  # pending streams of a failed run are not waited for

    def _writer_done(self, run: Run, instance: Any, err: BaseException | None) -> None:
        """The thread or task writing a streaming chat response to memory finished."""
        if isinstance(err, Exception):
            self._error(run, err, None)
            self._stream_failed(run, err)
        release = False
        with run.lock:
            run.writers_done.add(id(instance))
            if run.waiting_writer is not None and run.waiting_writer == id(instance):
                run.waiting_writer = None
                release = True
        if release:
            self._release(run)

    def _stream_failed(self, run: Run, exc: BaseException) -> None:
        with run.lock:
            if run.root_done and run.status == "success":
                run.status, run.failure = "error", f"{type(exc).__name__}: {exc}"

    def _release(self, run: Run) -> None:
        with run.lock:
            run.pending -= 1
        self._maybe_close(run)

    def _maybe_close(self, run: Run) -> None:
        with run.lock:
            if run.closed or not run.root_done or run.pending > 0:
                return
        self._close(run)

    def _close(self, run: Run) -> None:
        with run.lock:
            if run.closed:
                return
            run.closed = True
        root = run.root
        if root is not None:
            self.runs.pop(root.id, None)
        spans = self.spans
        for sid in list(run.spans):
            spans.pop(sid, None)
        run.spans = set()
        if not run.owned:
            return
        metrics = None
        if run.emb_calls:
            metrics = {"embedding_calls": run.emb_calls, "embedded_texts": run.emb_texts}
        output = None
        if run.status == "success" and (run.result is not None or run.streamed is not None):
            output = mp.Lazy(mp.run_output_json, run.result, run.streamed)
        run.result = None
        run.session.close(
            run.status,
            failure_reason=run.failure,
            output=output,
            custom_metrics=metrics,
            user_input=run.user_input,
        )

    # --- response streams (called by .streams) -------------------------------------------------

    def stream_enter(self, run: Run) -> Any:
        try:
            t1 = _stream_run.set(run)
            t2 = ctx.set_current_session(run.session) if run.owned and not run.session.closed else None
            return (t1, t2)
        except Exception:
            return None

    def stream_exit(self, tokens: Any) -> None:
        if tokens is None:
            return
        t1, t2 = tokens
        try:
            if t2 is not None:
                ctx.reset_current_session(t2)
            _stream_run.reset(t1)
        except Exception:
            pass

    def stream_done(self, state: StreamState, exc: BaseException | None, closed: bool = False) -> None:
        try:
            if state.done:
                return
            state.done = True
            if state.fin is not None:
                state.fin.detach()
                state.fin = None
            run = state.run
            if isinstance(exc, Exception):
                self._error(run, exc, None)
                self._stream_failed(run, exc)
            with run.lock:
                run.streamed = state.parts
            self._release(run)
        except Exception as err:
            _internal("stream end", err)

    def stream_dropped(self, state: StreamState) -> None:
        """Finalizer: a response stream was garbage-collected (one never started ends here)."""
        if not state.started:
            self.stream_done(state, None)

    # --- events --------------------------------------------------------------------------------

    def _load_event_handlers(self) -> dict[type, Callable[[Any], None]]:
        from llama_index.core.instrumentation.events.embedding import (
            EmbeddingEndEvent,
            SparseEmbeddingEndEvent,
        )
        from llama_index.core.instrumentation.events.exception import ExceptionEvent
        from llama_index.core.instrumentation.events.llm import (
            LLMChatEndEvent,
            LLMChatInProgressEvent,
            LLMChatStartEvent,
            LLMCompletionEndEvent,
            LLMCompletionInProgressEvent,
            LLMCompletionStartEvent,
        )
        from llama_index.core.instrumentation.events.retrieval import RetrievalEndEvent

        return {
            LLMChatStartEvent: lambda e: self._llm_start(e, True),
            LLMCompletionStartEvent: lambda e: self._llm_start(e, False),
            LLMChatInProgressEvent: self._llm_progress,
            LLMCompletionInProgressEvent: self._llm_progress,
            LLMChatEndEvent: self._llm_end,
            LLMCompletionEndEvent: self._llm_end,
            RetrievalEndEvent: self._retrieval_end,
            EmbeddingEndEvent: self._embedding_end,
            SparseEmbeddingEndEvent: self._embedding_end,
            ExceptionEvent: self._exception,
        }

    def _handler_for(self, t: type) -> Callable[[Any], None] | None:
        handler = None
        for base in t.__mro__:
            handler = self._event_handlers.get(base)
            if handler is not None:
                break
        if handler is None and t.__name__ == "SpanCancelledEvent":  # llama-index-workflows
            handler = self._cancelled
        self.events[t] = handler
        return handler

    def handle(self, event: Any) -> None:
        if not self.active:
            return
        t = type(event)
        try:
            handler = self.events[t]
        except KeyError:
            handler = self._handler_for(t)
        if handler is None:
            return
        try:
            handler(event)
        except Exception as exc:
            _internal(t.__name__, exc)

    # --- uninstrument --------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop recording; runs still open are closed as abandoned."""
        self.active = False
        for run in list(self.runs.values()):
            try:
                with run.lock:
                    if run.status == "success":
                        run.status = "abandoned"
                        run.failure = "LlamaIndex instrumentation was removed while the run was in progress"
                self._close(run)
            except Exception as exc:
                _internal("uninstrument", exc)
        self.spans.clear()


def _mark(rec: SpanRecord, llm: LLMCall, flag: int) -> None:
    """Set ``flag`` on every enclosing span and enclosing LLM call (lazily nested ones included)."""
    node: SpanRecord | None = rec.parent
    while node is not None:
        node.flags |= flag
        node = node.parent
    outer = llm.parent
    while outer is not None:
        outer.flags |= flag
        outer_llm = outer.llm
        node = outer.parent
        while node is not None:
            node.flags |= flag
            node = node.parent
        outer = outer_llm.parent if outer_llm is not None else None


def _reset_session(rec: SpanRecord) -> None:
    token = rec.sess_token
    if token is not None:
        rec.sess_token = None
        try:
            ctx.reset_current_session(token)
        except Exception:
            pass


def _exit_cm(cm: Any) -> None:
    try:
        cm.__exit__(None, None, None)
    except Exception:
        pass


def _agent_name(workflow: Any) -> str | None:
    """An agent's name; for an AgentWorkflow, the name of its root agent."""
    for attr in ("name", "root_agent"):
        value = getattr(workflow, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


def _run_input(kind: int, bound_args: Any) -> str | None:
    """The question a run was started with, when it is a plain string (session metadata)."""
    try:
        args = bound_args.arguments
    except Exception:
        return None
    if kind in (K_QUERY, K_RETRIEVER):
        return mp.query_text(args.get("str_or_query_bundle"))
    if kind == K_CHAT:
        message = args.get("message")
        return message if isinstance(message, str) else None
    if kind == K_WORKFLOW:
        start = args.get("start_event")
        msg = getattr(start, "user_msg", None) if start is not None else None
        if isinstance(msg, str):
            return msg
        content = getattr(msg, "content", None)
        return content if isinstance(content, str) else None
    return None
