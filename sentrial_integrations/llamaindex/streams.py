"""Wrappers for the token generators of streaming query responses.

A streaming query returns before the LLM has been called: ``StreamingResponse.response_gen`` calls
the LLM lazily, outside every span. The wrapper yields the very same items, and around each step it
makes the run current (so the LLM spans entered lazily belong to it) and tells the tracker when the
stream ends: exhausted, failed, closed by the consumer, or garbage-collected before it started.
Only iteration and ``close()``/``aclose()`` are forwarded (that is all a response generator supports).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import TYPE_CHECKING, Any

from .records import finalize

if TYPE_CHECKING:
    import weakref

    from .lifecycle import RunBook
    from .records import Run

_MAX_TEXT = 100_000  # characters of streamed text kept for the session output


class StreamState:
    """What the tracker knows about one wrapped stream (never references the generator itself)."""

    __slots__ = ("done", "fin", "parts", "run", "size", "started")

    def __init__(self, run: Run) -> None:
        self.run = run
        self.started = False
        self.done = False
        self.parts: list[str] = []
        self.size = 0
        self.fin: weakref.finalize[Any, Any] | None = None

    def add(self, item: Any) -> None:
        if type(item) is str and self.size < _MAX_TEXT:
            self.parts.append(item)
            self.size += len(item)


class _Step:
    """Around one step of a wrapped stream: the run is current (see :meth:`RunBook.stream_enter`)."""

    __slots__ = ("run", "tokens", "tracker")

    def __init__(self, tracker: RunBook, run: Run) -> None:
        self.tracker = tracker
        self.run = run
        self.tokens: Any = None

    def __enter__(self) -> None:
        self.tokens = self.tracker.stream_enter(self.run)

    def __exit__(self, *exc_info: Any) -> None:
        tokens, self.tokens = self.tokens, None
        self.tracker.stream_exit(tokens)


def wrap_sync(tracker: RunBook, run: Run, gen: Iterator[Any]) -> Generator[Any, None, None]:
    state = StreamState(run)
    wrapper = _sync_stream(tracker, state, gen)
    _watch(tracker, state, wrapper)
    return wrapper


def wrap_async(tracker: RunBook, run: Run, agen: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    state = StreamState(run)
    wrapper = _async_stream(tracker, state, agen)
    _watch(tracker, state, wrapper)
    return wrapper


def _watch(tracker: RunBook, state: StreamState, wrapper: Any) -> None:
    """Close the run if the stream is dropped without ever being started (a started generator is
    closed by Python, which the wrapper sees as ``GeneratorExit``)."""
    state.fin = finalize(wrapper, tracker.stream_dropped, state)


def _sync_stream(tracker: RunBook, state: StreamState, gen: Iterator[Any]) -> Generator[Any, None, None]:
    state.started = True
    step = _Step(tracker, state.run)
    try:
        while True:
            with step:
                try:
                    item = next(gen)
                except StopIteration:
                    break
            state.add(item)
            yield item
    except GeneratorExit:
        try:
            with step:
                close = getattr(gen, "close", None)
                if close is not None:
                    close()
        finally:
            tracker.stream_done(state, None, closed=True)
        raise
    except BaseException as exc:
        tracker.stream_done(state, exc)
        raise
    tracker.stream_done(state, None)


async def _async_stream(
    tracker: RunBook, state: StreamState, agen: AsyncIterator[Any]
) -> AsyncGenerator[Any, None]:
    state.started = True
    step = _Step(tracker, state.run)
    try:
        while True:
            with step:
                try:
                    item = await agen.__anext__()
                except StopAsyncIteration:
                    break
            state.add(item)
            yield item
    except GeneratorExit:
        try:
            with step:
                aclose = getattr(agen, "aclose", None)
                if aclose is not None:
                    await aclose()
        finally:
            tracker.stream_done(state, None, closed=True)
        raise
    except BaseException as exc:
        tracker.stream_done(state, exc)
        raise
    tracker.stream_done(state, None)
