"""``sentrial-integrations serve``: the local dashboard and a local Sentrial SDK ingestion API.

Needs the ``server`` extra (Starlette + uvicorn). :func:`create_app` builds the ASGI app over one store
file; :func:`serve` runs it with uvicorn until interrupted (both in :mod:`.app`).

The routes: :mod:`.ingest` (the SDK ingestion API), :mod:`.read_api` (the JSON read API), :mod:`.dashboard`
and :mod:`.compare` (the pages, rendered by :mod:`.pages`). Around them: :mod:`.security` (API key, Host and
Origin checks, headers, body limits), :mod:`.errors` (the error answers), :mod:`.state` (the store and
settings the handlers share), :mod:`.schema` (request models, OpenAPI) and :mod:`.protocol` (the header
deadline).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:  # imported lazily so ``import sentrial_integrations.server`` is cheap
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
