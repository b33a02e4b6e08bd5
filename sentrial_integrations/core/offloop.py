"""Build the process-wide client before an event loop needs it.

Building a :class:`~sentrial_integrations.SentrialClient` resolves where it writes (the working
directory, a ``.sentrial/`` directory found upwards, absolute paths): file-system calls that must not
run on an event loop's thread. The integrations call :func:`prepare_default_client` when they are set
up (a handler made, ``wrap_openai``, ``instrument()``...), usually off any loop, so that the first
async run records into a client that already exists instead of building one inside a callback.
"""

from __future__ import annotations

import sys

__all__ = ["on_event_loop", "prepare_default_client"]


def on_event_loop() -> bool:
    """Does this thread run an asyncio event loop right now?"""
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and asyncio._get_running_loop() is not None


def prepare_default_client() -> None:
    """Create the default client now (see :func:`~sentrial_integrations.get_client`), unless it exists
    or this thread runs an event loop. Never raises."""
    try:
        from .api import process

        if process._default is not None or on_event_loop():
            return
        process.get_client()
    except Exception as exc:  # the first run says so again, where it matters
        import logging

        logging.getLogger("sentrial_integrations").debug("Sentrial: default client not built yet: %r", exc)
