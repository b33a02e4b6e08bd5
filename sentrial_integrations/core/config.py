"""Client configuration: explicit arguments first, then ``SENTRIAL_*`` environment variables."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .record.pricing import Price

DEFAULT_BASE_URL = "https://api.sentrial.com"
DEFAULT_DIR = ".sentrial"
DEFAULT_DB_NAME = "sentrial.db"
APP_NAME = "sentrial"

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})
FALSE_VALUES = frozenset({"0", "false", "no", "off"})
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SentrialConfigWarning(UserWarning):
    """A misconfiguration that makes the client record or export less than asked (often nothing).

    Emitted with :func:`warnings.warn` when the client is constructed, so it shows on stderr without
    any logging set up (Python shows each ``UserWarning`` once per place)."""


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this package."""
    level = 1
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def config_warning(message: str) -> None:
    """One visible :class:`SentrialConfigWarning` (never carries a secret: callers pass none)."""
    try:
        warnings.warn(message, SentrialConfigWarning, stacklevel=_caller_stacklevel())
    except SentrialConfigWarning:  # warnings turned into errors (-W error): the caller's choice
        raise
    except Exception:
        pass


def parse_bool(raw: str | None, default: bool = False, *, name: str = "value") -> bool:
    """``1/true/yes/on`` → True, ``0/false/no/off`` → False (any case, spaces ignored); unset or empty →
    ``default``; anything else → ``default`` and a :class:`SentrialConfigWarning` naming ``name``."""
    if raw is None:
        return default
    value = raw.strip().lower()
    if value == "":
        return default
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    config_warning(
        f"Sentrial: {name}={raw!r} is not a boolean (use 1/true/yes/on or 0/false/no/off); "
        f"using the default ({'on' if default else 'off'})"
    )
    return default


def env_flag(name: str, default: bool = False) -> bool:
    """The boolean environment variable ``name``, read as :func:`parse_bool` does."""
    return parse_bool(os.environ.get(name), default, name=name)


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        config_warning(f"Sentrial: {name}={raw!r} is not a number; using the default ({default:g})")
        return default


def find_project_dir(start: str | None = None) -> str | None:
    """The nearest ``.sentrial/`` directory in ``start`` (default: the working directory) or a parent."""
    try:
        here = os.path.abspath(start or os.getcwd())
    except OSError:  # the working directory was removed
        return None
    while True:
        candidate = os.path.join(here, DEFAULT_DIR)
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def user_data_dir() -> str:
    """The per-user data directory: ``~/.local/share/sentrial`` on Linux (``$XDG_DATA_HOME``),
    ``~/Library/Application Support/sentrial`` on macOS, ``%LOCALAPPDATA%\\sentrial`` on Windows."""
    try:
        import platformdirs

        return str(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    except Exception:  # platformdirs missing or broken: the Linux convention
        base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
        return os.path.join(base, APP_NAME)


def default_store(start: str | None = None) -> tuple[str, str]:
    """Where the embedded store is when nothing names it, and why: ``(path, source)`` with source
    ``"project"`` (a ``.sentrial/`` directory in the working directory or a parent) or ``"user"``
    (the per-user data directory)."""
    project = find_project_dir(start)
    if project is not None:
        return os.path.join(project, DEFAULT_DB_NAME), "project"
    return os.path.join(user_data_dir(), DEFAULT_DB_NAME), "user"


def store_location(explicit: str | None = None) -> tuple[str, str]:
    """The store to use and where that choice came from: ``explicit`` (``--db`` / ``local_path``) →
    ``"explicit"``; ``SENTRIAL_LOCAL_PATH`` → ``"env"``; else :func:`default_store`."""
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit)), "explicit"
    env = os.environ.get("SENTRIAL_LOCAL_PATH")
    if env:
        return os.path.abspath(os.path.expanduser(env)), "env"
    return default_store()


def default_local_path() -> str:
    """``SENTRIAL_LOCAL_PATH``, else ``.sentrial/sentrial.db`` in the nearest ``.sentrial/`` directory
    (working directory or a parent), else ``sentrial.db`` in the per-user data directory."""
    return store_location()[0]


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
    exit_timeout: float = 5.0
    request_timeout: float = 10.0
    max_concurrency: int = 8
    spool_max_bytes: int = 1 << 30
    retry_initial_backoff: float = 0.25
    retry_max_backoff: float = 30.0
    # delivery: "process" (a shipper process per outbox), "thread" (in this process), "auto" (process,
    # except in serverless runtimes and where no process can be started)
    delivery: str = "auto"
    http2: bool = False  # HTTP/2 to the API (extra "http2")
    ship_idle: float = 10.0  # seconds a shipper process stays with nothing to send
    ship_give_up: float = 3600.0  # seconds a shipper process keeps trying without delivering anything
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
        """Identifies where data goes (and with which key), so an outbox never mixes setups."""
        if self.mode == "http":
            raw = f"http|{self.base_url.rstrip('/')}|{self.api_key}"
        else:
            raw = f"local|{os.path.abspath(self.local_path or default_local_path())}"
        return hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()[:16]

    def otlp_destination_key(self) -> str:
        return hashlib.sha256(f"otlp|{self.otlp_endpoint}".encode("utf-8", "replace")).hexdigest()[:16]

    def resolved_spool_dir(self) -> str:
        """The spool directory: ``spool_path`` (:func:`resolve` fills it in at construction), else
        ``SENTRIAL_SPOOL_PATH``, else the local store's directory, else :func:`default_spool_dir`."""
        if self.spool_path:
            return self.spool_path
        env = os.environ.get("SENTRIAL_SPOOL_PATH")
        if env:
            return env
        if self.mode == "local" and self.local_path:
            return os.path.dirname(os.path.abspath(self.local_path))
        return default_spool_dir()


def default_spool_dir() -> str:
    """The nearest project ``.sentrial/`` directory, else the per-user data directory (never a new
    ``.sentrial/`` wherever a program happens to run)."""
    return find_project_dir() or user_data_dir()


def _clean_api_key(key: str | None, source: str) -> str | None:
    """Strip whitespace / a newline around the key (a common copy-paste slip) and say so, never
    showing the key itself."""
    if key is None:
        return None
    stripped = key.strip()
    if stripped != key:
        if stripped:
            config_warning(
                f"Sentrial: the API key ({source}) has leading or trailing whitespace or a newline; "
                "it was stripped"
            )
        else:
            config_warning(f"Sentrial: the API key ({source}) is blank; recording to the local store instead")
    return stripped or None


def otel_installed() -> bool:
    """Whether the ``otel`` extra (OpenTelemetry SDK and its OTLP encoder) can be imported."""
    import importlib.util

    try:
        return all(
            importlib.util.find_spec(name) is not None
            for name in ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.common")
        )
    except (ImportError, ValueError):
        return False


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
    if api_key is not None:
        key = _clean_api_key(api_key, "api_key argument")
    else:
        key = _clean_api_key(env.get("SENTRIAL_API_KEY") or None, "SENTRIAL_API_KEY")
    cfg = Config(
        api_key=key,
        project_id=project_id if project_id is not None else (env.get("SENTRIAL_PROJECT_ID") or None),
        base_url=(base_url or env.get("SENTRIAL_BASE_URL") or env.get("SENTRIAL_API_URL") or DEFAULT_BASE_URL)
        .strip()
        .rstrip("/"),
        local_path=local_path or env.get("SENTRIAL_LOCAL_PATH") or None,
        spool_path=spool_path or env.get("SENTRIAL_SPOOL_PATH") or None,
        disabled=disabled if disabled is not None else env_flag("SENTRIAL_DISABLED"),
        debug=debug if debug is not None else env_flag("SENTRIAL_DEBUG"),
        strict=strict if strict is not None else env_flag("SENTRIAL_STRICT"),
        exit_timeout=exit_timeout if exit_timeout is not None else env_float("SENTRIAL_EXIT_TIMEOUT", 5.0),
    )
    if env.get("SENTRIAL_OTLP_ENDPOINT", "").strip():
        cfg.otlp_endpoint = env["SENTRIAL_OTLP_ENDPOINT"].strip()
    if env.get("SENTRIAL_OTLP_HEADERS"):
        pairs = (item.split("=", 1) for item in env["SENTRIAL_OTLP_HEADERS"].split(",") if "=" in item)
        cfg.otlp_headers = {k.strip(): v.strip() for k, v in pairs}
    if env.get("SENTRIAL_DELIVERY", "").strip():
        cfg.delivery = env["SENTRIAL_DELIVERY"].strip().lower()
    if env_flag("SENTRIAL_HTTP2"):
        cfg.http2 = True
    cfg.ship_idle = env_float("SENTRIAL_SHIP_IDLE", cfg.ship_idle)
    cfg.ship_give_up = env_float("SENTRIAL_SHIP_GIVE_UP", cfg.ship_give_up)
    if env_flag("SENTRIAL_REDACT_PII"):
        cfg.redact_pii = True
    if env_flag("SENTRIAL_ALLOW_INSECURE_HTTP"):
        cfg.allow_insecure_http = True
    for key_name, value in overrides.items():
        if not hasattr(cfg, key_name):
            raise TypeError(f"SentrialClient() got an unexpected keyword argument {key_name!r}")
        setattr(cfg, key_name, value)
    # Paths are fixed now, on the constructing thread: never looked up later on a worker or event loop.
    if cfg.mode == "local":
        cfg.local_path = store_location(cfg.local_path)[0]
    if cfg.mode != "disabled" and not cfg.spool_path:
        cfg.spool_path = cfg.resolved_spool_dir()
    if cfg.mode != "disabled" and cfg.otlp_endpoint and not otel_installed():
        config_warning(
            f"Sentrial: an OTLP endpoint is set ({cfg.otlp_endpoint}) but the OpenTelemetry exporter is "
            "not installed, so no spans will be exported: pip install 'sentrial-integrations[otel]' "
            "(from a checkout: pip install -e '.[otel]')"
        )
    if cfg.mode == "local" and cfg.local_path:
        problem = _unwritable(cfg.local_path)
        if problem:
            config_warning(
                f"Sentrial: the local store {cfg.local_path} {problem}, so nothing will be recorded"
            )
    if cfg.mode == "http":
        parts = urlsplit(cfg.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            config_warning(
                f"Sentrial: base_url {cfg.base_url!r} is not an http(s):// URL, so nothing will be "
                "delivered (e.g. https://api.sentrial.com)"
            )
    return cfg


def _unwritable(path: str) -> str | None:
    """Why the store file at ``path`` cannot be created or written, if it plainly cannot (no I/O but
    ``stat`` / ``access`` calls, on the constructing thread)."""
    try:
        if os.path.isdir(path):
            return "is a directory"
        if os.path.exists(path):
            return None if os.access(path, os.W_OK) else "is not writable"
        parent = os.path.dirname(os.path.abspath(path))
        while not os.path.exists(parent):
            up = os.path.dirname(parent)
            if up == parent:
                return None
            parent = up
        if not os.path.isdir(parent):
            return f"cannot be created ({parent} is a file, not a directory)"
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"cannot be created ({parent} is not writable)"
    except OSError:
        return None
    return None
