"""A :class:`Session` handle: ``.id``, ``.track_*`` without the id, ``.close()``, and a context manager."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import context
from .. import model as M
from .errors import SentrialUsageError

if TYPE_CHECKING:
    from .client import SentrialClient


class Session:
    """A handle on one session: ``.id``, ``.track_*`` without the id, ``.close()``; a context manager
    (sync and async) that makes the session current for every integration inside the block."""

    __slots__ = ("__weakref__", "_token", "client", "closed", "id", "name", "parent_id")

    def __init__(
        self, client: SentrialClient, session_id: str, name: str, parent_id: str | None = None
    ) -> None:
        self.client = client
        self.id = session_id
        self.name = name
        self.parent_id = parent_id
        self.closed = False
        self._token: Any = None

    def __repr__(self) -> str:
        return f"Session(id={self.id!r}, name={self.name!r}, closed={self.closed})"

    def track_tool_call(
        self, tool_name: str, tool_input: Any = None, tool_output: Any = None, **kw: Any
    ) -> str | None:
        return self.client.track_tool_call(self.id, tool_name, tool_input, tool_output, **kw)

    def track_decision(self, reasoning: str, **kw: Any) -> str | None:
        return self.client.track_decision(self.id, reasoning, **kw)

    def track_llm_call(self, model: str, **kw: Any) -> str | None:
        return self.client.track_llm_call(self.id, model, **kw)

    def track_error(self, error: BaseException | str | dict[str, Any], **kw: Any) -> str | None:
        return self.client.track_error(self.id, error, **kw)

    def track_state_change(self, before: Any, after: Any, **kw: Any) -> str | None:
        return self.client.track_state_change(self.id, before, after, **kw)

    def close(self, status: str = "success", **kw: Any) -> bool:
        if self.closed:
            return False
        ok = self.client.close_session(self.id, status, **kw)
        if ok:
            self.closed = True
        return ok

    def __enter__(self) -> Session:
        self._token = context.set_current_session(self)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            if self._token is not None:
                context.reset_current_session(self._token)
                self._token = None
            if not self.closed:
                if exc is None:
                    self.close(M.SUCCESS)
                elif isinstance(exc, Exception):
                    self.client.track_error(self.id, exc)
                    self.close(M.ERROR, failure_reason=f"{type(exc).__name__}: {exc}")
                else:  # KeyboardInterrupt, SystemExit, asyncio.CancelledError: the run was cut short
                    self.close(M.ABANDONED, failure_reason=f"{type(exc).__name__}")
        except SentrialUsageError:
            raise
        except Exception as err:  # never mask the user's exception with ours
            self.client._internal(err, "session exit")

    async def __aenter__(self) -> Session:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)
