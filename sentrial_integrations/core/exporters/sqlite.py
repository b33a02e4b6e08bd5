"""Exporter into the embedded SQLite store (the default when no API key is configured)."""

from __future__ import annotations

import sqlite3
from typing import Any

from ...store import Store
from ..forksafe import fork_guard
from .base import OK, RETRY, ExportResult


class SQLiteExporter:
    name = "sqlite"
    inline = True  # fast and local: the pipeline may call it from its serializer thread

    def __init__(self, path: str) -> None:
        self.path = path
        self._store: Store | None = None

    def _open(self) -> Store:
        if self._store is None:
            self._store = Store(self.path)
        return self._store

    def export(self, records: list[dict[str, Any]]) -> ExportResult:
        try:
            with fork_guard:
                self._open().ingest(records)
        except (sqlite3.OperationalError, OSError) as exc:  # locked, disk full, unwritable: try later
            return ExportResult([RETRY] * len(records), notes=[f"local store unavailable: {exc}"])
        return ExportResult([OK] * len(records))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
