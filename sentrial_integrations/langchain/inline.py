"""When the handler must not be called inline: the one langchain-core dispatcher that splits handlers.

The handler is a synchronous handler that LangChain runs inline: it calls it directly on the run's
own thread and context, for sync and async runs alike (an async run does not bounce every callback
through a thread pool), and what it sets in a context variable at a run's start — the current
session, the current tool span, the LLM-call claim — is seen by the code the run executes.

Inline, except where that would change what other handlers receive: langchain-core's
``AsyncCallbackManager.on_llm_start`` sends ``on_llm_start`` either to the inline handlers or to the
others, never both. There (and only when another handler is not inline) the handler's ``run_inline``
is False, so every handler gets the callback; the LLM-call claim then cannot reach that one model's
code (the callback runs in a task of its own), and the run is recorded from LangChain's side.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["load_split_codes", "split_codes"]

_MANAGER = "langchain_core.callbacks.manager"

#: code object -> ``AsyncCallbackManager.on_llm_start``'s own code (empty until first needed)
split_codes: dict[Any, Any] = {}


def load_split_codes() -> dict[Any, Any]:
    """The code objects a read of ``run_inline`` comes from in the one langchain-core dispatcher that
    splits inline and other handlers: ``AsyncCallbackManager.on_llm_start`` and (Python < 3.12) its
    list comprehensions. Empty until langchain-core's callbacks manager is imported."""
    manager = sys.modules.get(_MANAGER)
    fn = getattr(getattr(manager, "AsyncCallbackManager", None), "on_llm_start", None)
    code = getattr(fn, "__code__", None)
    if code is None:
        return {}
    split_codes[code] = code
    for const in code.co_consts:
        if isinstance(const, type(code)):
            split_codes[const] = code
    return split_codes
