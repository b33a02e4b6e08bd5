"""Per OpenAI client: which provider it talks to, and whether its streams may ask for the usage chunk."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..core.config import FALSE_VALUES, TRUE_VALUES, config_warning

if TYPE_CHECKING:
    from .options import Options

try:
    from openai.lib.azure import BaseAzureClient as _AzureBase
except Exception:  # pragma: no cover
    _AzureBase = None  # type: ignore[assignment,misc]


def provider_of(openai_client: Any) -> str:
    """``azure`` for Azure clients, the SDK provider's name (e.g. ``bedrock``) if any, else ``openai``."""
    if _AzureBase is not None and isinstance(openai_client, _AzureBase):
        return "azure"
    runtime = getattr(openai_client, "_provider_runtime", None)
    name = getattr(runtime, "name", None)
    if isinstance(name, str) and name:
        return name
    return "openai"


def azure_supports_stream_usage(openai_client: Any) -> bool:
    """Azure accepts ``stream_options`` from API version 2024-09-01 on (date-named versions sort as text)."""
    version = getattr(openai_client, "_api_version", None)
    return isinstance(version, str) and version[:10] >= "2024-09-01"


#: Hosts known to send a stream's usage chunk only when ``stream_options.include_usage`` asks for it
#: (so a usage chunk on a stream we asked for is the one our option caused).
OPENAI_API_HOSTS = frozenset({"api.openai.com"})


def known_usage_endpoint(openai_client: Any, provider: str) -> bool:
    """May the wrapper ask this client's streams for their usage chunk (and hide it)?

    Only where the endpoint is known to send that chunk only when asked: api.openai.com and Azure
    OpenAI (API versions that accept ``stream_options``). Other servers and proxies may send usage
    on their own; there the caller's request is left as it is.
    """
    if provider == "azure":
        return azure_supports_stream_usage(openai_client)
    if provider != "openai":
        return False
    try:
        host = openai_client.base_url.host
    except Exception:
        return False
    return isinstance(host, str) and host.lower() in OPENAI_API_HOSTS


class Target:
    """Per OpenAI client: its provider name and whether streams may ask for the usage chunk.

    By default they ask only where the endpoint is known to send it only when asked (api.openai.com,
    Azure OpenAI): elsewhere a server or proxy may send usage on its own, and the chunk we would hide
    could be one the caller gets without us. ``include_usage=True`` / ``False`` decides instead.
    """

    __slots__ = ("__weakref__", "provider", "stream_usage")

    def __init__(self, openai_client: Any, opts: Options) -> None:
        self.provider = opts.provider or provider_of(openai_client)
        decided = opts.include_usage if opts.include_usage is not None else _env_include_usage()
        if decided is None:
            self.stream_usage = known_usage_endpoint(openai_client, provider_of(openai_client))
        else:
            self.stream_usage = bool(decided)


_ENV_INCLUDE_USAGE = "SENTRIAL_OPENAI_INCLUDE_USAGE"
_env_warned: set[str] = set()


def _env_include_usage() -> bool | None:
    """``SENTRIAL_OPENAI_INCLUDE_USAGE`` read as every Sentrial boolean; None when unset (or not a
    boolean: warned once) — then decided per endpoint."""
    raw = os.environ.get(_ENV_INCLUDE_USAGE)
    if raw is None or not raw.strip():
        return None
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    if raw not in _env_warned:
        _env_warned.add(raw)
        config_warning(
            f"Sentrial: {_ENV_INCLUDE_USAGE}={raw!r} is not a boolean (use 1/true/yes/on or 0/false/no/off); "
            "asking for stream usage only on known endpoints"
        )
    return None
