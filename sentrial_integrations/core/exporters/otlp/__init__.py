"""OpenTelemetry exporter (extra ``otel``): sessions and events as OTLP/HTTP spans that follow the GenAI
semantic conventions, for any collector (OpenTelemetry Collector, Jaeger, Tempo, Phoenix, Langfuse...).

=====================  =========================================================================
Sentrial               OpenTelemetry
=====================  =========================================================================
session                root span ``invoke_agent {agent}`` (INTERNAL), ``gen_ai.conversation.id``;
                       sent when the session closes (it needs its end time)
``llm_call`` event     ``chat {model}`` (CLIENT; ``embeddings`` / ``text_completion`` when the
                       OpenAI operation says so): provider, request/response model, tokens...
``tool_call`` event    ``execute_tool {name}`` (``retrieval {name}`` for retrievals)
``error`` event        ERROR status + ``error.type`` + an ``exception`` event on the failed span;
                       errors not tied to a span become ``exception`` events on the root span
``decision`` event     a ``sentrial.decision`` span event on the root span
=====================  =========================================================================

Ids are deterministic: the trace id is derived from the session id, span ids from the events' span ids
(else their event ids), parents from ``parent_span_id`` (else the root span). A batch sent twice
(a retry) therefore produces the very same spans.

The spans are built directly as SDK ``ReadableSpan`` objects and encoded with the official OTLP
protobuf encoder: no TracerProvider is created and the global one is never touched.

Only this exporter's own state is kept in memory (the open sessions' start records and their pending
root-span events), bounded; it changes only once a batch is delivered, so a retried batch is
translated exactly as the first time.

Modules: :mod:`.ids` (deterministic ids), :mod:`.values` (attribute values), :mod:`.messages` (GenAI
message shapes), :mod:`.state` (per-session state), :mod:`.spans` (record -> span translation),
:mod:`.http` (posting), :mod:`.exporter` (the exporter: chunking and delivery).
"""

from __future__ import annotations

from .exporter import CHUNK_BYTES, OTLPExporter
from .http import RETRYABLE
from .ids import TRACES_PATH, root_span_id, span_id_for, trace_id_for, traces_url
from .messages import input_messages, output_messages

__all__ = [
    "CHUNK_BYTES",
    "RETRYABLE",
    "TRACES_PATH",
    "OTLPExporter",
    "input_messages",
    "output_messages",
    "root_span_id",
    "span_id_for",
    "trace_id_for",
    "traces_url",
]
