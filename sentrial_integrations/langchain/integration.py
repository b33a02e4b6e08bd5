"""The LangChain / LangGraph integration as a :class:`~sentrial_integrations.core.integration.Integration`.

``instrument()`` switches the configure hook of :mod:`.hook` on for the whole process (as
``SENTRIAL_TRACING=true`` would, without writing to ``os.environ``: a subprocess inherits nothing), so
every LangChain run gets a Sentrial handler unless it already has one; ``uninstrument()`` switches it
off (runs already started keep their handler). The hook itself is registered when LangChain imports
its configure-hook module.

Imports nothing of LangChain (nor of this package's handler): importing this module costs nothing.
"""

from __future__ import annotations

from typing import Any

from ..core.integration import Integration

__all__ = ["INTEGRATION", "LangChainIntegration"]


class LangChainIntegration(Integration):
    """LangChain and LangGraph runs, through langchain-core's configure hook."""

    name = "langchain"
    distribution = "langchain-core"
    supported = ("1.4", "2")

    def _instrument(self, **options: Any) -> None:
        from ..zerocode import autoload  # stdlib only: imports nothing of LangChain's

        autoload.set_process_wide(True)

    def _uninstrument(self) -> None:
        from ..zerocode import autoload

        autoload.set_process_wide(False)


#: The process's one LangChain integration (``auto_instrument()`` uses it too).
INTEGRATION = LangChainIntegration()
