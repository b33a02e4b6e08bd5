"""Turn any Python value into bounded, valid JSON data.

Two halves with different jobs:

* :func:`snapshot` runs on the caller's thread. It copies plain containers (dict, list, tuple, set)
  so that a caller who mutates them after a ``track_*`` call cannot change what gets recorded. It is
  cheap and bounded: depth, item counts and total nodes are capped, and leaves are shared (strings and
  numbers are immutable; other objects are kept by reference and converted later by the worker).
* :class:`Converter` runs on the pipeline worker. It converts anything (pydantic models, dataclasses,
  framework objects, bytes, datetimes, enums, NaN, cycles, objects whose ``repr`` raises, lone
  surrogates ...) into JSON-safe data, cutting what is too long with a visible marker. It never raises.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import decimal
import enum
import json
import math
import uuid
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from .redact import REDACTED, is_secret_key

try:  # optional accelerator: same output, several times faster
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised where orjson is absent
    _orjson = None  # type: ignore[assignment]

TRUNCATION_MARKER = "…[truncated {n} chars]"
ITEMS_MARKER = "…[truncated {n} items]"
DEPTH_MARKER = "[max depth reached]"
CYCLE_MARKER = "[cycle]"

_IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes})

# Caller-side snapshot limits: small on purpose, the caller pays for them.
_SNAP_DEPTH = 12
_SNAP_ITEMS = 2_000
_SNAP_NODES = 5_000


class Owned:
    """Marks a value the caller built for us and will not mutate: :func:`snapshot` does not copy it.

    Translators wrap the dicts and lists they assemble from framework objects, so the caller's
    thread pays no copy; the worker unwraps and converts it.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Owned({self.value!r})"


def snapshot(value: Any) -> Any:
    """Copy plain containers (bounded) so later mutation by the caller cannot change the record."""
    t = type(value)
    if t in _IMMUTABLE:
        return value
    if t is dict or t is list or t is tuple or t is set or t is frozenset:
        return _Snapper().snap(value, 0)
    return value


class _Snapper:
    __slots__ = ("nodes",)

    def __init__(self) -> None:
        self.nodes = 0

    def snap(self, value: Any, depth: int) -> Any:
        t = type(value)
        if t in _IMMUTABLE:
            return value
        self.nodes += 1
        if depth >= _SNAP_DEPTH or self.nodes > _SNAP_NODES:
            # Past the budget the value is kept by reference and converted by the worker.
            return value
        if t is dict:
            if len(value) > _SNAP_ITEMS:
                items = list(value.items())[:_SNAP_ITEMS]
                out = {k: self.snap(v, depth + 1) for k, v in items}
                out["…"] = ITEMS_MARKER.format(n=len(value) - _SNAP_ITEMS)
                return out
            return {k: (v if type(v) in _IMMUTABLE else self.snap(v, depth + 1)) for k, v in value.items()}
        if t is list or t is tuple or t is set or t is frozenset:
            seq = value if t is list or t is tuple else list(value)
            extra = len(seq) - _SNAP_ITEMS
            if extra > 0:
                seq = seq[:_SNAP_ITEMS]
            out_l = [v if type(v) in _IMMUTABLE else self.snap(v, depth + 1) for v in seq]
            if extra > 0:
                out_l.append(ITEMS_MARKER.format(n=extra))
            return out_l
        return value


@dataclasses.dataclass
class Limits:
    """Bounds applied while converting to JSON data."""

    max_string: int = 100_000
    max_items: int = 1_000
    max_depth: int = 64
    max_bytes_preview: int = 1_024  # bytes values longer than this are summarised


class Converter:
    """One walk that converts, truncates, redacts (when given a redactor) and estimates the size.

    Reusable: :meth:`convert` may be called many times; ``size`` accumulates until reset.
    """

    __slots__ = ("limits", "redactor", "size", "stack")

    def __init__(self, limits: Limits, redactor: Any = None) -> None:
        self.limits = limits
        self.redactor = redactor if redactor is not None and redactor.active else None
        self.stack: set[int] = set()
        self.size = 0  # characters of text produced so far (an estimate of the JSON size)

    def cut(self, s: str) -> str:
        if not s.isascii():
            s = clean_unicode(s)
        n = len(s)
        cap = self.limits.max_string
        if n > cap:
            s = s[:cap] + TRUNCATION_MARKER.format(n=n - cap)
        if self.redactor is not None and len(s) >= 6:  # no secret pattern is shorter ("pw=ab1")
            s = self.redactor.text(s)
        self.size += len(s) + 2
        return s

    def convert(self, value: Any) -> Any:
        """Convert one value; never raises."""
        try:
            return self.conv(value, 0)
        except Exception as exc:  # pragma: no cover - defensive: conv already guards
            self.stack.clear()
            return _describe_failure(value, exc)

    def conv(self, value: Any, depth: int) -> Any:
        t = type(value)
        if t is str:
            return self.cut(value)
        if t is bool or value is None:
            return value
        if t is int:  # beyond 2^53 JSON readers lose digits: kept as its decimal text
            return value if -9_007_199_254_740_992 <= value <= 9_007_199_254_740_992 else str(value)
        if t is float:
            if math.isfinite(value):
                return value
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        if depth >= self.limits.max_depth:
            return DEPTH_MARKER
        oid = id(value)
        if oid in self.stack:
            return CYCLE_MARKER
        self.stack.add(oid)
        try:
            if t is dict:
                return self._conv_mapping(value, depth)
            if t is list:
                return self._conv_iterable(value, depth)
            return self._conv_object(value, t, depth)
        except RecursionError:
            return DEPTH_MARKER
        except Exception as exc:  # an object that refuses to be read: describe it, never raise
            return _describe_failure(value, exc)
        finally:
            self.stack.discard(oid)

    def _conv_object(self, value: Any, t: type, depth: int) -> Any:
        if t is Owned:
            return self.conv(value.value, depth)
        if isinstance(value, Mapping):
            return self._conv_mapping(value, depth)
        if t is list or t is tuple or isinstance(value, (list, tuple, set, frozenset)):
            return self._conv_iterable(value, depth)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self._conv_bytes(bytes(value))
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return self.conv(int(value), depth)
        if isinstance(value, float):
            return self.conv(float(value), depth)
        if isinstance(value, str):
            return self.cut(str.__str__(value))
        if isinstance(value, enum.Enum):
            return self.conv(value.value, depth + 1)
        if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
            return value.isoformat()
        if isinstance(value, _dt.timedelta):
            return value.total_seconds()
        if isinstance(value, (uuid.UUID, PurePath)):
            return str(value)
        if isinstance(value, decimal.Decimal):
            f = float(value)
            return f if math.isfinite(f) else str(value)
        if isinstance(value, BaseException):
            return {"type": type(value).__name__, "message": self.cut(_safe_str(value))}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self._conv_mapping(
                {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}, depth
            )
        # pydantic v2 / v1 models (LangChain messages, OpenAI responses, LlamaIndex objects)
        dump = getattr(value, "model_dump", None)
        if callable(dump) and not isinstance(value, type):
            try:
                data = dump(mode="json", warnings=False)
            except TypeError:
                data = dump()
            except Exception:
                data = None
            if data is not None:
                return self.conv(data, depth + 1)
        as_dict = getattr(value, "dict", None)
        if callable(as_dict) and hasattr(value, "__fields__") and not isinstance(value, type):
            return self.conv(as_dict(), depth + 1)
        to_list = getattr(value, "tolist", None)  # numpy arrays and scalars
        if callable(to_list) and type(value).__module__.startswith("numpy"):
            return self.conv(to_list(), depth + 1)
        if _is_generator(value):
            return f"<{type(value).__name__}>"
        return self.cut(_safe_repr(value))

    def _conv_mapping(self, value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        cap = self.limits.max_items
        secret_keys = self.redactor is not None and self.redactor.secrets
        for n, (k, v) in enumerate(value.items()):
            if n >= cap:
                out["…"] = ITEMS_MARKER.format(n=len(value) - cap)
                break
            if type(k) is str and k.isascii():
                key = k
            else:
                key = k if type(k) is str else _key_str(k)
                if not key.isascii():
                    key = clean_unicode(key)
            self.size += len(key) + 4
            if secret_keys and _secret_key(key) and v is not None and not (type(v) is str and v == ""):
                out[key[:1_000]] = REDACTED
            else:
                out[key[:1_000]] = self.conv(v, depth + 1)
        return out

    def _conv_iterable(self, value: Any, depth: int) -> list[Any]:
        cap = self.limits.max_items
        out = []
        total = len(value)
        for i, v in enumerate(value):
            if i >= cap:
                out.append(ITEMS_MARKER.format(n=total - cap))
                break
            out.append(self.conv(v, depth + 1))
        return out

    def _conv_bytes(self, b: bytes) -> Any:
        cap = self.limits.max_bytes_preview
        try:
            text = b.decode("utf-8")
            return self.cut(text)
        except UnicodeDecodeError:
            pass
        if len(b) <= cap:
            return {"base64": base64.b64encode(b).decode("ascii")}
        return {"bytes": len(b), "base64_prefix": base64.b64encode(b[:cap]).decode("ascii")}


_secret_cache: dict[str, bool] = {}


def _secret_key(key: str) -> bool:
    hit = _secret_cache.get(key)
    if hit is None:
        if len(_secret_cache) > 10_000:
            _secret_cache.clear()
        hit = _secret_cache[key] = is_secret_key(key)
    return hit


def clean_unicode(s: str) -> str:
    """Replace lone surrogates (not encodable as UTF-8) with U+FFFD."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def dumps(data: Any) -> str:
    """Compact JSON text for data produced by :class:`Converter`."""
    if _orjson is not None:
        try:
            return _orjson.dumps(data).decode("utf-8")
        except TypeError:  # e.g. a huge int: the standard encoder copes
            pass
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps_bytes(data: Any) -> bytes:
    """UTF-8 JSON bytes (request bodies)."""
    if _orjson is not None:
        try:
            return _orjson.dumps(data)
        except TypeError:
            pass
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def fit(record: dict[str, Any], max_bytes: int, fields: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    """Shrink the bulky ``fields`` of ``record`` until its JSON is at most ``max_bytes``.

    Returns the (possibly new) record and its JSON text. Strings are cut progressively shorter, with
    the usual marker; as a last resort a field is replaced by a note saying how large it was.
    """
    text = dumps(record)
    if len(text) <= max_bytes // 4 or len(text.encode("utf-8")) <= max_bytes:
        return record, text
    cap = 16_384
    while cap >= 64:
        limits = Limits(max_string=cap, max_items=max(10, cap // 64), max_depth=32)
        shrunk = dict(record)
        for f in fields:
            if shrunk.get(f) is not None:
                shrunk[f] = Converter(limits).conv(shrunk[f], 0)
        text = dumps(shrunk)
        if len(text.encode("utf-8")) <= max_bytes:
            return shrunk, text
        cap //= 4
    shrunk = dict(record)
    for f in fields:
        if shrunk.get(f) is not None:
            size = len(dumps(shrunk[f]))
            shrunk[f] = f"[removed: {size} bytes over the event size cap]"
    text = dumps(shrunk)
    return shrunk, text


def _key_str(k: Any) -> str:
    if isinstance(k, str):
        return str.__str__(k)
    if k is None or isinstance(k, (bool, int, float)):
        return str(k)
    return _safe_str(k)


def _safe_str(value: Any) -> str:
    try:
        s = str(value)
        if type(s) is not str:
            raise TypeError
        return s
    except Exception:
        return _safe_repr(value)


def _safe_repr(value: Any) -> str:
    try:
        r = repr(value)
        if type(r) is not str:
            raise TypeError
        return r
    except Exception:
        return f"<unrepresentable {_type_name(value)}>"


def _type_name(value: Any) -> str:
    try:
        return type(value).__qualname__
    except Exception:
        return "object"


def _describe_failure(value: Any, exc: BaseException) -> str:
    return f"<unserialisable {_type_name(value)}: {type(exc).__name__}>"


def _is_generator(value: Any) -> bool:
    import inspect

    return inspect.isgenerator(value) or inspect.isasyncgen(value) or inspect.iscoroutine(value)
