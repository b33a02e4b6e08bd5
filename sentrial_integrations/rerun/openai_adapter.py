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
"""

from __future__ import annotations

import contextvars
import itertools
import json
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from . import _patches
from .fingerprint import _NOT_TEXT_BLOCKS, canonical_json

_lock = threading.Lock()
_installed = 0
_originals: list[tuple[type, str, Any, Any]] = []  # (class, name, original, ours)


class Responder(Protocol):
    """What the adapters ask the active replay (:class:`sentrial_integrations.rerun.Replay`)."""

    tools: str

    def openai_answer(self, kind: str, body: Mapping[str, Any]) -> Answer | None: ...

    def langchain_answer(self, prompt: str) -> Any: ...

    def tool_answer(self, name: str, tool_input: Any) -> Any: ...

    def serve_failed(self, step: int, reason: str) -> None: ...


#: The replay of the current context (set by the replay block).
current: contextvars.ContextVar[Responder | None] = contextvars.ContextVar("sentrial_replay", default=None)
#: The answer the next ``_send_request`` of this context returns instead of sending.
_pending: contextvars.ContextVar[Answer | None] = contextvars.ContextVar(
    "sentrial_replay_pending", default=None
)


class Answer:
    """A recorded answer, to be served for one request of ``kind`` (``body`` is the request)."""

    __slots__ = ("body", "event", "kind", "payload", "step")

    def __init__(self, kind: str, body: Mapping[str, Any], event: Mapping[str, Any], step: int) -> None:
        self.kind = kind
        self.body = body
        self.event = event
        self.step = step
        self.payload: bytes | list[bytes] | None = None  # the rendered body / SSE events


# --- which requests are LLM calls -------------------------------------------------------------------


def request_kind(url: Any) -> str | None:
    path = str(url or "").split("?", 1)[0].rstrip("/")
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/responses"):
        return "responses"
    if path.endswith("/completions"):
        return "completions"
    if path.endswith("/embeddings"):
        return "embeddings"
    return None


def request_body(options: Any) -> dict[str, Any] | None:
    data = getattr(options, "json_data", None)
    if not isinstance(data, Mapping):
        return None
    body = dict(data)
    extra = getattr(options, "extra_json", None)
    if isinstance(extra, Mapping):
        body.update(extra)
    return body


def missing_fields(kind: str, event: Mapping[str, Any]) -> list[str]:
    """What an answer of ``kind`` needs that the recorded event lacks (served with stand-ins)."""
    out = event.get("output")
    out = out if isinstance(out, Mapping) else {}
    missing = []
    tokens = out.get("tokens")
    if not isinstance(tokens, Mapping) or tokens.get("prompt") is None:
        missing.append("usage")
    if out.get("finish_reason") is None:
        missing.append("finish_reason")
    if not (out.get("response_model") or event.get("model")):
        missing.append("model")
    meta = event.get("metadata")
    if not (isinstance(meta, Mapping) and meta.get("response_id")):
        missing.append("response_id")
    calls = out.get("tool_calls")
    if isinstance(calls, list) and any(isinstance(c, Mapping) and not c.get("id") for c in calls):
        missing.append("tool_call_ids")
    return missing


def unservable(kind: str, event: Mapping[str, Any]) -> str | None:
    """Why the recorded event cannot answer a request of ``kind`` (None when it can)."""
    out = event.get("output")
    if kind == "embeddings":
        return "the recording keeps only the number and size of the embedding vectors, not the vectors"
    if not isinstance(out, Mapping):
        return "the recorded LLM call has no output"
    content = out.get("content")
    if isinstance(content, str) and re.search(r"…\[truncated \d+ chars\]$", content):
        return "the recorded answer was truncated by the recorder (max_string_length)"
    return None


# --- answers as OpenAI wire shapes -------------------------------------------------------------------

_ids = itertools.count(1)


def _output(event: Mapping[str, Any]) -> Mapping[str, Any]:
    out = event.get("output")
    return out if isinstance(out, Mapping) else {}


def _content_text(content: Any) -> str | None:
    """The text of a recorded answer: a string, or the text blocks of a list of content blocks (tool-call
    and reasoning blocks, as LangChain keeps them for the Responses API, are not text)."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, (str, Mapping)) for p in content):
        texts = []
        for p in content:
            if isinstance(p, str):
                texts.append(p)
            elif isinstance(p.get("text"), str):
                texts.append(p["text"])
            elif p.get("type") not in _NOT_TEXT_BLOCKS:
                return json.dumps(content, ensure_ascii=False, default=str)
        return "".join(texts)
    return json.dumps(content, ensure_ascii=False, default=str)


def _tool_calls(ans: Answer) -> list[dict[str, Any]]:
    calls = _output(ans.event).get("tool_calls")
    out = []
    for i, c in enumerate(calls if isinstance(calls, list) else []):
        if not isinstance(c, Mapping):
            continue
        args = c.get("arguments")
        out.append(
            {
                "id": c.get("id") or f"call_replay_{ans.step}_{i}",
                "name": str(c.get("name") or ""),
                "arguments": args
                if isinstance(args, str)
                else canonical_json(args if args is not None else {}),
            }
        )
    return out


def _model(ans: Answer) -> str:
    out = _output(ans.event)
    for value in (out.get("response_model"), ans.event.get("model"), ans.body.get("model")):
        if isinstance(value, str) and value:
            return value
    return "unknown"


def _created(ans: Answer) -> int:
    ts = ans.event.get("ts")
    return int(ts) if isinstance(ts, (int, float)) else 0


def _response_id(ans: Answer, prefix: str) -> str:
    meta = ans.event.get("metadata")
    rid = meta.get("response_id") if isinstance(meta, Mapping) else None
    return rid if isinstance(rid, str) and rid else f"{prefix}replay{ans.step:04d}{next(_ids):06x}"


def _tokens(ans: Answer) -> Mapping[str, Any] | None:
    tokens = _output(ans.event).get("tokens")
    if not isinstance(tokens, Mapping) or tokens.get("prompt") is None:
        return None
    return tokens


def _total(t: Mapping[str, Any], prompt: int, completion: int) -> int:
    total = t.get("total")
    return int(total) if total is not None else prompt + completion


def _chat_usage(ans: Answer) -> dict[str, Any] | None:
    t = _tokens(ans)
    if t is None:
        return None
    prompt, completion = int(t.get("prompt") or 0), int(t.get("completion") or 0)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": _total(t, prompt, completion),
    }
    if t.get("cached") is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": int(t["cached"])}
    if t.get("reasoning") is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": int(t["reasoning"])}
    return usage


def _responses_usage(ans: Answer) -> dict[str, Any] | None:
    t = _tokens(ans)
    if t is None:
        return None
    prompt, completion = int(t.get("prompt") or 0), int(t.get("completion") or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": int(t.get("cached") or 0)},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": int(t.get("reasoning") or 0)},
        "total_tokens": _total(t, prompt, completion),
    }


def _finish(ans: Answer, calls: list[dict[str, Any]]) -> str:
    fr = _output(ans.event).get("finish_reason")
    if isinstance(fr, str) and fr:
        return fr
    return "tool_calls" if calls else "stop"


def _texts(ans: Answer) -> list[str | None]:
    """One text per choice (a recording of ``n > 1`` keeps a list of contents)."""
    content = _output(ans.event).get("content")
    if isinstance(content, list) and content and all(isinstance(c, str) or c is None for c in content):
        return list(content)
    return [_content_text(content)]


def pieces(text: str) -> list[str]:
    """A recorded text cut into stream chunks: a word and the spaces after it (the recording keeps the
    whole text, not the provider's chunk boundaries)."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


def chat_body(ans: Answer) -> dict[str, Any]:
    calls = _tool_calls(ans)
    texts = _texts(ans)
    choices = []
    for i, text in enumerate(texts):
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        if i == 0 and calls:
            if not text:
                message["content"] = None
            message["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in calls
            ]
        choices.append(
            {"index": i, "message": message, "logprobs": None, "finish_reason": _finish(ans, calls)}
        )
    return {
        "id": _response_id(ans, "chatcmpl-"),
        "object": "chat.completion",
        "created": _created(ans),
        "model": _model(ans),
        "choices": choices,
        "usage": _chat_usage(ans),
    }


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def _include_usage(ans: Answer) -> bool:
    opts = ans.body.get("stream_options")
    return isinstance(opts, Mapping) and bool(opts.get("include_usage"))


def chat_chunks(ans: Answer) -> list[bytes]:
    calls = _tool_calls(ans)
    text = _texts(ans)[0]
    cid, created, model = _response_id(ans, "chatcmpl-"), _created(ans), _model(ans)
    usage_on = _include_usage(ans)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        c: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage_on:
            c["usage"] = None
        return _sse(c)

    out = [chunk({"role": "assistant", "content": "" if text or not calls else None})]
    out.extend(chunk({"content": p}) for p in pieces(text or ""))
    for i, c in enumerate(calls):
        head = {
            "index": i,
            "id": c["id"],
            "type": "function",
            "function": {"name": c["name"], "arguments": ""},
        }
        out.append(chunk({"tool_calls": [head]}))
        out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": c["arguments"]}}]}))
    out.append(chunk({}, _finish(ans, calls)))
    if usage_on:
        out.append(
            _sse(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": _chat_usage(ans),
                }
            )
        )
    out.append(_sse("[DONE]"))
    return out


def completion_body(ans: Answer) -> dict[str, Any]:
    texts = _texts(ans)
    return {
        "id": _response_id(ans, "cmpl-"),
        "object": "text_completion",
        "created": _created(ans),
        "model": _model(ans),
        "choices": [
            {"text": t or "", "index": i, "logprobs": None, "finish_reason": _finish(ans, [])}
            for i, t in enumerate(texts)
        ],
        "usage": _chat_usage(ans),
    }


def completion_chunks(ans: Answer) -> list[bytes]:
    base = {"id": _response_id(ans, "cmpl-"), "object": "text_completion", "created": _created(ans)}
    base["model"] = _model(ans)
    usage_on = _include_usage(ans)

    def chunk(piece: str, fin: str | None) -> bytes:
        c = {**base, "choices": [{"text": piece, "index": 0, "logprobs": None, "finish_reason": fin}]}
        if usage_on:
            c["usage"] = None
        return _sse(c)

    out = [chunk(p, None) for p in pieces(_texts(ans)[0] or "")]
    out.append(chunk("", _finish(ans, [])))
    if usage_on:
        out.append(_sse({**base, "choices": [], "usage": _chat_usage(ans)}))
    out.append(_sse("[DONE]"))
    return out


def _response_object(ans: Answer, rid: str, output: list[dict[str, Any]], status: str) -> dict[str, Any]:
    body = ans.body
    return {
        "id": rid,
        "object": "response",
        "created_at": _created(ans),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "model": _model(ans),
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "temperature": body.get("temperature"),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "usage": _responses_usage(ans) if status == "completed" else None,
        "metadata": body.get("metadata") or {},
    }


def _responses_output(ans: Answer, rid: str) -> list[dict[str, Any]]:
    text = _texts(ans)[0]
    output: list[dict[str, Any]] = []
    if text:
        output.append(
            {
                "id": f"msg_{rid}",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        )
    for i, c in enumerate(_tool_calls(ans)):
        output.append(
            {
                "id": f"fc_{rid}_{i}",
                "type": "function_call",
                "status": "completed",
                "call_id": c["id"],
                "name": c["name"],
                "arguments": c["arguments"],
            }
        )
    return output


def responses_body(ans: Answer) -> dict[str, Any]:
    rid = _response_id(ans, "resp_")
    return _response_object(ans, rid, _responses_output(ans, rid), "completed")


def responses_events(ans: Answer) -> list[bytes]:
    rid = _response_id(ans, "resp_")
    output = _responses_output(ans, rid)
    seq = itertools.count()
    out: list[bytes] = []

    def ev(type_: str, **fields: Any) -> None:
        out.append(_sse({"type": type_, "sequence_number": next(seq), **fields}, event=type_))

    ev("response.created", response=_response_object(ans, rid, [], "in_progress"))
    for index, item in enumerate(output):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            ev(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "content": []},
            )
            empty = {"type": "output_text", "text": "", "annotations": []}
            ev(
                "response.content_part.added",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=empty,
            )
            for p in pieces(text):
                ev(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    delta=p,
                    logprobs=[],
                )
            ev(
                "response.output_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            )
            ev(
                "response.content_part.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=item["content"][0],
            )
        else:
            ev(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            ev(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=index,
                delta=item["arguments"],
            )
            ev(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
        ev("response.output_item.done", output_index=index, item=item)
    ev("response.completed", response=_response_object(ans, rid, output, "completed"))
    return out


def render(ans: Answer) -> tuple[bytes | list[bytes], str]:
    """(JSON body or SSE events, content type) of a recorded answer."""
    stream = ans.body.get("stream") is True
    if ans.kind == "responses":
        return (responses_events(ans), "text/event-stream") if stream else (_json(responses_body(ans)), "")
    if ans.kind == "completions":
        return (completion_chunks(ans), "text/event-stream") if stream else (_json(completion_body(ans)), "")
    return (chat_chunks(ans), "text/event-stream") if stream else (_json(chat_body(ans)), "")


def _json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


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


def install() -> bool:
    """Patch the SDK (once, counted); False when the SDK is missing or has no such request layer."""
    global _installed
    with _lock:
        if _installed:
            _installed += 1
            return True
        targets = _targets()
        if targets is None:
            return False
        patches = []
        for api_cls, send_cls, send_name, make in targets:
            orig_request, orig_send = api_cls.__dict__["request"], send_cls.__dict__[send_name]
            new_request, new_send = make(orig_request, orig_send)
            patches.append((api_cls, "request", orig_request, new_request))
            patches.append((send_cls, send_name, orig_send, new_send))
        _patches.apply(patches)
        _originals[:] = patches
        _installed = 1
        return True


def uninstall() -> None:
    """Undo one :func:`install`; the last one puts the SDK's own methods back."""
    global _installed
    with _lock:
        if _installed == 0:
            return
        _installed -= 1
        if _installed:
            return
        _patches.restore(_originals)


def installed() -> bool:
    return _installed > 0
