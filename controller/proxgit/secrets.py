"""Secrets, in one place: references, resolution, detection and scrubbing.

Desired YAML and ``proxgit.yaml`` never hold a secret's value, only where to
find it (``{env: NAME}`` or ``{file: PATH}``). Errors name the reference,
never the value.

- :func:`resolve_secret` reads a reference's value.
- :class:`SecretBox` resolves secrets at apply time and remembers them, so
  every record proxgit writes (results, task logs, the journal, error
  messages) has them replaced by ``***``.
- Detection: the words that mark a key or a ``key=value`` pair as secret
  (:data:`SECRET_WORDS`, :data:`SECRET_KEYS`) are defined here once; the
  loader refuses them in desired YAML (:func:`may_hold_secret` is its cheap
  pre-scan), the planner warns about them in descriptions, and
- :class:`Scrubber` masks them in everything written to the snapshot.
  Proxmox hands some secrets back in config answers: ``cipassword`` (real PVE
  masks it, older versions and fakes do not), passwords or tokens inside
  ``cicustom`` or a hook's arguments, and whatever a user pasted into a
  description. A masked value keeps its key, so the snapshot still shows
  *that* a password is set, never what it is.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from proxgit.errors import ConfigError
from proxgit.models.base import SecretRef

MASK = "***"
_MIN_KNOWN = 4  # shorter remembered values are not masked: they would mask ordinary text

# --- detection -------------------------------------------------------------

# The words that make a key name a secret, each in every spelling a key uses
# (``apikey``, ``api_key``, ``api-key``). Matched as substrings, lower-cased.
_WORDS = ("password", "passwd", "secret", "token", ("api", "key"), ("private", "key"))
SECRET_WORDS: tuple[str, ...] = tuple(
    spelling
    for word in _WORDS
    for spelling in (
        (word,) if isinstance(word, str) else tuple(sep.join(word) for sep in ("", "_", "-"))
    )
)

# Keys whose value is a secret whatever it looks like, compared after
# normalize_key (lower-cased, without '_' and '-').
SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "cipassword",
        "rootpassword",
        "secret",
        "tokensecret",
        "token",
        "apitoken",
        "apikey",
        "privatekey",
        "clientsecret",
    }
)
# Keys Proxmox itself uses for secrets (storage and backup settings); masked
# in what proxgit reads, never written by a user in a guest document.
PROXMOX_SECRET_KEYS = frozenset({"keyring", "encryptionkey", "masterpubkey"})

_WORD_PATTERN = "|".join(re.escape(word) for word in SECRET_WORDS)
# A description that reads like ``password: value`` (the planner warns).
SECRETISH_TEXT = re.compile(rf"(?i)({_WORD_PATTERN})\s*[:=]\s*\S{{4,}}")
# Values that are secrets by shape: private key blocks, PVE API tokens, crypt(3) hashes.
SECRET_VALUE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|PVEAPIToken=\S+=[0-9a-f\-]{36}|\$[156y]\$[^$\s]+\$"
)

# Cheap substring tests of the lower-cased text decide whether a document is
# walked for secrets at all; a regular expression here cost more than parsing.
# A key word is looked for first and its endings only when it is there: most
# documents hold none of the words, so they cost one test per word.
_SECRET_ENDS = (":", '"', "'", " ")
_SECRET_MARKS = ("private key-----", "pveapitoken=", "$1$", "$5$", "$6$", "$y$")


def may_hold_secret(text: str) -> bool:
    """False only when ``text`` certainly holds no secret key and no secret-shaped value."""
    lowered = text.lower()
    for word in SECRET_WORDS:
        if word in lowered:
            for end in _SECRET_ENDS:
                if word + end in lowered:
                    return True
    return any(mark in lowered for mark in _SECRET_MARKS)


def normalize_key(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def is_secret_key(key: str) -> bool:
    """True when a value stored under ``key`` is a secret (by exact name or a secret word)."""
    lowered = key.lower()
    normalized = normalize_key(key)
    return (
        normalized in SECRET_KEYS
        or normalized in PROXMOX_SECRET_KEYS
        or any(word in lowered for word in SECRET_WORDS)
    )


# --- resolution --------------------------------------------------------------


def resolve_secret(ref: SecretRef, *, what: str, base_dir: Path | None = None) -> str:
    """The value of a secret named by ``{env: NAME}`` or ``{file: PATH}``."""
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if value is None:
            raise ConfigError(
                f"{what}: environment variable {ref.env} is not set; export it "
                "with the secret's value"
            )
        if not value.strip():
            raise ConfigError(
                f"{what}: environment variable {ref.env} is empty; export it with the "
                "secret's value"
            )
        if any("\udc80" <= c <= "\udcff" for c in value):
            raise ConfigError(
                f"{what}: environment variable {ref.env} holds bytes that are not UTF-8; "
                "export the secret as text"
            )
        return value.strip()
    assert ref.file is not None
    path = Path(ref.file)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        raw = path.read_bytes()
    except OSError as err:
        fix = (
            "create it with the secret, or fix file: in the reference"
            if isinstance(err, FileNotFoundError)
            else "point file: at a readable file holding the secret"
        )
        raise ConfigError(
            f"{what}: cannot read secret file {path.absolute()}: {err.strerror}; {fix}"
        ) from err
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff").strip()
    except UnicodeDecodeError:
        raise ConfigError(
            f"{what}: secret file {path.absolute()} is not UTF-8 text; write the secret into it "
            "as text"
        ) from None
    if not text:
        raise ConfigError(
            f"{what}: secret file {path.absolute()} is empty; write the secret into it"
        )
    return text


class SecretBox:
    """Secrets resolved at apply time, remembered so that :meth:`scrub` masks them."""

    def __init__(self, base_dir: Path | None) -> None:
        self.base_dir = base_dir
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def resolve(self, ref: SecretRef, *, what: str) -> str:
        value = resolve_secret(ref, what=what, base_dir=self.base_dir)
        self.remember(value)
        return value

    def remember(self, value: str) -> None:
        if value and len(value) >= _MIN_KNOWN:
            with self._lock:
                self._values.add(value)

    def scrub(self, value: Any) -> Any:
        """``value`` with every known secret masked (strings, lists and dicts, recursively)."""
        if isinstance(value, str):
            for secret in sorted(self._values, key=len, reverse=True):
                value = value.replace(secret, MASK)
            return value
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        return value


# --- scrubbing ---------------------------------------------------------------

# Secrets by shape, inside any text: key=value and key: value pairs whose key
# names a secret, PVE API token headers, private key blocks, crypt(3) hashes.
_SECRET_PAIR = re.compile(
    rf"(?i)\b([\w.-]*(?:{_WORD_PATTERN})[\w.-]*)(\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
)
_API_TOKEN = re.compile(r"PVEAPIToken=[^\s=]+=[^\s,;]+")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S
)
_CRYPT_HASH = re.compile(r"\$(?:1|2[aby]|5|6|y)\$[^\s$]*\$[^\s,;]+")


class Scrubber:
    """Masks secrets in strings, lists and mappings; ``known`` values are masked anywhere."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._known = sorted(
            {k for k in known if k and len(k) >= _MIN_KNOWN}, key=len, reverse=True
        )

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
