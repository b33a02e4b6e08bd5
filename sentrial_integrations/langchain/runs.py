"""The handler's run bookkeeping: state per LangChain run id, and the session each outermost run records into.

A LangChain run is a chain, model, tool or retriever call. The outermost run the handler sees opens a
session (or joins one: :func:`sentrial_integrations.core.runs.open_run`, with ``integration="langchain"``);
its descendants find it through their parent run; the outermost run's end closes the session.

Sessions the handler opens itself belong to one top-level run: a sibling run started from the same
context (a batch of prompts, ``batch(return_exceptions=True)``, a call after an abandoned stream)
opens its own. Only sessions the user opened (``client.session()``, ``tracing(session=...)``,
``SentrialCallbackHandler(session=...)``) or another integration's runs are shared.
"""

from __future__ import annotations

import sys
import time
from contextvars import Token
from typing import Any
from uuid import UUID

from ..core import model as M
from ..core.api.client import SentrialClient, Session
from ..core.context import LLMClaim, release_llm_claim, reset_current_span
from ..core.runs import RunTarget, open_run
from . import mapping as _m

__all__ = ["CHAIN", "INTEGRATION_NAME", "LLM", "RETRIEVER", "TOOL", "Root", "Run", "RunBook"]

_time = time.time

#: run kinds
CHAIN, LLM, TOOL, RETRIEVER = 0, 1, 2, 3

#: ``integration=`` of the sessions the handler opens (:func:`open_run`): a LangChain run of its own
#: that is current is never joined by another top-level run
INTEGRATION_NAME = "langchain"

_CONFIG = "langchain_core.runnables.config"


class Root:
    """The session one outermost run records into."""

    __slots__ = ("client", "errors", "interrupts", "runs", "session", "sid", "target", "top")

    def __init__(self, target: RunTarget) -> None:
        self.top: Run | None = None  # the outermost run
        self.target = target
        self.session: Session = target.session
        self.client: SentrialClient = target.client
        self.sid: str = target.session_id
        self.runs: set[int] = set()  # descendants still open (released when the root ends)
        self.errors: list[BaseException] = []  # exceptions already recorded (one error event each)
        self.interrupts = 0


class Run:
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

    def __init__(self, kind: int, root: Root, name: str, parent: str | None, span: str | None) -> None:
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


class RunBook:
    """The handler's runs in flight (``_runs``, keyed by ``run_id.int``: hashing a UUID runs Python
    code) and their roots. A base of :class:`~.handler.SentrialCallbackHandler`, which sets the attributes."""

    client: SentrialClient | None
    session_name: str | None
    metadata: dict[str, Any] | None
    session: Session | str | None
    user_id: str | None
    agent_name: str | None
    last_session_id: str | None
    _runs: dict[int, Run]

    def _begin(
        self,
        kind: int,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        metadata: dict[str, Any] | None,
        tags: list[str] | None,
    ) -> Run:
        key = run_id.int
        parent = self._runs.get(parent_run_id.int) if parent_run_id is not None else self._enclosing_run()
        if parent is not None:
            root = parent.root
            root.runs.add(key)
            parent_span = parent.span
            run = Run(kind, root, name, parent_span, str(run_id) if kind != CHAIN else parent_span)
        else:
            root = self._open_root(kind, name, metadata, tags)
            run = Run(kind, root, name, None, str(run_id) if kind != CHAIN else None)
            root.top = run
            self.last_session_id = root.sid
        self._runs[key] = run
        return run

    def _enclosing_run(self) -> Run | None:
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
                if isinstance(handler, RunBook) and handler is not self:
                    run = handler._runs.get(pid.int)
                    if run is not None:
                        break
        return run

    def _open_root(
        self, kind: int, name: str, metadata: dict[str, Any] | None, tags: list[str] | None
    ) -> Root:
        md = metadata or {}
        thread_id = md.get("thread_id")
        target = open_run(
            self.client,
            self.session_name or name,
            session=self.session,
            integration=INTEGRATION_NAME,
            metadata=_m.session_metadata(self.metadata, md, tags),
            agent_name=self.agent_name or md.get("lc_agent_name") or name,
            user_id=self.user_id or md.get("user_id"),
            convo_id=str(thread_id) if thread_id is not None else None,
        )
        if kind != LLM:
            # Current for every integration inside the run (e.g. an OpenAI call made in a tool's
            # body). Not for a model run: its LLM-call claim carries the session, and prompts of one
            # batch start side by side in one context, where a current session would leak to the next.
            # (Only a session the run opened is made current: a joined one is current already or named.)
            target.make_current()
        return Root(target)

    def _end(self, run_id: UUID) -> Run | None:
        key = run_id.int
        run = self._runs.pop(key, None)
        if run is not None and run.root.top is not run:
            run.root.runs.discard(key)
        return run

    def _finish_root(self, root: Root, status: str, *, reason: str | None = None, output: Any = None) -> None:
        """The outermost run ended: forget its descendants, close the session if the run opened it."""
        runs = self._runs
        for rid in list(root.runs):  # descendants that never ended (an abandoned stream)
            runs.pop(rid, None)
        root.runs.clear()
        target = root.target
        if not target.owned:
            return
        metrics = {"interrupts": root.interrupts} if root.interrupts else None
        # closes unless already closed (e.g. by client.shutdown() at exit); releases the current session
        target.close(status, failure_reason=reason, output=output, custom_metrics=metrics)

    def _release_claim(self, run: Run) -> bool:
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

    def _reset_span(self, run: Run) -> None:
        if run.span_token is not None:
            reset_current_span(run.span_token)
            run.span_token = None

    # --- failures -----------------------------------------------------------------------------------

    def _record_error(self, run: Run, error: BaseException, end: float) -> None:
        """One error event per exception, however many runs it propagates through."""
        root = run.root
        for seen in root.errors:
            if seen is error:
                return
        root.errors.append(error)
        self._track_error(run, error, end)

    @staticmethod
    def _track_error(run: Run, error: Any, end: float) -> None:
        """The error event of ``run`` (an exception, or the error a tool returned)."""
        root = run.root
        root.client.track_error(
            root.sid,
            error,
            tool_name=run.name,
            metadata=run.meta,
            parent_span_id=run.span,
            start_time=end,
        )

    def _fail_run(self, run: Run, error: BaseException) -> None:
        """After a run's failure was recorded: close the session if this was the outermost run."""
        root = run.root
        if root.top is not run:
            return
        if isinstance(error, Exception):
            self._finish_root(root, M.ERROR, reason=_m.error_text(error))
        else:  # KeyboardInterrupt, asyncio.CancelledError, GeneratorExit: cut short, not failed
            self._finish_root(root, M.ABANDONED, reason=type(error).__name__)

    def _record_call(self, run: Run, output: Any, error: Any, end: float) -> None:
        """A tool or retriever run's ``tool_call`` event (ended at ``end``)."""
        root = run.root
        root.client.track_tool_call(
            root.sid,
            run.name,
            run.input,
            output,
            error=error,
            duration_ms=(end - run.start) * 1000.0,
            metadata=run.meta,
            span_id=run.span,
            parent_span_id=run.parent,
            start_time=run.start,
        )

    def _record_failed_call(self, run: Run, error: BaseException, end: float) -> None:
        """A tool or retriever run that raised: a tool_call carrying the error, plus an error event."""
        self._record_call(run, None, error, end)
        if isinstance(error, Exception):
            self._record_error(run, error, end)
        self._fail_run(run, error)
