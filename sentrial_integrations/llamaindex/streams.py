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


_DONE: Any = object()  # the stream is exhausted


class _Steps:
    """Each step of a wrapped stream runs with the run current (see :meth:`RunBook.stream_enter`), so
    the LLM spans it enters lazily belong to the run; :meth:`end` tells the tracker how it ended."""

    __slots__ = ("closing", "state", "tokens", "tracker")

    def __init__(self, tracker: RunBook, state: StreamState) -> None:
        self.tracker = tracker
        self.state = state
        self.tokens: Any = None
        self.closing = False  # the consumer closed the stream: whatever happens next is no failure

    def __enter__(self) -> None:
        self.tokens = self.tracker.stream_enter(self.state.run)

    def __exit__(self, *exc_info: Any) -> None:
        tokens, self.tokens = self.tokens, None
        self.tracker.stream_exit(tokens)

    def next(self, gen: Iterator[Any]) -> Any:
        with self:
            try:
                item = next(gen)
            except StopIteration:
                return _DONE
        self.state.add(item)
        return item

    async def anext(self, agen: AsyncIterator[Any]) -> Any:
        with self:
            try:
                item = await agen.__anext__()
            except StopAsyncIteration:
                return _DONE
        self.state.add(item)
        return item

    def close(self, gen: Iterator[Any]) -> None:
        self.closing = True
        close = getattr(gen, "close", None)
        with self:
            if close is not None:
                close()

    async def aclose(self, agen: AsyncIterator[Any]) -> None:
        self.closing = True
        aclose = getattr(agen, "aclose", None)
        with self:
            if aclose is not None:
                await aclose()

    def end(self, exc: BaseException | None) -> None:
        self.tracker.stream_done(self.state, None if self.closing else exc)


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
    steps = _Steps(tracker, state)
    try:
        try:
            while (item := steps.next(gen)) is not _DONE:
                yield item
        except GeneratorExit:
            steps.close(gen)
            raise
    except BaseException as exc:
        steps.end(exc)
        raise
    steps.end(None)


async def _async_stream(
    tracker: RunBook, state: StreamState, agen: AsyncIterator[Any]
) -> AsyncGenerator[Any, None]:
    state.started = True
    steps = _Steps(tracker, state)
    try:
        try:
            while (item := await steps.anext(agen)) is not _DONE:
                yield item
        except GeneratorExit:
            await steps.aclose(agen)
            raise
    except BaseException as exc:
        steps.end(exc)
        raise
    steps.end(None)
