"""Posting spans: OTLP/HTTP protobuf (optionally gzip) with the OTLP retry rules, or handing them to an
OpenTelemetry SDK ``SpanExporter`` (tests, gRPC, consoles).

Delivery problems (collector unreachable, refused, partial success, a refusing sink) are warned about on
this poster's own rate limiter: they are about the destination, not our code. A chunk we cannot encode
is our own failure and goes to the shared internal-error report (:func:`...log.report_internal`)."""

from __future__ import annotations

import gzip
import os
from collections.abc import Mapping

import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ...log import RateLimitedWarner, register_secret, report_internal
from ..base import DROP, OK, RETRY, parse_retry_after

RETRYABLE = frozenset({408, 429, 502, 503, 504})  # OTLP/HTTP: retry these, drop the rest


class Poster:
    """Sends one chunk of spans; ``send`` says OK, RETRY (with the server's Retry-After) or DROP."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        timeout: float,
        span_exporter: SpanExporter | None,
    ) -> None:
        self.url = url
        self._sink = span_exporter
        self._warner = RateLimitedWarner()
        self._headers = {"Content-Type": "application/x-protobuf"}
        for key, value in (headers or {}).items():
            register_secret(value)
            self._headers[str(key)] = str(value)
        compression = (
            os.environ.get("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION")
            or os.environ.get("OTEL_EXPORTER_OTLP_COMPRESSION")
            or ""
        )
        self._gzip = compression.strip().lower() == "gzip"
        self._http: httpx.Client | None = None
        if span_exporter is None:
            cert = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE") or os.environ.get(
                "OTEL_EXPORTER_OTLP_CERTIFICATE"
            )
            self._http = httpx.Client(timeout=timeout, verify=cert or True)

    def send(self, spans: list[ReadableSpan]) -> tuple[int, float | None]:
        if self._sink is not None:
            return self._hand_over(self._sink, spans)
        assert self._http is not None
        body = self._encode(spans)
        if body is None:
            return DROP, None
        headers = self._headers
        if self._gzip:
            body = gzip.compress(body)
            headers = {**headers, "Content-Encoding": "gzip"}
        try:
            response = self._http.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self._warner.warn(
                "otlp-unreachable", "Sentrial: OTLP endpoint %s unreachable (%s); will retry", self.url, exc
            )
            return RETRY, None
        status = response.status_code
        if 200 <= status < 300:
            self._check_partial(response)
            return OK, None
        if status in RETRYABLE:
            self._warner.warn(
                f"otlp-{status}", "Sentrial: OTLP endpoint %s answered %d; will retry", self.url, status
            )
            return RETRY, parse_retry_after(response.headers.get("retry-after"))
        self._warner.warn(
            f"otlp-{status}",
            "Sentrial: OTLP endpoint %s refused %d span(s) with HTTP %d: %s",
            self.url,
            len(spans),
            status,
            response.text[:300],
        )
        return DROP, None

    def close(self) -> None:
        if self._http is not None:
            try:
                self._http.close()
            except Exception:
                pass
        if self._sink is not None:
            try:
                self._sink.shutdown()
            except Exception:
                pass

    def _hand_over(self, sink: SpanExporter, spans: list[ReadableSpan]) -> tuple[int, float | None]:
        try:
            result = sink.export(spans)
        except Exception as exc:  # the application's exporter failed: a delivery problem, not ours
            self._warner.warn("otlp-sink-error", "Sentrial: the span exporter raised %r", exc)
            return DROP, None
        if result == SpanExportResult.SUCCESS:
            return OK, None
        self._warner.warn("otlp-sink", "Sentrial: the span exporter refused %d span(s)", len(spans))
        return DROP, None

    @staticmethod
    def _encode(spans: list[ReadableSpan]) -> bytes | None:
        """The protobuf request; None (the chunk is dropped, not retried forever) if it cannot be made."""
        try:
            return bytes(encode_spans(spans).SerializeToString())
        except Exception as exc:
            report_internal("the OTLP exporter encoding a chunk of spans (the chunk is dropped)", exc)
            return None

    def _check_partial(self, response: httpx.Response) -> None:
        if not response.content:
            return
        try:
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

            parsed = ExportTraceServiceResponse.FromString(response.content)
        except Exception:
            return
        rejected = parsed.partial_success.rejected_spans
        if rejected:
            self._warner.warn(
                "otlp-partial",
                "Sentrial: the OTLP endpoint rejected %d span(s): %s",
                rejected,
                parsed.partial_success.error_message,
            )
