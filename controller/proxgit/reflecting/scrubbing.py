"""Secrets out of the snapshot: masked by key, by shape, and by known value.

Proxmox hands some secrets back in config answers: ``cipassword`` (real PVE
masks it, older versions and fakes do not), passwords or tokens inside
``cicustom`` or a hook's arguments, and whatever a user pasted into a
description. The snapshot is committed to Git, so every string that goes into
it passes through :class:`Scrubber` first. A masked value keeps its key, so
the snapshot still shows *that* a password is set, never what it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

# Keys whose value is a secret, whatever it looks like (compared lower-cased).
_SECRET_KEYS = frozenset(
    {
        "cipassword",
        "password",
        "passwd",
        "rootpassword",
        "secret",
        "token",
        "tokensecret",
        "apitoken",
        "apikey",
        "privatekey",
        "clientsecret",
        "keyring",
        "encryption-key",
        "master-pubkey",
    }
)
_SECRET_KEY_PARTS = ("password", "passwd", "secret", "token", "apikey", "api_key", "privatekey")

# Secrets by shape, inside any text: key=value and key: value pairs whose key
# names a secret, PVE API token headers, private key blocks, crypt(3) hashes.
_SECRET_PAIR = re.compile(
    r"(?i)\b([\w.-]*(?:password|passwd|secret|token|apikey|api_key|private_key)[\w.-]*)"
    r"(\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
)
_API_TOKEN = re.compile(r"PVEAPIToken=[^\s=]+=[^\s,;]+")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S
)
_CRYPT_HASH = re.compile(r"\$(?:1|2[aby]|5|6|y)\$[^\s$]*\$[^\s,;]+")


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _SECRET_KEYS or any(part in lowered for part in _SECRET_KEY_PARTS)


class Scrubber:
    """Masks secrets in strings, lists and mappings; ``known`` values are masked anywhere."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._known = sorted({k for k in known if k and len(k) >= 4}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._known:
            if secret in value:
                value = value.replace(secret, MASK)
        if not any(c in value for c in "=:$-"):
            return value  # none of the shapes below can match
        value = _PRIVATE_KEY.sub(MASK, value)
        value = _API_TOKEN.sub(f"PVEAPIToken={MASK}", value)
        value = _CRYPT_HASH.sub(MASK, value)
        return _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", value)

    def value(self, key: str, value: Any) -> Any:
        """``value`` stored under ``key``: masked whole when the key names a secret."""
        if is_secret_key(key) and value not in (None, ""):
            return MASK
        return self.any(value)

    def any(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.any(v) for v in value]
        return value
