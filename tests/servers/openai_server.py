"""A scripted, OpenAI-compatible loopback server.

In-process::

    with ScriptedOpenAIServer() as srv:
        srv.script(chat("hello"), error(429, "slow down"), chat(tool_calls=[("get_weather", {"city": "Paris"})]))
        client = OpenAI(base_url=srv.url, api_key="sk-test")

Each request (any endpoint) consumes the next scripted response; with an empty
queue a default answer is produced per endpoint. Text specs (``chat``,
``responses_api``, ``completion``) are rendered in the shape of the endpoint
that was called, so ``chat("hi")`` answers ``/v1/responses`` as a Response
whose output text is "hi". ``stream: true`` in the request selects SSE.

As a subprocess::

    python -m tests.servers.openai_server --port 0   # prints "READY http://127.0.0.1:PORT/v1"

with admin endpoints ``POST /_test/script`` ({"responses": [{"kind": "chat", "content": "hi"}, ...]}),
``GET /_test/requests`` and ``POST /_test/reset``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.servers._base import BaseHandler, LoopbackServer, run_cli

__all__ = [
    "ResponseSpec",
    "ScriptedOpenAIServer",
    "chat",
    "completion",
    "embeddings",
    "error",
    "raw",
    "responses_api",
]

DEFAULT_CHAT_MODEL = "gpt-4o-mini-2024-07-18"
DEFAULT_COMPLETION_MODEL = "gpt-3.5-turbo-instruct"
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"

_DEFAULT: Any = object()  # "content"/"text" default: "ok", or None when tool calls are given
_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}{next(_ids):08x}"


# -- response specs ---------------------------------------------------------------------


@dataclass
class ToolCall:
    name: str
    arguments: str
    id: str


@dataclass
class ResponseSpec:
    """One scripted answer. Build with the module-level helpers."""

    kind: str  # "text" | "embeddings" | "error" | "raw"
    native: str = "chat"  # for text specs: which endpoint shape to use on unknown endpoints
    text: str | None = "ok"
    tool_calls: list[ToolCall] = field(default_factory=list)
    model: str | None = None
    prompt_tokens: int = 12
    completion_tokens: int = 5
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    finish_reason: str | None = None
    chunk_size: int = 4
    # embeddings
    dim: int = 8
    # error / raw
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    # timing
    delay: float = 0.0
    chunk_delay: float = 0.0


def _tool_calls(tool_calls: Any) -> list[ToolCall]:
    """Accept [("name", {args})], [{"name", "arguments", "id"?}] or OpenAI-shaped dicts."""
    out: list[ToolCall] = []
    for tc in tool_calls or []:
        call_id = None
        if isinstance(tc, ToolCall):
            out.append(tc)
            continue
        if isinstance(tc, (tuple, list)):
            name, args = tc[0], tc[1] if len(tc) > 1 else {}
            call_id = tc[2] if len(tc) > 2 else None
        elif isinstance(tc, dict):
            fn = tc.get("function") if isinstance(tc.get("function"), dict) else tc
            name, args = fn["name"], fn.get("arguments", {})
            call_id = tc.get("id") or tc.get("call_id")
        else:
            raise TypeError(f"unsupported tool call spec: {tc!r}")
        if not isinstance(args, str):
            args = json.dumps(args, separators=(",", ":"))
        out.append(ToolCall(name=name, arguments=args, id=call_id or _id("call_")))
    return out


def _text_default(value: Any, tool_calls: list[ToolCall]) -> str | None:
    if value is _DEFAULT:
        return None if tool_calls else "ok"
    return value


def chat(
    content: str | None = _DEFAULT,
    tool_calls: Any = None,
    model: str = DEFAULT_CHAT_MODEL,
    prompt_tokens: int = 12,
    completion_tokens: int = 5,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
    finish_reason: str | None = None,
    *,
    chunk_size: int = 4,
    delay: float = 0.0,
    chunk_delay: float = 0.0,
) -> ResponseSpec:
    """A chat completion. ``content`` defaults to "ok", or to None when ``tool_calls`` are given.

    ``tool_calls``: [("name", {"arg": 1}), {"name": ..., "arguments": ..., "id": ...}, ...].
    ``finish_reason`` defaults to "tool_calls" / "stop".
    """
    calls = _tool_calls(tool_calls)
    return ResponseSpec(
        kind="text",
        native="chat",
        text=_text_default(content, calls),
        tool_calls=calls,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cached_tokens=cached_tokens,
        reasoning_tokens=reasoning_tokens,
        finish_reason=finish_reason,
        chunk_size=chunk_size,
        delay=delay,
        chunk_delay=chunk_delay,
    )


def responses_api(
    text: str | None = _DEFAULT,
    tool_calls: Any = None,
    model: str = DEFAULT_CHAT_MODEL,
    input_tokens: int = 12,
    output_tokens: int = 5,
    *,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
    chunk_size: int = 4,
    delay: float = 0.0,
    chunk_delay: float = 0.0,
) -> ResponseSpec:
    """A Responses API ``response`` (message output and/or function_call items)."""
    calls = _tool_calls(tool_calls)
    return ResponseSpec(
        kind="text",
        native="responses",
        text=_text_default(text, calls),
        tool_calls=calls,
        model=model,
        prompt_tokens=input_tokens,
        completion_tokens=output_tokens,
        cached_tokens=cached_tokens,
        reasoning_tokens=reasoning_tokens,
        chunk_size=chunk_size,
        delay=delay,
        chunk_delay=chunk_delay,
    )


def completion(
    text: str = "ok",
    model: str = DEFAULT_COMPLETION_MODEL,
    prompt_tokens: int = 12,
    completion_tokens: int = 5,
    finish_reason: str | None = None,
    *,
    chunk_size: int = 4,
    delay: float = 0.0,
    chunk_delay: float = 0.0,
) -> ResponseSpec:
    """A legacy /v1/completions answer."""
    return ResponseSpec(
        kind="text",
        native="completion",
        text=text,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        finish_reason=finish_reason,
        chunk_size=chunk_size,
        delay=delay,
        chunk_delay=chunk_delay,
    )


def embeddings(
    dim: int = 8, prompt_tokens: int = 3, model: str | None = None, *, delay: float = 0.0
) -> ResponseSpec:
    """One deterministic vector of length ``dim`` per input (model echoes the request by default)."""
    return ResponseSpec(kind="embeddings", dim=dim, prompt_tokens=prompt_tokens, model=model, delay=delay)


def error(
    status: int = 400,
    message: str = "scripted error",
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    *,
    retry_after: float | None = None,
    delay: float = 0.0,
) -> ResponseSpec:
    """An OpenAI-shaped error: {"error": {"message", "type", "param", "code"}}."""
    headers = {}
    if retry_after is not None:
        headers["retry-after"] = (
            str(int(retry_after)) if float(retry_after).is_integer() else f"{retry_after:g}"
        )
    return ResponseSpec(
        kind="error",
        status=status,
        body={"error": {"message": message, "type": type, "param": param, "code": code}},
        headers=headers,
        delay=delay,
    )


def raw(
    status: int = 200,
    body: Any = b"",
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
    *,
    delay: float = 0.0,
) -> ResponseSpec:
    """Anything at all (bytes/str sent verbatim, other values as JSON): for malformed-answer tests."""
    return ResponseSpec(
        kind="raw",
        status=status,
        body=body,
        headers=dict(headers or {}),
        content_type=content_type,
        delay=delay,
    )


_BUILDERS = {
    "chat": chat,
    "responses": responses_api,
    "responses_api": responses_api,
    "completion": completion,
    "embeddings": embeddings,
    "error": error,
    "raw": raw,
}


def spec_from_dict(d: dict[str, Any]) -> ResponseSpec:
    """{"kind": "chat", "content": "hi"} -> chat("hi") (used by the subprocess admin endpoint)."""
    d = dict(d)
    return _BUILDERS[d.pop("kind")](**d)


# -- rendering ---------------------------------------------------------------------------------


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def _chat_usage(s: ResponseSpec) -> dict[str, Any]:
    return {
        "prompt_tokens": s.prompt_tokens,
        "completion_tokens": s.completion_tokens,
        "total_tokens": s.prompt_tokens + s.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": s.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": s.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _responses_usage(s: ResponseSpec) -> dict[str, Any]:
    return {
        "input_tokens": s.prompt_tokens,
        "input_tokens_details": {"cached_tokens": s.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": s.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": s.reasoning_tokens},
        "total_tokens": s.prompt_tokens + s.completion_tokens,
    }


def _chat_finish(s: ResponseSpec) -> str:
    return s.finish_reason or ("tool_calls" if s.tool_calls else "stop")


def render_chat(s: ResponseSpec, req: dict[str, Any]) -> tuple[dict[str, Any] | None, list[bytes] | None]:
    """Return (json_body, None) or (None, sse_events)."""
    cid = _id("chatcmpl-")
    created = int(time.time())
    model = s.model or DEFAULT_CHAT_MODEL
    if not req.get("stream"):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": s.text,
            "refusal": None,
            "annotations": [],
        }
        if s.tool_calls:
            message["tool_calls"] = [
                {"id": tc.id, "type": "function", "function": {"name": tc.name, "arguments": tc.arguments}}
                for tc in s.tool_calls
            ]
        return {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _chat_finish(s)}],
            "usage": _chat_usage(s),
            "service_tier": "default",
            "system_fingerprint": "fp_scripted",
        }, None

    include_usage = bool((req.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        c: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_scripted",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            c["usage"] = None
        return _sse(c)

    out = [chunk({"role": "assistant", "content": "" if s.text is not None else None, "refusal": None})]
    for piece in _pieces(s.text or "", s.chunk_size):
        out.append(chunk({"content": piece}))
    for i, tc in enumerate(s.tool_calls):
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": tc.id,
                            "type": "function",
                            "function": {"name": tc.name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        for piece in _pieces(tc.arguments, s.chunk_size):
            out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    out.append(chunk({}, _chat_finish(s)))
    if include_usage:
        out.append(
            _sse(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "service_tier": "default",
                    "system_fingerprint": "fp_scripted",
                    "choices": [],
                    "usage": _chat_usage(s),
                }
            )
        )
    out.append(_sse("[DONE]"))
    return None, out


def render_completion(
    s: ResponseSpec, req: dict[str, Any]
) -> tuple[dict[str, Any] | None, list[bytes] | None]:
    cid = _id("cmpl-")
    created = int(time.time())
    model = s.model or DEFAULT_COMPLETION_MODEL
    usage = {
        "prompt_tokens": s.prompt_tokens,
        "completion_tokens": s.completion_tokens,
        "total_tokens": s.prompt_tokens + s.completion_tokens,
    }
    finish = s.finish_reason or "stop"
    text = s.text or ""
    if not req.get("stream"):
        return {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        }, None
    include_usage = bool((req.get("stream_options") or {}).get("include_usage"))

    def chunk(piece: str, fin: str | None, *, usage_value: Any = None, empty: bool = False) -> bytes:
        c: dict[str, Any] = {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [] if empty else [{"text": piece, "index": 0, "logprobs": None, "finish_reason": fin}],
        }
        if include_usage:
            c["usage"] = usage_value
        return _sse(c)

    out = [chunk(p, None) for p in _pieces(text, s.chunk_size)]
    out.append(chunk("", finish))
    if include_usage:
        out.append(chunk("", None, usage_value=usage, empty=True))
    out.append(_sse("[DONE]"))
    return None, out


def _response_object(
    s: ResponseSpec,
    req: dict[str, Any],
    rid: str,
    created: int,
    output: list[dict[str, Any]],
    status: str,
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": None,
        "incomplete_details": None,
        "instructions": req.get("instructions"),
        "max_output_tokens": req.get("max_output_tokens"),
        "max_tool_calls": req.get("max_tool_calls"),
        "model": s.model or DEFAULT_CHAT_MODEL,
        "output": output,
        "parallel_tool_calls": req.get("parallel_tool_calls", True),
        "previous_response_id": req.get("previous_response_id"),
        "prompt_cache_key": req.get("prompt_cache_key"),
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": None,
        "service_tier": "default",
        "temperature": req.get("temperature", 1.0),
        "text": req.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": req.get("tool_choice", "auto"),
        "tools": req.get("tools") or [],
        "top_logprobs": 0,
        "top_p": req.get("top_p", 1.0),
        "truncation": req.get("truncation", "disabled"),
        "usage": _responses_usage(s) if status == "completed" else None,
        "user": None,
        "metadata": req.get("metadata") or {},
    }


def render_responses(
    s: ResponseSpec, req: dict[str, Any]
) -> tuple[dict[str, Any] | None, list[bytes] | None]:
    rid = _id("resp_")
    created = int(time.time())
    msg_id = _id("msg_")
    message = None
    if s.text is not None:
        message = {
            "id": msg_id,
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": s.text, "annotations": [], "logprobs": []}],
        }
    calls = [
        {
            "id": _id("fc_"),
            "type": "function_call",
            "status": "completed",
            "call_id": tc.id,
            "name": tc.name,
            "arguments": tc.arguments,
        }
        for tc in s.tool_calls
    ]
    output = ([message] if message else []) + calls
    if not req.get("stream"):
        return _response_object(s, req, rid, created, output, "completed"), None

    seq = itertools.count()
    out: list[bytes] = []

    def ev(type_: str, **fields: Any) -> None:
        data = {"type": type_, "sequence_number": next(seq), **fields}
        out.append(_sse(data, event=type_))

    ev("response.created", response=_response_object(s, req, rid, created, [], "in_progress"))
    ev("response.in_progress", response=_response_object(s, req, rid, created, [], "in_progress"))
    index = 0
    if message is not None:
        text = s.text or ""
        ev(
            "response.output_item.added",
            output_index=index,
            item={**message, "status": "in_progress", "content": []},
        )
        empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        ev(
            "response.content_part.added",
            item_id=msg_id,
            output_index=index,
            content_index=0,
            part=empty_part,
        )
        for piece in _pieces(text, s.chunk_size):
            ev(
                "response.output_text.delta",
                item_id=msg_id,
                output_index=index,
                content_index=0,
                delta=piece,
                logprobs=[],
            )
        ev(
            "response.output_text.done",
            item_id=msg_id,
            output_index=index,
            content_index=0,
            text=text,
            logprobs=[],
        )
        ev(
            "response.content_part.done",
            item_id=msg_id,
            output_index=index,
            content_index=0,
            part=message["content"][0],
        )
        ev("response.output_item.done", output_index=index, item=message)
        index += 1
    for call in calls:
        ev(
            "response.output_item.added",
            output_index=index,
            item={**call, "status": "in_progress", "arguments": ""},
        )
        for piece in _pieces(call["arguments"], s.chunk_size):
            ev("response.function_call_arguments.delta", item_id=call["id"], output_index=index, delta=piece)
        ev(
            "response.function_call_arguments.done",
            item_id=call["id"],
            output_index=index,
            name=call["name"],
            arguments=call["arguments"],
        )
        ev("response.output_item.done", output_index=index, item=call)
        index += 1
    ev("response.completed", response=_response_object(s, req, rid, created, output, "completed"))
    return None, out


def _vector(text: str, index: int, dim: int) -> list[float]:
    digest = b""
    counter = 0
    while len(digest) < dim * 2:
        digest += hashlib.sha256(f"{index}:{text}:{counter}".encode()).digest()
        counter += 1
    # values in [-1, 1) that are exact in float32
    return [(int.from_bytes(digest[2 * i : 2 * i + 2], "big") - 32768) / 32768 for i in range(dim)]


def render_embeddings(s: ResponseSpec, req: dict[str, Any]) -> dict[str, Any]:
    inputs = req.get("input", "")
    if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
        inputs = [inputs]
    if not isinstance(inputs, list):
        inputs = [inputs]
    b64 = req.get("encoding_format") == "base64"
    data = []
    for i, item in enumerate(inputs):
        vec = _vector(json.dumps(item), i, s.dim)
        emb: Any = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() if b64 else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return {
        "object": "list",
        "data": data,
        "model": s.model or req.get("model") or DEFAULT_EMBEDDING_MODEL,
        "usage": {"prompt_tokens": s.prompt_tokens, "total_tokens": s.prompt_tokens},
    }


_TEXT_RENDERERS = {
    "/v1/chat/completions": render_chat,
    "/v1/responses": render_responses,
    "/v1/completions": render_completion,
}
_NATIVE_RENDERERS = {"chat": render_chat, "responses": render_responses, "completion": render_completion}
_DEFAULT_SPECS = {
    "/v1/chat/completions": chat,
    "/v1/responses": responses_api,
    "/v1/completions": completion,
    "/v1/embeddings": embeddings,
}


# -- the server ---------------------------------------------------------------------------------


class ScriptedOpenAIServer(LoopbackServer):
    """OpenAI-compatible server answering from a script (see module docstring)."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self._queue: deque[ResponseSpec] = deque()
        self._requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """[{method, path, query, headers (lower-cased), json, status, t}] in arrival order.

        ``t`` is the arrival time (time.monotonic()); ``status`` is None until answered.
        """
        with self._cond:
            return [dict(r) for r in self._requests]

    @property
    def pending(self) -> int:
        """Scripted responses not consumed yet."""
        with self._cond:
            return len(self._queue)

    def script(self, *responses: ResponseSpec) -> None:
        with self._cond:
            self._queue.extend(responses)

    def reset(self) -> None:
        with self._cond:
            self._queue.clear()
            self._requests.clear()
            self._cond.notify_all()

    # -- handling ---------------------------------------------------------------------

    def handle(self, h: BaseHandler) -> None:
        method = h.command
        path, _, query = h.path.partition("?")
        if path.startswith("/_test/"):
            self._admin(h, method, path)
            return
        interrupt = self._interrupt
        raw_body, _ = h.read_body(64_000_000)
        body: Any = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = None
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": query,
            "headers": h.lower_headers(),
            "json": body,
            "status": None,
            "t": time.monotonic(),
        }
        with self._cond:
            spec = self._queue.popleft() if self._queue else None
            self._requests.append(entry)
            self._cond.notify_all()
        req = body if isinstance(body, dict) else {}
        if spec is None:
            spec = self._default_spec(method, path)
        if spec.delay > 0 and interrupt.wait(spec.delay):
            h.close_connection = True
            return
        try:
            status, content_type, headers, payload, events = self._prepare(spec, path, req)
        except Exception as exc:  # a bad spec: answer something the test can see
            status, content_type, headers, events = 500, "application/json", {}, None
            payload = json.dumps(
                {"error": {"message": f"scripted server failed: {exc!r}", "type": "server_error"}}
            ).encode()
        # record the status before answering, so it is visible once the client has the answer
        with self._cond:
            entry["status"] = status
            self._cond.notify_all()
        if events is None:
            h.send_bytes(status, payload, content_type, headers)
            return
        h.start_chunked(status, content_type, headers)
        if spec.chunk_delay <= 0:
            h.wfile.write(b"".join(h.chunk(e) for e in events) + b"0\r\n\r\n")
            return
        for e in events:
            h.wfile.write(h.chunk(e))
            if interrupt.wait(spec.chunk_delay):
                h.close_connection = True
                return
        h.end_chunked()

    @staticmethod
    def _default_spec(method: str, path: str) -> ResponseSpec:
        builder = _DEFAULT_SPECS.get(path)
        if builder is not None and method == "POST":
            return builder()
        if path == "/v1/models" and method == "GET":
            return raw(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": 0, "owned_by": "scripted"}
                        for m in (DEFAULT_CHAT_MODEL, DEFAULT_COMPLETION_MODEL, DEFAULT_EMBEDDING_MODEL)
                    ],
                },
            )
        return error(404, f"Invalid URL ({method} {path})", type="invalid_request_error")

    @staticmethod
    def _prepare(
        spec: ResponseSpec, path: str, req: dict[str, Any]
    ) -> tuple[int, str, dict[str, str], bytes, list[bytes] | None]:
        """-> (status, content_type, headers, body, sse_events or None)."""
        headers = {"x-request-id": _id("req_"), **spec.headers}
        if spec.kind == "error":
            return spec.status, "application/json", headers, json.dumps(spec.body).encode(), None
        if spec.kind == "raw":
            body = spec.body
            if isinstance(body, str):
                body = body.encode()
            elif not isinstance(body, bytes):
                body = json.dumps(body).encode()
            return spec.status, spec.content_type, headers, body, None
        if spec.kind == "embeddings":
            return 200, "application/json", headers, json.dumps(render_embeddings(spec, req)).encode(), None
        renderer = _TEXT_RENDERERS.get(path) or _NATIVE_RENDERERS[spec.native]
        payload, events = renderer(spec, req)
        if events is None:
            return 200, "application/json", headers, json.dumps(payload).encode(), None
        return 200, "text/event-stream; charset=utf-8", headers, b"", events

    def _admin(self, h: BaseHandler, method: str, path: str) -> None:
        raw_body, _ = h.read_body(64_000_000)
        try:
            body = json.loads(raw_body) if raw_body else {}
        except ValueError:
            body = {}
        op = path[len("/_test/") :]
        if method == "GET" and op == "requests":
            h.send_json(200, self.requests)
        elif method == "POST" and op == "script":
            self.script(*(spec_from_dict(d) for d in body.get("responses", [])))
            h.send_json(200, {"ok": True, "pending": self.pending})
        elif method == "POST" and op == "reset":
            self.reset()
            h.send_json(200, {"ok": True})
        else:
            h.send_json(
                404, {"error": {"message": "unknown admin endpoint", "type": "invalid_request_error"}}
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Scripted OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = ScriptedOpenAIServer(port=args.port).start()
    run_cli(server, server.url)


if __name__ == "__main__":
    main()
