"""``SentrialCallbackHandler``: every LangChain / LangGraph run becomes one complete Sentrial session.

How it works: state is kept per run id (a LangChain run is a chain, model, tool or retriever call).
The outermost run the handler sees opens a session (or joins the current one); model, tool and
retriever runs become events; the outermost run's end closes the session. Chain runs are structure
only: events nest (``parent_span_id``) under the nearest model / tool / retriever run above them.

The handler is a synchronous handler that LangChain runs inline: it calls it directly on the run's
own thread and context, for sync and async runs alike (an async run does not bounce every callback
through a thread pool), and what it sets in a context variable at a run's start — the current
session, the current tool span, the LLM-call claim — is seen by the code the run executes. Every
hook only reads, computes a few values and enqueues; the core does the rest in its thread.

Inline, except where that would change what other handlers receive: langchain-core's
``AsyncCallbackManager.on_llm_start`` sends ``on_llm_start`` either to the inline handlers or to the
others, never both. There (and only when another handler is not inline) :attr:`run_inline` is False,
so every handler gets the callback; the LLM-call claim then cannot reach that one model's code (the
callback runs in a task of its own), and the run is recorded from LangChain's side.

Sessions the handler opens itself belong to one top-level run: a sibling run started from the same
context (a batch of prompts, ``batch(return_exceptions=True)``, a call after an abandoned stream)
opens its own. Only sessions the user opened (``client.session()``, ``tracing(session=...)``,
``SentrialCallbackHandler(session=...)``) are shared.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from contextvars import Token
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from ..core import context as _ctx
from ..core.api import client as _client_module
from ..core.api.client import SentrialClient, Session, get_client
from ..core.context import (
    LLMClaim,
    current_session,
    open_llm_claim,
    release_llm_claim,
    reset_current_span,
    set_current_span,
)
from ..core.log import RateLimitedWarner
from ..core.offloop import prepare_default_client
from ..core.record.llm import decision_from_tool_calls
from . import mapping as _m

__all__ = ["SentrialCallbackHandler"]

_time = time.time
_warner = RateLimitedWarner()

CHAIN, LLM, TOOL, RETRIEVER = 0, 1, 2, 3
DECISION_EVENT = "sentrial_decision"

_MANAGER = "langchain_core.callbacks.manager"
_CONFIG = "langchain_core.runnables.config"
_split_codes: dict[Any, Any] = {}  # code object -> AsyncCallbackManager.on_llm_start's own code


def _load_split_codes() -> dict[Any, Any]:
    """The code objects a read of ``run_inline`` comes from in the one langchain-core dispatcher that
    splits inline and other handlers: ``AsyncCallbackManager.on_llm_start`` and (Python < 3.12) its
    list comprehensions. Empty until langchain-core's callbacks manager is imported."""
    manager = sys.modules.get(_MANAGER)
    fn = getattr(getattr(manager, "AsyncCallbackManager", None), "on_llm_start", None)
    code = getattr(fn, "__code__", None)
    if code is None:
        return {}
    _split_codes[code] = code
    for const in code.co_consts:
        if isinstance(const, type(code)):
            _split_codes[const] = code
    return _split_codes


class _OwnedSession(Session):
    """A session a handler opened for one top-level run: never joined by another top-level run."""

    __slots__ = ()


def _internal(where: str, exc: BaseException) -> None:
    """Our own failure: logged (rate-limited), never raised into LangChain or the user's code."""
    try:
        _warner.warn(
            f"langchain:{where}", "Sentrial: LangChain handler failed in %s: %r (run unaffected)", where, exc
        )
    except Exception:
        pass


class _Root:
    """The session one outermost run records into."""

    __slots__ = ("client", "errors", "interrupts", "owned", "runs", "session", "sid", "token", "top")

    def __init__(self, session: Session, owned: bool) -> None:
        self.top: _Run | None = None  # the outermost run
        self.session = session
        self.client: SentrialClient = session.client
        self.sid = session.id
        self.owned = owned
        self.runs: set[int] = set()  # descendants still open (released when the root ends)
        self.errors: list[BaseException] = []  # exceptions already recorded (one error event each)
        self.interrupts = 0
        self.token: Token[Any] | None = None


class _Run:
    """One LangChain run in flight."""

    __slots__ = (
        "claim",
        "claim_token",
        "input",
        "kind",
        "meta",
        "model",
        "name",
        "params",
        "parent",
        "provider",
        "root",
        "span",
        "span_token",
        "start",
        "ttft",
    )

    def __init__(self, kind: int, root: _Root, name: str, parent: str | None, span: str | None) -> None:
        self.kind = kind
        self.root = root
        self.name = name
        self.parent = parent  # span id of the nearest recorded ancestor (the event's parent_span_id)
        self.span = span  # span id children nest under: own run id for model/tool/retriever runs
        self.start = _time()
        self.input: Any = None
        self.meta: Any = None  # an Owned dict (see mapping.Owned) or None
        self.model: Any = None
        self.provider: Any = None
        self.params: Any = None
        self.ttft: float | None = None
        self.claim: LLMClaim | None = None
        self.claim_token: Token[Any] | None = None
        self.span_token: Token[Any] | None = None


class SentrialCallbackHandler(BaseCallbackHandler):
    """Records LangChain and LangGraph runs as Sentrial sessions.

    ``agent.invoke(inputs, config={"callbacks": [SentrialCallbackHandler()]})`` — one session per
    top-level run (joining the current ``client.session(...)``, or ``session``, when there is one).
    One instance can serve any number of concurrent runs.

    Args:
        client: the client to record with (default: :func:`sentrial_integrations.get_client`).
        session_name: session name (default: the run's name, e.g. the agent's name).
        metadata: session metadata, merged with the run's metadata and tags.
        session: a :class:`Session` or session id every run joins instead of opening its own.
        user_id: the session's user (default: ``user_id`` in the run's metadata).
        agent_name: the session's agent name (default: the agent's name, else the run name).
    """

    raise_error = False

    @property
    def run_inline(self) -> bool:  # type: ignore[override]
        """True (called inline, see the module docs), except when read by langchain-core's
        ``AsyncCallbackManager.on_llm_start`` for a manager that also has non-inline handlers: that
        method gives ``on_llm_start`` to the inline handlers *instead of* the others."""
        try:
            codes = _split_codes or _load_split_codes()
            frame: Any = sys._getframe(1)
            code = codes.get(frame.f_code)
            if code is None:
                return True
            while frame is not None and frame.f_code is not code:  # out of the comprehension (< 3.12)
                frame = frame.f_back
            manager = frame.f_locals.get("self") if frame is not None else None
            for handler in getattr(manager, "handlers", ()):
                if not isinstance(handler, SentrialCallbackHandler) and not handler.run_inline:
                    return False
        except Exception:
            pass
        return True

    def __init__(
        self,
        client: SentrialClient | None = None,
        *,
        session_name: str | None = None,
        metadata: dict[str, Any] | None = None,
        session: Session | str | None = None,
        user_id: str | None = None,
        agent_name: str | None = None,
    ) -> None:
        # Kept cheap: LangChain's configure hook constructs one per run when SENTRIAL_TRACING is set.
        self.client = client
        self.session_name = session_name
        self.metadata = dict(metadata) if metadata else None
        self.session = session
        self.user_id = user_id
        self.agent_name = agent_name
        if client is None and session is None and _client_module._default is None:
            prepare_default_client()  # off the event loop, so that the first async run need not build it
        self._runs: dict[int, _Run] = {}  # keyed by run_id.int (hashing a UUID runs Python code)
        #: The session the most recent top-level run recorded into (handy in scripts and tests).
        self.last_session_id: str | None = None

    def __repr__(self) -> str:
        return f"SentrialCallbackHandler(open_runs={len(self._runs)})"

    # --- run bookkeeping -------------------------------------------------------------------------

    def _begin(
        self,
        kind: int,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        metadata: dict[str, Any] | None,
        tags: list[str] | None,
    ) -> _Run:
        key = run_id.int
        parent = self._runs.get(parent_run_id.int) if parent_run_id is not None else self._enclosing_run()
        if parent is not None:
            root = parent.root
            root.runs.add(key)
            parent_span = parent.span
            run = _Run(kind, root, name, parent_span, str(run_id) if kind != CHAIN else parent_span)
        else:
            root = self._open_root(kind, name, metadata, tags)
            run = _Run(kind, root, name, None, str(run_id) if kind != CHAIN else None)
            root.top = run
            self.last_session_id = root.sid
        self._runs[key] = run
        return run

    def _enclosing_run(self) -> _Run | None:
        """The run whose body this run without a parent was started in, if it is one of ours.

        LangChain sometimes starts a run inside another without naming it as the parent (e.g.
        ``RunnableWithFallbacks`` passes its own config, not the child config, to each attempt). The
        child config it set for the body says which run that is: its callbacks' ``parent_run_id``.
        Runs merely started from the same context (a batch's prompts, a call after an abandoned
        stream) are not in a body of ours, and get sessions of their own.
        """
        config_module = sys.modules.get(_CONFIG)
        var = getattr(config_module, "var_child_runnable_config", None)
        config = var.get() if var is not None else None
        if not config:
            return None
        callbacks = config.get("callbacks")
        pid = getattr(callbacks, "parent_run_id", None)
        if pid is None:
            return None
        run = self._runs.get(pid.int)
        if run is None:  # another handler instance (SENTRIAL_TRACING makes one per configured run)
            for handler in getattr(callbacks, "handlers", ()):
                if isinstance(handler, SentrialCallbackHandler) and handler is not self:
                    run = handler._runs.get(pid.int)
                    if run is not None:
                        break
        return run

    def _open_root(
        self, kind: int, name: str, metadata: dict[str, Any] | None, tags: list[str] | None
    ) -> _Root:
        joined = self.session
        if joined is not None:
            if isinstance(joined, Session):
                return _Root(joined, owned=False)
            return _Root(Session(self.client or get_client(), joined, name), owned=False)
        current = current_session()
        if current is not None and not isinstance(current, _OwnedSession):
            return _Root(current, owned=False)  # the user's session (or another integration's run)
        client = self.client or get_client()
        md = metadata or {}
        session_name = self.session_name or name
        thread_id = md.get("thread_id")
        sid = client.create_session(
            session_name,
            _m.session_metadata(self.metadata, md, tags),
            agent_name=self.agent_name or md.get("lc_agent_name") or name,
            user_id=self.user_id or md.get("user_id"),
            convo_id=str(thread_id) if thread_id is not None else None,
        )
        root = _Root(_OwnedSession(client, sid, session_name), owned=True)
        if kind != LLM:
            # Current for every integration inside the run (e.g. an OpenAI call made in a tool's
            # body). Not for a model run: its LLM-call claim carries the session, and prompts of one
            # batch start side by side in one context, where a current session would leak to the next.
            root.token = _ctx.set_current_session(root.session)
        return root

    def _end(self, run_id: UUID) -> _Run | None:
        key = run_id.int
        run = self._runs.pop(key, None)
        if run is not None and run.root.top is not run:
            run.root.runs.discard(key)
        return run

    def _finish_root(
        self,
        root: _Root,
        status: str,
        *,
        reason: str | None = None,
        output: Any = None,
    ) -> None:
        runs = self._runs
        for rid in list(root.runs):  # descendants that never ended (an abandoned stream)
            runs.pop(rid, None)
        root.runs.clear()
        if not root.owned:
            return
        metrics = {"interrupts": root.interrupts} if root.interrupts else None
        if root.client.is_open(root.sid):  # not already closed by client.shutdown() at exit
            root.session.close(status, failure_reason=reason, output=output, custom_metrics=metrics)
        if root.token is not None:
            _ctx.reset_current_session(root.token)
            root.token = None

    def _record_error(self, run: _Run, error: BaseException, end: float) -> None:
        """One error event per exception, however many runs it propagates through."""
        root = run.root
        for seen in root.errors:
            if seen is error:
                return
        root.errors.append(error)
        root.client.track_error(
            root.sid,
            error,
            tool_name=run.name,
            metadata=run.meta,
            parent_span_id=run.span,
            start_time=end,
        )

    def _fail_run(self, run: _Run, error: BaseException) -> None:
        """After a run's failure was recorded: close the session if this was the outermost run."""
        root = run.root
        if root.top is not run:
            return
        if isinstance(error, Exception):
            self._finish_root(root, "error", reason=_m.error_text(error))
        else:  # KeyboardInterrupt, asyncio.CancelledError, GeneratorExit: cut short, not failed
            self._finish_root(root, "abandoned", reason=type(error).__name__)

    # --- chains ----------------------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            name = kwargs.get("name")
            if not name:
                name = _m.run_name(serialized, kwargs, "chain")
            run = self._begin(CHAIN, run_id, parent_run_id, name, metadata, tags)
            if metadata and "langgraph_node" in metadata:
                run.meta = _m.event_metadata(metadata)
        except Exception as exc:
            _internal("on_chain_start", exc)

    def on_chain_end(
        self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
            run = self._end(run_id)
            if run is not None and run.root.top is run:
                self._finish_root(run.root, "success", output=_m.final_output(outputs))
        except Exception as exc:
            _internal("on_chain_end", exc)

    def on_chain_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
            run = self._end(run_id)
            if run is None:
                return
            root = run.root
            end = _time()
            flow = _m.control_flow(error)
            if flow != _m.NOT_CONTROL:  # a LangGraph interrupt or command: not a failure
                if flow == _m.INTERRUPT and not any(e is error for e in root.errors):
                    root.errors.append(error)
                    root.interrupts += 1
                    root.client.track_decision(
                        root.sid,
                        f"{run.name}: interrupted, waiting for input",
                        decision={
                            "action": "interrupt",
                            "node": run.name,
                            "interrupts": _m.interrupts(error),
                        },
                        metadata=run.meta,
                        parent_span_id=run.parent,
                        start_time=end,
                    )
                if root.top is run:
                    self._finish_root(root, "success")
                return
            if isinstance(error, Exception):
                self._record_error(run, error, end)
            self._fail_run(run, error)
        except Exception as exc:
            _internal("on_chain_error", exc)

    # --- agents (AgentExecutor) and explicit decisions -------------------------------------------

    def on_agent_action(
        self, action: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
            run = self._runs.get(run_id.int)
            if run is None:
                return
            tool = getattr(action, "tool", None)
            log = getattr(action, "log", None)
            root = run.root
            root.client.track_decision(
                root.sid,
                log if isinstance(log, str) and log.strip() else f"use {tool}",
                decision={"action": "tool", "tool": tool, "tool_input": getattr(action, "tool_input", None)},
                metadata=run.meta,
                parent_span_id=run.span,
            )
        except Exception as exc:
            _internal("on_agent_action", exc)

    def on_agent_finish(
        self, finish: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
            run = self._runs.get(run_id.int)
            if run is None:
                return
            log = getattr(finish, "log", None)
            root = run.root
            root.client.track_decision(
                root.sid,
                log if isinstance(log, str) and log.strip() else "finish",
                decision={"action": "finish", "return_values": getattr(finish, "return_values", None)},
                metadata=run.meta,
                parent_span_id=run.span,
            )
        except Exception as exc:
            _internal("on_agent_finish", exc)

    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """``dispatch_custom_event("sentrial_decision", {"reasoning", "decision", "alternatives",
        "confidence", "metadata"})`` records a decision (see :func:`log_decision`)."""
        if name != DECISION_EVENT:
            return
        try:
            run = self._runs.get(run_id.int)
            if run is None:
                return
            root = run.root
            if isinstance(data, dict):
                reasoning = data.get("reasoning")
                root.client.track_decision(
                    root.sid,
                    reasoning if isinstance(reasoning, str) else str(reasoning or ""),
                    decision=data.get("decision"),
                    alternatives=data.get("alternatives"),
                    confidence=data.get("confidence"),
                    metadata=data.get("metadata") or run.meta,
                    parent_span_id=run.span,
                )
            else:
                root.client.track_decision(root.sid, str(data), metadata=run.meta, parent_span_id=run.span)
        except Exception as exc:
            _internal("on_custom_event", exc)

    # --- models ----------------------------------------------------------------------------------

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
        try:
            self._start_model(
                serialized,
                _m.LazyMessages(messages[0] if len(messages) == 1 else [m for ms in messages for m in ms]),
                run_id,
                parent_run_id,
                tags,
                metadata,
                kwargs,
            )
        except Exception as exc:
            _internal("on_chat_model_start", exc)

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
        try:
            self._start_model(serialized, list(prompts), run_id, parent_run_id, tags, metadata, kwargs)
        except Exception as exc:
            _internal("on_llm_start", exc)

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
        try:
            run = self._runs.get(run_id.int)
            if run is None or run.ttft is not None:
                return
            if token or getattr(getattr(chunk, "message", None), "tool_call_chunks", None):
                run.ttft = _time()
        except Exception as exc:
            _internal("on_llm_new_token", exc)

    def on_stream_event(self, event: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """langchain-core's v2 streaming protocol: the first content event marks the first token."""
        try:
            run = self._runs.get(run_id.int)
            if run is None or run.ttft is not None:
                return
            etype = event.get("event") if isinstance(event, dict) else None
            if etype is None or (isinstance(etype, str) and etype.startswith("content-block")):
                run.ttft = _time()
        except Exception as exc:
            _internal("on_stream_event", exc)

    def _release_claim(self, run: _Run) -> bool:
        """Close the run's claim; whether an inner integration took it (and recorded the call)."""
        claim = run.claim
        if claim is None:
            return False
        token, run.claim_token = run.claim_token, None
        if token is None:
            taken = claim.taken
            claim.taken = True
            return taken
        return release_llm_claim(claim, token)

    def on_llm_end(
        self, response: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
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
                    messages=run.input,
                    response=out.content,
                    prompt_tokens=usage["prompt"] if usage else None,
                    completion_tokens=usage["completion"] if usage else None,
                    total_tokens=usage["total"] if usage else None,
                    cached_tokens=usage["cached"] if usage else None,
                    reasoning_tokens=usage["reasoning"] if usage else None,
                    duration_ms=(end - run.start) * 1000.0,
                    metadata=run.meta,
                    params=run.params,
                    tool_calls=_m.Owned(out.tool_calls) if out.tool_calls else None,
                    response_model=out.response_model,
                    finish_reason=out.finish_reason,
                    time_to_first_token_ms=(run.ttft - run.start) * 1000.0 if run.ttft is not None else None,
                    span_id=run.span,
                    parent_span_id=run.parent,
                    start_time=run.start,
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
                self._finish_root(root, "success", output=text if isinstance(text, str) else None)
        except Exception as exc:
            _internal("on_llm_end", exc)

    def on_llm_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
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
                    messages=run.input,
                    response=partial,
                    duration_ms=(end - run.start) * 1000.0,
                    metadata=run.meta,
                    params=run.params,
                    error=error,
                    partial=True if partial else None,
                    time_to_first_token_ms=(run.ttft - run.start) * 1000.0 if run.ttft is not None else None,
                    span_id=run.span,
                    parent_span_id=run.parent,
                    start_time=run.start,
                )
            if taken:  # the inner layer recorded the failure (its own exception, maybe wrapped since)
                run.root.errors.append(error)
            elif isinstance(error, Exception):
                self._record_error(run, error, end)
            self._fail_run(run, error)
        except Exception as exc:
            _internal("on_llm_error", exc)

    # --- tools -----------------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            name = serialized.get("name") if serialized else None
            if not name:
                name = _m.run_name(serialized, kwargs, "tool")
            run = self._begin(TOOL, run_id, parent_run_id, name, metadata, tags)
            run.input = inputs if inputs is not None else input_str
            call_id = kwargs.get("tool_call_id")
            run.meta = _m.event_metadata(metadata, {"tool_call_id": call_id} if call_id else None)
            # Events recorded by other integrations inside the tool's body nest under the tool.
            run.span_token = set_current_span(run.span)
        except Exception as exc:
            _internal("on_tool_start", exc)

    def _reset_span(self, run: _Run) -> None:
        if run.span_token is not None:
            reset_current_span(run.span_token)
            run.span_token = None

    def on_tool_end(
        self, output: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
            run = self._end(run_id)
            if run is None:
                return
            end = _time()
            self._reset_span(run)
            root = run.root
            recorded, error = _m.tool_output(output)
            root.client.track_tool_call(
                root.sid,
                run.name,
                run.input,
                recorded,
                error=error,
                duration_ms=(end - run.start) * 1000.0,
                metadata=run.meta,
                span_id=run.span,
                parent_span_id=run.parent,
                start_time=run.start,
            )
            if error is not None:
                root.client.track_error(
                    root.sid,
                    error,
                    tool_name=run.name,
                    metadata=run.meta,
                    parent_span_id=run.span,
                    start_time=end,
                )
                if root.top is run:
                    self._finish_root(root, "error", reason=f"ToolError: {error['message']}")
                return
            if root.top is run:
                self._finish_root(root, "success", output=recorded if isinstance(recorded, str) else None)
        except Exception as exc:
            _internal("on_tool_end", exc)

    def on_tool_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
            run = self._end(run_id)
            if run is None:
                return
            end = _time()
            self._reset_span(run)
            flow = _m.control_flow(error)
            if flow != _m.NOT_CONTROL:  # interrupt() called inside a tool: handled by the enclosing node
                if run.root.top is run:
                    self._finish_root(run.root, "success")
                return
            self._record_failed_call(run, error, end)
        except Exception as exc:
            _internal("on_tool_error", exc)

    def _record_failed_call(self, run: _Run, error: BaseException, end: float) -> None:
        """A tool or retriever run that raised: a tool_call carrying the error, plus an error event."""
        root = run.root
        root.client.track_tool_call(
            root.sid,
            run.name,
            run.input,
            None,
            error=error,
            duration_ms=(end - run.start) * 1000.0,
            metadata=run.meta,
            span_id=run.span,
            parent_span_id=run.parent,
            start_time=run.start,
        )
        if isinstance(error, Exception):
            self._record_error(run, error, end)
        self._fail_run(run, error)

    # --- retrievers ------------------------------------------------------------------------------

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            run = self._begin(
                RETRIEVER, run_id, parent_run_id, _m.run_name(serialized, kwargs, "retriever"), metadata, tags
            )
            run.input = {"query": query}
            run.meta = _m.event_metadata(metadata)
        except Exception as exc:
            _internal("on_retriever_start", exc)

    def on_retriever_end(
        self, documents: Sequence[Any], *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
            run = self._end(run_id)
            if run is None:
                return
            end = _time()
            root = run.root
            root.client.track_tool_call(
                root.sid,
                run.name,
                run.input,
                _m.documents_output(documents),
                duration_ms=(end - run.start) * 1000.0,
                metadata=run.meta,
                span_id=run.span,
                parent_span_id=run.parent,
                start_time=run.start,
            )
            if root.top is run:
                self._finish_root(root, "success")
        except Exception as exc:
            _internal("on_retriever_end", exc)

    def on_retriever_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
            run = self._end(run_id)
            if run is None:
                return
            end = _time()
            self._record_failed_call(run, error, end)
        except Exception as exc:
            _internal("on_retriever_error", exc)
