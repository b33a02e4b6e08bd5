"""Builds records from the caller's ops, on the recorder thread: convert, redact, truncate, cost, size-cap."""

from __future__ import annotations

from typing import Any

from .. import model as M
from ..config import Config
from ..log import RateLimitedWarner
from . import providers
from .normalize import finite_float, normalize_record, text_value
from .pricing import PROVIDER_SOURCE, price_call
from .redact import Redactor
from .serialize import TRUNCATION_MARKER, Converter, Limits, fit


class RecordBuilder:
    """Worker-side: ops → records. Keeps per-session LLM totals for the close record."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.limits = Limits(max_string=cfg.max_string_length)
        self.redactor = Redactor(secrets=cfg.redact_secrets, pii=cfg.redact_pii)
        self.hook = cfg.redact
        self.totals: dict[str, list[Any]] = {}
        self.unpriced: dict[str, int] = {}  # per open session: LLM calls whose cost is unknown
        self.warner = RateLimitedWarner()
        self._conv = Converter(self.limits, self.redactor)  # reused; .size = estimated JSON size
        # In a forked child, events recorded into a session inherited from the parent reuse the
        # parent's sequence numbers; a suffix keeps their ids (and idempotency keys) distinct.
        self.id_suffix = ""

    def conv(self, value: Any) -> Any:
        """JSON data from any value: converted, truncated and redacted in one walk."""
        if value is None:
            return None
        return self._conv.convert(value)

    def build(self, op: tuple[Any, ...]) -> dict[str, Any] | None:
        kind, sid, seq, ts_ns, payload = op
        self._conv.size = 0
        if kind == M.EVENT:
            rec = self._event(sid, seq, ts_ns, payload)
        elif kind == M.SESSION_START:
            rec = self._start(sid, ts_ns, payload)
        else:
            rec = self._close(sid, seq, ts_ns, payload)
        return self._finish(rec)

    def _text(self, value: Any, cap: int = 1_000) -> str | None:
        """A short text field (names, ids, model): converted, redacted and cut to ``cap`` characters."""
        if value is None:
            return None
        if type(value) is str:
            # cut once, at the tighter of the two limits, so the marker counts only the text cut
            limit = min(cap, self.limits.max_string)
            if len(value) > limit:
                return self._conv.cut(value[:limit]) + TRUNCATION_MARKER.format(n=len(value) - limit)
            return self._conv.cut(value)
        v = self.conv(value)
        if not isinstance(v, str):
            v = text_value(v)  # not text: its JSON text
        if len(v) > cap:
            v = v[:cap] + TRUNCATION_MARKER.format(n=len(v) - cap)
        return v

    def _start(self, sid: str, ts_ns: int, p: dict[str, Any]) -> dict[str, Any]:
        metadata = self.conv(p.get("metadata")) or {}
        if not isinstance(metadata, dict):
            metadata = {"value": metadata}
        user_id = p.get("user_id")
        if user_id is None and isinstance(metadata.get("user_id"), (str, int)):
            user_id = str(metadata["user_id"])
        self.totals[sid] = [None, None, None, None]
        return {
            "kind": M.START_RECORD,
            "session_id": sid,
            "name": self._text(p.get("name")) or "session",
            "agent_name": self._text(p.get("agent_name")),
            "user_id": self._text(user_id),
            "parent_session_id": p.get("parent_session_id"),
            "convo_id": self._text(p.get("convo_id")),
            "metadata": metadata,
            "project_id": self.cfg.project_id,
            "ts": ts_ns / 1e9,
        }

    def _event(self, sid: str, seq: int, ts_ns: int, f: dict[str, Any]) -> dict[str, Any]:
        etype = f["type"]
        duration = finite_float(f.get("duration_ms"))
        if duration is not None and duration < 0:
            duration = None
        start = finite_float(f.get("start_time"))
        ts = start if start is not None else ts_ns / 1e9 - (duration or 0.0) / 1000.0
        rec: dict[str, Any] = {
            "kind": M.EVENT_RECORD,
            "id": M.event_id(sid, seq) + self.id_suffix,
            "session_id": sid,
            "seq": seq,
            "type": etype,
            "name": self._text(f.get("name")),
            "ts": ts,
            "duration_ms": duration,
            "span_id": self._text(f.get("span_id")),
            "parent_span_id": self._text(f.get("parent_span_id")),
            "input": self.conv(f.get("input")),
            "output": self.conv(f.get("output")),
            "error": self.conv(M.error_info(f.get("error"), f.get("error_type"))),
            "reasoning": self._text(f.get("reasoning"), self.limits.max_string),
            "metadata": self.conv(f.get("metadata")),
            "model": None,
            "provider": None,
            "prompt_tokens": None,
            "completion_tokens": None,
            "total_tokens": None,
            "cost": None,
            "decision": self.conv(f.get("decision")),
            "alternatives": self.conv(f.get("alternatives")),
            "confidence": finite_float(f.get("confidence")),
        }
        if etype == "llm_call":
            self._llm(rec, f)
        return rec

    def _llm(self, rec: dict[str, Any], f: dict[str, Any]) -> None:
        model = self._text(f.get("model")) or "unknown"
        provider = self._text(f.get("provider")) or providers.guess(model)
        response_model = self._text(f.get("response_model"))
        pt, ct, tt = (
            _int(f.get("prompt_tokens")),
            _int(f.get("completion_tokens")),
            _int(f.get("total_tokens")),
        )
        if tt is None and (pt is not None or ct is not None):
            tt = (pt or 0) + (ct or 0)
        cached, reasoning = _int(f.get("cached_tokens")), _int(f.get("reasoning_tokens"))
        cost = finite_float(f.get("cost"))
        source: str | None = PROVIDER_SOURCE if cost is not None else None
        if cost is None:
            cost, source = price_call(
                response_model or model, provider, pt, ct, cached, reasoning, self.cfg.prices
            )
        # Unknown cost: no price for the model, or no token usage reported. A failed call that reported
        # no usage is not counted (providers do not bill refused requests).
        unpriced = cost is None and not (f.get("error") is not None and pt is None and ct is None)
        tokens: dict[str, Any] = {"prompt": pt, "completion": ct, "total": tt}
        if cached is not None:
            tokens["cached"] = cached
        if reasoning is not None:
            tokens["reasoning"] = reasoning
        rec["name"] = f"llm:{provider}:{model}"
        rec["model"] = response_model or model
        rec["provider"] = provider
        rec["input"] = {
            "messages": rec["input"],
            "model": model,
            "provider": provider,
            "params": self.conv(f.get("params")),
        }
        output: dict[str, Any] = {
            "content": rec["output"],
            "tool_calls": self.conv(f.get("tool_calls")),
            "tokens": tokens,
            "cost_usd": cost,
        }
        for key in ("finish_reason", "response_model", "time_to_first_token_ms", "partial"):
            if f.get(key) is not None:
                output[key] = self.conv(f.get(key))
        rec["output"] = output
        rec["prompt_tokens"], rec["completion_tokens"], rec["total_tokens"], rec["cost"] = pt, ct, tt, cost
        rec["cost_source"], rec["unpriced"] = source, unpriced
        acc = self.totals.get(rec["session_id"])
        if acc is not None:
            if unpriced:
                self.unpriced[rec["session_id"]] = self.unpriced.get(rec["session_id"], 0) + 1
            for i, v in enumerate((pt, ct, tt, cost)):
                if v is not None:
                    acc[i] = (acc[i] or 0) + v

    def _close(self, sid: str, seq: int, ts_ns: int, p: dict[str, Any]) -> dict[str, Any]:
        acc = self.totals.pop(sid, None) or [None, None, None, None]
        unpriced = self.unpriced.pop(sid, 0)
        pt, ct, tt, cost = (p.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens", "cost"))
        reason = p.get("failure_reason")
        return {
            "kind": M.CLOSE_RECORD,
            "session_id": sid,
            "seq": seq,
            "status": p["status"],
            "ts": ts_ns / 1e9,
            "duration_ms": p.get("duration_ms"),
            "output": self.conv(p.get("output")),
            "user_input": self.conv(p.get("user_input")),
            "assistant_output": self.conv(p.get("assistant_output")),
            "failure_reason": self._text(reason, 2_000),
            "custom_metrics": self.conv(p.get("custom_metrics")),
            "prompt_tokens": _int(pt) if pt is not None else acc[0],
            "completion_tokens": _int(ct) if ct is not None else acc[1],
            "total_tokens": _int(tt) if tt is not None else acc[2],
            "cost": finite_float(cost)
            if cost is not None
            else (round(acc[3], 10) if acc[3] is not None else None),
            "unpriced_calls": unpriced if cost is None else 0,
        }

    def _finish(self, rec: dict[str, Any]) -> dict[str, Any] | None:
        if self.hook is not None and rec["kind"] != M.CLOSE_RECORD:
            keep = {k: rec[k] for k in _IDENTITY_FIELDS if k in rec}
            try:
                out = self.hook(rec)
            except Exception as exc:
                self.warner.warn("redact-hook", "Sentrial: the redact hook raised %r; payloads withheld", exc)
                out = _withheld(rec, "[REDACTED: redact hook failed]")
            if out is None:
                if rec["kind"] == M.EVENT_RECORD:
                    return None
                out = rec
            if not isinstance(out, dict):
                self.warner.warn(
                    "redact-hook-type",
                    "Sentrial: the redact hook returned %s, not a dict (or None); payloads withheld",
                    type(out).__name__,
                )
                out = _withheld(rec, "[REDACTED: redact hook returned no dict]")
            out.update(keep)  # the hook may change payloads, never which record this is
            rec = out
        rec = normalize_record(rec, converted=self.hook is None)  # a hook may return anything: walk it all
        # JSON escapes can make text up to 6x longer; below that bound the record surely fits.
        if self.hook is not None or self._conv.size * 6 + 4_096 > self.cfg.max_event_bytes - 8_192:
            rec, _ = fit(rec, self.cfg.max_event_bytes - 8_192, M.BULKY_FIELDS)
        return rec


_IDENTITY_FIELDS = ("kind", "id", "session_id", "seq", "type")


def _withheld(rec: dict[str, Any], marker: str) -> dict[str, Any]:
    for key in M.BULKY_FIELDS:
        if rec.get(key) is not None:
            rec[key] = marker
    return rec


def _int(v: Any) -> int | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        return None
