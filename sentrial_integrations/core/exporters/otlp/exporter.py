"""The OTLP exporter: records in, chunks of spans out, session state advanced only with delivery."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from ...log import report_internal
from ..base import DROP, OK, RETRY, ExportResult
from .http import Poster
from .ids import traces_url
from .spans import SpanTranslator
from .state import SessionInfo, Work

CHUNK_BYTES = 3_000_000  # approximate payload per OTLP request
SCOPE = "sentrial_integrations"  # the instrumentation scope's name
DISTRIBUTION = "sentrial-integrations"  # the installed distribution whose version the scope carries

_OFF = ("0", "false", "no", "off")


def _version() -> str | None:
    """The installed package's version (the scope's version); None when running from an uninstalled tree."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


class OTLPExporter:
    """Sends Sentrial records as GenAI-convention spans to an OTLP/HTTP (protobuf) traces endpoint.

    ``endpoint``: the collector's base URL (``http://localhost:4318``; ``/v1/traces`` is appended) or
    the full traces URL. ``headers``: e.g. an ``Authorization`` header. ``span_exporter``: hand the
    spans to this OpenTelemetry SDK ``SpanExporter`` instead of posting them (tests, gRPC, consoles).
    ``capture_content``: include prompts, responses, tool arguments/results and decision reasoning
    (default: ``SENTRIAL_OTLP_CAPTURE_CONTENT``, on unless set to ``false``).
    """

    name = "otlp"

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        span_exporter: SpanExporter | None = None,
        capture_content: bool | None = None,
        resource: Resource | None = None,
    ) -> None:
        self.url = traces_url(endpoint)
        self.timeout = timeout
        if capture_content is None:
            raw = os.environ.get("SENTRIAL_OTLP_CAPTURE_CONTENT", "").strip().lower()
            capture_content = raw not in _OFF
        self._translator = SpanTranslator(
            resource if resource is not None else Resource.create({}),
            InstrumentationScope(SCOPE, _version()),
            capture_content,
        )
        self._sessions: OrderedDict[str, SessionInfo] = OrderedDict()
        self._poster = Poster(self.url, headers=headers, timeout=timeout, span_exporter=span_exporter)

    @property
    def capture_content(self) -> bool:
        return self._translator.capture_content

    @capture_content.setter
    def capture_content(self, value: bool) -> None:
        self._translator.capture_content = value

    # --- Exporter interface ---------------------------------------------------------------------

    def export(self, records: list[dict[str, Any]]) -> ExportResult:
        """Translate and send in order, in chunks of bounded size; state advances only with delivery."""
        outcomes = [RETRY] * len(records)
        i, n = 0, len(records)
        while i < n:
            work = Work(self._sessions)
            spans: list[ReadableSpan] = []
            size = 0
            j = i
            dropped: list[int] = []
            while j < n and (size < CHUNK_BYTES or not spans):
                try:
                    for span, weight in self._translator.translate(records[j], work):
                        spans.append(span)
                        size += weight
                except Exception as exc:  # a record we cannot translate must not block the rest
                    report_internal(
                        "the OTLP exporter turning a record into spans (the record is skipped)", exc
                    )
                    dropped.append(j)
                j += 1
            outcome, retry_after = self._poster.send(spans) if spans else (OK, None)
            if outcome == RETRY:
                return ExportResult(outcomes, retry_after=retry_after)
            work.commit()
            for k in range(i, j):
                outcomes[k] = outcome
            for k in dropped:
                outcomes[k] = DROP
            i = j
        return ExportResult(outcomes)

    def close(self) -> None:
        self._poster.close()
