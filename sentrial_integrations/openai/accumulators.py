"""Stream accumulators: the chunks of one stream, as they pass, → the same fields as the whole response.

One accumulator per stream; its ``feed`` runs once per chunk, on the caller's thread, and must stay
cheap (attribute reads and list appends). ``feed`` returns False for the one chunk the caller must not
see: the usage chunk only the wrapper asked for.
"""

from __future__ import annotations

import time
from typing import Any

from ..core.record.llm import normalize_tool_calls
from .mapping import Result, openai_usage, responses_result, responses_tool_calls

_perf = time.perf_counter


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

    def seen(self, chunk: Any, choices: Any) -> bool:
        """Keep a chunk's model, id and usage; False for the usage chunk only the wrapper asked for."""
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

    def completed(self, res: Result) -> Result:
        """``res`` with the usage, model and response id the stream reported."""
        res.usage = openai_usage(self.usage)
        res.response_model = self.model
        res.response_id = self.response_id
        return res


def _one_or_all(texts: list[Any]) -> Any:
    """One choice's text, the list of several choices' texts, or None for none (as a response's content)."""
    if len(texts) == 1:
        return texts[0]
    return texts or None


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
        return self.seen(chunk, choices)

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
        res.content = _one_or_all(texts)
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
        return self.completed(res)


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
        return self.seen(chunk, choices)

    def result(self) -> Result:
        res = Result()
        order = sorted(set(self.texts) | set(self.finishes))
        texts = ["".join(self.texts.get(i, ())) for i in order]
        res.content = _one_or_all(texts)
        if order:
            res.finish_reason = self.finishes.get(order[0])
        return self.completed(res)


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


ACCUMULATORS: dict[str, Any] = {
    "chat": ChatAccumulator,
    "completions": CompletionAccumulator,
    "responses": ResponsesAccumulator,
}
