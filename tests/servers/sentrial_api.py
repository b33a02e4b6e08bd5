"""A loopback fake of the Sentrial public SDK ingestion API.

In-process::

    with SentrialAPIServer(api_key="test-key") as api:
        httpx.post(f"{api.url}/api/sdk/sessions", json={"name": "x"},
                   headers={"Authorization": "Bearer test-key"})
        assert api.wait_for(lambda s: len(s.sessions) == 1, timeout=2)

As a subprocess::

    python -m tests.servers.sentrial_api --port 0 [--api-key KEY | --no-auth]
    # prints "READY http://127.0.0.1:PORT" once listening; SIGTERM to stop.

A subprocess instance can be inspected and steered through un-authenticated,
un-recorded admin endpoints: ``GET /_test/state``, ``POST /_test/fail_next``
({n, status, retry_after, body}), ``POST /_test/delay`` ({seconds}),
``POST /_test/hang`` ({on}), ``POST /_test/lose_response_next`` ({n}),
``POST /_test/clear_faults``, ``POST /_test/reset``, ``POST /_test/mangle_next`` ({n, how, path}).

``mangle_next(n, how, path=None)``: the next n requests (to ``path`` if given) are processed and
recorded as usual, then answered wrongly: ``cut_headers`` (the header block is cut and the connection
closed), ``no_length`` (no Content-Length and half the body, then close), ``garbage`` (200 with a body
that is not JSON), ``conflict_no_id`` (409 without an id), ``drip`` (headers, then the body one byte
every ``drip_interval`` seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

from tests.servers._base import BaseHandler, LoopbackServer, run_cli

__all__ = ["CLOSE_STATUSES", "EVENT_TYPES", "SentrialAPIServer", "main"]

EVENT_TYPES = frozenset({"tool_call", "llm_decision", "error"})
CLOSE_STATUSES = frozenset({"completed", "failed"})

_SESSIONS_PATH = "/api/sdk/sessions"
_SESSION_PREFIX = "/api/sdk/sessions/"
_EVENTS_PATH = "/api/sdk/events"
_HEALTH_PATHS = frozenset({"/health", "/api/health"})

_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}

_MALFORMED = object()  # body sentinel: not valid JSON

Predicate = Callable[[str, str, Any], bool]


def _error(status: int, message: str) -> dict[str, str]:
    return {"error": _ERROR_CODES.get(status, "error"), "message": message}


def _fmt_retry_after(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class _Reply:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.headers = headers


class SentrialAPIServer(LoopbackServer):
    """Fake Sentrial ingestion API on 127.0.0.1 (see module docstring)."""

    def __init__(
        self,
        api_key: str | None = "test-key",
        max_body_bytes: int = 1_000_000,
        port: int = 0,
    ) -> None:
        super().__init__(port)
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self._auth_header = f"Bearer {api_key}" if api_key is not None else None
        self._reset_state()
        # faults
        self._fail_next: list[tuple[int, float | None, Any]] = []
        self._matchers: list[tuple[Predicate, int]] = []
        self._delay = 0.0
        self._hang = False
        self._hanging = 0
        self._lose_next = 0
        self._mangle: list[tuple[str, str | None]] = []
        self._answering = 0
        self._instance = os.urandom(3).hex() + "_"
        self.drip_interval = 1.0

    def _reset_state(self) -> None:
        self._sessions: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._requests: list[dict[str, Any]] = []
        self._duplicates = 0
        self._idem: dict[tuple[str, str, str], _Reply] = {}
        self._session_seq = 0
        self._event_seq = 0

    # -- public state (copies) ---------------------------------------------------

    @property
    def url(self) -> str:
        return self.base_url

    @property
    def sessions(self) -> dict[str, dict[str, Any]]:
        with self._cond:
            return {sid: self._copy_session(s) for sid, s in self._sessions.items()}

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._cond:
            return [dict(e) for e in self._events]

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request, in arrival order, including rejected ones and duplicates.

        Keys: method, path, status (0 = never answered: hung), headers (lower-cased names),
        body (parsed JSON or None), size (body bytes), t (arrival, time.monotonic()), and the
        flags duplicate / injected / hung / lost.
        """
        with self._cond:
            return [dict(r) for r in self._requests]

    @property
    def duplicates(self) -> int:
        with self._cond:
            return self._duplicates

    # cheap counters for wait_for predicates under load
    @property
    def event_count(self) -> int:
        return len(self._events)

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    @property
    def request_count(self) -> int:
        return len(self._requests)

    @property
    def hanging(self) -> int:
        """Number of requests currently held by ``hang(True)``."""
        with self._cond:
            return self._hanging

    def session_by_name(self, name: str) -> dict[str, Any] | None:
        with self._cond:
            for s in self._sessions.values():
                if s["body"].get("name") == name:
                    return self._copy_session(s)
        return None

    def events_for(self, server_id: str) -> list[dict[str, Any]]:
        with self._cond:
            s = self._sessions.get(server_id)
            return [dict(e) for e in s["events"]] if s else []

    def reset(self) -> None:
        """Forget all recorded state (faults are kept; see clear_faults)."""
        with self._cond:
            self._reset_state()
            self._cond.notify_all()

    @staticmethod
    def _copy_session(s: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": s["id"],
            "body": dict(s["body"]),
            "closes": [dict(c) for c in s["closes"]],
            "events": [dict(e) for e in s["events"]],
        }

    # -- fault controls -----------------------------------------------------------

    def fail_next(
        self, n: int, status: int = 503, retry_after: float | None = None, body: Any = None
    ) -> None:
        with self._cond:
            self._fail_next.extend([(status, retry_after, body)] * n)

    def fail_matching(self, predicate: Predicate, status: int) -> None:
        """Requests for which ``predicate(method, path, body)`` is true get ``status``."""
        with self._cond:
            self._matchers.append((predicate, status))

    def lose_response_next(self, n: int) -> None:
        """The next n requests are processed and recorded as usual, but the connection is closed
        instead of answering (the "server got it, client never heard back" case for retries)."""
        with self._cond:
            self._lose_next += n

    def mangle_next(self, n: int, how: str, path: str | None = None) -> None:
        """The next n requests (to ``path``) are processed, then answered wrongly (see module doc)."""
        if how not in ("cut_headers", "no_length", "garbage", "conflict_no_id", "drip"):
            raise ValueError(how)
        with self._cond:
            self._mangle.extend([(how, path)] * n)

    def clear_faults(self) -> None:
        """Clear fail_next, fail_matching, lose_response_next, mangle_next, set_delay and hang."""
        with self._cond:
            self._mangle.clear()
            self._fail_next.clear()
            self._matchers.clear()
            self._lose_next = 0
            self._delay = 0.0
            self._hang = False
            self._cond.notify_all()

    def set_delay(self, seconds: float) -> None:
        with self._cond:
            self._delay = max(0.0, float(seconds))

    def _on_stop(self) -> None:
        self._hang = False  # stop() releases (closes) held requests; a restart answers again

    def hang(self, on: bool = True) -> None:
        """Read requests but never answer; hang(False) closes the held connections."""
        with self._cond:
            self._hang = bool(on)
            self._cond.notify_all()

    # -- request handling ---------------------------------------------------------

    def handle(self, h: BaseHandler) -> None:
        method = h.command
        path = h.path.split("?", 1)[0]
        if path.startswith("/_test/"):
            self._admin(h, method, path)
            return
        epoch = self._epoch
        interrupt = self._interrupt
        raw, size = h.read_body(self.max_body_bytes)
        arrived = time.monotonic()
        headers = h.lower_headers()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = _MALFORMED
        recorded_body = None if body is _MALFORMED else body

        if self._hang:
            with self._cond:
                if self._hang and self._epoch == epoch:
                    self._hanging += 1
                    self._cond.notify_all()
                    self._cond.wait_for(lambda: not self._hang or self._epoch != epoch)
                    self._hanging -= 1
                    self._record(method, path, 0, headers, recorded_body, size, arrived, hung=True)
                    h.close_connection = True
                    return

        delay = self._delay
        if delay > 0:
            interrupt.wait(delay)
        if self._epoch != epoch:  # went down while we were waiting
            h.close_connection = True
            return

        with self._cond:
            if self._epoch != epoch or not self.is_up:  # going or gone down: neither processed nor answered
                h.close_connection = True
                return
            reply = self._process(method, path, headers, body, raw is None, size, arrived)
            self._answering += 1  # processed: going down now still answers it (see _before_drop)
            lose = not self._requests[-1]["injected"] and self._lose_next > 0
            if lose:
                self._lose_next -= 1
                self._requests[-1]["lost"] = True
            how = None
            if not lose and not self._requests[-1]["injected"]:
                for i, (m_how, m_path) in enumerate(self._mangle):
                    if m_path is None or m_path == path:
                        how = m_how
                        del self._mangle[i]
                        self._requests[-1]["mangled"] = how
                        break
        try:
            if lose:
                h.close_connection = True
                return
            if how is not None:
                self._send_mangled(h, how, reply, interrupt)
                return
            h.send_bytes(reply.status, reply.body, "application/json", reply.headers)
        finally:
            with self._cond:
                self._answering -= 1
                self._cond.notify_all()

    def _before_drop(self) -> None:
        """An outage refuses new requests; a request already processed still gets its answer (a lost
        answer is its own fault: lose_response_next). Drips and hangs are cut, they are not answers."""
        with self._cond:
            self._cond.wait_for(lambda: self._answering == 0, 10.0)

    def _send_mangled(self, h: BaseHandler, how: str, reply: _Reply, interrupt: Any) -> None:
        h.close_connection = True
        status_line = f"HTTP/1.1 {reply.status} OK\r\n".encode()
        if how == "cut_headers":
            h.wfile.write(status_line + b"Content-Type: applic")
        elif how == "no_length":
            h.wfile.write(status_line + b"Content-Type: application/json\r\nConnection: close\r\n\r\n")
            h.wfile.write(reply.body[: max(1, len(reply.body) // 2)])
        elif how == "garbage":
            h.send_bytes(200, b"<html>upstream says hello</html>", "text/html")
        elif how == "conflict_no_id":
            h.send_bytes(409, json.dumps(_error(409, "conflict")).encode(), "application/json")
        elif how == "drip":
            head = (
                f"HTTP/1.1 {reply.status} OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(reply.body)}\r\n\r\n"
            ).encode()
            h.wfile.write(head)
            h.wfile.flush()
            for i in range(len(reply.body)):
                if interrupt.wait(self.drip_interval):
                    return
                try:
                    h.wfile.write(reply.body[i : i + 1])
                    h.wfile.flush()
                except OSError:
                    return

    def _record(
        self,
        method: str,
        path: str,
        status: int,
        headers: dict[str, str],
        body: Any,
        size: int,
        arrived: float,
        **flags: bool,
    ) -> None:
        entry = {
            "method": method,
            "path": path,
            "status": status,
            "headers": headers,
            "body": body,
            "size": size,
            "t": arrived,
            "duplicate": False,
            "injected": False,
            "hung": False,
            "lost": False,
            "mangled": None,
        }
        entry.update(flags)
        self._requests.append(entry)
        self._cond.notify_all()

    def _process(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any,
        too_big: bool,
        size: int,
        arrived: float,
    ) -> _Reply:
        """Runs under self._cond."""
        recorded_body = None if body is _MALFORMED else body

        def done(reply: _Reply, **flags: bool) -> _Reply:
            self._record(method, path, reply.status, headers, recorded_body, size, arrived, **flags)
            return reply

        # 1. injected faults
        if self._fail_next:
            status, retry_after, fault_body = self._fail_next.pop(0)
            return done(self._fault_reply(status, retry_after, fault_body), injected=True)
        for predicate, status in self._matchers:
            try:
                hit = predicate(method, path, recorded_body)
            except Exception:
                hit = False
            if hit:
                return done(self._fault_reply(status, None, None), injected=True)

        # 2. health (no auth), auth, size, JSON
        if method == "GET" and path in _HEALTH_PATHS:
            return done(_Reply(200, {"ok": True}))
        if self._auth_header is not None and headers.get("authorization") != self._auth_header:
            return done(_Reply(401, _error(401, "missing or invalid API key")))
        if too_big:
            return done(
                _Reply(413, _error(413, f"request body of {size} bytes exceeds {self.max_body_bytes}"))
            )
        if body is _MALFORMED:
            return done(_Reply(400, _error(400, "malformed JSON body")))

        # 3. idempotency
        idem_key = headers.get("idempotency-key")
        if idem_key is not None and method in ("POST", "PATCH"):
            cached = self._idem.get((method, path, idem_key))
            if cached is not None:
                self._duplicates += 1
                return done(cached, duplicate=True)

        # 4. routing
        reply = self._route(method, path, body)
        if idem_key is not None and method in ("POST", "PATCH") and 200 <= reply.status < 300:
            self._idem[(method, path, idem_key)] = reply
        return done(reply)

    @staticmethod
    def _fault_reply(status: int, retry_after: float | None, body: Any) -> _Reply:
        headers = {"Retry-After": _fmt_retry_after(retry_after)} if retry_after is not None else None
        if body is None:
            body = _error(status, f"injected fault ({status})")
        elif isinstance(body, str):
            body = body.encode()
        return _Reply(status, body, headers)

    def _route(self, method: str, path: str, body: Any) -> _Reply:
        if path == _SESSIONS_PATH:
            if method != "POST":
                return _Reply(405, _error(405, f"{method} not allowed on {path}"))
            return self._create_session(body)
        if path == _EVENTS_PATH:
            if method != "POST":
                return _Reply(405, _error(405, f"{method} not allowed on {path}"))
            return self._create_event(body)
        if path.startswith(_SESSION_PREFIX) and "/" not in path[len(_SESSION_PREFIX) :]:
            if method != "PATCH":
                return _Reply(405, _error(405, f"{method} not allowed on {path}"))
            return self._close_session(path[len(_SESSION_PREFIX) :], body)
        return _Reply(404, _error(404, f"no route for {method} {path}"))

    def _create_session(self, body: Any) -> _Reply:
        if not isinstance(body, dict):
            return _Reply(400, _error(400, "body must be a JSON object"))
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            return _Reply(400, _error(400, "'name' is required and must be a non-empty string"))
        for key in ("agentName", "userId", "parentSessionId", "convoId"):
            if body.get(key) is not None and not isinstance(body[key], str):
                return _Reply(400, _error(400, f"'{key}' must be a string or null"))
        if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
            return _Reply(400, _error(400, "'metadata' must be an object or null"))
        parent = body.get("parentSessionId")
        if parent is not None and parent not in self._sessions:
            return _Reply(404, _error(404, f"parent session {parent!r} not found"))
        self._session_seq += 1
        # ids unique across server instances, as the real API's are: a shipper left over from another
        # test that reaches a new server on a reused port gets 404s, never someone else's session
        sid = f"sess_{self._instance}{self._session_seq}"
        self._sessions[sid] = {"id": sid, "body": body, "closes": [], "events": []}
        return _Reply(
            201,
            {
                "id": sid,
                "name": name,
                "agentName": body.get("agentName"),
                "userId": body.get("userId"),
                "status": "active",
            },
        )

    def _create_event(self, body: Any) -> _Reply:
        if not isinstance(body, dict):
            return _Reply(400, _error(400, "body must be a JSON object"))
        sid = body.get("sessionId")
        if not isinstance(sid, str) or not sid:
            return _Reply(400, _error(400, "'sessionId' is required"))
        event_type = body.get("eventType")
        if event_type not in EVENT_TYPES:
            return _Reply(400, _error(400, f"'eventType' must be one of {sorted(EVENT_TYPES)}"))
        if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
            return _Reply(400, _error(400, "'metadata' must be an object or null"))
        session = self._sessions.get(sid)
        if session is None:
            return _Reply(404, _error(404, f"session {sid!r} not found"))
        self._event_seq += 1
        eid = f"evt_{self._event_seq}"
        event = dict(body)
        event["_session"] = sid
        session["events"].append(event)
        self._events.append(event)
        return _Reply(200, {"id": eid})

    def _close_session(self, sid: str, body: Any) -> _Reply:
        if not isinstance(body, dict):
            return _Reply(400, _error(400, "body must be a JSON object"))
        session = self._sessions.get(sid)
        if session is None:
            return _Reply(404, _error(404, f"session {sid!r} not found"))
        status = body.get("status")
        if status is not None and status not in CLOSE_STATUSES:
            return _Reply(400, _error(400, f"'status' must be one of {sorted(CLOSE_STATUSES)}"))
        session["closes"].append(body)
        return _Reply(200, {"id": sid, "status": status or "active"})

    # -- admin (subprocess mode) ----------------------------------------------------

    def _admin(self, h: BaseHandler, method: str, path: str) -> None:
        raw, _ = h.read_body(10_000_000)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        op = path[len("/_test/") :]
        if method == "GET" and op == "state":
            with self._cond:
                payload: Any = {
                    "sessions": self.sessions,
                    "events": self.events,
                    "requests": self.requests,
                    "duplicates": self._duplicates,
                }
            h.send_json(200, payload)
            return
        if method != "POST":
            h.send_json(404, _error(404, "unknown admin endpoint"))
            return
        if op == "fail_next":
            self.fail_next(
                int(body.get("n", 1)), int(body.get("status", 503)), body.get("retry_after"), body.get("body")
            )
        elif op == "mangle_next":
            self.mangle_next(int(body.get("n", 1)), str(body.get("how")), body.get("path"))
        elif op == "lose_response_next":
            self.lose_response_next(int(body.get("n", 1)))
        elif op == "delay":
            self.set_delay(float(body.get("seconds", 0)))
        elif op == "hang":
            self.hang(bool(body.get("on", True)))
        elif op == "clear_faults":
            self.clear_faults()
        elif op == "reset":
            self.reset()
        else:
            h.send_json(404, _error(404, "unknown admin endpoint"))
            return
        h.send_json(200, {"ok": True})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Sentrial SDK API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--no-auth", action="store_true", help="accept requests without Authorization")
    parser.add_argument("--max-body-bytes", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    server = SentrialAPIServer(
        api_key=None if args.no_auth else args.api_key,
        max_body_bytes=args.max_body_bytes,
        port=args.port,
    ).start()
    run_cli(server, server.url)


if __name__ == "__main__":
    main()
