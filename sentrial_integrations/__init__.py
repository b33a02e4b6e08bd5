"""sentrial_integrations: one-line Sentrial tracing for LangChain, LangGraph, OpenAI and LlamaIndex agents."""

from .core.client import SentrialClient, SentrialUsageError, Session, configure, get_client
from .core.context import current_session
from .core.pricing import estimate_cost, set_price

__version__ = "0.1.0"

__all__ = [
    "SentrialClient",
    "SentrialUsageError",
    "Session",
    "__version__",
    "configure",
    "current_session",
    "estimate_cost",
    "get_client",
    "set_price",
]
