"""Streams and raw responses: observe what the caller reads, finish the LLM event exactly once.

A ``Stream`` / ``AsyncStream`` keeps its type: only its private ``_iterator`` is replaced by a
generator that feeds each chunk to an accumulator and yields it unchanged (the usage chunk that only
the wrapper asked for, on endpoints known to send it only when asked, is swallowed if it carries
nothing else). The HTTP response's ``close`` / ``aclose`` is hooked on that one
response object, which is how every way of ending a stream arrives: ``stream.close()``, ``with``
exit, the ``.stream()`` helpers' ``close()``, and with_streaming_response exits. Garbage collection
of an abandoned stream ends it too (recorded as partial).

Raw responses (``with_raw_response`` / ``with_streaming_response``) get their ``parse`` hooked: the
event is recorded from the parsed body, or, if the caller never parses, when the response is closed
or collected.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from openai import AsyncStream, Stream

from ..core.record.llm import normalize_tool_calls
from ._errors import internal_error
from .mapping import RESULT_MAPPERS, Result, chat_result, openai_usage, responses_result, responses_tool_calls

if TYPE_CHECKING:
    from .calls import LLMCall

try:
    from openai._legacy_response import LegacyAPIResponse
    from openai._response import APIResponse, AsyncAPIResponse, BaseAPIResponse

    _RAW_TYPES: tuple[type, ...] = (LegacyAPIResponse, BaseAPIResponse)
except Exception:  # pragma: no cover
    APIResponse = AsyncAPIResponse = None  # type: ignore[assignment,misc]
    _RAW_TYPES = ()

_perf = time.perf_counter


def is_stream(obj: Any) -> bool:
    return isinstance(obj, (Stream, AsyncStream))


def is_raw_response(obj: Any) -> bool:
    return isinstance(obj, _RAW_TYPES)


def _forget_usage(chunk: Any) -> None:
    """With ``include_usage`` every chunk carries ``"usage": null``; without it the field is unset.
    Unset it again, so that ``to_dict()`` / ``to_json()`` / ``model_fields_set`` are what they would be."""
    try:
        chunk.__pydantic_fields_set__.discard("usage")
    except AttributeError:  # pydantic v1
        fields_set = getattr(chunk, "__fields_set__", None)
        if fields_set is not None:
            fields_set.discard("usage")


#: What the usage chunk our ``include_usage`` caused carries besides the usage (``obfuscation`` is
#: random padding). A chunk with anything else set (``moderation``, a provider's own field) is shown.
_USAGE_CHUNK_FIELDS = frozenset(
    {
        "id",
        "object",
        "created",
        "model",
        "service_tier",
        "system_fingerprint",
        "choices",
        "usage",
        "obfuscation",
    }
)


def _only_usage(chunk: Any) -> bool:
    """Is this empty-choices chunk nothing but the usage report (safe to hide)?"""
    fields: Any = getattr(chunk, "model_fields_set", None)
    if fields is None:  # pydantic v1
        fields = getattr(chunk, "__fields_set__", None) or ()
    for name in fields:
        if name not in _USAGE_CHUNK_FIELDS and getattr(chunk, name, None) is not None:
            return False
    extra = getattr(chunk, "model_extra", None)  # fields the SDK does not know (a provider's own)
    if extra:
        for name, value in extra.items():
            if name not in _USAGE_CHUNK_FIELDS and value is not None:
                return False
    return True


# --- accumulators: one per stream; ``feed`` runs once per chunk and must stay cheap -----------------


class _Choice:
    __slots__ = ("finish", "refusal", "text", "tools")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.tools: dict[int, list[Any]] = {}  # tool index -> [id, name, [argument pieces]]
        self.finish: str | None = None


class _TokenStreamState:
    """What the chat and legacy-completion stream accumulators both keep."""

    __slots__ = ("finished", "hide_usage", "last", "model", "response_id", "ttft", "usage")

    def __init__(self, hide_usage: bool) -> None:
        self.hide_usage = hide_usage
        self.usage: Any = None
        self.model: str | None = None
        self.response_id: str | None = None
        self.ttft: float | None = None
        self.last: float | None = None
        self.finished = False


class ChatAccumulator(_TokenStreamState):
    """``ChatCompletionChunk`` stream → the same fields as a ``ChatCompletion``."""

    __slots__ = ("choices",)

    def __init__(self, hide_usage: bool) -> None:
        super().__init__(hide_usage)
        self.choices: dict[int, _Choice] = {}

    def feed(self, chunk: Any) -> bool:
        """Take one chunk; False when the caller must not see it (the usage chunk only we asked for)."""
        now = self.last = _perf()
        choices = chunk.choices
        if choices:
            for ch in choices:
                st = self.choices.get(ch.index)
                if st is None:
                    st = self.choices[ch.index] = _Choice()
                delta = ch.delta
                if delta is not None:
                    text = delta.content
                    if text:
                        st.text.append(text)
                        if self.ttft is None:
                            self.ttft = now
                    calls = delta.tool_calls
                    if calls:
                        self._tool_deltas(st, calls)
                        if self.ttft is None:
                            self.ttft = now
                    refusal = delta.refusal
                    if refusal:
                        st.refusal.append(refusal)
                    fc = delta.function_call
                    if fc is not None:
                        self._function_delta(st, fc)
                if ch.finish_reason is not None:
                    st.finish = ch.finish_reason
                    self.finished = True
        if self.model is None:
            self.model = chunk.model
            self.response_id = chunk.id
        usage = chunk.usage
        if usage is not None:
            self.usage = usage
            if self.hide_usage and not choices and _only_usage(chunk):
                return False
        elif self.hide_usage:
            _forget_usage(chunk)
        return True

    @staticmethod
    def _tool_deltas(st: _Choice, calls: Any) -> None:
        for tc in calls:
            slot = st.tools.get(tc.index)
            if slot is None:
                slot = st.tools[tc.index] = [None, None, []]
            if tc.id:
                slot[0] = tc.id
            fn = tc.function
            if fn is not None:
                if fn.name:
                    slot[1] = fn.name
                if fn.arguments:
                    slot[2].append(fn.arguments)

    @staticmethod
    def _function_delta(st: _Choice, fc: Any) -> None:
        slot = st.tools.get(-1)
        if slot is None:
            slot = st.tools[-1] = [None, None, []]
        if fc.name:
            slot[1] = fc.name
        if fc.arguments:
            slot[2].append(fc.arguments)

    def result(self) -> Result:
        res = Result()
        order = sorted(self.choices)
        texts = [("".join(self.choices[i].text) if self.choices[i].text else None) for i in order]
        if len(texts) == 1:
            res.content = texts[0]
        elif texts:
            res.content = texts
        if order:
            first = self.choices[order[0]]
            res.finish_reason = first.finish
            if first.tools:
                res.tool_calls = normalize_tool_calls(
                    [
                        {"id": slot[0], "function": {"name": slot[1], "arguments": "".join(slot[2])}}
                        for _, slot in sorted(first.tools.items())
                    ]
                )
            if first.refusal:
                res.metadata["refusal"] = "".join(first.refusal)
        res.usage = openai_usage(self.usage)
        res.response_model = self.model
        res.response_id = self.response_id
        return res


class CompletionAccumulator(_TokenStreamState):
    """Legacy ``Completion`` stream."""

    __slots__ = ("finishes", "texts")

    def __init__(self, hide_usage: bool) -> None:
        super().__init__(hide_usage)
        self.texts: dict[int, list[str]] = {}
        self.finishes: dict[int, str] = {}

    def feed(self, chunk: Any) -> bool:
        now = self.last = _perf()
        choices = chunk.choices
        if choices:
            for ch in choices:
                text = ch.text
                if text:
                    parts = self.texts.get(ch.index)
                    if parts is None:
                        parts = self.texts[ch.index] = []
                    parts.append(text)
                    if self.ttft is None:
                        self.ttft = now
                if ch.finish_reason is not None:
                    self.finishes[ch.index] = ch.finish_reason
                    self.finished = True
        if self.model is None:
            self.model = chunk.model
            self.response_id = chunk.id
        usage = chunk.usage
        if usage is not None:
            self.usage = usage
            if self.hide_usage and not choices and _only_usage(chunk):
                return False
        elif self.hide_usage:
            _forget_usage(chunk)
        return True

    def result(self) -> Result:
        res = Result()
        order = sorted(set(self.texts) | set(self.finishes))
        texts = ["".join(self.texts.get(i, ())) for i in order]
        if len(texts) == 1:
            res.content = texts[0]
        elif texts:
            res.content = texts
        if order:
            res.finish_reason = self.finishes.get(order[0])
        res.usage = openai_usage(self.usage)
        res.response_model = self.model
        res.response_id = self.response_id
        return res


_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesAccumulator:
    """Responses API event stream: the final ``Response`` when it arrives, the deltas until then."""

    __slots__ = ("error", "final", "finished", "items", "last", "model", "response_id", "text", "ttft")

    def __init__(self, hide_usage: bool = False) -> None:
        self.text: list[str] = []
        self.items: list[Any] = []
        self.final: Any = None
        self.error: dict[str, Any] | None = None
        self.model: str | None = None
        self.response_id: str | None = None
        self.ttft: float | None = None
        self.last: float | None = None
        self.finished = False

    def feed(self, event: Any) -> bool:
        now = self.last = _perf()
        kind = event.type
        if kind == "response.output_text.delta":
            self.text.append(event.delta)
            if self.ttft is None:
                self.ttft = now
        elif kind in _TERMINAL:
            self.final = event.response
            self.finished = True
        elif kind == "response.output_item.done":
            item = event.item
            if item.type == "function_call" or item.type == "custom_tool_call":
                self.items.append(item)
        elif kind == "response.created":
            response = event.response
            self.model = response.model
            self.response_id = response.id
        elif kind == "error":
            self.error = {"message": str(event.message), "type": str(event.code or "error")}
            self.finished = True
        elif self.ttft is None and kind.endswith(".delta"):
            self.ttft = now
        return True

    def result(self) -> Result:
        if self.final is not None:
            res = responses_result(self.final)
        else:
            res = Result()
            res.content = "".join(self.text) if self.text else None
            res.tool_calls = responses_tool_calls(self.items)
            res.response_model = self.model
            res.response_id = self.response_id
        if self.error is not None and res.error is None:
            res.error = self.error
        return res


_ACCUMULATORS: dict[str, Any] = {
    "chat": ChatAccumulator,
    "completions": CompletionAccumulator,
    "responses": ResponsesAccumulator,
}


# --- streams ------------------------------------------------------------------------------------


class _StreamWatch:
    """Ends one stream's LLM call exactly once; ``__del__`` covers a stream dropped before it was read."""

    __slots__ = ("__weakref__", "acc", "call", "gen", "inner")

    def __init__(self, call: LLMCall, acc: Any) -> None:
        self.call = call
        self.acc = acc
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
            internal_error(exc, "stream end")
            call.abort()

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
    acc = _ACCUMULATORS[call.op.kind](hide_usage)
    watch = _StreamWatch(call, acc)
    inner = watch.inner = stream._iterator
    if isinstance(stream, AsyncStream):
        gen: Any = _observe_async(inner, acc, watch)
        _hook_async_close(stream.response, watch)
    else:
        gen = _observe_sync(inner, acc, watch)
        _hook_sync_close(stream.response, watch)
    watch.gen = gen
    stream._iterator = gen


def _observe_sync(inner: Any, acc: Any, watch: _StreamWatch) -> Any:
    feed = acc.feed
    try:
        for item in inner:
            try:
                visible = feed(item)
            except Exception as exc:
                internal_error(exc, "stream chunk")
                visible = True
            if visible:
                yield item
    except GeneratorExit:  # collected before the end
        watch.end("gone")
        raise
    except BaseException as exc:
        watch.end("error", exc)
        raise
    watch.end("exhausted")


async def _observe_async(inner: Any, acc: Any, watch: _StreamWatch) -> Any:
    feed = acc.feed
    try:
        async for item in inner:
            try:
                visible = feed(item)
            except Exception as exc:
                internal_error(exc, "stream chunk")
                visible = True
            if visible:
                yield item
    except GeneratorExit:
        watch.end("gone")
        raise
    except BaseException as exc:
        watch.end("error", exc)
        raise
    watch.end("exhausted")


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


# --- raw responses ------------------------------------------------------------------------------


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
            internal_error(exc, "raw response")
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
            internal_error(exc, "raw response")
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


__all__ = [
    "ChatAccumulator",
    "CompletionAccumulator",
    "ResponsesAccumulator",
    "chat_result",
    "is_raw_response",
    "is_stream",
    "watch_raw",
    "watch_stream",
]
