"""Re-run a recorded session: LLM calls answered from the recording, the agent's own code live.

::

    from sentrial_integrations import replay

    with replay("ses_1a2b…") as rp:          # or replay("tests/fixtures/run.json"), an `export` file
        result = agent.invoke({"messages": [("user", "weather in Paris?")]})
    rp.session_id                             # the re-run, recorded as a new session (replay_of=ses_1a2b…)

Under the block, every OpenAI SDK request (chat completions, responses, legacy completions; sync and
async; streamed or not — also through LangChain's ``ChatOpenAI`` and LlamaIndex's ``OpenAI``) is
matched against the recorded LLM calls, in recorded order, on a fingerprint of model + messages +
offered tool names (:mod:`.fingerprint`): the first recorded call not answered yet whose fingerprint
is the request's answers it (so concurrent calls that arrive in another order still match). A match is answered from the recording with the SDK's own
types; the server is not contacted. A request that matches no recorded call, or that comes after
``until`` (a step number or an event id), goes to the real provider (``on_mismatch="live"``; the replay
stays live from there on) or raises :class:`ReplayMismatch` naming the step and the difference
(``on_mismatch="raise"``). Tools and the rest of the agent's code run live.

The re-run is recorded as a new session whose metadata has ``replay_of`` (the recorded session's id);
when the block ends the session's ``custom_metrics`` say how many answers were served, the step the
replay went live at (``replay_live_at_step``) and why, and what an older recording lacked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..core.model import ABANDONED, ERROR, SUCCESS, TOOL_CALL
from . import fingerprint as fp
from ._common import current
from .openai_answer import Answer, missing_fields, unservable
from .recording import Recording, ReplayError, Step, load

__all__ = ["Recording", "Replay", "ReplayError", "ReplayMismatch", "load_recording", "replay"]

load_recording = load

_MODES = ("live", "raise")


class ReplayMismatch(ReplayError):
    """A request did not match the recording (or came after ``until``) with ``on_mismatch="raise"``.

    ``step``: the recorded step the request was compared with (None past the end of the recording);
    ``event_id``: that step's event id; ``difference``: what differed, in one line.
    """

    def __init__(self, message: str, *, step: int | None, event_id: str | None, difference: str) -> None:
        super().__init__(message)
        self.step = step
        self.event_id = event_id
        self.difference = difference


class Replay:
    """A replay block: a context manager (``with`` / ``async with``) under which LLM calls are answered
    from a recorded session; made by :func:`replay` (the same class).

    session: a session id (or unique prefix) in the local store (``store=`` path, else the default
        store), a file written by ``sentrial-integrations export`` (json or jsonl), or a
        :class:`Recording`.
    until: the last step (number, or event id) answered from the recording; later calls go live (or
        raise).
    on_mismatch: ``"live"`` (default): a request that matches no recorded call goes to the real
        provider and the replay stays live from there; ``"raise"``: raise :class:`ReplayMismatch`.
    client: the Sentrial client that records the re-run (default: the default client).
    record: record the re-run as a new session (``replay_of`` in its metadata). Default True.
    name: the new session's name (default: the recorded session's).
    tools: ``"live"`` (default): tools run; ``"recorded"``: a LangChain tool (``@tool``,
        ``StructuredTool``, ``Tool``) or a LlamaIndex ``FunctionTool`` called with the recorded input
        gets the recorded result instead of running (another input runs live). Tool callbacks and
        instrumentation, and so the tracing, fire as usual.
    """

    def __init__(
        self,
        session: Any,
        *,
        until: int | str | None = None,
        on_mismatch: str = "live",
        store: str | None = None,
        client: Any = None,
        record: bool = True,
        name: str | None = None,
        tools: str = "live",
    ) -> None:
        if on_mismatch not in _MODES:
            raise ReplayError(f"on_mismatch must be 'live' or 'raise', not {on_mismatch!r}")
        if tools not in ("live", "recorded"):
            raise ReplayError(f"tools must be 'live' or 'recorded', not {tools!r}")
        self.tools = tools
        self.recording: Recording = load(session, store=store)
        self.until: int | None = self.recording.step_number(until)
        self.on_mismatch = on_mismatch
        self.record = record
        self._client = client
        self._name = name
        self._lock = threading.Lock()
        self._pending: list[Step] = self.recording.llm_steps()
        self._pending_tools: list[Step] = [
            s for s in self.recording.steps if s.type == TOOL_CALL and not s.event.get("error")
        ]
        #: with ``tools="recorded"``: tool steps answered from the recording, and tools that ran live
        self.served_tools: list[int] = []
        self.live_tools: list[str] = []
        self._fingerprints: dict[int, fp.Fingerprint] = {}
        #: step numbers answered from the recording, in the order they were served
        self.served: list[int] = []
        #: the step the replay went live at (None while every call was answered from the recording)
        self.live_at_step: int | None = None
        #: why it went live (a fingerprint difference, ``until``, or the end of the recording)
        self.live_reason: str | None = None
        #: requests that went to the real provider
        self.live_calls = 0
        #: step number → fields the recording lacked (served with stand-ins)
        self.missing: dict[int, list[str]] = {}
        #: the first mismatch raised (``on_mismatch="raise"``)
        self.mismatch: ReplayMismatch | None = None
        #: the output to close the re-run session with (the integrations joining it do not set one)
        self.output: Any = None
        self.session: Any = None
        self._token: Any = None
        self._session_token: Any = None
        self._uninstall: list[Callable[[], None]] = []  # what the block installed, in order
        self._entered = False

    # --- what the adapters ask -------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        return self.session.id if self.session is not None else None

    def _fingerprint(self, step: Step) -> fp.Fingerprint:
        got = self._fingerprints.get(step.number)
        if got is None:
            got = self._fingerprints[step.number] = fp.of_event(step.event)
        return got

    def _go_live(self, step: int | None, reason: str) -> None:
        """Stay live from here on (raise mode: raise instead)."""
        if self.on_mismatch == "raise":
            where = f"step {step}" if step is not None else "past the end of the recording"
            exc = ReplayMismatch(
                f"replay of {self.recording.id}: the request does not match {where}: {reason}",
                step=step,
                event_id=self._event_id(step),
                difference=reason,
            )
            if self.mismatch is None:
                self.mismatch = exc
            raise exc
        if self.live_at_step is None and self.live_reason is None:
            self.live_at_step = step
            self.live_reason = reason
        self.live_calls += 1

    def _event_id(self, step: int | None) -> str | None:
        if step is None or not 1 <= step <= len(self.recording.steps):
            return None
        return self.recording.steps[step - 1].id

    def openai_answer(self, kind: str, body: Mapping[str, Any]) -> Any:
        """The recorded answer for an OpenAI request, or None to send it to the provider."""
        with self._lock:
            chosen = self._take(kind, lambda: fp.of_request(kind, body))
            if chosen is None:
                return None
            try:
                missing = missing_fields(kind, chosen.event)
            except Exception:
                missing = []
            if missing:
                self.missing[chosen.number] = missing
            return Answer(kind, body, chosen.event, chosen.number)

    def serve_failed(self, step: int, reason: str) -> None:
        """A recorded answer could not be served (our own failure): the call went to the provider."""
        with self._lock:
            if step in self.served:
                self.served.remove(step)
            self.missing.pop(step, None)
            if self.live_reason is None:
                self.live_at_step, self.live_reason = step, reason
            self.live_calls += 1

    def langchain_answer(self, prompt: str) -> Step | None:
        """The recorded LLM step answering a LangChain cache lookup, or None to let the model run."""
        with self._lock:
            return self._take("langchain", lambda: fp.of_langchain_prompt(prompt))

    def _take(self, kind: str, request: Callable[[], fp.Fingerprint]) -> Step | None:
        """The recorded LLM step answering ``request()`` (taken: counted as served), or None when the
        replay goes (or stays) live. With ``self._lock`` held."""
        if self.live_reason is not None:  # went live earlier: stays live
            self.live_calls += 1
            return None
        try:
            chosen, diff = self._match(kind, request())
        except Exception as exc:  # our own failure: the call goes live rather than failing
            chosen, diff = None, f"internal error while matching: {type(exc).__name__}"
        if chosen is None:
            expected = self._pending[0].number if self._pending else None
            if expected is not None and self.until is not None and expected > self.until:
                diff = f"step {expected} comes after until={self.until}"
            self._go_live(expected, diff or "no recorded LLM call left")
            return None
        self._pending.remove(chosen)
        self.served.append(chosen.number)
        return chosen

    def tool_answer(self, name: str, tool_input: Any) -> Step | None:
        """The recorded result of a tool call (same tool, same input, in order), or None to run it."""
        with self._lock:
            want = fp.canonical_json(tool_input)
            for step in self._pending_tools:
                if self.until is not None and step.number > self.until:
                    break
                if step.name == name and fp.canonical_json(step.event.get("input")) == want:
                    self._pending_tools.remove(step)
                    self.served_tools.append(step.number)
                    return step
            self.live_tools.append(name)
            return None

    def _match(self, kind: str, request: fp.Fingerprint) -> tuple[Step | None, str | None]:
        if not self._pending:
            return None, "the recording has no LLM call left"
        first_diff: str | None = None
        for step in self._pending:
            if self.until is not None and step.number > self.until:
                break
            recorded_kind = fp.recorded_kind(step.event)
            if recorded_kind is not None and recorded_kind != kind and "embeddings" in (recorded_kind, kind):
                diff: str | None = f"recorded a {recorded_kind} call, the request is {kind}"
            else:
                diff = fp.difference(self._fingerprint(step), request)
                if diff is None:
                    diff = unservable("chat" if kind == "langchain" else kind, step.event)
            if diff is None:
                return step, None
            if first_diff is None:
                first_diff = diff
        return None, first_diff

    # --- the block -------------------------------------------------------------------------------

    def _enter(self) -> Replay:
        from . import langchain_adapter, llamaindex_adapter, openai_adapter

        if self._entered:
            raise ReplayError("a replay block cannot be entered twice; make a new replay(...)")
        self._entered = True
        adapters = [
            (openai_adapter.install, openai_adapter.uninstall),
            (langchain_adapter.install, langchain_adapter.uninstall),
        ]
        if self.tools == "recorded":
            adapters.append((langchain_adapter.install_tools, langchain_adapter.uninstall_tools))
            adapters.append((llamaindex_adapter.install_tools, llamaindex_adapter.uninstall_tools))
        for install, uninstall in adapters:
            if install():
                self._uninstall.append(uninstall)
        self._token = current.set(self)
        if self.record:
            try:
                self._open_session()
            except Exception:
                self.session = None
        return self

    def _open_session(self) -> None:
        from ..core.api.client import get_client
        from ..core.context import set_current_session

        client = self._client or get_client()
        s = self.recording.session
        name = self._name or str(s.get("name") or "replay")
        meta: dict[str, Any] = {"replay_of": self.recording.id, "replay_on_mismatch": self.on_mismatch}
        if self.until is not None:
            meta["replay_until"] = self.until
        agent = s.get("agent_name")
        self.session = client.session(name, meta, agent_name=agent if isinstance(agent, str) else None)
        self._session_token = set_current_session(self.session)

    def summary(self) -> dict[str, Any]:
        """What the replay did: served steps, the step it went live at and why, missing fields."""
        return {
            "replay_of": self.recording.id,
            "replay_served": len(self.served),
            "replay_served_steps": list(self.served),
            "replay_live_at_step": self.live_at_step,
            "replay_live_reason": self.live_reason,
            "replay_live_calls": self.live_calls,
            "replay_missing": {str(k): v for k, v in self.missing.items()},
            **(
                {
                    "replay_served_tool_steps": list(self.served_tools),
                    "replay_live_tools": list(self.live_tools),
                }
                if self.tools == "recorded"
                else {}
            ),
        }

    def _exit(self, exc: BaseException | None) -> None:
        try:
            if self._token is not None:
                try:
                    current.reset(self._token)
                except ValueError:
                    current.set(None)
                self._token = None
            while self._uninstall:
                self._uninstall.pop(0)()
            self._close_session(exc)
        except Exception:  # never mask the caller's exception, never raise our own
            pass

    def _close_session(self, exc: BaseException | None) -> None:
        from ..core.context import reset_current_session

        if self._session_token is not None:
            try:
                reset_current_session(self._session_token)
            except Exception:
                pass
            self._session_token = None
        session = self.session
        if session is None or session.closed:
            return
        metrics = self.summary()
        if exc is None:
            session.close(SUCCESS, output=self.output, custom_metrics=metrics)
        elif isinstance(exc, Exception):
            session.client.track_error(session.id, exc)
            session.close(ERROR, failure_reason=f"{type(exc).__name__}: {exc}", custom_metrics=metrics)
        else:
            session.close(ABANDONED, failure_reason=type(exc).__name__, custom_metrics=metrics)

    def __enter__(self) -> Replay:
        return self._enter()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._exit(exc)

    async def __aenter__(self) -> Replay:
        return self._enter()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._exit(exc)

    def __repr__(self) -> str:
        return (
            f"Replay(of={self.recording.id!r}, served={len(self.served)}, live_at_step={self.live_at_step!r})"
        )


#: ``replay(session, ...)``: a replay block (see :class:`Replay` for the parameters).
replay = Replay
