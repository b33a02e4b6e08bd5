"""What the tracker keeps while it follows LlamaIndex runs: the kinds of span instances, and the records
of runs, spans and LLM calls (plain slotted objects; no LlamaIndex import until :class:`LlamaClasses`)."""

from __future__ import annotations

import contextvars
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core import model as M
from . import mapping as mp

if TYPE_CHECKING:
    from ..core.api.client import SentrialClient, Session
    from ..core.context import LLMClaim
    from ..core.runs import RunTarget

# Kinds of span instances.
K_OTHER, K_LLM, K_TOOL, K_RETRIEVER, K_QUERY, K_CHAT, K_WORKFLOW, K_CHAT_STREAM = range(8)
RUN_KINDS = frozenset((K_RETRIEVER, K_QUERY, K_CHAT, K_WORKFLOW))

# Span flags.
F_LLM_BELOW = 1  # an LLM call inside this span was recorded (by us or by an inner layer)
F_DECISION_BELOW = 2  # a decision inside this span was recorded

#: The run whose response stream is being consumed (set by :mod:`.streams` around each step).
stream_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "sentrial_llamaindex_stream", default=None
)


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
        "target",
        "user_input",
        "waiting_writer",
        "writers_done",
    )

    def __init__(self, target: RunTarget) -> None:
        self.target = target
        self.client: SentrialClient = target.client
        self.session: Session = target.session
        self.sid: str = target.session_id
        self.owned: bool = target.owned
        self.lock = threading.RLock()
        self.closed = False
        self.root: SpanRecord | None = None
        self.root_done = False
        self.pending = 0
        self.status = M.SUCCESS
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


def finalize(obj: Any, callback: Callable[[Any], None], arg: Any) -> weakref.finalize[Any, Any] | None:
    """``callback(arg)`` when ``obj`` is garbage-collected (not at interpreter exit); ``None`` for an
    object that cannot be weakly referenced."""
    try:
        fin = weakref.finalize(obj, callback, arg)
    except TypeError:
        return None
    fin.atexit = False
    return fin


def mark(rec: SpanRecord, llm: LLMCall, flag: int) -> None:
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


def mark_up(rec: SpanRecord, flag: int) -> None:
    """Set ``flag`` on ``rec`` and every span enclosing it."""
    node: SpanRecord | None = rec
    while node is not None:
        node.flags |= flag
        node = node.parent


def span_name(id_: str) -> str:
    """``RetrieverQueryEngine.query-<uuid4>`` → ``RetrieverQueryEngine.query``."""
    if len(id_) > 37 and id_[-37] == "-":
        return id_[:-37]
    return id_


def agent_name(workflow: Any) -> str | None:
    """An agent's name; for an AgentWorkflow, the name of its root agent."""
    for attr in ("name", "root_agent"):
        value = getattr(workflow, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


def run_input(kind: int, bound_args: Any) -> str | None:
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
