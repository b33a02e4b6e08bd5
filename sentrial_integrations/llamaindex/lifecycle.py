"""Runs from start to close: which session a run records into, when it may close (its root span
returned, its response streams and memory writers finished), and how it closes.

:class:`RunBook` is the base of the :class:`~.tracker.Tracker`: it holds the tracker's state (open runs,
span records) and everything that ends a run, including the callbacks of :mod:`.streams`.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ..core import context as ctx
from ..core import model as M
from ..core.log import guard
from ..core.runs import open_run
from . import mapping as mp
from .records import (
    K_OTHER,
    K_WORKFLOW,
    LlamaClasses,
    Run,
    SpanRecord,
    agent_name,
    run_input,
    span_name,
    stream_run,
)
from .streams import StreamState, wrap_async, wrap_sync

if TYPE_CHECKING:
    from ..core.api.client import SentrialClient, Session

_MAX_OPEN_RUNS = 10_000

_G_RELEASE = guard("the LlamaIndex integration (run context)")
_G_ERROR = guard("the LlamaIndex integration (error event)")
_G_STREAM_STEP = guard("the LlamaIndex integration (response stream step)")
_G_STREAM_END = guard("the LlamaIndex integration (stream end)")
_G_STOP = guard("the LlamaIndex integration (uninstrument)")


class RunBook:
    """Open runs and the span records of each, and everything that opens and closes a run."""

    def __init__(self, client: SentrialClient | None, classes: LlamaClasses) -> None:
        self.client = client
        self.C = classes
        self.active = True
        self.spans: dict[str, SpanRecord] = {}
        self.runs: dict[str, Run] = {}
        self.kinds: dict[type, int] = {type(None): K_OTHER}
        #: The session the most recent top-level run recorded into.
        self.last_session_id: str | None = None

    def _span_of(self, event: Any) -> SpanRecord | None:
        """The record of the span an instrumentation event was dispatched under, if it is followed."""
        span_id = event.span_id
        return self.spans.get(span_id) if span_id is not None else None

    # --- opening -------------------------------------------------------------------------------

    def _open_run(self, id_: str, bound_args: Any, instance: Any, kind: int) -> SpanRecord:
        """A top-level run starts with the span ``id_``: its record, the root of a new run."""
        name = span_name(id_)
        metadata: dict[str, Any] = {M.META_FRAMEWORK: "llamaindex", "entrypoint": name}
        text = run_input(kind, bound_args)
        if text is not None:
            metadata["input"] = text
        agent = agent_name(instance) if kind == K_WORKFLOW else None
        target = open_run(self.client, name, metadata=metadata, agent_name=agent)
        run = Run(target)
        run.user_input = text
        self.last_session_id = run.sid
        rec = SpanRecord(id_, run, None, kind)
        run.root = rec
        target.make_current()
        self._register(id_, run)
        return rec

    def _join(self, id_: str, session: Session, kind: int) -> SpanRecord:
        """A stray span inside a user's ``client.session()`` block: a run recording into that session."""
        run = Run(open_run(self.client, span_name(id_), session=session))
        rec = SpanRecord(id_, run, None, kind)
        run.root = rec
        self._register(id_, run)
        return rec

    def _register(self, id_: str, run: Run) -> None:
        if len(self.runs) >= _MAX_OPEN_RUNS:
            self._evict_oldest()
        self.runs[id_] = run

    def _evict_oldest(self) -> None:
        try:
            oldest = next(iter(self.runs.values()))
        except (StopIteration, RuntimeError):
            return
        with oldest.lock:
            oldest.status, oldest.failure = M.ABANDONED, "too many LlamaIndex runs open at once"
        self._close(oldest)

    # --- errors --------------------------------------------------------------------------------

    def _error(self, run: Run, exc: BaseException, parent: str | None, tool_name: str | None = None) -> None:
        """One error event per exception (a wrapper raised ``from`` it counts as the same one)."""
        with _G_ERROR:
            if run.closed or self._seen(run, exc):
                return
            run.client.track_error(run.sid, exc, tool_name=tool_name, parent_span_id=parent)

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

    # --- the root span ends --------------------------------------------------------------------

    def _root_exit(self, run: Run, result: Any) -> None:
        with _G_RELEASE:
            run.target.release()
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

    def _root_drop(self, run: Run, err: BaseException | None) -> None:
        with _G_RELEASE:
            run.target.release()
        with run.lock:
            if run.closed:
                return
            if isinstance(err, Exception):
                run.status, run.failure = M.ERROR, f"{type(err).__name__}: {err}"
            elif err is not None:  # KeyboardInterrupt, CancelledError: the run was cut short
                run.status, run.failure = M.ABANDONED, type(err).__name__
            run.root_done = True
        if isinstance(err, Exception):
            self._error(run, err, None)
        self._close(run)  # pending streams of a failed run are not waited for

    # --- what a run waits for ------------------------------------------------------------------

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
            if run.root_done and run.status == M.SUCCESS:
                run.status, run.failure = M.ERROR, f"{type(exc).__name__}: {exc}"

    def _release(self, run: Run) -> None:
        with run.lock:
            run.pending -= 1
        self._maybe_close(run)

    def _maybe_close(self, run: Run) -> None:
        with run.lock:
            if run.closed or not run.root_done or run.pending > 0:
                return
        self._close(run)

    # --- closing -------------------------------------------------------------------------------

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
        if run.status == M.SUCCESS and (run.result is not None or run.streamed is not None):
            output = mp.Lazy(mp.run_output_json, run.result, run.streamed)
        run.result = None
        run.target.close(
            run.status,
            failure_reason=run.failure,
            output=output,
            custom_metrics=metrics,
            user_input=run.user_input,
        )

    # --- response streams (called by .streams) -------------------------------------------------

    def stream_enter(self, run: Run) -> Any:
        with _G_STREAM_STEP:
            t1 = stream_run.set(run)
            t2 = ctx.set_current_session(run.session) if run.owned and not run.session.closed else None
            return (t1, t2)
        return None

    def stream_exit(self, tokens: Any) -> None:
        if tokens is None:
            return
        t1, t2 = tokens
        with _G_STREAM_STEP:
            if t2 is not None:
                ctx.reset_current_session(t2)
            stream_run.reset(t1)

    def stream_done(self, state: StreamState, exc: BaseException | None) -> None:
        with _G_STREAM_END:
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

    def stream_dropped(self, state: StreamState) -> None:
        """Finalizer: a response stream was garbage-collected (one never started ends here)."""
        if not state.started:
            self.stream_done(state, None)

    # --- uninstrument --------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop recording; runs still open are closed as abandoned."""
        self.active = False
        for run in list(self.runs.values()):
            with _G_STOP:
                with run.lock:
                    if run.status == M.SUCCESS:
                        run.status = M.ABANDONED
                        run.failure = "LlamaIndex instrumentation was removed while the run was in progress"
                self._close(run)
        self.spans.clear()
