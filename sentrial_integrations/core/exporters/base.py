"""The exporter interface. Exporters are dumb: batching, ordering, retries and the spool live in the
pipeline; an exporter only sends a batch and says what happened to each record."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

OK = 0  # delivered (or already there: idempotent repeat)
DROP = 1  # permanently refused: retrying cannot help
RETRY = 2  # not delivered now; keep it, in order, and try later


@dataclass
class ExportResult:
    outcomes: list[int]
    retry_after: float | None = None  # seconds the backend asked us to wait
    auth_failed: bool = False  # the backend refused our credentials (kept, retried slowly)
    notes: list[str] = field(default_factory=list)


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
