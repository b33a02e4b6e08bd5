"""Streams: observe what the caller reads, finish the LLM event exactly once.

A ``Stream`` / ``AsyncStream`` keeps its type: only its private ``_iterator`` is replaced by a
generator that feeds each chunk to an accumulator (:mod:`.accumulators`) and yields it unchanged (the
usage chunk that only the wrapper asked for, on endpoints known to send it only when asked, is
swallowed if it carries nothing else). The HTTP response's ``close`` / ``aclose`` is hooked on that one
response object, which is how every way of ending a stream arrives: ``stream.close()``, ``with``
exit, the ``.stream()`` helpers' ``close()``, and with_streaming_response exits. Garbage collection
of an abandoned stream ends it too (recorded as partial).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openai import AsyncStream, Stream

from ..core.log import report_internal
from .accumulators import ACCUMULATORS

if TYPE_CHECKING:
    from .calls import LLMCall

_STREAM_END = "the OpenAI integration (stream end)"
_STREAM_CHUNK = "the OpenAI integration (stream chunk)"


def is_stream(obj: Any) -> bool:
    return isinstance(obj, (Stream, AsyncStream))


class _StreamWatch:
    """Ends one stream's LLM call exactly once; ``__del__`` covers a stream dropped before it was read."""

    __slots__ = ("__weakref__", "acc", "call", "feed", "gen", "inner")

    def __init__(self, call: LLMCall, acc: Any) -> None:
        self.call = call
        self.acc = acc
        self.feed = acc.feed
        # The observing generator and the SDK's one. Strong references: they are in the stream's own
        # reference cycle anyway, and weak ones are already cleared when the collector finalises them.
        self.gen: Any = None
        self.inner: Any = None

    def running(self) -> bool:
        """Is the observing generator, or the SDK's own generator under it, executing right now?"""
        for gen in (self.gen, self.inner):
            if gen is not None and (getattr(gen, "gi_running", False) or getattr(gen, "ag_running", False)):
                return True
        return False

    def end(self, how: str, error: BaseException | None = None) -> None:
        """``how``: exhausted | closed | error | gone."""
        call = self.call
        if call.done:
            return
        try:
            acc = self.acc
            complete = how == "exhausted" or acc.finished
            res = acc.result()
            call.finish(
                res,
                partial=not complete,
                ttft=acc.ttft,
                end=acc.last if how == "gone" else None,
                error=error,
                gone=how == "gone" and not complete,
            )
        except Exception as exc:
            report_internal(_STREAM_END, exc)
            call.abort()

    def visible(self, chunk: Any) -> bool:
        """Feed one chunk to the accumulator: may the caller see it? (Once per chunk: no guard here.)"""
        try:
            return self.feed(chunk)  # type: ignore[no-any-return]
        except Exception as exc:  # our accumulator failed: reported, and the caller still gets the chunk
            report_internal(_STREAM_CHUNK, exc)
            return True

    def __enter__(self) -> _StreamWatch:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        """The observing generator ends: read to the end, collected before it (``GeneratorExit``) or
        failed (the caller gets that exception)."""
        if exc is None:
            self.end("exhausted")
        elif isinstance(exc, GeneratorExit):
            self.end("gone")
        else:
            self.end("error", exc)

    def closed(self) -> None:
        # The SDK's generator closes the response itself when the stream ends, fails or is
        # collected: our generator (or ``__del__``) then ends the call with the right outcome.
        if not self.running():
            self.end("closed")

    def __del__(self) -> None:
        try:
            if not self.call.done:
                self.end("gone")
        except Exception:
            pass


def watch_stream(stream: Any, call: LLMCall, *, hide_usage: bool) -> None:
    acc = ACCUMULATORS[call.op.kind](hide_usage)
    watch = _StreamWatch(call, acc)
    inner = watch.inner = stream._iterator
    if isinstance(stream, AsyncStream):
        gen: Any = _observe_async(inner, watch)
        _hook_async_close(stream.response, watch)
    else:
        gen = _observe_sync(inner, watch)
        _hook_sync_close(stream.response, watch)
    watch.gen = gen
    stream._iterator = gen


def _observe_sync(inner: Any, watch: _StreamWatch) -> Any:
    visible = watch.visible
    with watch:
        for item in inner:
            if visible(item):
                yield item


async def _observe_async(inner: Any, watch: _StreamWatch) -> Any:
    visible = watch.visible
    with watch:
        async for item in inner:
            if visible(item):
                yield item


def _hook_sync_close(response: Any, watch: _StreamWatch) -> None:
    original = response.close

    def close() -> None:
        try:
            original()
        finally:
            watch.closed()

    response.close = close


def _hook_async_close(response: Any, watch: _StreamWatch) -> None:
    original = response.aclose

    async def aclose() -> None:
        try:
            await original()
        finally:
            watch.closed()

    response.aclose = aclose
