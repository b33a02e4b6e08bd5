"""The run-target policy, the same for every translator: where a framework run records.

In order: a session the caller named (a :class:`Session` or an id), else the session an outer layer's
LLM claim carries, else the current session (a ``client.session()`` block or another integration's
run), else a new session of the run's own, which the run closes when it ends. A translator whose runs
nest through their own parent links (LangChain) passes ``integration=`` so that a run of its own that
is current does not swallow an unrelated top-level run started in the same context.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

from . import context as ctx

if TYPE_CHECKING:
    from .api.client import SentrialClient, Session
    from .context import LLMClaim


class RunTarget:
    """The session an integration run records into; it closes the session only if it opened it."""

    __slots__ = ("client", "owned", "session", "session_id", "token")

    def __init__(self, session: Session, owned: bool) -> None:
        self.session = session
        self.client: SentrialClient = session.client
        self.session_id: str = session.id
        self.owned = owned
        self.token: contextvars.Token[Session | None] | None = None

    def make_current(self) -> None:
        """Make the run's own session current in this context (every integration inside the run joins it)."""
        if self.owned and self.token is None:
            self.token = ctx.set_current_session(self.session)

    def release(self) -> None:
        """Undo :meth:`make_current` (idempotent)."""
        token, self.token = self.token, None
        if token is not None:
            ctx.reset_current_session(token)

    def close(
        self,
        status: str = "success",
        *,
        failure_reason: str | None = None,
        output: Any = None,
        custom_metrics: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """Close the session if the run opened it (and nobody closed it yet, e.g. ``shutdown()`` at exit).
        ``fields``: the other keywords of :meth:`SentrialClient.close_session` (``user_input``, ...)."""
        self.release()
        if self.owned and not self.session.closed and self.client.is_open(self.session_id):
            self.session.close(
                status,
                failure_reason=failure_reason,
                output=output,
                custom_metrics=custom_metrics,
                **fields,
            )


#: (Session, RunSession, get_client), bound on the first run: importing this module stays cheap, and
#: the call pays no import statement
_api: Any = None


def _load_api() -> Any:
    global _api
    from .api.client import Session, get_client

    class RunSession(Session):
        """A session an integration run opened; ``opened_by`` names the integration."""

        __slots__ = ("opened_by",)

    _api = (Session, RunSession, get_client)
    return _api


def open_run(
    client: SentrialClient | None,
    name: str,
    *,
    session: Session | str | None = None,
    claim: LLMClaim | None = None,
    join_current: bool = True,
    integration: str | None = None,
    metadata: dict[str, Any] | None = None,
    agent_name: str | None = None,
    user_id: str | None = None,
    convo_id: str | None = None,
) -> RunTarget:
    """Where a run named ``name`` records (see the module docs); opens a session only as the last resort."""
    _Session, _RunSession, get_client = _api or _load_api()
    if isinstance(session, _Session):
        return RunTarget(session, owned=False)
    if isinstance(session, str):
        return RunTarget(_Session(client or get_client(), session, name), owned=False)
    if claim is not None:
        claimed = claim.session
        if claimed is not None and not claimed.closed:
            return RunTarget(claimed, owned=False)
    if join_current:
        cur = ctx.current_session()
        if cur is not None and not (
            integration is not None and getattr(cur, "opened_by", None) == integration
        ):
            return RunTarget(cur, owned=False)
    c = client or get_client()
    sid = c.create_session(name, metadata, agent_name=agent_name, user_id=user_id, convo_id=convo_id)
    own = _RunSession(c, sid, name)
    own.opened_by = integration
    return RunTarget(own, owned=True)
