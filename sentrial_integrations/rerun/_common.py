"""What every replay adapter shares: the active replay of this context, the recorded fields they read,
and how a tool call asks for its recorded result. Imports no framework."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .openai_answer import Answer


class Responder(Protocol):
    """What the adapters ask the active replay (:class:`sentrial_integrations.rerun.Replay`)."""

    tools: str

    def openai_answer(self, kind: str, body: Mapping[str, Any]) -> Answer | None: ...

    def langchain_answer(self, prompt: str) -> Any: ...

    def tool_answer(self, name: str, tool_input: Any) -> Any: ...

    def serve_failed(self, step: int, reason: str) -> None: ...


#: The replay of the current context (set by the replay block).
current: contextvars.ContextVar[Responder | None] = contextvars.ContextVar("sentrial_replay", default=None)

#: a tool call that is not answered from the recording (it runs)
NOT_SERVED: tuple[bool, Any] = (False, None)


def recorded_output(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """A recorded LLM call's ``output`` (empty when it has none)."""
    out = event.get("output")
    return out if isinstance(out, Mapping) else {}


def recorded_tokens(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A recorded LLM call's token counts, or None when the recording has no usage (no prompt count)."""
    tokens = recorded_output(event).get("tokens")
    if not isinstance(tokens, Mapping) or tokens.get("prompt") is None:
        return None
    return tokens


def token_counts(tokens: Mapping[str, Any]) -> tuple[int, int, int]:
    """(prompt, completion, total) of recorded token counts (total: the recorded one, else the sum)."""
    prompt, completion = int(tokens.get("prompt") or 0), int(tokens.get("completion") or 0)
    total = tokens.get("total")
    return prompt, completion, int(total) if total is not None else prompt + completion


def recorded_tool_result(describe: Callable[[], tuple[str, Any]]) -> tuple[bool, Any]:
    """``(True, recorded result)`` when a ``tools="recorded"`` replay is active in this context and
    has the tool call ``describe()`` names (tool name, input); else :data:`NOT_SERVED`."""
    rp = current.get()
    if rp is None or getattr(rp, "tools", "live") != "recorded":
        return NOT_SERVED
    try:
        step = rp.tool_answer(*describe())
    except Exception:
        return NOT_SERVED
    if step is None:
        return NOT_SERVED
    return True, step.event.get("output")
