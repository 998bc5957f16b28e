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
# Keys a config file holds that the API schema does not list for this kind: a container
# with snapshots has ``parent`` (and each snapshot section ``snaptime``), as a VM does.
FILE_ONLY = {"qemu": frozenset[str](), "lxc": frozenset({"parent", "snaptime"})}


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
    for name in FILE_ONLY[kind]:
        keys.setdefault(name, {"type": "string", "optional": 1})
    return {k: v for k, v in keys.items() if k not in API_ONLY}


def _method(path: str, method: str) -> dict[str, Any] | None:
    """The schema of ``method path`` (``/api2/json`` stripped; ``{param}`` segments matched)."""
    parts = path.removeprefix("/api2/json").strip("/").split("/")
    for candidate, methods in paths().items():
        pattern = candidate.strip("/").split("/")
        if len(pattern) != len(parts):
            continue
        if all(
            p == q or (p.startswith("{") and p.endswith("}"))
            for p, q in zip(pattern, parts, strict=True)
        ):
            found: dict[str, Any] | None = methods.get(method)
            return found
    return None


def _prop(props: dict[str, Any], name: str) -> dict[str, Any] | None:
    if name in props:
        found: dict[str, Any] = props[name]
        return found
    family = name.rstrip("0123456789")
    if family != name and f"{family}[n]" in props:
        found = props[f"{family}[n]"]
        return found
    return None


def _value_problems(where: str, prop: dict[str, Any], text: str) -> list[str]:
    problems = []
    kind = prop.get("type", "string")
    try:
        if kind == "integer":
            number: float = int(text)
        elif kind == "number":
            number = float(text)
        elif kind == "boolean":
            if text.lower() not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
                problems.append(f"{where}: {text!r} is not a boolean")
            return problems
        else:
            number = 0
    except ValueError:
        return [f"{where}: {text!r} is not {kind}"]
    if kind in ("integer", "number"):
        if "minimum" in prop and number < float(prop["minimum"]):
            problems.append(f"{where}: {text} below minimum {prop['minimum']}")
        if "maximum" in prop and number > float(prop["maximum"]):
            problems.append(f"{where}: {text} above maximum {prop['maximum']}")
    if "enum" in prop and text not in [str(e) for e in prop["enum"]]:
        problems.append(f"{where}: {text!r} not in {prop['enum']}")
    fmt = prop.get("format")
    if isinstance(fmt, dict) and kind == "string":
        default = next((k for k, v in fmt.items() if v.get("default_key")), None)
        for index, item in enumerate(text.split(",")):
            key, sep, value = item.partition("=")
            if not sep:
                if index == 0 and default:
                    key, value = default, item
                else:
                    problems.append(f"{where}: sub-key {item!r} without a value")
                    continue
            sub = fmt.get(key)
            if sub is None:
                problems.append(f"{where}: unknown sub-key {key!r}")
                continue
            if "alias" in sub:
                continue
            problems.extend(_value_problems(f"{where}.{key}", sub, value))
    return problems


def request_problems(method: str, path: str, body: Any) -> list[str]:
    """Where a request fakepve recorded disagrees with PVE's schema: unknown parameters,
    wrong types, values outside enums and ranges, unknown sub-keys of property strings."""
    from urllib.parse import parse_qs

    schema = _method(path, method)
    if schema is None:
        return [f"{method} {path}: not in PVE's API"]
    raw = body.decode() if isinstance(body, bytes) else str(body or "")
    try:
        data = json.loads(raw) if raw.startswith("{") else None
    except ValueError:
        data = None
    if data is None:
        data = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    props = schema.get("parameters", {}).get("properties", {})
    problems = []
    for name, value in data.items():
        if str(value) == "***":
            continue  # a secret fakepve redacted in its log
        prop = _prop(props, name)
        if prop is None:
            if schema.get("parameters", {}).get("additionalProperties", 1):
                continue
            problems.append(f"{method} {path}: unknown parameter {name!r}")
            continue
        problems.extend(_value_problems(f"{method} {path} {name}", prop, str(value)))
    return problems
