"""LlamaIndex → Sentrial: a span handler and an event handler on the root instrumentation dispatcher.

:func:`instrument` adds them (once), :func:`uninstrument` removes them. The handlers only forward to
the :class:`~.tracker.Tracker`, which follows runs and records their events.
"""

from __future__ import annotations

import threading
from typing import Any

from ..core.api.client import SentrialClient
from .tracker import LlamaClasses, Tracker

# --- the handlers on the dispatcher and instrument() / uninstrument() ----------------------------------


def _make_handler_classes() -> tuple[type, type]:
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler
    from llama_index.core.instrumentation.span import BaseSpan
    from llama_index.core.instrumentation.span_handlers import BaseSpanHandler

    class SentrialSpanHandler(BaseSpanHandler[BaseSpan]):  # type: ignore[misc,valid-type]
        """Forwards span enter / exit / drop to the Sentrial tracker (keeps no spans of its own)."""

        @classmethod
        def class_name(cls) -> str:
            return "SentrialSpanHandler"

        def new_span(self, *args: Any, **kwargs: Any) -> None:
            return None

        def prepare_to_exit_span(self, *args: Any, **kwargs: Any) -> None:
            return None

        def prepare_to_drop_span(self, *args: Any, **kwargs: Any) -> None:
            return None

        def span_enter(
            self,
            id_: str,
            bound_args: Any,
            instance: Any = None,
            parent_id: str | None = None,
            tags: Any = None,
            **kwargs: Any,
        ) -> None:
            _tracker_of(self).span_enter(id_, bound_args, instance, parent_id)

        def span_exit(
            self, id_: str, bound_args: Any, instance: Any = None, result: Any = None, **kwargs: Any
        ) -> None:
            _tracker_of(self).span_exit(id_, instance, result)

        def span_drop(
            self,
            id_: str,
            bound_args: Any,
            instance: Any = None,
            err: BaseException | None = None,
            **kwargs: Any,
        ) -> None:
            _tracker_of(self).span_drop(id_, instance, err)

    class SentrialEventHandler(BaseEventHandler):  # type: ignore[misc]
        """Forwards LLM, retrieval, embedding and exception events to the Sentrial tracker."""

        @classmethod
        def class_name(cls) -> str:
            return "SentrialEventHandler"

        def handle(self, event: Any, **kwargs: Any) -> None:
            _tracker_of(self).handle(event)

    return SentrialSpanHandler, SentrialEventHandler


_NOOP: Any = None


def _tracker_of(handler: Any) -> Tracker:
    # Stored in the instance __dict__ (not a pydantic field): read without pydantic's machinery.
    t = handler.__dict__.get("_sentrial_tracker")
    return t if t is not None else _NOOP


class _Installed:
    __slots__ = ("event_handler", "span_handler", "tracker")

    def __init__(self, tracker: Tracker, span_handler: Any, event_handler: Any) -> None:
        self.tracker = tracker
        self.span_handler = span_handler
        self.event_handler = event_handler


_install_lock = threading.Lock()
_installed: _Installed | None = None
_handler_classes: tuple[type, type] | None = None


class _Noop:
    """Stands in for a tracker on a handler that was removed (a dispatch may still be in flight)."""

    def span_enter(self, *args: Any) -> None:
        return None

    span_exit = span_drop = handle = span_enter


_NOOP = _Noop()


NEEDS_LLAMAINDEX = (
    "sentrial_integrations.llamaindex needs LlamaIndex (llama-index-core 0.14): "
    "pip install 'sentrial-integrations[llamaindex]' (from a checkout: pip install -e '.[llamaindex]')"
)


def instrument(client: SentrialClient | None = None) -> None:
    """Record every LlamaIndex run (query and chat engines, retrievers, agents, workflows) as a session.

    Adds one span handler and one event handler to LlamaIndex's root instrumentation dispatcher.
    ``client`` defaults to the process-wide client (:func:`sentrial_integrations.get_client`, resolved
    when a run starts). Idempotent: a second call adds nothing (a ``client`` given to it replaces the
    one used for new runs). :func:`uninstrument` removes the handlers.
    """
    global _installed, _handler_classes
    with _install_lock:
        if _installed is not None:
            if client is not None:
                _installed.tracker.client = client
            return
        try:
            from llama_index.core.instrumentation import get_dispatcher
        except ImportError:
            raise ImportError(NEEDS_LLAMAINDEX) from None  # one clear line, not a raw traceback
        if _handler_classes is None:
            _handler_classes = _make_handler_classes()
        span_cls, event_cls = _handler_classes
        tracker = Tracker(client, LlamaClasses())
        span_handler = span_cls()
        event_handler = event_cls()
        span_handler.__dict__["_sentrial_tracker"] = tracker
        event_handler.__dict__["_sentrial_tracker"] = tracker
        dispatcher = get_dispatcher()
        dispatcher.add_span_handler(span_handler)
        dispatcher.add_event_handler(event_handler)
        _installed = _Installed(tracker, span_handler, event_handler)
    if client is None:
        from ..core.offloop import prepare_default_client

        prepare_default_client()  # off the event loop, so that async runs need not build it


def uninstrument() -> None:
    """Remove the handlers added by :func:`instrument`; runs still open are closed as ``abandoned``."""
    global _installed
    with _install_lock:
        inst = _installed
        if inst is None:
            return
        _installed = None
        from llama_index.core.instrumentation import get_dispatcher

        dispatcher = get_dispatcher()
        dispatcher.span_handlers = [h for h in dispatcher.span_handlers if h is not inst.span_handler]
        dispatcher.event_handlers = [h for h in dispatcher.event_handlers if h is not inst.event_handler]
        inst.span_handler.__dict__["_sentrial_tracker"] = _NOOP
        inst.event_handler.__dict__["_sentrial_tracker"] = _NOOP
        inst.tracker.stop()


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return _installed is not None


def last_session_id() -> str | None:
    """The session the most recent LlamaIndex run recorded into (handy in scripts and tests)."""
    inst = _installed
    return inst.tracker.last_session_id if inst is not None else None
