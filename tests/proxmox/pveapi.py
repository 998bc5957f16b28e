"""PVE's API schema, as fakepve ships it (a test dependency; read, never imported at runtime)."""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
from pathlib import Path
from typing import Any

QEMU_CONFIG = "/nodes/{node}/qemu/{vmid}/config"
LXC_CONFIG = "/nodes/{node}/lxc/{vmid}/config"
CONFIG_PATH = {"qemu": QEMU_CONFIG, "lxc": LXC_CONFIG}
# parameters of the config API that are not config keys
API_ONLY = frozenset(
    {"delete", "revert", "force", "skiplock", "node", "vmid", "background_delay", "current"}
)
API_ONLY |= {"import-working-storage", "snapshot"}


@functools.cache
def paths() -> dict[str, Any]:
    spec = importlib.util.find_spec("fakepve")
    assert spec is not None and spec.origin is not None
    data = Path(spec.origin).parent / "data" / "pve-api.json.gz"
    with gzip.open(data) as handle:
        loaded: dict[str, Any] = json.load(handle)["paths"]
    return loaded


def config_keys(kind: str) -> dict[str, dict[str, Any]]:
    """Every config key of ``kind`` (``scsi[n]`` for families): what PUT takes and GET returns."""
    api = paths()[CONFIG_PATH[kind]]
    keys: dict[str, dict[str, Any]] = {}
    for name, prop in api["GET"].get("returns", {}).get("properties", {}).items():
        keys[name] = prop
    for name, prop in api["PUT"]["parameters"]["properties"].items():
        keys[name] = prop
    return {k: v for k, v in keys.items() if k not in API_ONLY}
