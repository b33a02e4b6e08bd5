"""``SentrialCallbackHandler``: every LangChain / LangGraph run becomes one complete Sentrial session.

How it works: state is kept per run id (:mod:`.runs`; a LangChain run is a chain, model, tool or
retriever call; the model callbacks are in :mod:`.models`). The outermost run the handler sees opens a session (or joins the current one); model,
tool and retriever runs become events; the outermost run's end closes the session. Chain runs are
structure only: events nest (``parent_span_id``) under the nearest model / tool / retriever run above
them. A retriever run is a ``tool_call`` event with ``metadata["kind"] == "retrieval"``.

The handler is called inline (see :mod:`.inline` for the one exception). Every hook only reads,
computes a few values and enqueues; the core does the rest in its thread. A failure of ours inside a
hook is reported (rate-limited) and swallowed: LangChain and the user's code never see it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from ..core import model as M
from ..core.api import process as _client_process
from ..core.api.client import SentrialClient, Session
from ..core.context import set_current_span
from ..core.log import guard
from ..core.offloop import prepare_default_client
from . import mapping as _m
from .inline import load_split_codes, split_codes
from .models import ModelCallbacks
from .runs import CHAIN, RETRIEVER, TOOL, Run

__all__ = ["DECISION_EVENT", "SentrialCallbackHandler"]

_time = time.time

#: the custom event :func:`~.hook.log_decision` dispatches
DECISION_EVENT = "sentrial_decision"

# One guard per callback, built once: a failure of ours is reported and swallowed (core.log.guard).
_G_ON_CHAIN_START = guard("LangChain handler on_chain_start")
_G_ON_CHAIN_END = guard("LangChain handler on_chain_end")
_G_ON_CHAIN_ERROR = guard("LangChain handler on_chain_error")
_G_ON_AGENT_ACTION = guard("LangChain handler on_agent_action")
_G_ON_AGENT_FINISH = guard("LangChain handler on_agent_finish")
_G_ON_CUSTOM_EVENT = guard("LangChain handler on_custom_event")
_G_ON_TOOL_START = guard("LangChain handler on_tool_start")
_G_ON_TOOL_END = guard("LangChain handler on_tool_end")
_G_ON_TOOL_ERROR = guard("LangChain handler on_tool_error")
_G_ON_RETRIEVER_START = guard("LangChain handler on_retriever_start")
_G_ON_RETRIEVER_END = guard("LangChain handler on_retriever_end")
_G_ON_RETRIEVER_ERROR = guard("LangChain handler on_retriever_error")


class SentrialCallbackHandler(ModelCallbacks, BaseCallbackHandler):
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
        """True (called inline, see :mod:`.inline`), except when read by langchain-core's
        ``AsyncCallbackManager.on_llm_start`` for a manager that also has non-inline handlers: that
        method gives ``on_llm_start`` to the inline handlers *instead of* the others."""
        try:
            codes = split_codes or load_split_codes()
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
        if client is None and session is None and _client_process._default is None:
            prepare_default_client()  # off the event loop, so that the first async run need not build it
        self._runs: dict[int, Run] = {}  # keyed by run_id.int (hashing a UUID runs Python code)
        #: The session the most recent top-level run recorded into (handy in scripts and tests).
        self.last_session_id: str | None = None

    def __repr__(self) -> str:
        return f"SentrialCallbackHandler(open_runs={len(self._runs)})"

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
        with _G_ON_CHAIN_START:
            name = kwargs.get("name")
            if not name:
                name = _m.run_name(serialized, kwargs, "chain")
            run = self._begin(CHAIN, run_id, parent_run_id, name, metadata, tags)
            if metadata and "langgraph_node" in metadata:
                run.meta = _m.event_metadata(metadata)

    def on_chain_end(
        self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        with _G_ON_CHAIN_END:
            run = self._end(run_id)
            if run is not None and run.root.top is run:
                self._finish_root(run.root, M.SUCCESS, output=_m.final_output(outputs))

    def on_chain_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        with _G_ON_CHAIN_ERROR:
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
                    self._finish_root(root, M.SUCCESS)
                return
            if isinstance(error, Exception):
                self._record_error(run, error, end)
            self._fail_run(run, error)

    # --- agents (AgentExecutor) and explicit decisions -------------------------------------------

    def on_agent_action(
        self, action: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        with _G_ON_AGENT_ACTION:
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

    def on_agent_finish(
        self, finish: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        with _G_ON_AGENT_FINISH:
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
        with _G_ON_CUSTOM_EVENT:
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
        with _G_ON_TOOL_START:
            name = serialized.get("name") if serialized else None
            if not name:
                name = _m.run_name(serialized, kwargs, "tool")
            run = self._begin(TOOL, run_id, parent_run_id, name, metadata, tags)
            run.input = inputs if inputs is not None else input_str
            call_id = kwargs.get("tool_call_id")
            run.meta = _m.event_metadata(metadata, {"tool_call_id": call_id} if call_id else None)
            # Events recorded by other integrations inside the tool's body nest under the tool.
            run.span_token = set_current_span(run.span)

    def on_tool_end(
        self, output: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        with _G_ON_TOOL_END:
            run = self._end(run_id)
            if run is None:
                return
            end = _time()
            self._reset_span(run)
            root = run.root
            recorded, error = _m.tool_output(output)
            self._record_call(run, recorded, error, end)
            if error is not None:
                self._track_error(run, error, end)
                if root.top is run:
                    self._finish_root(root, M.ERROR, reason=f"ToolError: {error['message']}")
                return
            if root.top is run:
                self._finish_root(root, M.SUCCESS, output=recorded if isinstance(recorded, str) else None)

    def on_tool_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        with _G_ON_TOOL_ERROR:
            run = self._end(run_id)
            if run is None:
                return
            end = _time()
            self._reset_span(run)
            flow = _m.control_flow(error)
            if flow != _m.NOT_CONTROL:  # interrupt() called inside a tool: handled by the enclosing node
                if run.root.top is run:
                    self._finish_root(run.root, M.SUCCESS)
                return
            self._record_failed_call(run, error, end)

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
        with _G_ON_RETRIEVER_START:
            run = self._begin(
                RETRIEVER, run_id, parent_run_id, _m.run_name(serialized, kwargs, "retriever"), metadata, tags
            )
            run.input = {"query": query}
            # what the call stands for: the OTLP exporter exports it as a retrieval, not execute_tool
            run.meta = _m.event_metadata(metadata, {M.META_KIND: M.KIND_RETRIEVAL})

    def on_retriever_end(
        self, documents: Sequence[Any], *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        with _G_ON_RETRIEVER_END:
            run = self._end(run_id)
            if run is None:
                return
            end = _time()
            self._record_call(run, _m.documents_output(documents), None, end)
            if run.root.top is run:
                self._finish_root(run.root, M.SUCCESS)

    def on_retriever_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        with _G_ON_RETRIEVER_ERROR:
            run = self._end(run_id)
            if run is None:
                return
            end = _time()
            self._record_failed_call(run, error, end)
