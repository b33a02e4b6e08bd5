"""The handler's model callbacks: a chat or text model run is one ``llm_call`` event (plus a ``decision``
when the model asked for tools), unless an inner integration took the run's LLM-call claim.

The claim: an inner integration that sees the same call (the OpenAI wrapper) takes it and records the
call itself, with the exact request and usage, into this run's session and span; LangChain's side then
records nothing for it (:class:`~sentrial_integrations.core.context.LLMClaim`).
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from ..core import model as M
from ..core.context import LLMClaim, open_llm_claim
from ..core.log import guard
from ..core.record.llm import decision_from_tool_calls
from . import mapping as _m
from .runs import LLM, Run, RunBook

__all__ = ["ModelCallbacks"]

_time = time.time

# One guard per callback, built once: a failure of ours is reported and swallowed (core.log.guard).
_G_ON_CHAT_MODEL_START = guard("LangChain handler on_chat_model_start")
_G_ON_LLM_START = guard("LangChain handler on_llm_start")
_G_ON_LLM_NEW_TOKEN = guard("LangChain handler on_llm_new_token")
_G_ON_STREAM_EVENT = guard("LangChain handler on_stream_event")
_G_ON_LLM_END = guard("LangChain handler on_llm_end")
_G_ON_LLM_ERROR = guard("LangChain handler on_llm_error")


class ModelCallbacks(RunBook):
    """``on_chat_model_start`` / ``on_llm_start``, streaming (first token), ``on_llm_end`` / ``on_llm_error``."""

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        with _G_ON_CHAT_MODEL_START:
            self._start_model(
                serialized,
                _m.LazyMessages(messages[0] if len(messages) == 1 else [m for ms in messages for m in ms]),
                run_id,
                parent_run_id,
                tags,
                metadata,
                kwargs,
            )

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        with _G_ON_LLM_START:
            self._start_model(serialized, list(prompts), run_id, parent_run_id, tags, metadata, kwargs)

    def _start_model(
        self,
        serialized: dict[str, Any] | None,
        messages: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        kwargs: dict[str, Any],
    ) -> None:
        run = self._begin(LLM, run_id, parent_run_id, _m.run_name(serialized, kwargs, "llm"), metadata, tags)
        params = kwargs.get("invocation_params")
        run.input = messages
        run.model = _m.request_model(metadata, params)
        run.provider = metadata.get("ls_provider") if metadata else None
        run.params = _m.llm_params(params)
        run.meta = _m.event_metadata(metadata)
        # The LLM-call claim: an inner integration (the OpenAI wrapper) that sees the call takes it and
        # records the call itself, into this session and span. Set here, in the context the model runs
        # in (run_inline); a batch of prompts in one context cannot be told apart, so it gets none.
        if kwargs.get("batch_size", 1) == 1:
            run.claim = claim = LLMClaim(run.root.session, run.span, run.parent)
            run.claim_token = open_llm_claim(claim)

    def on_llm_new_token(
        self,
        token: Any,
        *,
        chunk: Any = None,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        with _G_ON_LLM_NEW_TOKEN:
            run = self._runs.get(run_id.int)
            if run is None or run.ttft is not None:
                return
            if token or getattr(getattr(chunk, "message", None), "tool_call_chunks", None):
                run.ttft = _time()

    def on_stream_event(self, event: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """langchain-core's v2 streaming protocol: the first content event marks the first token."""
        with _G_ON_STREAM_EVENT:
            run = self._runs.get(run_id.int)
            if run is None or run.ttft is not None:
                return
            etype = event.get("event") if isinstance(event, dict) else None
            if etype is None or (isinstance(etype, str) and etype.startswith("content-block")):
                run.ttft = _time()

    def on_llm_end(
        self, response: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        with _G_ON_LLM_END:
            run = self._end(run_id)
            if run is None:
                return
            end = _time()
            taken = self._release_claim(run)
            root = run.root
            out = None
            if not taken:
                out = _m.llm_output(response)
                usage = out.usage
                root.client.track_llm_call(
                    root.sid,
                    run.model or out.response_model or "unknown",
                    provider=out.provider or run.provider,
                    response=out.content,
                    prompt_tokens=usage["prompt"] if usage else None,
                    completion_tokens=usage["completion"] if usage else None,
                    total_tokens=usage["total"] if usage else None,
                    cached_tokens=usage["cached"] if usage else None,
                    reasoning_tokens=usage["reasoning"] if usage else None,
                    tool_calls=_m.Owned(out.tool_calls) if out.tool_calls else None,
                    response_model=out.response_model,
                    finish_reason=out.finish_reason,
                    **_call_fields(run, end),
                )
                if out.tool_calls:
                    reasoning, decision = decision_from_tool_calls(out.tool_calls, out.content)
                    root.client.track_decision(
                        root.sid,
                        reasoning,
                        decision=_m.Owned(decision),
                        metadata=run.meta,
                        parent_span_id=run.span,
                        start_time=end,
                    )
            if root.top is run:
                text = out.content if out is not None else None
                self._finish_root(root, M.SUCCESS, output=text if isinstance(text, str) else None)

    def on_llm_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        with _G_ON_LLM_ERROR:
            run = self._end(run_id)
            if run is None:
                return
            end = _time()
            taken = self._release_claim(run)
            root = run.root
            if not taken:
                partial = _m.partial_text(kwargs.get("response"))
                root.client.track_llm_call(
                    root.sid,
                    run.model or "unknown",
                    provider=run.provider,
                    response=partial,
                    error=error,
                    partial=True if partial else None,
                    **_call_fields(run, end),
                )
            if taken:  # the inner layer recorded the failure (its own exception, maybe wrapped since)
                run.root.errors.append(error)
            elif isinstance(error, Exception):
                self._record_error(run, error, end)
            self._fail_run(run, error)


def _call_fields(run: Run, end: float) -> dict[str, Any]:
    """The ``track_llm_call`` fields a model run gives, whether it ended or failed."""
    return {
        "messages": run.input,
        "duration_ms": (end - run.start) * 1000.0,
        "metadata": run.meta,
        "params": run.params,
        "time_to_first_token_ms": (run.ttft - run.start) * 1000.0 if run.ttft is not None else None,
        "span_id": run.span,
        "parent_span_id": run.parent,
        "start_time": run.start,
    }
