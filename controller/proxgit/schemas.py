"""JSON Schemas for every document kind, generated from the pydantic models.

Editors use them through the ``# yaml-language-server: $schema=...`` line at
the top of each file, a relative path to the repository's own ``schemas/``
folder (``proxgit init`` writes it, ``proxgit schema --out schemas`` refreshes
it); ``proxgit schema --check`` fails when the files no longer match the models.

The ``$id`` is a name, not a download location: ``urn:proxgit:schema:v1:<kind>``,
versioned by the documents' ``apiVersion`` (``proxgit/v1``). Nothing is served
at it; every repository carries its own copy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from proxgit.models import API_VERSION, DOCUMENT_KINDS

SCHEMA_FILES = {kind: f"{kind.lower()}.schema.json" for kind in DOCUMENT_KINDS}


def build_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one document kind."""
    schema = DOCUMENT_KINDS[kind].model_json_schema(by_alias=True, mode="validation")
    _close_slot_maps(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id(kind),
        **schema,
    }


def schema_id(kind: str) -> str:
    """The versioned ``$id`` of a kind's schema: ``urn:proxgit:schema:v1:virtualmachine``."""
    version = API_VERSION.split("/", 1)[1]
    return f"urn:proxgit:schema:{version}:{kind.lower()}"


def render_schemas() -> dict[str, str]:
    """File name to file text, deterministic, for every kind."""
    return {
        SCHEMA_FILES[kind]: json.dumps(build_schema(kind), indent=2, sort_keys=True) + "\n"
        for kind in DOCUMENT_KINDS
    }


def write_schemas(directory: Path) -> list[str]:
    """Write every schema into ``directory``; returns the names of files that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in render_schemas().items():
        target = directory / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            changed.append(name)
    return changed


def stale_schemas(directory: Path) -> list[str]:
    """Names of schema files in ``directory`` that differ from the models."""
    return [
        name
        for name, text in render_schemas().items()
        if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text
    ]


def _close_slot_maps(node: Any) -> None:
    """Maps keyed by a pattern (disk slots, clusters) accept no other keys, as the loader."""
    if isinstance(node, dict):
        if "patternProperties" in node and "properties" not in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_slot_maps(value)
    elif isinstance(node, list):
        for value in node:
            _close_slot_maps(value)
