"""The store's tables: their definition, the columns added since version 1, and the version check."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from .columns import StoreError

if TYPE_CHECKING:
    from . import Store

SCHEMA_VERSION = 1

SCHEMA = """CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    name TEXT,
    status TEXT NOT NULL DEFAULT 'running',
    agent_name TEXT,
    user_id TEXT,
    parent_session_id TEXT,
    convo_id TEXT,
    project_id TEXT,
    metadata TEXT,
    started_at REAL,
    ended_at REAL,
    duration_ms REAL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    cost REAL,
    failure_reason TEXT,
    output TEXT,
    custom_metrics TEXT,
    event_count INTEGER NOT NULL DEFAULT 0,
    error_count INTEGER NOT NULL DEFAULT 0,
    user_input TEXT,
    unpriced_calls INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_started ON sessions(started_at);
CREATE INDEX IF NOT EXISTS sessions_status ON sessions(status);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    seq INTEGER,
    type TEXT NOT NULL,
    name TEXT,
    ts REAL,
    duration_ms REAL,
    span_id TEXT,
    parent_span_id TEXT,
    model TEXT,
    provider TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    cost REAL,
    error TEXT,
    payload TEXT,
    cost_source TEXT,
    unpriced INTEGER
);
CREATE INDEX IF NOT EXISTS events_session ON events(session_id, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables (or add the columns an older store lacks) and record the schema version."""
    conn.executescript(SCHEMA)
    migrate(conn)
    conn.execute(
        "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )
    conn.commit()


def migrate(conn: sqlite3.Connection) -> None:
    """Add columns that stores made by earlier versions lack."""
    cols = {r[1] for r in conn.execute("PRAGMA table_info(sessions)")}
    if "convo_id" not in cols:
        conn.execute("ALTER TABLE sessions ADD COLUMN convo_id TEXT")
    if "user_input" not in cols:
        conn.execute("ALTER TABLE sessions ADD COLUMN user_input TEXT")
    if "unpriced_calls" not in cols:
        conn.execute("ALTER TABLE sessions ADD COLUMN unpriced_calls INTEGER NOT NULL DEFAULT 0")
    event_cols = {r[1] for r in conn.execute("PRAGMA table_info(events)")}
    if "cost_source" not in event_cols:
        conn.execute("ALTER TABLE events ADD COLUMN cost_source TEXT")
    if "unpriced" not in event_cols:
        conn.execute("ALTER TABLE events ADD COLUMN unpriced INTEGER")


def schema_version(store: Store) -> int | None:
    """The store's schema version, or ``None`` when the file is not a Sentrial store."""
    try:
        rows = store._query("SELECT value FROM meta WHERE key = 'schema_version'")
    except StoreError:
        return None
    try:
        return int(rows[0][0]) if rows else None
    except (TypeError, ValueError):
        return None
