"""Deterministic OpenTelemetry ids: the trace from the session id, span ids from the events' span ids
(else their event ids). A batch sent twice (a retry) therefore produces the very same spans."""

from __future__ import annotations

import hashlib

from opentelemetry.trace import SpanContext, TraceFlags

TRACES_PATH = "/v1/traces"

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def _hash_int(text: str, size: int) -> int:
    value = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=size).digest(), "big")
    return value or 1  # 0 is the invalid id


def trace_id_for(session_id: str) -> int:
    """The trace of a session: 128 bits derived from its id."""
    return _hash_int(session_id, 16)


def root_span_id(session_id: str) -> int:
    """The span id of a session's ``invoke_agent`` span."""
    return _hash_int(f"{session_id}\x00<session>", 8)


def span_id_for(session_id: str, key: str) -> int:
    """The span id of an event span: ``key`` is the event's span id (else its event id)."""
    return _hash_int(f"{session_id}\x00{key}", 8)


def traces_url(endpoint: str) -> str:
    """``http://host:4318`` -> ``http://host:4318/v1/traces``; a URL already ending so is kept."""
    url = endpoint.strip().rstrip("/")
    return url if url.endswith(TRACES_PATH) else url + TRACES_PATH


def context(trace_id: int, span_id: int) -> SpanContext:
    """A sampled, local span context."""
    return SpanContext(trace_id, span_id, is_remote=False, trace_flags=_SAMPLED)
