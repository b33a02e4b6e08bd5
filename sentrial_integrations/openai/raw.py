"""Raw responses (``with_raw_response`` / ``with_streaming_response``): their ``parse`` is hooked.

The event is recorded from the parsed body (a parsed stream is handed to :mod:`.streams`), or, if the
caller never parses, when the response is closed or collected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.log import report_internal
from .mapping import RESULT_MAPPERS, Result
from .streams import is_stream, watch_stream

if TYPE_CHECKING:
    from .calls import LLMCall

try:
    from openai._legacy_response import LegacyAPIResponse
    from openai._response import APIResponse, AsyncAPIResponse, BaseAPIResponse

    _RAW_TYPES: tuple[type, ...] = (LegacyAPIResponse, BaseAPIResponse)
except Exception:  # pragma: no cover
    APIResponse = AsyncAPIResponse = None  # type: ignore[assignment,misc]
    _RAW_TYPES = ()

_RAW = "the OpenAI integration (raw response)"


def is_raw_response(obj: Any) -> bool:
    return isinstance(obj, _RAW_TYPES)


def _body_in_memory(raw: Any) -> bool:
    try:
        raw.http_response.content  # noqa: B018 - raises when the body was not read
        return True
    except Exception:
        return False


def _is_sse(raw: Any) -> bool:
    return bool(getattr(raw, "_is_sse_stream", False) or getattr(raw, "_stream", False))


class _RawWatch:
    """Records a raw response from what the caller parses, or from the body when it never parses."""

    __slots__ = ("call", "handed", "parse", "raw")

    def __init__(self, call: LLMCall, raw: Any) -> None:
        self.call = call
        self.raw = raw  # raw -> hook -> this -> raw is a cycle; the collector breaks it
        self.parse = raw.parse  # the SDK's own bound method
        self.handed = False

    def parsed(self, out: Any) -> None:
        call = self.call
        if call.done or self.handed:
            return
        try:
            if is_stream(out):
                self.handed = True
                watch_stream(out, call, hide_usage=False)
            else:
                call.finish(RESULT_MAPPERS[call.op.kind](out))
        except Exception as exc:
            report_internal(_RAW, exc)
            call.abort()

    def unparsed(self, out: Any = None) -> None:
        """Closed or collected without a parse: record the body if it is in memory, else no output."""
        call = self.call
        if call.done or self.handed:
            return
        raw = self.raw
        if out is None and not _is_sse(raw) and not _is_async_raw(raw) and _body_in_memory(raw):
            try:
                out = self.parse()  # from memory: no I/O
            except Exception:  # a body the SDK cannot parse: recorded without output
                out = None
        try:
            if out is not None and not is_stream(out):
                call.finish(RESULT_MAPPERS[call.op.kind](out))
            else:
                res = Result()
                res.metadata["response_not_read"] = True
                call.finish(res, partial=_is_sse(self.raw))
        except Exception as exc:
            report_internal(_RAW, exc)
            call.abort()

    def __del__(self) -> None:
        try:
            if not self.call.done and not self.handed:
                self.unparsed()
        except Exception:
            pass


def _is_async_raw(raw: Any) -> bool:
    return AsyncAPIResponse is not None and isinstance(raw, AsyncAPIResponse)


def watch_raw(raw: Any, call: LLMCall) -> None:
    watch = _RawWatch(call, raw)
    original_parse = watch.parse
    if _is_async_raw(raw):

        async def aparse(*args: Any, **kwargs: Any) -> Any:
            out = await original_parse(*args, **kwargs)
            watch.parsed(out)
            return out

        raw.parse = aparse
        original_close = raw.close

        async def aclose() -> None:
            try:
                await original_close()
            finally:
                if not call.done and not watch.handed:
                    out = None
                    if not _is_sse(raw) and _body_in_memory(raw):
                        try:
                            out = await original_parse()
                        except Exception:
                            out = None
                    watch.unparsed(out)

        raw.close = aclose
        return

    def parse(*args: Any, **kwargs: Any) -> Any:
        out = original_parse(*args, **kwargs)
        watch.parsed(out)
        return out

    raw.parse = parse
    # with_streaming_response: its context manager closes the response
    if APIResponse is not None and isinstance(raw, APIResponse):
        original_close = raw.close

        def close() -> None:
            try:
                original_close()
            finally:
                watch.unparsed()

        raw.close = close  # type: ignore[method-assign]
