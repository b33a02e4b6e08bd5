"""``wrap_openai`` (one client) and, in :mod:`.integration`, ``instrument_openai`` (every client).

Both attach the same per-call code (:mod:`.calls`) at the resource-method level:

* ``wrap_openai`` sets instance attributes on the client's resource objects (``client.chat.completions``
  ...): the client and its resources keep their classes, ``isinstance`` holds, nothing global changes,
  and ``unwrap_openai`` deletes exactly what it set. Each traced attribute looks the SDK method up on
  the resource's class at call time, so class patches made afterwards (a test's ``mock.patch.object``)
  apply as they would without us. The SDK caches ``with_raw_response`` /
  ``with_streaming_response`` per resource and binds the resource method when it builds them, so
  containers that already exist are rebuilt in place around the traced method; those built later pick
  it up by themselves. ``copy()`` / ``with_options()`` return wrapped copies.
* ``instrument_openai`` replaces the methods on the SDK's resource classes, idempotently, and
  ``uninstrument_openai`` puts back exactly the functions it replaced.

A traced method reached from inside another traced call only passes through, so wrapping twice, or
wrapping an instrumented client, records each call once.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..core.log import guard, report_internal
from ..core.offloop import prepare_default_client
from .calls import MARK, call_async, call_sync
from .endpoint import Target
from .mapping import OPS, Op
from .options import Options, check_options, takes_options

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..core.api.client import SentrialClient
    from .options import OpenAIOptions

T = TypeVar("T")

_WRAP = guard("wrap_openai")
_UNWRAP = guard("unwrap_openai")
_COPY = guard("the OpenAI integration (with_options)")
_CONTAINERS = ("with_raw_response", "with_streaming_response")


class _WrapState:
    __slots__ = ("is_async", "opts", "patches")

    def __init__(self, opts: Options, is_async: bool) -> None:
        self.opts = opts
        self.is_async = is_async
        self.patches: list[tuple[Any, str, bool, Any]] = []  # (object, attribute, had it before, old value)

    def set(self, obj: Any, name: str, value: Any) -> None:
        d = vars(obj)
        self.patches.append((obj, name, name in d, d.get(name)))
        setattr(obj, name, value)


_wrapped: weakref.WeakKeyDictionary[Any, _WrapState] = weakref.WeakKeyDictionary()
_wrap_lock = threading.RLock()


def _is_async_client(openai_client: Any) -> bool | None:
    """True for AsyncOpenAI (and subclasses such as AsyncAzureOpenAI), False for OpenAI, else None."""
    import openai

    if isinstance(openai_client, openai.AsyncOpenAI):
        return True
    if isinstance(openai_client, openai.OpenAI):
        return False
    return None


def _container_helpers(is_async: bool) -> dict[str, Callable[[Any], Any]] | None:
    """The SDK's own builders of ``with_raw_response`` / ``with_streaming_response`` methods."""
    try:
        from openai import _legacy_response, _response
    except Exception:  # pragma: no cover
        return None
    if is_async:
        return {
            "with_raw_response": _legacy_response.async_to_raw_response_wrapper,
            "with_streaming_response": _response.async_to_streamed_response_wrapper,
        }
    return {
        "with_raw_response": _legacy_response.to_raw_response_wrapper,
        "with_streaming_response": _response.to_streamed_response_wrapper,
    }


def _cached_containers(openai_client: Any, resource: Any, path: tuple[str, ...]) -> list[tuple[str, Any]]:
    """Raw/streaming containers of a resource that the SDK already built (and cached)."""
    out = []
    for name in _CONTAINERS:
        cont = vars(resource).get(name)
        if cont is not None:
            out.append((name, cont))
        node = vars(openai_client).get(name)  # client.with_raw_response.chat.completions
        for part in path:
            if node is None:
                break
            node = vars(node).get(part)
        if node is not None:
            out.append((name, node))
    return out


def _resolve(openai_client: Any, path: tuple[str, ...]) -> Any:
    obj = openai_client
    for part in path:
        obj = getattr(obj, part)
    return obj


def _call_time(obj: Any, name: str) -> Callable[[], Callable[..., Any]]:
    """How a wrapper finds the method it runs, at each call: an instance attribute that was there
    before we wrapped (kept as it was), else the class's current one, so that a class patch made
    later (``mock.patch.object(Completions, "create")``, ``monkeypatch.setattr``) applies as it
    would without us."""
    own = vars(obj).get(name)
    if own is not None:
        return lambda: own
    cls = type(obj)

    def current() -> Callable[..., Any]:
        attr = getattr(cls, name)
        get = getattr(attr, "__get__", None)
        return get(obj, cls) if get is not None else attr  # type: ignore[no-any-return]

    return current


def _instance_method(
    op: Op, opts: Options, target: Target, resolve: Callable[[], Callable[..., Any]], is_async: bool
) -> Callable[..., Any]:
    traced: Callable[..., Any]
    if is_async:

        async def traced_async(*args: Any, **kwargs: Any) -> Any:
            return await call_async(op, opts, target, resolve(), args, kwargs)

        traced = traced_async
    else:

        def traced_sync(*args: Any, **kwargs: Any) -> Any:
            return call_sync(op, opts, target, resolve(), args, kwargs)

        traced = traced_sync
    functools.update_wrapper(traced, resolve())
    setattr(traced, MARK, op)
    return traced


def _wrap_instance(openai_client: Any, opts: Options, is_async: bool) -> None:
    with _wrap_lock:
        if openai_client in _wrapped:
            return
        state = _WrapState(opts, is_async)
        target = Target(openai_client, opts)
        helpers = _container_helpers(is_async)
        for op in OPS:
            try:
                resource = _resolve(openai_client, op.path)
                getattr(resource, op.method)
            except Exception:  # this SDK version has no such method
                continue
            traced = _instance_method(op, opts, target, _call_time(resource, op.method), is_async)
            state.set(resource, op.method, traced)
            for name, cont in _cached_containers(openai_client, resource, op.path):
                if op.method not in vars(cont):
                    continue
                if helpers is not None:
                    state.set(cont, op.method, helpers[name](traced))
        _hook_copy(openai_client, state)
        _wrapped[openai_client] = state


def _hook_copy(openai_client: Any, state: _WrapState) -> None:
    for name in ("copy", "with_options"):
        resolve = _call_time(openai_client, name)

        def copy(*args: Any, _resolve: Callable[[], Callable[..., Any]] = resolve, **kwargs: Any) -> Any:
            new = _resolve()(*args, **kwargs)
            with _COPY:
                if new is not openai_client:
                    _wrap_instance(new, state.opts, state.is_async)
            return new

        functools.update_wrapper(copy, resolve())
        state.set(openai_client, name, copy)


@takes_options
def wrap_openai(
    openai_client: T, client: SentrialClient | None = None, **options: Unpack[OpenAIOptions]
) -> T:
    """Record every LLM call of ``openai_client`` (OpenAI, AsyncOpenAI, Azure or a subclass) as Sentrial
    events, and return that same client. Nothing the caller sees changes.

    ``client``: the SentrialClient (default: :func:`get_client` at call time). Calls inside a session
    (``client.session(...)``, a LangChain or LlamaIndex run) join it; other calls get a session each,
    named ``session_name`` (default ``openai.<method>``) with ``agent_name``, ``user_id`` and
    ``metadata``. ``provider`` overrides the detected provider (``openai`` / ``azure``).
    ``include_usage``: ask streams for their usage chunk (hidden from the caller). Default
    (``SENTRIAL_OPENAI_INCLUDE_USAGE`` when set): only on endpoints known to send it only when asked —
    api.openai.com and Azure OpenAI from API version 2024-09-01; elsewhere a stream's usage is recorded
    only if the caller asks for it (or the server sends it). True: ask any endpoint; False: never.
    """
    check_options("wrap_openai", options)
    with _WRAP:
        is_async = _is_async_client(openai_client)
        if is_async is None:
            report_internal("wrap_openai", TypeError(f"not an OpenAI client: {type(openai_client).__name__}"))
            return openai_client
        _wrap_instance(openai_client, Options(client, options), is_async)
        if client is None:
            prepare_default_client()  # off the event loop, so that async calls need not build it
    return openai_client


def unwrap_openai(openai_client: T) -> T:
    """Undo :func:`wrap_openai` on this client (copies made meanwhile stay wrapped)."""
    with _UNWRAP, _wrap_lock:
        state = _wrapped.pop(openai_client, None)
        if state is None:
            return openai_client
        for obj, name, had, old in reversed(state.patches):
            if had:
                setattr(obj, name, old)
            else:
                vars(obj).pop(name, None)
        # containers built while wrapped hold the traced method: rebuild them around the original
        helpers = _container_helpers(state.is_async)
        for op in OPS:
            try:
                resource = _resolve(openai_client, op.path)
            except Exception:
                continue
            for name, cont in _cached_containers(openai_client, resource, op.path):
                current = vars(cont).get(op.method)
                if current is not None and hasattr(current, MARK) and helpers is not None:
                    setattr(cont, op.method, helpers[name](getattr(resource, op.method)))
    return openai_client
