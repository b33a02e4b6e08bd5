"""sentrial_integrations: one-line Sentrial tracing for LangChain, LangGraph, OpenAI and LlamaIndex agents."""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .auto import auto_instrument, uninstrument_all
    from .core.client import SentrialClient, SentrialUsageError, Session, configure, get_client
    from .core.compat import Interaction, begin
    from .core.config import SentrialConfigWarning
    from .core.context import current_session
    from .core.pricing import Price, estimate_cost, set_price
    from .rerun import ReplayMismatch, replay

# Every name is imported on first use, so ``import sentrial_integrations`` (and the zero-code ``.pth``
# line, which imports a submodule) loads nothing but this file: name -> the module that defines it.
_LAZY = {
    "SentrialClient": ".core.client",
    "SentrialUsageError": ".core.client",
    "Session": ".core.client",
    "configure": ".core.client",
    "get_client": ".core.client",
    "Interaction": ".core.compat",
    "begin": ".core.compat",
    "SentrialConfigWarning": ".core.config",
    "current_session": ".core.context",
    "Price": ".core.pricing",
    "estimate_cost": ".core.pricing",
    "set_price": ".core.pricing",
    "auto_instrument": ".auto",
    "uninstrument_all": ".auto",
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
