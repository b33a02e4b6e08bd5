"""``sentrial-integrations serve``: the local dashboard and a local Sentrial SDK ingestion API.

Needs the ``server`` extra (Starlette + uvicorn). :func:`create_app` builds the ASGI app over one store
file; :func:`serve` runs it with uvicorn until interrupted.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:  # imported lazily so ``import sentrial_integrations.server`` is cheap
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
