"""Where an integration run records: the current session if there is one, else a session of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .context import current_session

if TYPE_CHECKING:
    from .client import SentrialClient, Session


class RunTarget:
    """A session an integration run records into; it closes the session only if it opened it."""

    __slots__ = ("client", "owned", "session_id")

    def __init__(self, client: SentrialClient, session_id: str, owned: bool) -> None:
        self.client = client
        self.session_id = session_id
        self.owned = owned

    def close(
        self, status: str = "success", *, failure_reason: str | None = None, output: Any = None
    ) -> None:
        if self.owned and self.client.is_open(self.session_id):
            self.client.close_session(self.session_id, status, failure_reason=failure_reason, output=output)


def open_run(
    client: SentrialClient | None,
    name: str,
    *,
    metadata: dict[str, Any] | None = None,
    agent_name: str | None = None,
    user_id: str | None = None,
    convo_id: str | None = None,
    session: Session | str | None = None,
    join_current: bool = True,
) -> RunTarget:
    """Join ``session`` (a Session or an id), else the current session, else open a new one."""
    from .client import Session as _Session
    from .client import get_client

    if isinstance(session, _Session):
        return RunTarget(session.client, session.id, owned=False)
    if isinstance(session, str):
        return RunTarget(client or get_client(), session, owned=False)
    if join_current:
        cur = current_session()
        if cur is not None:
            return RunTarget(cur.client, cur.id, owned=False)
    c = client or get_client()
    sid = c.create_session(name, metadata, agent_name=agent_name, user_id=user_id, convo_id=convo_id)
    return RunTarget(c, sid, owned=True)
