"""The span handler and the event handler put on LlamaIndex's root instrumentation dispatcher. They
keep nothing of their own: each forwards to the :class:`~.tracker.Tracker` it was given (or, once
removed, to a no-op, since a dispatch may still be in flight)."""

from __future__ import annotations

from typing import Any

from .tracker import Tracker


class _Noop:
    """Stands in for a tracker on a handler that was removed."""

    def span_enter(self, *args: Any) -> None:
        return None

    span_exit = span_drop = handle = span_enter


_NOOP: Any = _Noop()
_classes: tuple[type, type] | None = None


def _tracker_of(handler: Any) -> Tracker:
    # Stored in the instance __dict__ (not a pydantic field): read without pydantic's machinery.
    t = handler.__dict__.get("_sentrial_tracker")
    return t if t is not None else _NOOP  # type: ignore[no-any-return]


def attach(handler: Any, tracker: Tracker | None) -> None:
    """Point ``handler`` at ``tracker`` (``None``: at the no-op)."""
    handler.__dict__["_sentrial_tracker"] = tracker if tracker is not None else _NOOP


def handler_classes() -> tuple[type, type]:
    """``(SentrialSpanHandler, SentrialEventHandler)``, built once (they subclass LlamaIndex's bases)."""
    global _classes
    if _classes is None:
        _classes = _make_handler_classes()
    return _classes


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
