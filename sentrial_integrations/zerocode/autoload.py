"""Zero-code LangChain tracing: with ``SENTRIAL_TRACING=true``, every LangChain run of the process is
recorded, without any import of ``sentrial_integrations`` in the user's code.

The package ships a ``.pth`` file whose single line is :data:`PTH_LINE`. Python runs it at start-up;
it does nothing unless ``SENTRIAL_TRACING`` is set, and then only calls :func:`install`, which waits
for LangChain to import the module that keeps its configure hooks (:data:`HOOKS_MODULE`, a one-shot
import hook: a process that never runs LangChain pays nothing, and importing ``langchain_core`` loads
exactly the modules it loads without us) and then registers the handler with those hooks.

``auto_instrument()`` uses the same path with :func:`set_process_wide` instead of the environment
variable, so nothing is written to ``os.environ`` (subprocesses inherit nothing).
"""

from __future__ import annotations

# Stdlib only at module level: setup.py loads this file on its own to read PTH_LINE.

__all__ = ["PTH_LINE", "enabled", "install"]

# The values that leave tracing off (any case; :func:`sentrial_integrations.core.config.parse_bool`).
_OFF = ("", "0", "false", "no", "off")

#: The line of the ``.pth`` file (``sentrial_integrations.pth`` in site-packages).
PTH_LINE = (
    "import os; os.environ.get('SENTRIAL_TRACING', '').strip().lower() not in ('', '0', 'false', 'no', 'off') "
    "and __import__('sentrial_integrations.zerocode.autoload', fromlist=['install']).install()"
)


def _warn(message: str, exc: BaseException) -> None:
    import logging  # not at start-up: the .pth line loads this module in every traced process

    logging.getLogger("sentrial_integrations").warning(message, exc)


#: Where langchain-core keeps its configure hooks; it imports this module itself the first time it
#: configures a run's callbacks (``langchain_core.callbacks.manager._configure``).
HOOKS_MODULE = "langchain_core.tracers.context"

_process_wide = [False]


def process_wide() -> bool:
    """Is every LangChain run of the process traced by ``auto_instrument()``?"""
    return _process_wide[0]


def set_process_wide(on: bool) -> None:
    """``auto_instrument()`` / ``uninstrument_all()``: trace every run (as ``SENTRIAL_TRACING`` does),
    or stop (runs already started keep their handler)."""
    _process_wide[0] = bool(on)
    if on:
        _arm()


def enabled() -> bool:
    """``SENTRIAL_TRACING`` read as every Sentrial boolean is (1/true/yes/on; anything else warns)."""
    from ..core.config import env_flag  # not at module level: setup.py loads this file on its own

    return env_flag("SENTRIAL_TRACING")


def _activate(_module: object = None) -> None:
    try:
        from ..langchain import hook

        hook.register()
    except Exception as exc:  # never break the user's import of LangChain
        _warn("Sentrial: could not enable LangChain tracing: %r", exc)


def _arm() -> None:
    from .importhook import when_imported

    when_imported(HOOKS_MODULE, _activate)


def install() -> None:
    """Record every LangChain run of this process (idempotent; cheap until LangChain runs).

    ``SENTRIAL_TRACING`` is read (and garbage warned about) when LangChain configures a run."""
    try:
        _arm()
    except Exception as exc:
        _warn("Sentrial: could not enable LangChain tracing: %r", exc)
