"""A recorded session to re-run or compare: from the local store (an id or a unique prefix of one) or
from a file written by ``sentrial-integrations export`` (``--format json``: ``{"session", "events"}``;
``--format jsonl``: one ``{"kind": "session"}`` line, then one ``{"kind": "event"}`` line per event).

Steps are numbered from 1 in the order ``show`` / ``replay`` / ``export`` list them (start time, then
sequence), so "step 4" means the same thing everywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.model import LLM_CALL


class ReplayError(Exception):
    """A recording cannot be loaded or used (unknown session, unreadable file)."""


@dataclass
class Step:
    number: int  # 1-based position in the session
    event: dict[str, Any]

    @property
    def id(self) -> str | None:
        value = self.event.get("id")
        return value if isinstance(value, str) else None

    @property
    def type(self) -> str:
        return str(self.event.get("type") or "")

    @property
    def name(self) -> str:
        return str(self.event.get("name") or self.type)


@dataclass
class Recording:
    session: dict[str, Any]
    events: list[dict[str, Any]]
    source: str = ""
    steps: list[Step] = field(init=False)

    def __post_init__(self) -> None:
        self.steps = [Step(i, e) for i, e in enumerate(self.events, 1)]

    @property
    def id(self) -> str:
        return str(self.session.get("id") or "")

    def llm_steps(self) -> list[Step]:
        """The LLM calls that produced an answer (not failed or cut-short ones), in order."""
        out = []
        for s in self.steps:
            e = s.event
            if e.get("type") != LLM_CALL or e.get("error"):
                continue
            output = e.get("output")
            if isinstance(output, Mapping) and output.get("partial"):
                continue
            out.append(s)
        return out

    def step_number(self, ref: int | str | None) -> int | None:
        """A step number from a number or an event id (``None`` stays ``None``)."""
        if ref is None:
            return None
        if isinstance(ref, bool):
            raise ReplayError(f"until: expected a step number or an event id, got {ref!r}")
        if isinstance(ref, int):
            return ref
        if isinstance(ref, str) and ref.strip().isdigit():
            return int(ref)
        for s in self.steps:
            if s.id == ref:
                return s.number
        raise ReplayError(f"until: no event {ref!r} in session {self.id}")


def _read_file(path: str) -> Recording:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ReplayError(f"cannot read {path}: {exc.strerror or exc}") from None
    stripped = text.lstrip()
    session: dict[str, Any] | None = None
    events: list[dict[str, Any]] = []
    try:
        doc = json.loads(stripped) if stripped.startswith("{") and not _is_jsonl(stripped) else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("session"), dict):
        session = doc["session"]
        events = [e for e in doc.get("events") or [] if isinstance(e, dict)]
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                raise ReplayError(f"{path}:{n}: not JSON (expected a file written by 'export')") from None
            if not isinstance(item, dict):
                continue
            kind = item.pop("kind", None)
            if kind == "session":
                session = item
            elif kind == "event":
                events.append(item)
    if session is None:
        raise ReplayError(f"{path} is not a session written by 'sentrial-integrations export'")
    return Recording(session, events, source=path)


def _is_jsonl(text: str) -> bool:
    first = text.split("\n", 1)[0]
    try:
        item = json.loads(first)
    except ValueError:
        return False
    return isinstance(item, dict) and item.get("kind") == "session"


def _read_store(ref: str, store_path: str) -> Recording:
    from ..core.store import Store, StoreError

    if not os.path.exists(store_path):
        raise ReplayError(f"no session {ref!r}: there is no Sentrial store at {store_path}")
    try:
        store = Store(store_path, create=False, readonly=True)
    except StoreError as exc:
        raise ReplayError(str(exc)) from None
    try:
        sid = store.resolve_id(ref)
        if sid is None:
            raise ReplayError(f"no session matches {ref!r} in {store_path} (or the prefix is ambiguous)")
        session = store.get_session(sid) or {"id": sid}
        return Recording(session, store.get_events(sid), source=store_path)
    finally:
        store.close()


def default_store_path() -> str:
    from ..core.config import default_local_path

    return default_local_path()


def load(session: Any, *, store: str | None = None) -> Recording:
    """A :class:`Recording` from a session id (or prefix) in the store, an export file, a
    :class:`Recording`, or a ``{"session", "events"}`` mapping."""
    if isinstance(session, Recording):
        return session
    if isinstance(session, Mapping) and isinstance(session.get("session"), Mapping):
        return Recording(
            dict(session["session"]), [dict(e) for e in session.get("events") or []], source="<mapping>"
        )
    sid = getattr(session, "id", None)  # a Session object
    if not isinstance(session, (str, os.PathLike)) and isinstance(sid, str):
        session = sid
    if isinstance(session, os.PathLike):
        return _read_file(os.fspath(session))
    if not isinstance(session, str) or not session.strip():
        raise ReplayError(f"expected a session id or an export file, got {session!r}")
    if os.path.isfile(session):
        return _read_file(session)
    if session.endswith((".json", ".jsonl")):
        raise ReplayError(f"cannot read {session}: no such file")
    return _read_store(session.strip(), store or default_store_path())
