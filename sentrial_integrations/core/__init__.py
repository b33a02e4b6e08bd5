"""The framework-agnostic core: client, event model, delivery pipeline, exporters."""

from .client import SentrialClient, SentrialUsageError, Session, configure, get_client
from .context import current_session
from .pricing import estimate_cost, set_price

__all__ = [
    "SentrialClient",
    "SentrialUsageError",
    "Session",
    "configure",
    "current_session",
    "estimate_cost",
    "get_client",
    "set_price",
]
