"""The framework-agnostic core: client, event model, recorder, outbox and shipper, exporters."""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import SentrialClient, SentrialUsageError, Session, configure, get_client
    from .context import current_session
    from .pricing import estimate_cost, set_price

# Imported on first use: a submodule (``core.importhook`` for the zero-code paths) loads alone.
_LAZY = {
    "SentrialClient": ".client",
    "SentrialUsageError": ".client",
    "Session": ".client",
    "configure": ".client",
    "get_client": ".client",
    "current_session": ".context",
    "estimate_cost": ".pricing",
    "set_price": ".pricing",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
