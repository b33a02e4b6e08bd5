"""Secret (default) and PII (opt-in) redaction of JSON data, run on the pipeline worker."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

# Keys are compared after lower-casing and dropping everything but letters and digits.
_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "authorization",
        "auth",
        "cookie",
        "setcookie",
        "credentials",
        "credential",
        "privatekey",
        "proxyauthorization",
        "xapikey",
    }
)
_SECRET_SUFFIXES = (
    "password",
    "passwd",
    "secret",
    "apikey",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "authtoken",
    "sessiontoken",
    "bearertoken",
    "privatekey",
    "secretkey",
    "accesskey",
    "clientsecret",
)

_SECRET_VALUE = re.compile(
    r"(?:"
    r"\bsk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_\-]{16,}"  # OpenAI / Anthropic / Stripe-style keys
    r"|\bBearer\s+[A-Za-z0-9\-._~+/]{12,}=*"  # bearer tokens
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}"  # GitHub tokens
    r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack tokens
    r"|\bAIza[0-9A-Za-z_\-]{35}"  # Google API keys
    r"|\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+"  # JWTs
    r"|\bsentrial_(?:live|test)_[A-Za-z0-9]{8,}"  # Sentrial keys
    r")"
)

_PII_PATTERNS = (
    ("[EMAIL]", re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b")),
    ("[CARD]", re.compile(r"\b(?:\d[ \-]?){13,19}\b")),
    ("[PHONE]", re.compile(r"(?<![\w])\+?\d{1,3}[ .\-]?\(?\d{2,4}\)?[ .\-]?\d{3,4}[ .\-]?\d{3,4}\b")),
)


def is_secret_key(key: str) -> bool:
    k = "".join(ch for ch in key.lower() if ch.isalnum())
    return k in _SECRET_KEYS or k.endswith(_SECRET_SUFFIXES)


class Redactor:
    """Walks JSON data and masks secrets (and PII when enabled). Values are already JSON-safe."""

    def __init__(self, secrets: bool = True, pii: bool = False, extra_patterns: list[str] | None = None):
        self.secrets = secrets
        self.pii = pii
        self.extra = [re.compile(p) for p in (extra_patterns or [])]

    @property
    def active(self) -> bool:
        return self.secrets or self.pii or bool(self.extra)

    def text(self, s: str) -> str:
        if self.secrets:
            s = _SECRET_VALUE.sub(REDACTED, s)
        if self.pii:
            for repl, pat in _PII_PATTERNS:
                s = pat.sub(repl, s)
        for pat in self.extra:
            s = pat.sub(REDACTED, s)
        return s

    def __call__(self, value: Any) -> Any:
        if not self.active:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        t = type(value)
        if t is str:
            return self.text(value)
        if t is dict:
            out = {}
            for k, v in value.items():
                if self.secrets and is_secret_key(k) and v not in (None, "", 0):
                    out[k] = REDACTED
                else:
                    out[k] = self._walk(v)
            return out
        if t is list:
            return [self._walk(v) for v in value]
        return value
