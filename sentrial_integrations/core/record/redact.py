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
        "pw",
        "pass",
        "private",
        "key",
        "secrets",
        "passcode",
        "awssecretaccesskey",
        "connectionstring",
        "dsn",
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

# Names whose value is a secret in ``name=value``, ``name: value`` and JSON (``"name": "value"``) forms
# (also after a prefix: db_password, AWS_SECRET_ACCESS_KEY, x-api-key).
_SECRET_NAMES = (
    r"(?:password|passwd|passphrase|pwd|secret|secret[_\-]?key|api[_\-]?key|apikey|access[_\-]?key|"
    r"private[_\-]?key|client[_\-]?secret|secret[_\-]?access[_\-]?key|credentials?|"
    r"(?:access|refresh|auth|id|session|bearer|api|csrf)[_\-]?token|token|auth)"
)
_PEM = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[\s\S]*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)"  # also a block cut short
)
_URL_PASSWORD = re.compile(r"(?<=://)([^/\s:@]*):[^/\s@]+(?=@)")  # scheme://user:PASSWORD@host
_AUTH_HEADER = re.compile(  # Authorization / Proxy-Authorization values, any scheme, any length
    r"(?<![A-Za-z0-9])((?:proxy-)?authorization\s*[\"']?\s*[:=]\s*[\"']?)((?:[A-Za-z]+\s+)?[^\s\"',;]+)", re.I
)
_COOKIE = re.compile(r"(?<![A-Za-z0-9])((?:set-)?cookie\s*:\s*)([^\r\n]+)", re.I)
_NAMED = re.compile(  # name = value / name: value / "name": "value"
    r"(?<![A-Za-z])(" + _SECRET_NAMES + r")([\"']?\s*[:=]\s*)(\"[^\"\r\n]*\"|'[^'\r\n]*'|[^\s\"',;&}\])]+)",
    re.I,
)
_SHORT_NAMED = re.compile(r"(?<![A-Za-z0-9])(pw|pass|pin)=([^\s\"',;&]+)", re.I)  # only the name=value form
_BEARER = re.compile(r"\bBearer\s+[A-Za-z0-9\-._~+/]*[0-9\-._~+/][A-Za-z0-9\-._~+/]*=*")  # any length
_TOKENS = re.compile(
    r"\b(?:sk|rk|pk)[-_](?:ant-|proj-|live[-_]|test[-_]|svcacct-|admin-)?[A-Za-z0-9_\-]{6,}"  # OpenAI, Anthropic, Stripe
    r"|\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"  # GitHub tokens
    r"|\bglpat-[A-Za-z0-9_\-]{20,}"  # GitLab tokens
    r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack tokens
    r"|\bAIza[0-9A-Za-z_\-]{35}"  # Google API keys
    r"|\bhf_[A-Za-z0-9]{30,}"  # Hugging Face tokens
    r"|\bnpm_[A-Za-z0-9]{36}"  # npm tokens
    r"|\beyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"  # JWTs
    r"|\bsentrial_(?:live|test)_[A-Za-z0-9]{8,}"  # Sentrial keys
)
# "token: a unit of text", "auth: pending": names that also occur in prose keep a plain word as value
_WEAK_NAME = re.compile(r"(?i)^(?:token|auth)$")


def _ordinary(value: str) -> bool:
    """A plain word (letters only, shorter than 16) or a null-like value: not a credential."""
    return (value.isalpha() and len(value) < 16) or value.lower() in ("null", "none", "true", "false")


def _mask_auth(m: re.Match[str]) -> str:
    return (
        m.group(0) if _ordinary(m.group(2)) or m.group(2).startswith("[REDACTED") else m.group(1) + REDACTED
    )


def _mask_named(m: re.Match[str]) -> str:
    name, sep, val = m.group(1), m.group(2), m.group(3)
    quote = val[0] if val[:1] in ("'", '"') else ""
    bare = val[1:-1] if quote else val
    prose = not quote and ":" in sep  # "token: a unit of text" (not token=..., not JSON)
    if not bare or bare.startswith("[REDACTED") or bare.lower() in ("null", "none", "undefined", "***"):
        return m.group(0)
    if prose and _WEAK_NAME.match(name) and _ordinary(bare):
        return m.group(0)
    return f"{name}{sep}{quote}{REDACTED}{quote}"


def _mask_short(m: re.Match[str]) -> str:
    return m.group(0) if m.group(2).startswith("[REDACTED") else f"{m.group(1)}={REDACTED}"


_TOKEN_TRIGGERS = tuple(
    [
        "sk-",
        "sk_",
        "rk_",
        "pk_",
        "akia",
        "asia",
        "agpa",
        "aida",
        "aroa",
        "anpa",
        "gh",
        "github_pat_",
        "glpat-",
        "xox",
        "aiza",
        "hf_",
        "npm_",
        "eyj",
        "sentrial_",
    ]
)
# (substrings of the lower-cased text, one of which every match contains; pattern; replacement), in order
_RULES: tuple[tuple[tuple[str, ...], re.Pattern[str], Any], ...] = (
    (("-----begin",), _PEM, REDACTED),
    (("://",), _URL_PASSWORD, lambda m: m.group(1) + ":" + REDACTED),
    (("authoriz",), _AUTH_HEADER, _mask_auth),
    (("cookie",), _COOKIE, lambda m: m.group(1) + REDACTED),
    (("pass", "pwd", "secret", "key", "token", "auth", "credential"), _NAMED, _mask_named),
    (("pw=", "pass=", "pin="), _SHORT_NAMED, _mask_short),
    (("bearer",), _BEARER, REDACTED),
    (
        _TOKEN_TRIGGERS,
        _TOKENS,
        REDACTED,
    ),
)


_SEPARATOR = re.compile(r"[=:\-_ .]")


def redact_text(s: str) -> str:
    """``s`` with every recognisable secret (see the patterns above) replaced by ``[REDACTED]``.

    Each pattern runs only on text holding one of its trigger substrings, so ordinary text costs a few
    substring searches.
    """
    if len(s) < 20 and _SEPARATOR.search(s) is None:  # short secrets all hold one of these
        return s
    if "=" not in s and ":" not in s and " " not in s and "\n" not in s:
        # an id or a single word: only the provider-token shapes can match
        return _TOKENS.sub(REDACTED, s) if _TOKENS.search(s) else s
    low = s.lower()
    for triggers, pattern, repl in _RULES:
        for t in triggers:
            if t in low:
                s = pattern.sub(repl, s)
                low = s.lower()
                break
    return s


_PII_PATTERNS = (
    ("[EMAIL]", re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b")),
    ("[CARD]", re.compile(r"\b(?:\d[ \-]?){13,19}\b")),
    ("[PHONE]", re.compile(r"(?<![\w])\+?\d{1,3}[ .\-]?\(?\d{2,4}\)?[ .\-]?\d{3,4}[ .\-]?\d{3,4}\b")),
)


# Last words of a key name that make it a secret (``db_pass``, ``userPw``, ``smtpPassword``) ...
_SECRET_LAST_WORDS = frozenset({"pw", "pwd", "pass", "passwd", "password", "passphrase", "secret", "secrets"})
# ... and keys ending in "key" after one of these words (``ssh_key``, ``signingKey``; not ``sort_key``)
_KEY_QUALIFIERS = frozenset(
    [
        "ssh",
        "encryption",
        "signing",
        "master",
        "private",
        "secret",
        "access",
        "api",
        "client",
        "session",
        "hmac",
    ]
)
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret (its value is then redacted whatever it looks like)."""
    k = "".join(ch for ch in key.lower() if ch.isalnum())
    if k in _SECRET_KEYS or k.endswith(_SECRET_SUFFIXES):
        return True
    words = _WORDS.findall(key)
    if len(words) < 2:
        return False
    last = words[-1].lower()
    return last in _SECRET_LAST_WORDS or (last == "key" and words[-2].lower() in _KEY_QUALIFIERS)


class Redactor:
    """Masks secrets (and PII when enabled) in the strings :class:`~.serialize.Converter` meets; the
    converter also masks the values of secret-looking keys when ``secrets`` is on."""

    def __init__(self, secrets: bool = True, pii: bool = False):
        self.secrets = secrets
        self.pii = pii

    @property
    def active(self) -> bool:
        return self.secrets or self.pii

    def text(self, s: str) -> str:
        if self.secrets:
            s = redact_text(s)
        if self.pii:
            for repl, pat in _PII_PATTERNS:
                s = pat.sub(repl, s)
        return s
