"""The LlamaIndex integration as an :class:`~sentrial_integrations.core.integration.Integration`: a span
handler and an event handler on LlamaIndex's root instrumentation dispatcher, forwarding to a
:class:`~.tracker.Tracker`.

``INTEGRATION.instrument(client=None)`` adds them (once, version-gated), ``INTEGRATION.uninstrument()``
removes exactly those two and closes the runs still open as ``abandoned``. Importing this module does
not import LlamaIndex.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.integration import DidNotEnable, Integration

if TYPE_CHECKING:
    from ..core.api.client import SentrialClient
    from .tracker import Tracker

NEEDS_LLAMAINDEX = (
    "sentrial_integrations.llamaindex needs LlamaIndex (llama-index-core 0.14): "
    "pip install 'sentrial-integrations[llamaindex]' (from a checkout: pip install -e '.[llamaindex]')"
)


def llamaindex_importable() -> bool:
    try:
        import llama_index.core.instrumentation  # noqa: F401
    except ImportError:
        return False
    return True


class _Installed:
    __slots__ = ("event_handler", "span_handler", "tracker")

    def __init__(self, tracker: Tracker, span_handler: Any, event_handler: Any) -> None:
        self.tracker = tracker
        self.span_handler = span_handler
        self.event_handler = event_handler


class LlamaIndexIntegration(Integration):
    """Records every LlamaIndex run (query and chat engines, retrievers, agents, workflows) as a session."""

    name = "llamaindex"
    distribution = "llama-index-core"
    supported = ("0.14.25", "0.15")  # pyproject's extra: llama-index-core>=0.14.25,<0.15

    def __init__(self) -> None:
        super().__init__()
        self._installed: _Installed | None = None

    @property
    def tracker(self) -> Tracker | None:
        """The tracker of the handlers in place (``None`` when not instrumented)."""
        inst = self._installed
        return inst.tracker if inst is not None else None

    def set_client(self, client: SentrialClient) -> None:
        """Record new runs with ``client`` (a second ``instrument(client)`` call)."""
        with self._lock:
            inst = self._installed
            if inst is not None:
                inst.tracker.client = client

    def _instrument(self, client: SentrialClient | None = None, **_: Any) -> None:
        if not llamaindex_importable():
            raise DidNotEnable(NEEDS_LLAMAINDEX)
        from llama_index.core.instrumentation import get_dispatcher

        from .handlers import attach, handler_classes
        from .tracker import LlamaClasses, Tracker

        span_cls, event_cls = handler_classes()
        tracker = Tracker(client, LlamaClasses())
        span_handler = span_cls()
        event_handler = event_cls()
        attach(span_handler, tracker)
        attach(event_handler, tracker)
        dispatcher = get_dispatcher()
        dispatcher.add_span_handler(span_handler)
        dispatcher.add_event_handler(event_handler)
        self._installed = _Installed(tracker, span_handler, event_handler)
        if client is None:
            from ..core.offloop import prepare_default_client

            prepare_default_client()  # off the event loop, so that async runs need not build it

    def _uninstrument(self) -> None:
        inst, self._installed = self._installed, None
        if inst is None:
            return
        from llama_index.core.instrumentation import get_dispatcher

        from .handlers import attach

        dispatcher = get_dispatcher()
        dispatcher.span_handlers = [h for h in dispatcher.span_handlers if h is not inst.span_handler]
        dispatcher.event_handlers = [h for h in dispatcher.event_handlers if h is not inst.event_handler]
        attach(inst.span_handler, None)
        attach(inst.event_handler, None)
        inst.tracker.stop()


INTEGRATION = LlamaIndexIntegration()
