"""Exporter to the Sentrial REST API (``/api/sdk/sessions``, ``/api/sdk/events``, ``PATCH`` to close).

Within a batch, each session's records are sent in order, one after the other; different sessions are
sent concurrently. A session's events go only after its creation succeeded (the server id is mapped
from the client id), and a failure stops that session's remaining records so they are retried in order.
"""

from __future__ import annotations

import encodings.idna  # noqa: F401  (socket.getaddrinfo looks the codec up lazily)
import functools
import queue
import ssl  # noqa: F401
import threading
from collections.abc import Callable
from typing import Any

# httpx imports these lazily inside Client(); import them now so no worker thread is ever the first
# to import them: a fork while a thread holds a module's import lock deadlocks the child.
import certifi  # noqa: F401
import httpcore  # noqa: F401
import httpx

from .. import wire
from ..log import RateLimitedWarner
from ..model import BULKY_FIELDS
from ..serialize import dumps, dumps_bytes, fit
from .base import DROP, OK, RETRY, ExportResult, parse_retry_after
from .transport import Response, TransportError, make_transport

USER_AGENT = "sentrial-integrations/0.1 (python)"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class _Outcome:
    __slots__ = ("auth", "retry_after", "value")

    def __init__(self, value: int, retry_after: float | None = None, auth: bool = False) -> None:
        self.value = value
        self.retry_after = retry_after
        self.auth = auth


class _Pool:
    """A few daemon threads that run one batch's session groups concurrently.

    Not ``concurrent.futures``: its executors refuse work once interpreter shutdown has begun, which
    is exactly when the exit flush needs them.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._tasks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def run_all(self, calls: list[Callable[[], Any]]) -> list[Any]:
        while len(self._threads) < min(self.size, len(calls)):
            t = threading.Thread(target=self._work, name="sentrial-http", daemon=True)
            t.start()
            self._threads.append(t)
        results: list[Any] = [None] * len(calls)
        remaining = [len(calls)]
        done = threading.Condition()

        def wrap(i: int, fn: Callable[[], Any]) -> Callable[[], None]:
            def task() -> None:
                try:
                    results[i] = fn()
                finally:
                    with done:
                        remaining[0] -= 1
                        done.notify()

            return task

        for i, fn in enumerate(calls):
            self._tasks.put(wrap(i, fn))
        with done:
            while remaining[0]:
                done.wait()
        return results

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            try:
                task()
            except Exception:
                pass

    def close(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)
        self._threads = []


class SentrialHTTPExporter:
    name = "sentrial_http"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        max_concurrency: int = 8,
        max_event_bytes: int = 1_000_000,
        get_server_id: Callable[[str], str | None] | None = None,
        warner: RateLimitedWarner | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_event_bytes = max_event_bytes
        self._concurrency = max(1, max_concurrency)
        self._get_server_id = get_server_id
        self._warner = warner or RateLimitedWarner()
        self._client = make_transport(
            self.base_url,
            {
                "Authorization": f"Bearer {api_key}",
                "User-Agent": USER_AGENT,
                "Content-Type": "application/json",
            },
            timeout,
            self._concurrency,
            transport,
        )
        self._ids: dict[str, str] = {}
        self._dead: set[str] = set()
        self.new_ids: dict[str, str] = {}
        self._new_ids_lock = threading.Lock()
        self._pool = _Pool(self._concurrency)

    # --- batch -----------------------------------------------------------------------------------

    def export(self, records: list[dict[str, Any]]) -> ExportResult:
        # One group per session, sent in order; a child session created in this batch joins its
        # parent's group so the parent exists (and its server id is known) before the child is created.
        group_of: dict[str, str] = {}
        groups: dict[str, list[int]] = {}
        for i, rec in enumerate(records):
            sid = rec.get("session_id") or ""
            key = group_of.get(sid)
            if key is None:
                parent = rec.get("parent_session_id") if rec.get("kind") == "session_start" else None
                key = group_of[sid] = group_of.get(parent, sid) if parent else sid
            groups.setdefault(key, []).append(i)
        outcomes = [RETRY] * len(records)
        results: list[_Outcome] = []
        if len(groups) == 1 or self._concurrency == 1:
            for idxs in groups.values():
                results.extend(self._send_group(records, idxs, outcomes))
        else:
            calls: list[Callable[[], Any]] = [
                functools.partial(self._send_group, records, idxs, outcomes) for idxs in groups.values()
            ]
            for failures in self._pool.run_all(calls):
                results.extend(failures or [])
        retry_after = max((r.retry_after for r in results if r.retry_after is not None), default=None)
        return ExportResult(outcomes, retry_after=retry_after, auth_failed=any(r.auth for r in results))

    def _send_group(
        self, records: list[dict[str, Any]], idxs: list[int], outcomes: list[int]
    ) -> list[_Outcome]:
        failures: list[_Outcome] = []
        for i in idxs:
            try:
                out = self._send_one(records[i])
            except Exception as exc:  # our own mistake: never retry forever on it
                self._warner.warn(
                    f"internal:{type(exc).__name__}", "Sentrial: could not send a record: %r", exc
                )
                out = _Outcome(DROP)
            if out.value == RETRY:
                failures.append(out)
                break
            outcomes[i] = out.value
        return failures

    def take_new_ids(self) -> dict[str, str]:
        with self._new_ids_lock:
            ids, self.new_ids = self.new_ids, {}
        return ids

    # --- one record ------------------------------------------------------------------------------

    def _server_id(self, client_id: str) -> str | None:
        sid = self._ids.get(client_id)
        if sid is None and self._get_server_id is not None:
            sid = self._get_server_id(client_id)
            if sid:
                self._ids[client_id] = sid
        return sid

    def _send_one(self, rec: dict[str, Any]) -> _Outcome:
        kind = rec.get("kind")
        cid = rec["session_id"]
        if kind == "session_start":
            if self._server_id(cid):
                return _Outcome(OK)
            body = wire.session_body(rec)
            parent = rec.get("parent_session_id")
            if parent:
                parent_sid = self._server_id(parent)
                if parent_sid:
                    body["parentSessionId"] = parent_sid
                else:  # the parent never reached the API: keep the link as metadata only
                    body.pop("parentSessionId", None)
                    body["metadata"] = {**body.get("metadata", {}), "parent_client_session_id": parent}
            resp = self._request("POST", "/api/sdk/sessions", body, cid)
            if isinstance(resp, _Outcome):
                if resp.value == DROP:
                    self._dead.add(cid)
                return resp
            try:
                sid = str(resp.json()["id"])
            except Exception:
                self._warner.warn("bad-create-response", "Sentrial: session create answered without an id")
                self._dead.add(cid)
                return _Outcome(DROP)
            self._ids[cid] = sid
            with self._new_ids_lock:
                self.new_ids[cid] = sid
            return _Outcome(OK)

        server_sid = self._server_id(cid)
        if server_sid is None:
            if cid not in self._dead:
                self._warner.warn(
                    "no-session",
                    "Sentrial: dropping data of session %s: the API never accepted its creation",
                    cid,
                )
            return _Outcome(DROP)
        if kind == "event":
            rec, body = self._fit(rec, lambda r: wire.event_body(r, server_sid))
            return self._finish(self._request("POST", "/api/sdk/events", body, rec["id"], rec, server_sid))
        if kind == "session_close":
            body = wire.close_body(rec)
            return self._finish(
                self._request("PATCH", f"/api/sdk/sessions/{server_sid}", body, f"{cid}.close")
            )
        return _Outcome(DROP)

    @staticmethod
    def _finish(resp: Response | _Outcome) -> _Outcome:
        return resp if isinstance(resp, _Outcome) else _Outcome(OK)

    def _fit(
        self,
        rec: dict[str, Any],
        to_body: Callable[[dict[str, Any]], dict[str, Any]],
        max_bytes: int | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        limit = max_bytes or self.max_event_bytes
        body = to_body(rec)
        if len(dumps(body).encode("utf-8")) <= limit:
            return rec, body
        rec, _ = fit(rec, max(1_024, limit - 4_096), BULKY_FIELDS)
        return rec, to_body(rec)

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        idempotency_key: str,
        rec: dict[str, Any] | None = None,
        sid: str | None = None,
    ) -> Response | _Outcome:
        shrink_limit = self.max_event_bytes
        for _attempt in range(6):
            try:
                resp = self._client.request(
                    method, path, dumps_bytes(body), {"Idempotency-Key": idempotency_key}
                )
            except TransportError as exc:
                self._warner.warn(
                    f"transport:{type(exc).__name__}",
                    "Sentrial API unreachable at %s (%s); events are kept and retried",
                    self.base_url,
                    exc,
                )
                return _Outcome(RETRY)
            status = resp.status_code
            if status < 300:
                return resp
            if status == 409:  # already there
                return resp
            if status == 413 and rec is not None and sid is not None:
                shrink_limit = max(1_024, shrink_limit // 4)
                rec, body = self._fit(rec, lambda r: wire.event_body(r, sid), shrink_limit)
                self._warner.warn(
                    "413", "Sentrial API said an event was too large (413); re-sending it trimmed"
                )
                continue
            if status in RETRY_STATUSES:
                self._warner.warn(
                    f"status:{status}",
                    "Sentrial API answered HTTP %s on %s %s; will retry",
                    status,
                    method,
                    path.split("/sess_")[0],
                )
                return _Outcome(RETRY, parse_retry_after(resp.headers.get("retry-after")))
            if status in (401, 403):
                self._warner.warn(
                    f"auth:{status}",
                    "Sentrial API rejected the API key (HTTP %s). Events are kept in the spool and retried "
                    "slowly until the key is accepted or the spool cap is reached; check SENTRIAL_API_KEY.",
                    status,
                )
                return _Outcome(RETRY, 30.0, auth=True)
            self._warner.warn(
                f"status:{status}:{method}",
                "Sentrial API refused %s %s with HTTP %s (%s); that record is dropped",
                method,
                "/api/sdk/" + path.split("/api/sdk/")[-1].split("/")[0],
                status,
                _error_text(resp),
            )
            return _Outcome(DROP)
        return _Outcome(DROP)

    def close(self) -> None:
        self._pool.close()
        try:
            self._client.close()
        except Exception:
            pass


def _error_text(resp: Response) -> str:
    try:
        data = resp.json()
        if isinstance(data, dict):
            return str(data.get("message") or data.get("error") or "")[:200]
    except Exception:
        pass
    return resp.text[:200]
