"""Secrets by reference: where a secret comes from, and reading it only when needed.

Desired YAML and ``proxgit.yaml`` never hold a secret's value, only where to
find it (``{env: NAME}`` or ``{file: PATH}``). Errors name the reference,
never the value.
"""

from __future__ import annotations

import os
from pathlib import Path

from proxgit.errors import ConfigError
from proxgit.models.base import SecretRef


def resolve_secret(ref: SecretRef, *, what: str, base_dir: Path | None = None) -> str:
    """The value of a secret named by ``{env: NAME}`` or ``{file: PATH}``."""
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if not value:
            raise ConfigError(
                f"{what}: environment variable {ref.env} is not set; export it "
                "with the secret's value"
            )
        return value.strip()
    assert ref.file is not None
    path = Path(ref.file)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"{what}: cannot read secret file {path}: {err.strerror}") from err
