"""The instrumentation events the tracker handles: LLM events (see :mod:`.llm_calls`), retrievals,
embeddings, exceptions and workflow cancellations. Every other event type is ignored; the handler of a
type is looked up once (along its MRO) and cached."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..core import model as M
from ..core.log import guard
from . import mapping as mp
from .llm_calls import LLMCalls
from .records import LlamaClasses, span_name

Handler = tuple[Callable[[Any], None], guard]


class EventHandlers(LLMCalls):
    """The tracker's event side: one handler per LlamaIndex event type it cares about."""

    def __init__(self, client: Any, classes: LlamaClasses) -> None:
        super().__init__(client, classes)
        self.events: dict[type, Handler | None] = {}
        self._event_handlers = self._load_event_handlers()

    def handle(self, event: Any) -> None:
        if not self.active:
            return
        t = type(event)
        try:
            handler = self.events[t]
        except KeyError:
            handler = self._handler_for(t)
        if handler is not None:
            fn, g = handler
            with g:
                fn(event)

    def _handler_for(self, t: type) -> Handler | None:
        fn = None
        for base in t.__mro__:
            fn = self._event_handlers.get(base)
            if fn is not None:
                break
        if fn is None and t.__name__ == "SpanCancelledEvent":  # llama-index-workflows
            fn = self._cancelled
        handler = (fn, guard(f"the LlamaIndex integration ({t.__name__})")) if fn is not None else None
        self.events[t] = handler
        return handler

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

    # --- retrieval, embeddings, exceptions, cancellations --------------------------------------

    def _retrieval_end(self, event: Any) -> None:
        rec = self._span_of(event)
        if rec is None or rec.run.closed:
            return
        run = rec.run
        now = time.time()
        t0 = rec.t0 or now
        retriever = span_name(rec.id).rsplit(".", 1)[0]
        run.client.track_tool_call(
            run.sid,
            "retrieve",
            {"query": mp.query_text(event.str_or_query_bundle)},
            {"nodes": mp.nodes_json(event.nodes or ())},
            duration_ms=(now - t0) * 1000.0,
            metadata={M.META_KIND: M.KIND_RETRIEVAL, "retriever": retriever},
            span_id=rec.id,
            parent_span_id=rec.pa,
            start_time=t0,
        )

    def _embedding_end(self, event: Any) -> None:
        rec = self._span_of(event)
        if rec is None:
            return
        run = rec.run
        with run.lock:
            run.emb_calls += 1
            run.emb_texts += len(event.chunks or ())

    def _exception(self, event: Any) -> None:
        rec = self._span_of(event)
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
        rec = self._span_of(event)
        if rec is None or rec is not rec.run.root:
            return  # a cancelled step is the workflow's business
        run = rec.run
        with run.lock:
            if run.status == M.SUCCESS:
                reason = getattr(event, "reason", None)
                run.status, run.failure = M.ABANDONED, reason if isinstance(reason, str) else "cancelled"
