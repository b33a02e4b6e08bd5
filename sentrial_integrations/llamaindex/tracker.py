"""The state behind the LlamaIndex handlers: the :class:`Tracker` follows spans into runs and records
what they do.

How a run is followed (llama-index-core 0.14):

* Every ``@dispatcher.span`` method reports enter / exit / drop with its span id, its parent span id
  and the instance. The outermost span whose instance is a query engine, chat engine, retriever or
  workflow (FunctionAgent, ReActAgent, AgentWorkflow are workflows) starts a *run*: one Sentrial
  session (or the current session, when the user opened one). Every span below it belongs to the run,
  found through its parent id. Spans outside any run (index building, splitters, stray embedding or
  LLM calls) record nothing, unless a Sentrial session is current: they then record into it.
* LLM calls are the ``LLMChat*`` / ``LLMCompletion*`` events, dispatched under the span of the call
  (:mod:`.llm_calls`). The start event opens an ``LLMClaim`` in the context where the provider's HTTP
  call runs; if the OpenAI wrapper takes it, it records the call and this integration does not.
* A streaming call's span exits at once with a generator; its events arrive later under that span's
  id, maybe from another thread. Span records are kept until their run closes, and a run whose root
  returned a stream (a ``StreamingResponse``, a streaming chat response, an LLM generator) closes when
  the stream is consumed, fails, is closed, or is garbage-collected (:mod:`.lifecycle`, :mod:`.streams`).

The tracker is built in layers: :class:`~.lifecycle.RunBook` (state, opening and closing runs) ←
:class:`~.llm_calls.LLMCalls` ← :class:`~.events.EventHandlers` ← :class:`Tracker` (the span callbacks
and tool calls). Nothing here does I/O or serialisation: the handlers read attributes and enqueue
``track_*`` calls; bulky values are handed to the worker as :class:`~.mapping.Lazy` conversions.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

from ..core import context as ctx
from ..core.context import current_session
from ..core.log import guard
from ..core.record.serialize import snapshot
from . import mapping as mp
from .events import EventHandlers
from .records import (
    K_CHAT_STREAM,
    K_LLM,
    K_OTHER,
    K_RETRIEVER,
    K_TOOL,
    RUN_KINDS,
    LlamaClasses,
    Run,
    SpanRecord,
    span_name,
    stream_run,
)

__all__ = ["LlamaClasses", "Tracker"]

_KEEP_EXITED = 4_096  # exited span records kept per run for late events and late children

_G_ENTER = guard("the LlamaIndex integration (span_enter)")
_G_EXIT = guard("the LlamaIndex integration (span_exit)")
_G_DROP = guard("the LlamaIndex integration (span_drop)")
_G_TOOL_SPAN = guard("the LlamaIndex integration (tool span context)")


class Tracker(EventHandlers):
    """All the state of one ``instrument()``: open runs and the span records of each."""

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

    # --- the span callbacks --------------------------------------------------------------------

    def span_enter(self, id_: str, bound_args: Any, instance: Any, parent_id: str | None) -> None:
        if self.active:
            with _G_ENTER:
                self._enter(id_, bound_args, instance, parent_id)

    def span_exit(self, id_: str, instance: Any, result: Any) -> None:
        rec = self.spans.get(id_) if self.active else None
        if rec is not None:
            with _G_EXIT:
                self._exit(rec, instance, result)

    def span_drop(self, id_: str, instance: Any, err: BaseException | None) -> None:
        rec = self.spans.get(id_) if self.active else None
        if rec is not None:
            with _G_DROP:
                self._drop(rec, instance, err)

    # --- enter ---------------------------------------------------------------------------------

    def _enter(self, id_: str, bound_args: Any, instance: Any, parent_id: str | None) -> None:
        kind = self.kinds.get(type(instance))
        if kind is None:
            kind = self._kind(instance)
        rec = self._place(id_, instance, kind, self.spans.get(parent_id) if parent_id is not None else None)
        if rec is None:
            rec = self._start(id_, bound_args, instance, kind)
            if rec is None:
                return  # a stray span outside any run: not recorded
        if kind == K_TOOL:
            self._tool_enter(rec, bound_args, instance)
        elif kind == K_RETRIEVER:
            name = span_name(rec.id)
            if name.endswith((".retrieve", ".aretrieve")):
                rec.anchor = rec.id
                rec.t0 = time.time()
        self.spans[rec.id] = rec
        rec.run.spans.add(rec.id)

    def _place(self, id_: str, instance: Any, kind: int, parent: SpanRecord | None) -> SpanRecord | None:
        """The record of a span inside a run that is already open, else ``None``."""
        run: Run | None = None
        if parent is not None and not parent.run.closed:
            run = parent.run
        else:
            parent = None
            streaming = stream_run.get()
            if streaming is not None and not streaming.closed:
                run, parent = streaming, streaming.root  # entered lazily by a response stream
            elif kind == K_LLM:
                owner = self._live_claim_owner()
                if owner is not None:  # an LLM call made lazily inside a streaming LLM call
                    run, parent = owner.run, owner
        return SpanRecord(id_, run, parent, kind) if run is not None else None

    def _start(self, id_: str, bound_args: Any, instance: Any, kind: int) -> SpanRecord | None:
        """The root record of a new run: a top-level run, or a stray span inside a user's session."""
        if kind in RUN_KINDS:
            return self._open_run(id_, bound_args, instance, kind)
        session = current_session()
        return self._join(id_, session, kind) if session is not None else None

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
            return  # ``__call__`` → ``call``, or an async adapter around the tool: recorded once, outside
        skip = getattr(instance, "ctx_param_name", None)
        rec.tool = (name, snapshot(mp.tool_input(bound_args, skip if isinstance(skip, str) else None)))
        rec.anchor = rec.id
        rec.t0 = time.time()
        with _G_TOOL_SPAN:
            cm = ctx.span(rec.id)
            cm.__enter__()
            rec.span_cm = cm

    # --- exit and drop -------------------------------------------------------------------------

    def _exit(self, rec: SpanRecord, instance: Any, result: Any) -> None:
        run = rec.run
        _leave_tool_span(rec)
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
            self._root_exit(run, result)
        else:
            self._maybe_forget(run, rec)

    def _drop(self, rec: SpanRecord, instance: Any, err: BaseException | None) -> None:
        run = rec.run
        _leave_tool_span(rec)
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
            self._root_drop(run, err)
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


def _leave_tool_span(rec: SpanRecord) -> None:
    """End the ``ctx.span`` a tool span entered (so events recorded inside the tool nest under it)."""
    cm, rec.span_cm = rec.span_cm, None
    if cm is not None:
        with _G_TOOL_SPAN:
            cm.__exit__(None, None, None)
