"""What ``wrap_openai`` / ``instrument_openai`` were configured with, and what each OpenAI client decides.

The keyword options are declared once (:class:`OpenAIOptions`); both public functions take them as
``**options`` and build one :class:`Options` from them, which is also where an unknown keyword is
refused with a ``TypeError`` as Python words it. Imports nothing of the OpenAI SDK.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

if TYPE_CHECKING:
    from ..core.api.client import SentrialClient


class OpenAIOptions(TypedDict, total=False):
    """The keyword options of :func:`wrap_openai` and :func:`instrument_openai` (see ``wrap_openai``)."""

    provider: str | None
    session_name: str | None
    agent_name: str | None
    user_id: str | None
    metadata: Mapping[str, Any] | None
    include_usage: bool | None


class Options:
    """What a ``wrap_openai`` / ``instrument_openai`` call was configured with."""

    __slots__ = ("agent_name", "client", "include_usage", "metadata", "provider", "session_name", "user_id")

    def __init__(
        self, client: SentrialClient | None = None, options: Mapping[str, Any] | None = None
    ) -> None:
        get = (options or {}).get
        self.client = client
        self.provider: str | None = get("provider")
        self.session_name: str | None = get("session_name")
        self.agent_name: str | None = get("agent_name")
        self.user_id: str | None = get("user_id")
        metadata = get("metadata")
        self.metadata: dict[str, Any] | None = dict(metadata) if metadata else None
        self.include_usage: bool | None = get("include_usage")


def check_options(function: str, options: Mapping[str, Any]) -> None:
    """Refuse a keyword that is not an option, as Python does for a function that declares them."""
    for key in options:
        if key not in _OPTION_NAMES:
            raise TypeError(f"{function}() got an unexpected keyword argument {key!r}")


_OPTION_NAMES = tuple(OpenAIOptions.__annotations__)

F = TypeVar("F", bound=Callable[..., Any])


def takes_options(fn: F) -> F:
    """Show ``fn(..., **options)`` with the options spelled out (``help()``, ``inspect.signature``):
    keyword-only, default None, annotated as in :class:`OpenAIOptions`."""
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    for name, annotation in OpenAIOptions.__annotations__.items():
        text = getattr(annotation, "__forward_arg__", annotation)  # TypedDict keeps them as ForwardRef
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=text))
    fn.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return fn
