"""The public core API: :class:`SentrialClient` (:class:`Session` is in :mod:`.session`, the default
client and the exit/fork/SIGTERM handling in :mod:`.process`; all re-exported here).

One cohesive class, longer than the house's ~500 lines: every ``track_*`` method is a public signature
with its own checks, and they belong together.

Everything here runs on the caller's thread and does only this: check the call, stamp the time and a
per-session sequence number, copy mutable containers (bounded), and append an op to the recorder's
queue. No network, no disk, no serialisation; no exception escapes (except in ``strict`` mode).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import OrderedDict
from typing import Any

from .. import context
from .. import model as M
from ..config import Config, config_warning, is_loopback_url, resolve
from ..delivery import launch
from ..delivery.outbox import outbox_path
from ..log import RateLimitedWarner, enable_debug_output, logger, register_secret, report_internal, scrub
from ..model import DECISION, ERROR, LLM_CALL, STATE_CHANGE, TOOL_CALL
from ..record.serialize import snapshot
from ..recorder import OutboxSink, Recorder, StoreSink
from . import process
from .compat import CompatMixin, apply_legacy_fields, client_options
from .errors import SentrialUsageError
from .process import configure, get_client
from .session import Session

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

    #: "" in the process that made the client; a forked child's suffix (see :func:`model.fork_suffix`)
    _id_suffix = ""

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
        process._register(self)

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
            process._prepare_thread_delivery(spec["kind"])
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
        report_internal(what, exc)

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

    def _emit(
        self, session_id: str, what: str, fields: dict[str, Any], legacy: dict[str, Any] | None = None
    ) -> str | None:
        """Stamp and enqueue one event; the id (``<session>.<seq>``) or None for an unknown session.
        ``legacy``: the official SDK's keywords the call was given (mapped onto ``fields``)."""
        if legacy:
            self._legacy(fields, legacy, what)
        st = self._state(session_id, what)
        if st is None:
            return None
        if fields.get("parent_span_id") is None:
            fields["parent_span_id"] = context.current_span_id()
        seq = next(st.seq)
        self._put((M.EVENT, session_id, seq, _time_ns(), fields))
        return f"{session_id}.{seq}{self._id_suffix}"  # model.event_id + the fork suffix, inlined (hot path)

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
                "type": TOOL_CALL,
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
            return self._emit(session_id, "track_tool_call", fields, legacy)
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
                "type": DECISION,
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
            return self._emit(session_id, "track_decision", fields, legacy)
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
                    "type": LLM_CALL,
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
                "type": ERROR,
                "name": tool_name,
                "error": error,
                "error_type": error_type,
                "metadata": snapshot(metadata),
                "span_id": span_id,
                "parent_span_id": parent_span_id,
                "start_time": start_time,
            }
            return self._emit(session_id, "track_error", fields, legacy)
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
                    "type": STATE_CHANGE,
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
                        sid, M.ABANDONED, failure_reason="the process ended before the session was closed"
                    )
            budget = self.config.exit_timeout if timeout is None else timeout
            return self._each(lambda r, t: r.shutdown(t), budget)
        except Exception as exc:
            self._internal(exc, "shutdown")
            return False
        finally:
            self._shutdown_done.set()
            process._unregister(self)

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
        self._id_suffix = M.fork_suffix()  # the same suffix the child's record builder adds
        if self._recorders and not self._shutdown:
            for r in self._recorders:
                r.after_fork_in_child()
            self._put = self._make_put()


def _discard(op: tuple[Any, ...]) -> bool:
    return True


__all__ = ["SentrialClient", "SentrialUsageError", "Session", "configure", "get_client"]
