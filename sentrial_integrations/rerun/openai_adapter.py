"""Replay at the OpenAI SDK's request layer: recorded answers served as HTTP responses the SDK parses.

While a replay block is active, ``SyncAPIClient.request`` / ``AsyncAPIClient.request`` (the one path
every resource method of every client takes, including clients made before the block and the ones
LangChain's ``ChatOpenAI`` and LlamaIndex's ``OpenAI`` hold) ask the active replay for an answer. If it
has one, ``_send_request`` returns a recorded ``httpx.Response`` instead of sending: the SDK itself
turns it into its own types (``ChatCompletion``, a ``Stream`` of ``ChatCompletionChunk``, ``Response``,
``Completion``), so everything above — tracing, LangChain, LlamaIndex — sees a normal answer.

The patch is installed on entering the first replay block and removed on leaving the last one; the
original methods are put back exactly. Outside a block (or in another context) the patched methods
call the originals at once. Imported only when a replay block starts: ``openai`` stays unimported.
Which requests are LLM calls and what the recording lacks is :mod:`.openai_answer`; the bodies and SSE
events served are :mod:`.openai_wire`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from typing import Any

from ._common import current
from ._patches import Counted, Patch
from .openai_answer import Answer, request_body, request_kind
from .openai_wire import render

#: The answer the next ``_send_request`` of this context returns instead of sending.
_pending: contextvars.ContextVar[Answer | None] = contextvars.ContextVar(
    "sentrial_replay_pending", default=None
)


# --- the HTTP response --------------------------------------------------------------------------------


def _http_module(request: Any) -> Any:
    """The HTTP library the SDK uses (httpx; httpx2 for openai 3.x), from the request it built."""
    import importlib

    name = type(request).__module__.split(".", 1)[0]
    return importlib.import_module(name if name in ("httpx", "httpx2") else "httpx")


def http_response(ans: Answer, request: Any) -> Any:
    """The recorded answer as a response of the SDK's own HTTP library (SSE events one by one)."""
    http = _http_module(request)
    payload = ans.payload if ans.payload is not None else render(ans)[0]
    headers = {"x-request-id": f"req_replay_step_{ans.step}", "x-sentrial-replay-step": str(ans.step)}
    if isinstance(payload, list):
        headers["content-type"] = "text/event-stream"
        return http.Response(200, headers=headers, stream=_byte_stream(http)(payload), request=request)
    headers["content-type"] = "application/json"
    return http.Response(200, headers=headers, content=payload, request=request)


_stream_classes: dict[str, type] = {}


def _byte_stream(http: Any) -> type:
    """A byte stream (sync and async) of the given HTTP library that yields one chunk at a time."""
    cls = _stream_classes.get(http.__name__)
    if cls is None:

        class ReplayByteStream(http.SyncByteStream, http.AsyncByteStream):  # type: ignore[misc,name-defined]
            def __init__(self, chunks: list[bytes]) -> None:
                self._chunks = chunks

            def __iter__(self) -> Iterator[bytes]:
                yield from self._chunks

            async def __aiter__(self) -> Any:
                for c in self._chunks:
                    yield c

        cls = _stream_classes[http.__name__] = ReplayByteStream
    return cls


# --- the patch -----------------------------------------------------------------------------------------


def _answer_for(options: Any) -> Answer | None:
    rp = current.get()
    if rp is None:
        return None
    try:
        kind = request_kind(getattr(options, "url", None))
        body = request_body(options) if kind is not None else None
    except Exception:
        return None
    if kind is None or body is None:
        return None
    ans = rp.openai_answer(kind, body)  # may raise ReplayMismatch (raise mode): the intended exception
    if ans is None:
        return None
    try:
        ans.payload = render(ans)[0]
    except Exception as exc:  # our own failure: the call goes to the provider instead
        rp.serve_failed(ans.step, f"internal error while building the answer: {type(exc).__name__}")
        return None
    return ans


def _make_sync(orig_request: Any, orig_send: Any) -> tuple[Any, Any]:
    def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
        if current.get() is None:
            return orig_request(self, cast_to, options, *args, **kwargs)
        ans = _answer_for(options)
        if ans is None:
            return orig_request(self, cast_to, options, *args, **kwargs)
        token = _pending.set(ans)
        try:
            return orig_request(self, cast_to, options, *args, **kwargs)
        finally:
            _pending.reset(token)

    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        ans = _pending.get()
        if ans is None:
            return orig_send(self, request, *args, **kwargs)
        _pending.set(None)
        return http_response(ans, request)

    return request, send


def _make_async(orig_request: Any, orig_send: Any) -> tuple[Any, Any]:
    async def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
        if current.get() is None:
            return await orig_request(self, cast_to, options, *args, **kwargs)
        ans = _answer_for(options)
        if ans is None:
            return await orig_request(self, cast_to, options, *args, **kwargs)
        token = _pending.set(ans)
        try:
            return await orig_request(self, cast_to, options, *args, **kwargs)
        finally:
            try:
                _pending.reset(token)
            except ValueError:  # resumed in another context
                _pending.set(None)

    async def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        ans = _pending.get()
        if ans is None:
            return await orig_send(self, request, *args, **kwargs)
        _pending.set(None)
        return http_response(ans, request)

    return request, send


def _targets() -> list[tuple[type, type, str, Any]] | None:
    """Per API client class (sync, async): (class whose ``request`` is wrapped, class whose send method
    is wrapped, that method's name, the maker). ``_send_request`` where the SDK has it (openai >= 2.x);
    older SDKs call ``self._client.send`` directly, so there the HTTP client class's ``send`` is wrapped
    (it passes straight through unless this context has a recorded answer pending)."""
    try:
        from openai import _base_client as bc
    except Exception:
        return None
    http = getattr(bc, "httpx", None) or getattr(bc, "httpx2", None)
    out: list[tuple[type, type, str, Any]] = []
    for api_cls, make, http_cls_name in (
        (bc.SyncAPIClient, _make_sync, "Client"),
        (bc.AsyncAPIClient, _make_async, "AsyncClient"),
    ):
        if not callable(api_cls.__dict__.get("request")):
            return None
        if callable(api_cls.__dict__.get("_send_request")):
            out.append((api_cls, api_cls, "_send_request", make))
        else:
            http_cls = getattr(http, http_cls_name, None)
            if http_cls is None or not callable(getattr(http_cls, "send", None)):
                return None
            out.append((api_cls, http_cls, "send", make))
    return out


def available() -> bool:
    """Is the OpenAI SDK installed with a request layer this adapter can patch?"""
    return _targets() is not None


def _patches() -> list[Patch] | None:
    targets = _targets()
    if targets is None:
        return None
    patches: list[Patch] = []
    for api_cls, send_cls, send_name, make in targets:
        orig_request, orig_send = api_cls.__dict__["request"], send_cls.__dict__[send_name]
        new_request, new_send = make(orig_request, orig_send)
        patches.append((api_cls, "request", orig_request, new_request))
        patches.append((send_cls, send_name, orig_send, new_send))
    return patches


_count = Counted.patching(_patches)
#: Patch the SDK (once, counted); False when the SDK is missing or has no such request layer.
install = _count.install
#: Undo one :func:`install`; the last one puts the SDK's own methods back.
uninstall = _count.uninstall


def installed() -> bool:
    return _count.installed
