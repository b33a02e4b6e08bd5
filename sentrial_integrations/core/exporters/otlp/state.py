"""The exporter's only memory: per open session, what its root span needs (the start record, the
decisions and loose errors that become its span events, the spans already sent). Bounded; a chunk works
on a copy-on-write view that is committed only once the chunk is delivered, so a retried batch is
translated exactly as the first time."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from opentelemetry.sdk.trace import Event

MAX_SESSIONS = 10_000  # open sessions remembered (their start record and pending root events)
MAX_ROOT_EVENTS = 512  # decisions / loose errors kept for one session's root span
MAX_KNOWN_SPANS = 1_024  # span ids remembered per session (to attach error events)


class SessionInfo:
    """What the root span needs, collected from the start record and the events."""

    __slots__ = (
        "agent_name",
        "convo_id",
        "dropped",
        "events",
        "last_error_type",
        "metadata",
        "name",
        "parent",
        "project_id",
        "spans",
        "start",
        "user_id",
    )

    def __init__(self) -> None:
        self.name: str | None = None
        self.agent_name: str | None = None
        self.user_id: str | None = None
        self.convo_id: str | None = None
        self.parent: str | None = None
        self.project_id: str | None = None
        self.metadata: Any = None
        self.start: float | None = None
        self.events: list[Event] = []  # span events for the root span
        self.dropped = 0
        self.spans: dict[str, bool] = {}  # emitted span key -> it carries an error
        self.last_error_type: str | None = None

    @classmethod
    def from_start(cls, rec: dict[str, Any]) -> SessionInfo:
        """The state of a session that a ``session_start`` record opens."""
        info = cls()
        info.name = rec.get("name")
        info.agent_name = rec.get("agent_name")
        info.user_id = rec.get("user_id")
        info.convo_id = rec.get("convo_id")
        info.parent = rec.get("parent_session_id")
        info.project_id = rec.get("project_id")
        info.metadata = rec.get("metadata")
        info.start = rec.get("ts")
        return info

    def copy(self) -> SessionInfo:
        new = SessionInfo.__new__(SessionInfo)
        for name in SessionInfo.__slots__:
            setattr(new, name, getattr(self, name))
        new.events = list(self.events)
        new.spans = dict(self.spans)
        return new

    def add_event(self, event: Event) -> None:
        if len(self.events) < MAX_ROOT_EVENTS:
            self.events.append(event)
        else:
            self.dropped += 1

    def saw_span(self, key: str, error: bool) -> None:
        if len(self.spans) < MAX_KNOWN_SPANS or key in self.spans:
            self.spans[key] = error or self.spans.get(key, False)


class Work:
    """Copy-on-write view of the session table for one chunk; committed only once it is delivered."""

    def __init__(self, table: OrderedDict[str, SessionInfo]) -> None:
        self.table = table
        self.changed: dict[str, SessionInfo | None] = {}

    def get(self, sid: str) -> SessionInfo:
        if sid in self.changed:
            info = self.changed[sid]
            if info is None:  # closed earlier in this chunk: events after the close
                info = self.changed[sid] = SessionInfo()
            return info
        base = self.table.get(sid)
        info = base.copy() if base is not None else SessionInfo()
        self.changed[sid] = info
        return info

    def put(self, sid: str, info: SessionInfo) -> None:
        self.changed[sid] = info

    def drop(self, sid: str) -> None:
        self.changed[sid] = None

    def commit(self) -> None:
        table = self.table
        for sid, info in self.changed.items():
            if info is None:
                table.pop(sid, None)
            else:
                table[sid] = info
                table.move_to_end(sid)
        while len(table) > MAX_SESSIONS:
            table.popitem(last=False)
        self.changed = {}
