"""A recorded answer (:class:`.openai_answer.Answer`) as the OpenAI API's wire shapes: the JSON body
or the SSE events of a chat completion, a legacy completion or a Responses API response, as the SDK
parses them (:func:`render`). Tool-call ids, response ids, usage and finish reason the recording lacks
get stand-ins.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from typing import Any

from ._common import recorded_output, recorded_tokens, token_counts
from .fingerprint import NOT_TEXT_BLOCKS, canonical_json
from .openai_answer import Answer

_ids = itertools.count(1)


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
            elif p.get("type") not in NOT_TEXT_BLOCKS:
                return json.dumps(content, ensure_ascii=False, default=str)
        return "".join(texts)
    return json.dumps(content, ensure_ascii=False, default=str)


def _tool_calls(ans: Answer) -> list[dict[str, Any]]:
    calls = recorded_output(ans.event).get("tool_calls")
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
    out = recorded_output(ans.event)
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


def _chat_usage(ans: Answer) -> dict[str, Any] | None:
    t = recorded_tokens(ans.event)
    if t is None:
        return None
    prompt, completion, total = token_counts(t)
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}
    if t.get("cached") is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": int(t["cached"])}
    if t.get("reasoning") is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": int(t["reasoning"])}
    return usage


def _responses_usage(ans: Answer) -> dict[str, Any] | None:
    t = recorded_tokens(ans.event)
    if t is None:
        return None
    prompt, completion, total = token_counts(t)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": int(t.get("cached") or 0)},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": int(t.get("reasoning") or 0)},
        "total_tokens": total,
    }


def _finish(ans: Answer, calls: list[dict[str, Any]]) -> str:
    fr = recorded_output(ans.event).get("finish_reason")
    if isinstance(fr, str) and fr:
        return fr
    return "tool_calls" if calls else "stop"


def _texts(ans: Answer) -> list[str | None]:
    """One text per choice (a recording of ``n > 1`` keeps a list of contents)."""
    content = recorded_output(ans.event).get("content")
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
            at = {"item_id": item["id"], "output_index": index, "content_index": 0}
            empty = {"type": "output_text", "text": "", "annotations": []}
            ev("response.content_part.added", **at, part=empty)
            for p in pieces(text):
                ev("response.output_text.delta", **at, delta=p, logprobs=[])
            ev("response.output_text.done", **at, text=text, logprobs=[])
            ev("response.content_part.done", **at, part=item["content"][0])
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
