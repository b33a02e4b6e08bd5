"""sentrial_integrations: one-line Sentrial tracing for LangChain, LangGraph, OpenAI and LlamaIndex agents."""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core.api.client import SentrialClient, SentrialUsageError, Session, configure, get_client
    from .core.api.compat import Interaction, begin
    from .core.config import SentrialConfigWarning
    from .core.context import current_session
    from .core.record.pricing import Price, estimate_cost, set_price
    from .rerun import ReplayMismatch, replay
    from .zerocode.auto import auto_instrument, uninstrument_all

# Every name is imported on first use, so ``import sentrial_integrations`` (and the zero-code ``.pth``
# line, which imports a submodule) loads nothing but this file: name -> the module that defines it.
_LAZY = {
    "SentrialClient": ".core.api.client",
    "SentrialUsageError": ".core.api.client",
    "Session": ".core.api.client",
    "configure": ".core.api.client",
    "get_client": ".core.api.client",
    "Interaction": ".core.api.compat",
    "begin": ".core.api.compat",
    "SentrialConfigWarning": ".core.config",
    "current_session": ".core.context",
    "Price": ".core.record.pricing",
    "estimate_cost": ".core.record.pricing",
    "set_price": ".core.record.pricing",
    "auto_instrument": ".zerocode.auto",
    "uninstrument_all": ".zerocode.auto",
    "replay": ".rerun",  # re-run a recorded session (sentrial_integrations.rerun)
    "ReplayMismatch": ".rerun",
}

__version__ = "0.1.0"

__all__ = [
    "Interaction",
    "Price",
    "ReplayMismatch",
    "SentrialClient",
    "SentrialConfigWarning",
    "SentrialUsageError",
    "Session",
    "__version__",
    "auto_instrument",
    "begin",
    "configure",
    "current_session",
    "estimate_cost",
    "get_client",
    "replay",
    "set_price",
    "uninstrument_all",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
