"""Fixtures for the OpenTelemetry exporter: an in-memory span sink behind a real client, and a
loopback OTLP/HTTP receiver."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sentrial_integrations import SentrialClient
from sentrial_integrations.core.exporters import otlp
from tests.servers.otlp_receiver import OTLPReceiver


@pytest.fixture
def span_sink(monkeypatch) -> InMemorySpanExporter:
    """Every OTLP exporter made from now on hands its spans to this SDK in-memory exporter."""
    sink = InMemorySpanExporter()
    monkeypatch.setattr(otlp, "OTLPExporter", functools.partial(otlp.OTLPExporter, span_exporter=sink))
    return sink


@pytest.fixture
def otel_client(span_sink, tmp_path) -> Iterator[SentrialClient]:
    """A client writing to a local store and, through the OTLP pipeline, to ``span_sink``."""
    client = SentrialClient(
        local_path=str(tmp_path / "otel.db"),
        spool_path=str(tmp_path / "spool"),
        otlp_endpoint="http://127.0.0.1:9",  # not contacted: the sink replaces the HTTP transport
        delivery="thread",  # the sink is an object in this process: the shipper runs here too
    )
    yield client
    client.shutdown(5)


@pytest.fixture
def otlp_receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as rx:
        yield rx


def finished(client: SentrialClient, sink: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    """Flush the client; the spans by name (names are unique in the tests that use this)."""
    assert client.flush(10), "flush timed out"
    spans = sink.get_finished_spans()
    by_name = {s.name: s for s in spans}
    assert len(by_name) == len(spans), [s.name for s in spans]
    return by_name


def attrs(span: Any) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in (span.attributes or {}).items()}


def events(span: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(e.name, attrs(e)) for e in span.events]
