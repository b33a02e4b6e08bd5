"""LLM calls: the ``LLMChat*`` / ``LLMCompletion*`` events of a call's span → one ``llm_call`` event (and
a decision when the response calls tools), unless an inner layer (the OpenAI wrapper) took the call's
``LLMClaim`` and recorded it itself.

A call made inside another call (``acomplete`` → ``complete``, ``stream_chat`` → ``stream_complete``,
``predict`` → ``chat``) records only the innermost one. A streaming call's span exits at once with a
generator; its end arrives later (maybe from another thread), or never: the generator's finalizer then
ends the call as partial.
"""

from __future__ import annotations

import time
from typing import Any, cast

from ..core.context import LLMClaim, close_llm_claim, open_llm_claim, peek_llm_claim
from ..core.log import guard
from ..core.record.llm import decision_from_tool_calls, normalize_tool_calls
from . import mapping as mp
from .lifecycle import RunBook
from .records import F_DECISION_BELOW, F_LLM_BELOW, LLMCall, Run, SpanRecord, finalize, mark, mark_up

_G_RECORD = guard("the LlamaIndex integration (llm event)")
_G_FINALIZER = guard("the LlamaIndex integration (llm stream finalizer)")


class LLMCalls(RunBook):
    """The tracker's handling of LLM calls and of the decisions they make."""

    def _live_claim_owner(self) -> SpanRecord | None:
        """The span of the LLM call whose claim is open here and not taken (a call still running)."""
        claim = peek_llm_claim()
        if claim is None or claim.taken or claim.span_id is None:
            return None
        owner = self.spans.get(claim.span_id)
        if owner is None or owner.llm is None or owner.llm.claim is not claim or owner.run.closed:
            return None
        return owner

    # --- events ----------------------------------------------------------------------------------

    def _llm_start(self, event: Any, chat: bool) -> None:
        rec = self._span_of(event)
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
        found = self._open_call(event)
        if found is None:
            return
        llm = found[1]
        response = event.response
        if llm.ttft is None:
            llm.ttft = (time.time() - llm.t0) * 1000.0
        llm.prev = llm.last
        llm.last = response
        usage = mp.usage_object(response)
        if usage is not None:
            llm.usages.append(usage)

    def _llm_end(self, event: Any) -> None:
        found = self._open_call(event)
        if found is None:
            return
        rec, llm = found
        response = event.response
        if response is None:
            response = llm.last
        self._finish_llm(rec, llm, response)

    def _open_call(self, event: Any) -> tuple[SpanRecord, LLMCall] | None:
        """The span an event was dispatched under and its LLM call, if that call is not finished yet."""
        rec = self._span_of(event)
        llm = rec.llm if rec is not None else None
        return (rec, llm) if rec is not None and llm is not None and not llm.done else None

    # --- streams -----------------------------------------------------------------------------------

    def _stream_opened(self, rec: SpanRecord, llm: LLMCall, gen: Any) -> None:
        """An LLM call returned a generator: its end (or error) arrives later, maybe elsewhere."""
        run = rec.run
        with run.lock:
            if run.closed:
                return
            llm.stream = True
            run.pending += 1
        llm.fin = finalize(gen, self._llm_dropped, rec)

    def _llm_dropped(self, rec: SpanRecord) -> None:
        """Finalizer: a streaming LLM call's generator was garbage-collected before it ended."""
        with _G_FINALIZER:
            llm = rec.llm
            if llm is not None and not llm.done:
                self._finish_llm(rec, llm, llm.last, partial=True, silent=llm.last is None)

    # --- the end of a call -------------------------------------------------------------------------

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
            with _G_RECORD:  # the bookkeeping below must happen regardless
                self._record_llm(run, rec, llm, response, error, partial)
        if not silent or taken:
            mark(rec, llm, F_LLM_BELOW)
        if taken and response is not None and mp.response_tool_calls(response):
            mark(rec, llm, F_DECISION_BELOW)  # the layer that took the claim records the decision too
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
            mark(rec, llm, F_DECISION_BELOW)

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
        mark_up(rec, F_DECISION_BELOW)
