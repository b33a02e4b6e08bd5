"""The exporter interface. Exporters are dumb: batching, ordering, retries and the outbox live in the
shipper; an exporter only sends a batch and says what happened to each record."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

OK = 0  # delivered (or already there: idempotent repeat)
DROP = 1  # permanently refused: retrying cannot help
RETRY = 2  # not delivered now (the backend is away or busy); keep it, in order, and try later
REFUSED = 3  # this very record was refused in a way that may pass (a 500, a garbled answer): count a try
WAIT = 4  # cannot be sent yet (its session has no server id yet): keep it, its session waits


@dataclass
class ExportResult:
    outcomes: list[int]
    retry_after: float | None = None  # seconds the backend asked us to wait
    reasons: dict[int, str] = field(default_factory=dict)  # index -> why it was dropped / refused


class Exporter(Protocol):
    name: str

    def export(self, records: list[dict[str, Any]]) -> ExportResult: ...

    def close(self) -> None: ...


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None
