"""Client configuration: explicit arguments first, then ``SENTRIAL_*`` environment variables."""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .pricing import Price

DEFAULT_BASE_URL = "https://api.sentrial.com"
DEFAULT_DIR = ".sentrial"
DEFAULT_DB_NAME = "sentrial.db"

_TRUE = {"1", "true", "yes", "on"}


def env_flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in _TRUE


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw not in (None, "") else default
    except ValueError:
        return default


def default_local_path() -> str:
    """``SENTRIAL_LOCAL_PATH``, else ``.sentrial/sentrial.db`` under the working directory."""
    return os.environ.get("SENTRIAL_LOCAL_PATH") or os.path.join(os.getcwd(), DEFAULT_DIR, DEFAULT_DB_NAME)


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Config:
    """Everything a :class:`~sentrial_integrations.SentrialClient` needs; see README "Configuration"."""

    api_key: str | None = field(default=None, repr=False)
    project_id: str | None = None
    base_url: str = DEFAULT_BASE_URL
    local_path: str | None = None
    spool_path: str | None = None
    disabled: bool = False
    debug: bool = False
    strict: bool = False
    # pipeline
    max_queue_size: int = 100_000
    batch_size: int = 500
    flush_interval: float = 0.2
    exit_timeout: float = 5.0
    request_timeout: float = 10.0
    max_concurrency: int = 8
    spool_max_bytes: int = 1 << 30
    retry_initial_backoff: float = 0.25
    retry_max_backoff: float = 30.0
    # data hygiene
    max_string_length: int = 100_000
    max_event_bytes: int = 1_000_000
    redact_secrets: bool = True
    redact_pii: bool = False
    redact: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
    prices: dict[str, Price] | None = None
    # OpenTelemetry fan-out (extra "otel"): spans also go to this OTLP/HTTP endpoint
    otlp_endpoint: str | None = None
    otlp_headers: dict[str, str] | None = field(default=None, repr=False)
    # safety
    allow_insecure_http: bool = False
    handle_sigterm: bool = True

    @property
    def mode(self) -> str:
        if self.disabled:
            return "disabled"
        return "http" if self.api_key else "local"

    def destination_key(self) -> str:
        """Identifies where data goes (and with which key), so a spool never mixes setups."""
        if self.mode == "http":
            raw = f"http|{self.base_url.rstrip('/')}|{self.api_key}"
        else:
            raw = f"local|{os.path.abspath(self.local_path or default_local_path())}"
        return hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()[:16]

    def otlp_destination_key(self) -> str:
        return hashlib.sha256(f"otlp|{self.otlp_endpoint}".encode("utf-8", "replace")).hexdigest()[:16]

    def resolved_spool_dir(self) -> str:
        if self.spool_path:
            return self.spool_path
        env = os.environ.get("SENTRIAL_SPOOL_PATH")
        if env:
            return env
        if self.mode == "local" and self.local_path:
            return os.path.dirname(os.path.abspath(self.local_path))
        return os.path.join(os.getcwd(), DEFAULT_DIR)


def resolve(
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
    **overrides: Any,
) -> Config:
    env = os.environ
    cfg = Config(
        api_key=api_key if api_key is not None else (env.get("SENTRIAL_API_KEY") or None),
        project_id=project_id if project_id is not None else (env.get("SENTRIAL_PROJECT_ID") or None),
        base_url=(
            base_url or env.get("SENTRIAL_BASE_URL") or env.get("SENTRIAL_API_URL") or DEFAULT_BASE_URL
        ).rstrip("/"),
        local_path=local_path or env.get("SENTRIAL_LOCAL_PATH") or None,
        spool_path=spool_path or env.get("SENTRIAL_SPOOL_PATH") or None,
        disabled=disabled if disabled is not None else env_flag("SENTRIAL_DISABLED"),
        debug=debug if debug is not None else env_flag("SENTRIAL_DEBUG"),
        strict=strict if strict is not None else env_flag("SENTRIAL_STRICT"),
        exit_timeout=exit_timeout if exit_timeout is not None else env_float("SENTRIAL_EXIT_TIMEOUT", 5.0),
    )
    if cfg.mode == "local" and not cfg.local_path:
        cfg.local_path = default_local_path()
    if env.get("SENTRIAL_OTLP_ENDPOINT"):
        cfg.otlp_endpoint = env["SENTRIAL_OTLP_ENDPOINT"]
    if env.get("SENTRIAL_OTLP_HEADERS"):
        pairs = (item.split("=", 1) for item in env["SENTRIAL_OTLP_HEADERS"].split(",") if "=" in item)
        cfg.otlp_headers = {k.strip(): v.strip() for k, v in pairs}
    if env_flag("SENTRIAL_REDACT_PII"):
        cfg.redact_pii = True
    if env_flag("SENTRIAL_ALLOW_INSECURE_HTTP"):
        cfg.allow_insecure_http = True
    for key, value in overrides.items():
        if not hasattr(cfg, key):
            raise TypeError(f"SentrialClient() got an unexpected keyword argument {key!r}")
        setattr(cfg, key, value)
    return cfg
