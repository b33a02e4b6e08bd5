"""The public core API: :class:`SentrialClient`, :class:`Session`, :func:`configure`, :func:`get_client`.

Everything here runs on the caller's thread and does only this: check the call, stamp the time and a
per-session sequence number, copy mutable containers (bounded), and append an op to the recorder's
queue. No network, no disk, no serialisation; no exception escapes (except in ``strict`` mode).
"""

from __future__ import annotations

import atexit
import itertools
import os
import signal
import threading
import time
from collections import OrderedDict
from typing import Any

from .. import context
from .. import model as M
from ..config import Config, config_warning, is_loopback_url, resolve
from ..delivery import launch
from ..delivery.outbox import outbox_path
from ..log import RateLimitedWarner, enable_debug_output, logger, register_secret, scrub
from ..record.serialize import snapshot
from ..recorder import OutboxSink, Recorder, StoreSink
from .compat import CompatMixin, apply_legacy_fields, client_options

_time_ns = time.time_ns

STATUS_ALIASES = {
    "success": "success",
    "succeeded": "success",
    "completed": "success",
    "complete": "success",
    "ok": "success",
    "failure": "failure",
    "failed": "failure",
    "fail": "failure",
    "error": "error",
    "errored": "error",
    "timeout": "timeout",
    "timed_out": "timeout",
    "abandoned": "abandoned",
}


class SentrialUsageError(ValueError):
    """Raised instead of a warning when the client is in ``strict`` mode."""


class _SessionState:
    __slots__ = ("closed", "name", "parent", "pid", "seq", "start_ns")

    def __init__(self, name: str, start_ns: int, parent: str | None) -> None:
        self.pid = os.getpid()  # a forked child does not auto-close its parent's sessions
        self.seq = itertools.count(1)
        self.start_ns = start_ns
        self.name = name
        self.parent = parent
        self.closed = False


def _new_session_id() -> str:
    return "ses_" + os.urandom(12).hex()


class SentrialClient(CompatMixin):
    """Records agent sessions and their events, and ships them in the background.

    The official Sentrial SDK's method names and keyword arguments work too (see :mod:`.compat`).

    With an API key the data is committed to a local outbox and a shipper delivers it to the Sentrial
    REST API; with none, it goes to the embedded SQLite store (``local_path``, else
    ``SENTRIAL_LOCAL_PATH``, else the nearest ``.sentrial/sentrial.db``, else the per-user store).
    """

    def __init__(
        self,
        api_key: str | None = None,
        project_id: str | None = None,
        *,
        base_url: str | None = None,
        local_path: str | None = None,
        spool_path: str | None = None,
        disabled: bool | None = None,
        debug: bool | None = None,
        strict: bool | None = None,
        exit_timeout: float | None = None,
        **options: Any,
    ) -> None:
        if options:  # the official SDK's constructor arguments (api_url=, fail_silently=, ...)
            api_key, base_url, strict = client_options(api_key, base_url, strict, options)
        self._warner = RateLimitedWarner()
        self._sessions: dict[str, _SessionState] = {}
        self._closed_ids: OrderedDict[str, None] = OrderedDict()
        self._recorder: Recorder | None = None  # the main destination (Sentrial API or local store)
        self._recorders: list[Recorder] = []  # all destinations (plus OTLP when configured)
        self._shutdown = False
        self._shutdown_done = threading.Event()
        self.config: Config = resolve(
            api_key,
            project_id,
            base_url=base_url,
            local_path=local_path,
            spool_path=spool_path,
            disabled=disabled,
            debug=debug,
            strict=strict,
            exit_timeout=exit_timeout,
            **options,
        )
        cfg = self.config
        register_secret(cfg.api_key)
        if cfg.debug:
            enable_debug_output()
        if (
            cfg.mode == "http"
            and cfg.base_url.startswith("http://")
            and not is_loopback_url(cfg.base_url)
            and not cfg.allow_insecure_http
        ):
            msg = (
                f"Sentrial: refusing to send the API key over plain http to {cfg.base_url}; use https, "
                "or pass allow_insecure_http=True (SENTRIAL_ALLOW_INSECURE_HTTP=1) if you really mean it. "
                "Tracking is disabled for this client."
            )
            if cfg.strict:
                raise SentrialUsageError(msg)
            config_warning(msg)  # visible without logging setup: this client records nothing
            logger.error("%s", msg)  # and on the logger, for log files
            cfg.disabled = True
        if cfg.mode != "disabled":
            self._recorder = self._make_recorder()
            self._recorders = [self._recorder]
            if cfg.otlp_endpoint:
                self._add_otlp_recorder()
            self._put = self._make_put()
        else:
            self._put = _discard
        _register(self)

    def _make_recorder(self) -> Recorder:
        cfg = self.config
        if cfg.mode == "local":
            assert cfg.local_path is not None
            return Recorder(cfg, StoreSink(cfg.local_path), self._warner)
        assert cfg.api_key is not None
        return self._outbox_recorder(launch.sentrial_http_spec(cfg), cfg.destination_key(), None)

    def _outbox_recorder(self, spec: dict[str, Any], key: str, make: Any) -> Recorder:
        cfg = self.config
        path = outbox_path(cfg.resolved_spool_dir(), key)
        mode = launch.choose_delivery(cfg.delivery)
        if mode == "thread":
            _prepare_thread_delivery(spec["kind"])
        handle = launch.register(path, spec, mode, make)
        return Recorder(cfg, OutboxSink(path, cfg.spool_max_bytes, handle), self._warner)

    def _add_otlp_recorder(self) -> None:
        try:
            from ..exporters import otlp
        except ImportError as exc:
            self._warner.warn(
                "otlp-import",
                "Sentrial: SENTRIAL_OTLP_ENDPOINT is set but the OpenTelemetry exporter is not installed "
                "(pip install 'sentrial-integrations[otel]'): %s",
                exc,
            )
            return
        cfg = self.config
        assert cfg.otlp_endpoint is not None
        spec = launch.shipper_spec(
            cfg,
            {
                "kind": "otlp",
                "endpoint": cfg.otlp_endpoint,
                "headers": cfg.otlp_headers,
                "destination": cfg.otlp_endpoint,
            },
        )

        def make(spec: dict[str, Any], outbox: Any) -> Any:  # thread mode: built in this process
            return otlp.OTLPExporter(spec["endpoint"], headers=spec.get("headers"), timeout=spec["timeout"])

        self._recorders.append(self._outbox_recorder(spec, cfg.otlp_destination_key(), make))

    def _make_put(self) -> Any:
        if len(self._recorders) == 1:
            return self._recorders[0].put
        puts = [r.put for r in self._recorders]

        def fan_out(op: tuple[Any, ...]) -> bool:
            ok = True
            for put in puts:
                ok = put(op) and ok
            return ok

        return fan_out

    def __repr__(self) -> str:
        cfg = self.config
        where = scrub(cfg.base_url) if cfg.mode == "http" else cfg.local_path  # no URL credentials
        return f"SentrialClient(mode={cfg.mode!r}, destination={where!r}, project_id={cfg.project_id!r})"

    # --- misuse ----------------------------------------------------------------------------------

    def _misuse(self, key: str, message: str, *args: Any) -> None:
        if self.config.strict:
            raise SentrialUsageError(message % args if args else message)
        self._warner.warn(key, message, *args)
        return None

    def _state(self, session_id: Any, what: str) -> _SessionState | None:
        st = self._sessions.get(session_id) if type(session_id) is str else None
        if st is not None:
            return st
        if type(session_id) is str and session_id in self._closed_ids:
            self._misuse(
                f"closed:{what}",
                "Sentrial: %s on session %s after it was closed; nothing recorded",
                what,
                session_id,
            )
        else:
            self._misuse(
                f"unknown:{what}",
                "Sentrial: %s with unknown session id %r (use the id create_session returned); nothing recorded",
                what,
                session_id,
            )
        return None

    def _name(self, value: Any, what: str) -> str:
        if type(value) is str:
            return value
        self._misuse(
            f"name:{what}",
            "Sentrial: %s expects a string name, got %s; it is converted",
            what,
            type(value).__name__,
        )
        try:
            return str(value)
        except Exception:
            return f"<{type(value).__name__}>"

    def _internal(self, exc: BaseException, what: str) -> None:
        if isinstance(exc, SentrialUsageError):
            raise exc
        if self.config.strict:
            raise exc
        self._warner.warn(
            f"internal:{what}", "Sentrial: internal error in %s: %r (nothing raised to you)", what, exc
        )

    # --- sessions --------------------------------------------------------------------------------

    def _legacy(self, fields: dict[str, Any], legacy: dict[str, Any], what: str) -> None:
        """The official SDK's keyword arguments (``tool_error=``, ``error_message=``, ...) mapped onto ours."""
        unknown = apply_legacy_fields(fields, legacy, what)
        if unknown:
            self._misuse("kwarg", "Sentrial: %s got unexpected keyword arguments %s (ignored)", what, unknown)

    def create_session(
        self,
        name: str,
        metadata: dict[str, Any] | None = None,
        *,
        agent_name: str | None = None,
        user_id: str | None = None,
        parent_session_id: str | None = None,
        convo_id: str | None = None,
    ) -> str:
        """Open a session and return its id at once (a client-made id; the server's is mapped later)."""
        sid = _new_session_id()
        try:
            name = self._name(name, "create_session")
            now = _time_ns()
            self._sessions[sid] = _SessionState(name, now, parent_session_id)
            payload = {
                "name": name,
                "metadata": snapshot(metadata),
                "agent_name": agent_name,
                "user_id": user_id,
                "parent_session_id": parent_session_id,
                "convo_id": convo_id,
            }
            self._put((M.SESSION_START, sid, 0, now, payload))
        except Exception as exc:
            self._internal(exc, "create_session")
        return sid

    def close_session(
        self,
        session_id: str,
        status: str = "success",
        *,
        output: Any = None,
        failure_reason: str | None = None,
        custom_metrics: dict[str, Any] | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        total_tokens: int | None = None,
        cost: float | None = None,
        user_input: Any = None,
        assistant_output: Any = None,
        duration_ms: float | None = None,
        success: bool | None = None,
    ) -> bool:
        """Close a session with ``success``, ``failure``, ``error``, ``timeout`` or ``abandoned``.

        Tokens and cost default to the sums over the session's LLM events. ``user_input`` (the run's
        input) and ``assistant_output`` (its final answer; default: ``output`` when it is text) go to the
        API as ``userInput`` / ``assistantOutput``. ``duration_ms`` defaults to the time since the session
        opened; ``success=False`` (the official SDK's form) means ``"failure"``. Returns whether it closed.
        """
        try:
            if success is not None and status == "success":
                status = "success" if success else "failure"
            canonical = STATUS_ALIASES.get(status.lower()) if isinstance(status, str) else None
            if canonical is None:
                self._misuse(
                    "status",
                    "Sentrial: close_session got unknown status %r (use one of %s); session left open",
                    status,
                    ", ".join(M.STATUSES),
                )
                return False
            st = self._state(session_id, "close_session")
            if st is None:
                return False
            now = _time_ns()
            st.closed = True
            self._forget(session_id)
            payload = {
                "status": canonical,
                "output": snapshot(output),
                "failure_reason": failure_reason,
                "custom_metrics": snapshot(custom_metrics),
                "duration_ms": duration_ms if duration_ms is not None else (now - st.start_ns) / 1e6,
                "user_input": snapshot(user_input),
                "assistant_output": snapshot(assistant_output),
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": total_tokens,
                "cost": cost,
            }
            self._put((M.SESSION_CLOSE, session_id, next(st.seq), now, payload))
            return True
        except Exception as exc:
            self._internal(exc, "close_session")
            return False

    def _forget(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        closed = self._closed_ids
        closed[session_id] = None
        if len(closed) > 10_000:
            try:
                closed.popitem(last=False)
            except KeyError:
                pass

    def session(
        self,
        name: str,
        metadata: dict[str, Any] | None = None,
        *,
        agent_name: str | None = None,
        user_id: str | None = None,
        parent_session_id: str | None = None,
        convo_id: str | None = None,
    ) -> Session:
        """A session object; use it as ``with``/``async with`` to make it current for integrations.

        Inside another ``session()`` block the new session is a child of the current one.
        """
        if parent_session_id is None:
            parent = context.current_session()
            if parent is not None:
                parent_session_id = parent.id
        sid = self.create_session(
            name,
            metadata,
            agent_name=agent_name,
            user_id=user_id,
            parent_session_id=parent_session_id,
            convo_id=convo_id,
        )
        return Session(self, sid, name, parent_session_id)

    def is_open(self, session_id: str) -> bool:
        return session_id in self._sessions

    # --- events ----------------------------------------------------------------------------------

    def _emit(self, session_id: str, what: str, fields: dict[str, Any]) -> str | None:
        """Stamp and enqueue one event; the id (``<session>.<seq>``) or None for an unknown session."""
        st = self._state(session_id, what)
        if st is None:
            return None
        if fields.get("parent_span_id") is None:
            fields["parent_span_id"] = context.current_span_id()
        seq = next(st.seq)
        self._put((M.EVENT, session_id, seq, _time_ns(), fields))
        return f"{session_id}.{seq}"

    def track_tool_call(
        self,
        session_id: str,
        tool_name: str,
        tool_input: Any = None,
        tool_output: Any = None,
        *,
        error: BaseException | str | dict[str, Any] | None = None,
        duration_ms: float | None = None,
        reasoning: str | None = None,
        metadata: dict[str, Any] | None = None,
        span_id: str | None = None,
        parent_span_id: str | None = None,
        start_time: float | None = None,
        **legacy: Any,
    ) -> str | None:
        """Record a tool call. ``start_time`` (epoch s) defaults to now minus ``duration_ms``."""
        try:
            if type(tool_name) is not str:
                tool_name = self._name(tool_name, "track_tool_call")
            fields: dict[str, Any] = {
                "type": "tool_call",
                "name": tool_name,
                "input": snapshot(tool_input),
                "output": snapshot(tool_output),
                "error": error,
                "duration_ms": duration_ms,
                "reasoning": reasoning,
                "metadata": snapshot(metadata),
                "span_id": span_id,
                "parent_span_id": parent_span_id,
                "start_time": start_time,
            }
            if legacy:
                self._legacy(fields, legacy, "track_tool_call")
            return self._emit(session_id, "track_tool_call", fields)
        except Exception as exc:
            self._internal(exc, "track_tool_call")
            return None

    def track_decision(
        self,
        session_id: str,
        reasoning: str,
        *,
        decision: Any = None,
        alternatives: list[Any] | None = None,
        confidence: float | None = None,
        metadata: dict[str, Any] | None = None,
        span_id: str | None = None,
        parent_span_id: str | None = None,
        start_time: float | None = None,
        **legacy: Any,
    ) -> str | None:
        """Record a decision: the reasoning, the chosen action, the alternatives and a confidence."""
        try:
            fields: dict[str, Any] = {
                "type": "decision",
                "name": "decision",
                "reasoning": reasoning,
                "decision": snapshot(decision),
                "alternatives": snapshot(alternatives),
                "confidence": confidence,
                "metadata": snapshot(metadata),
                "span_id": span_id,
                "parent_span_id": parent_span_id,
                "start_time": start_time,
            }
            if legacy:
                self._legacy(fields, legacy, "track_decision")
            return self._emit(session_id, "track_decision", fields)
        except Exception as exc:
            self._internal(exc, "track_decision")
            return None

    def track_llm_call(
        self,
        session_id: str,
        model: str,
        *,
        provider: str | None = None,
        messages: Any = None,
        response: Any = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        total_tokens: int | None = None,
        cost: float | None = None,
        duration_ms: float | None = None,
        metadata: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        tool_calls: Any = None,
        response_model: str | None = None,
        finish_reason: str | None = None,
        cached_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        time_to_first_token_ms: float | None = None,
        error: BaseException | str | dict[str, Any] | None = None,
        partial: bool | None = None,
        span_id: str | None = None,
        parent_span_id: str | None = None,
        start_time: float | None = None,
    ) -> str | None:
        """Record an LLM call. Cost defaults to the price table applied to the response model."""
        try:
            return self._emit(
                session_id,
                "track_llm_call",
                {
                    "type": "llm_call",
                    "model": model,
                    "provider": provider,
                    "input": snapshot(messages),
                    "output": snapshot(response),
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": total_tokens,
                    "cost": cost,
                    "duration_ms": duration_ms,
                    "metadata": snapshot(metadata),
                    "params": snapshot(params),
                    "tool_calls": snapshot(tool_calls),
                    "response_model": response_model,
                    "finish_reason": finish_reason,
                    "cached_tokens": cached_tokens,
                    "reasoning_tokens": reasoning_tokens,
                    "time_to_first_token_ms": time_to_first_token_ms,
                    "error": error,
                    "partial": partial,
                    "span_id": span_id,
                    "parent_span_id": parent_span_id,
                    "start_time": start_time,
                },
            )
        except Exception as exc:
            self._internal(exc, "track_llm_call")
            return None

    def track_error(
        self,
        session_id: str,
        error: BaseException | str | dict[str, Any] | None = None,
        *,
        error_type: str | None = None,
        tool_name: str | None = None,
        metadata: dict[str, Any] | None = None,
        span_id: str | None = None,
        parent_span_id: str | None = None,
        start_time: float | None = None,
        **legacy: Any,
    ) -> str | None:
        """Record an error (an exception keeps its type and stack trace)."""
        try:
            fields: dict[str, Any] = {
                "type": "error",
                "name": tool_name,
                "error": error,
                "error_type": error_type,
                "metadata": snapshot(metadata),
                "span_id": span_id,
                "parent_span_id": parent_span_id,
                "start_time": start_time,
            }
            if legacy:
                self._legacy(fields, legacy, "track_error")
            return self._emit(session_id, "track_error", fields)
        except Exception as exc:
            self._internal(exc, "track_error")
            return None

    def track_state_change(
        self,
        session_id: str,
        before: Any,
        after: Any,
        *,
        reason: str | None = None,
        metadata: dict[str, Any] | None = None,
        span_id: str | None = None,
        parent_span_id: str | None = None,
    ) -> str | None:
        """Record that the agent's state went from ``before`` to ``after`` (the API's stateBefore /
        stateAfter), with an optional ``reason``."""
        try:
            return self._emit(
                session_id,
                "track_state_change",
                {
                    "type": "state_change",
                    "name": "state_change",
                    "input": snapshot(before),
                    "output": snapshot(after),
                    "reasoning": reason,
                    "metadata": snapshot(metadata),
                    "span_id": span_id,
                    "parent_span_id": parent_span_id,
                },
            )
        except Exception as exc:
            self._internal(exc, "track_state_change")
            return None

    # --- delivery --------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything recorded so far is delivered; ``False`` if ``timeout`` passed first."""
        try:
            return self._each(lambda r, t: r.flush(t), timeout)
        except Exception as exc:
            self._internal(exc, "flush")
            return False

    def persist(self, timeout: float | None = None) -> bool:
        """Wait until everything recorded so far is committed on disk (the store or the outbox), from
        where it survives this process: the shipper delivers it even if the process is killed now."""
        try:
            return self._each(lambda r, t: r.persist(t), timeout)
        except Exception as exc:
            self._internal(exc, "persist")
            return False

    def _each(self, call: Any, timeout: float | None) -> bool:
        """Run ``call(recorder, remaining_timeout)`` on every recorder within one overall timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = True
        for r in self._recorders:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ok = call(r, remaining) and ok
        return ok

    def shutdown(self, timeout: float | None = None) -> bool:
        """Close open sessions as ``abandoned``, commit what is queued (within ``timeout``), stop.

        Nothing is sent over the network here (a shipper delivers the outbox); a second call waits
        for the first to finish.
        """
        if self._shutdown:
            self._shutdown_done.wait(self.config.exit_timeout if timeout is None else timeout)
            return self._shutdown_done.is_set()
        self._shutdown = True
        try:
            pid = os.getpid()
            for sid, st in list(self._sessions.items()):
                if st.pid == pid:
                    self.close_session(
                        sid, "abandoned", failure_reason="the process ended before the session was closed"
                    )
            budget = self.config.exit_timeout if timeout is None else timeout
            return self._each(lambda r, t: r.shutdown(t), budget)
        except Exception as exc:
            self._internal(exc, "shutdown")
            return False
        finally:
            self._shutdown_done.set()
            _unregister(self)

    def stats(self) -> dict[str, int]:
        """Counters: queued (not yet committed), committed, outbox (waiting for delivery), delivered,
        dropped, rejected (could not be recorded)."""
        if self._recorder is None:
            return {
                "queued": 0,
                "committed": 0,
                "outbox": 0,
                "spooled": 0,
                "delivered": 0,
                "dropped": 0,
                "rejected": 0,
            }
        return self._recorder.stats()

    def _after_fork_in_child(self) -> None:
        if self._recorders and not self._shutdown:
            for r in self._recorders:
                r.after_fork_in_child()
            self._put = self._make_put()


def _discard(op: tuple[Any, ...]) -> bool:
    return True


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
                    self.close("success")
                elif isinstance(exc, Exception):
                    self.client.track_error(self.id, exc)
                    self.close("error", failure_reason=f"{type(exc).__name__}: {exc}")
                else:  # KeyboardInterrupt, SystemExit, asyncio.CancelledError: the run was cut short
                    self.close("abandoned", failure_reason=f"{type(exc).__name__}")
        except SentrialUsageError:
            raise
        except Exception as err:  # never mask the user's exception with ours
            self.client._internal(err, "session exit")

    async def __aenter__(self) -> Session:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)


# --- process-wide registry: default client, exit flush, fork, SIGTERM --------------------------------

# Strong references: a client is kept until it is shut down, so what it queued is always committed.
_clients: dict[int, SentrialClient] = {}
_registry_lock = threading.Lock()
_hooks_installed = False
_default: SentrialClient | None = None
_default_lock = threading.Lock()
_exit_lock = threading.Lock()
_exited_pid = 0
_exiting = False  # the exit commit is running in this process
_sigterm_pending = False
_thread_kinds: set[str] = set()


def _prepare_thread_delivery(kind: str) -> None:
    """Thread delivery runs the network in this process: import what it needs now, on the constructing
    thread (a fork while a worker holds a module's import lock deadlocks the child)."""
    if kind in _thread_kinds:
        return
    _thread_kinds.add(kind)
    if kind == "sentrial_http":
        from ..exporters import sentrial_http  # noqa: F401


def _register(client: SentrialClient) -> None:
    global _hooks_installed
    with _registry_lock:
        _clients[id(client)] = client
        if _hooks_installed:
            return
        _hooks_installed = True
    atexit.register(_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
    _install_multiprocessing_exit()
    if client.config.handle_sigterm:
        _install_sigterm()


def _unregister(client: SentrialClient) -> None:
    with _registry_lock:
        _clients.pop(id(client), None)


def _at_exit() -> None:
    """Commit what every client queued, within one exit budget for the whole process.

    With process delivery that is all (no network at exit). With thread delivery the shippers in this
    process then get what is left of the same budget to deliver.
    """
    global _exited_pid, _exiting
    with _exit_lock:
        if _exited_pid == os.getpid():
            return
        _exited_pid = os.getpid()
    _exiting = True
    try:
        _exit_commit()
    finally:
        _exiting = False
        if _sigterm_pending:  # a SIGTERM came while we were committing: die of it now, as asked
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)


def _exit_commit() -> None:
    clients = list(_clients.values())
    if not clients:
        return
    budget = max(c.config.exit_timeout for c in clients)
    deadline = time.monotonic() + max(0.0, budget)
    for client in clients:
        try:
            client.shutdown(max(0.0, deadline - time.monotonic()))
        except Exception:
            pass
    handles = launch.thread_handles()
    for handle in handles:
        shipper = handle.shipper
        if shipper is None:
            continue
        while time.monotonic() < deadline:
            try:
                if shipper.outbox.depth() == 0:
                    break
            except Exception:
                break
            shipper.wake.set()
            time.sleep(0.01)
        shipper.stop.set()


def _install_multiprocessing_exit() -> None:
    """multiprocessing children end with ``os._exit`` (no atexit): commit through its finalizers."""
    import sys

    util = sys.modules.get("multiprocessing.util")
    if util is None:
        return
    try:
        util.Finalize(None, _at_exit, exitpriority=100)
        util.register_after_fork(_MP_SENTINEL, _mp_after_fork)
    except Exception:
        pass


class _Sentinel:
    pass


_MP_SENTINEL = _Sentinel()


def _mp_after_fork(_: object) -> None:
    # multiprocessing clears its finalizers in a new child, then runs its after-fork hooks: register again
    import multiprocessing.util as util

    util.Finalize(None, _at_exit, exitpriority=100)


def _after_fork_in_child() -> None:
    global _registry_lock, _default_lock, _exit_lock
    _registry_lock = threading.Lock()
    _default_lock = threading.Lock()
    _exit_lock = threading.Lock()
    launch.after_fork_in_child()
    for client in list(_clients.values()):
        try:
            client._after_fork_in_child()
        except Exception:
            pass
    _install_multiprocessing_exit()


def _install_sigterm() -> None:
    """Commit on SIGTERM when nobody else handles it, then die of SIGTERM as before."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):
        pass


def _on_sigterm(signum: int, frame: Any) -> None:
    global _sigterm_pending
    if _exiting:  # the exit commit is running (this handler interrupted it): let it finish first
        _sigterm_pending = True
        return
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _at_exit()
    os.kill(os.getpid(), signal.SIGTERM)


def configure(**kwargs: Any) -> SentrialClient:
    """Set the process-wide default client that integrations use when given none."""
    global _default
    old = _default
    _default = SentrialClient(**kwargs)
    if old is not None and old is not _default:
        threading.Thread(target=old.shutdown, name="sentrial-old-client", daemon=True).start()
    return _default


def get_client() -> SentrialClient:
    """The default client (created from the environment on first use)."""
    global _default
    client = _default
    if client is None:
        with _default_lock:
            if _default is None:
                _default = SentrialClient()
            client = _default
    return client


def _reset_default_for_tests() -> None:
    global _default
    _default = None


# Installed at import (when imported on the main thread), so SIGTERM commits even when the first
# client is created on another thread, where Python does not allow installing a handler.
_install_sigterm()
