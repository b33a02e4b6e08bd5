"""Zero-code LangChain tracing: with ``SENTRIAL_TRACING=true``, every LangChain run of the process is
recorded, without any import of ``sentrial_integrations`` in the user's code.

The package ships a ``.pth`` file whose single line is :data:`PTH_LINE`. Python runs it at start-up;
it does nothing unless ``SENTRIAL_TRACING`` is set, and then only calls :func:`install`, which waits
for ``langchain_core`` to be imported (a one-shot import hook, so processes that never use LangChain
pay nothing) and then registers the handler with langchain-core's configure hooks.
"""

from __future__ import annotations

import logging

# Stdlib only at module level: setup.py loads this file on its own to read PTH_LINE.

__all__ = ["PTH_LINE", "enabled", "install"]

# The values that leave tracing off (any case; :func:`sentrial_integrations.core.config.parse_bool`).
_OFF = ("", "0", "false", "no", "off")

#: The line of the ``.pth`` file (``sentrial_integrations.pth`` in site-packages).
PTH_LINE = (
    "import os; os.environ.get('SENTRIAL_TRACING', '').strip().lower() not in ('', '0', 'false', 'no', 'off') "
    "and __import__('sentrial_integrations.langchain.autoload', fromlist=['install']).install()"
)

_logger = logging.getLogger("sentrial_integrations")
_TARGET = "langchain_core"


def enabled() -> bool:
    """``SENTRIAL_TRACING`` read as every Sentrial boolean is (1/true/yes/on; anything else warns)."""
    from ..core.config import env_flag  # not at module level: setup.py loads this file on its own

    return env_flag("SENTRIAL_TRACING")


def _activate() -> None:
    try:
        from . import hook

        hook.register()
    except Exception as exc:  # never break the user's import of LangChain
        _logger.warning("Sentrial: could not enable LangChain tracing: %r", exc)


def install() -> None:
    """Record every LangChain run of this process (idempotent; cheap until LangChain is imported)."""
    try:
        if not enabled():  # e.g. SENTRIAL_TRACING=maybe: warned, left off
            return
        from ..core.importhook import when_imported

        when_imported(_TARGET, lambda _module: _activate())
    except Exception as exc:
        _logger.warning("Sentrial: could not enable LangChain tracing: %r", exc)
