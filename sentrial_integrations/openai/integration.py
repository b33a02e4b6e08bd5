"""``instrument_openai``: every OpenAI client of the process, by patching the SDK's resource classes.

:class:`OpenAIIntegration` follows the core :class:`~sentrial_integrations.core.integration.Integration`
protocol (idempotent, version-gated, never raising into the caller); ``instrument_openai`` /
``uninstrument_openai`` / ``is_instrumented`` are thin wrappers over the one instance,
:data:`INTEGRATION`, with the return values they always had. This module imports neither the OpenAI SDK
nor the modules that need it until :meth:`OpenAIIntegration.instrument` runs.
"""

from __future__ import annotations

import functools
import importlib
import weakref
from typing import TYPE_CHECKING, Any

from ..core.integration import DidNotEnable, Integration
from ..core.log import report_internal
from .options import Options, check_options, takes_options

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..core.api.client import SentrialClient
    from .endpoint import Target
    from .mapping import Op
    from .options import OpenAIOptions


class OpenAIIntegration(Integration):
    """Replaces the traced methods (:data:`~.mapping.OPS`) on the SDK's sync and async resource classes
    and puts back exactly the functions it replaced."""

    name = "openai"
    distribution = "openai"
    supported = ("1.109.1", "4")

    def __init__(self) -> None:
        super().__init__()
        self.patches: dict[tuple[type, str], tuple[Any, Any]] = {}  # (class, name) -> (original, ours)
        self.targets: weakref.WeakKeyDictionary[Any, Target] = weakref.WeakKeyDictionary()

    def _instrument(self, **options: Any) -> None:
        try:
            importlib.import_module("openai")
        except ImportError as exc:
            raise DidNotEnable(f"the OpenAI SDK is not installed ({exc})") from exc
        from ..core.offloop import prepare_default_client
        from .calls import MARK
        from .mapping import OPS

        client = options.pop("client", None)
        check_options("OpenAIIntegration.instrument", options)
        opts = Options(client, options)
        self.targets.clear()
        for op in OPS:
            try:
                module = importlib.import_module(op.module)
            except Exception as exc:
                report_internal("the OpenAI integration (instrument)", exc)
                continue
            for cls_name, is_async in ((op.sync_cls, False), (op.async_cls, True)):
                cls = getattr(module, cls_name, None)
                if not isinstance(cls, type):
                    continue
                original = vars(cls).get(op.method)
                if original is None or hasattr(original, MARK):
                    continue
                ours = self._class_method(op, opts, original, is_async)
                setattr(cls, op.method, ours)
                self.patches[(cls, op.method)] = (original, ours)
        if client is None:
            prepare_default_client()

    def _uninstrument(self) -> None:
        for (cls, name), (original, ours) in self.patches.items():
            if vars(cls).get(name) is ours:
                setattr(cls, name, original)
            else:  # someone patched over us: leave their function (it may call ours, which passes through)
                report_internal(
                    "the OpenAI integration (uninstrument)",
                    RuntimeError(f"{cls.__name__}.{name} was replaced by someone else"),
                )
        self.patches.clear()
        self.targets.clear()

    def _target_of(self, openai_client: Any, opts: Options) -> Target:
        target = self.targets.get(openai_client)
        if target is None:
            from .endpoint import Target

            target = self.targets[openai_client] = Target(openai_client, opts)
        return target

    def _class_method(self, op: Op, opts: Options, original: Any, is_async: bool) -> Any:
        from .calls import MARK, call_async, call_sync

        target_of = self._target_of
        method: Any
        if is_async:

            async def method_async(self: Any, *args: Any, **kwargs: Any) -> Any:
                return await call_async(
                    op, opts, target_of(self._client, opts), original.__get__(self), args, kwargs
                )

            method = method_async
        else:

            def method_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
                return call_sync(
                    op, opts, target_of(self._client, opts), original.__get__(self), args, kwargs
                )

            method = method_sync
        functools.update_wrapper(method, original)
        setattr(method, MARK, op)
        return method


#: The OpenAI integration of this process (``auto_instrument`` uses it too).
INTEGRATION = OpenAIIntegration()


@takes_options
def instrument_openai(client: SentrialClient | None = None, **options: Unpack[OpenAIOptions]) -> bool:
    """Trace every OpenAI client of the process (existing and future) by patching the SDK's resource
    classes. Idempotent: returns False if already instrumented. Options as in :func:`wrap_openai`.

    Raw/streaming containers (``with_raw_response``) that existed before this call keep the
    untraced method; ``wrap_openai`` also handles those.
    """
    check_options("instrument_openai", options)
    Options(client, options)  # a bad option raises here, before anything is patched
    if INTEGRATION.instrumented:
        return False
    return INTEGRATION.instrument(client=client, **options)


def uninstrument_openai() -> bool:
    """Put back exactly the methods :func:`instrument_openai` replaced; False if it was not active."""
    if not INTEGRATION.instrumented:
        return False
    INTEGRATION.uninstrument()
    return True


def is_instrumented() -> bool:
    return INTEGRATION.instrumented
