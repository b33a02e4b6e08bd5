"""sentrial_integrations: one-line Sentrial tracing for LangChain, LangGraph, OpenAI and LlamaIndex agents."""

from typing import TYPE_CHECKING, Any

from .core.client import SentrialClient, SentrialUsageError, Session, configure, get_client
from .core.compat import Interaction, begin
from .core.config import SentrialConfigWarning
from .core.context import current_session
from .core.pricing import Price, estimate_cost, set_price

if TYPE_CHECKING:
    from .auto import auto_instrument, uninstrument_all
    from .rerun import ReplayMismatch, replay

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
    if name in ("auto_instrument", "uninstrument_all"):  # imported on first use: ``import`` stays light
        from . import auto

        return getattr(auto, name)
    if name in ("replay", "ReplayMismatch"):  # re-run a recorded session (sentrial_integrations.rerun)
        from . import rerun

        return getattr(rerun, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
