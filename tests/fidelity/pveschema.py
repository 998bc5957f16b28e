"""PVE's own API schema as an oracle for tests: parameters of a method, and their violations.

The schema is the apidoc of PVE 9 that fakepve ships (``fakepve/data/pve-api.json.gz``;
fakepve is AGPL-3.0, so this stays test code and only reads its data file). This module
is an independent reading of that schema, written from PVE's ``PVE::JSONSchema``:

- a parameter has a ``type`` (string, integer, number, boolean), and optionally
  ``enum``, ``pattern`` (Perl regular expressions, ``(?^:...)`` included), ``minimum``,
  ``maximum``, ``maxLength`` and ``format``;
- a ``format`` given as a dict is a property string (``key=value,...``, one
  ``default_key`` written bare, ``alias`` and ``keyAlias`` entries such as
  ``virtio=<mac>`` on a NIC); its sub-values are checked with the same rules;
- a ``format`` given as a name is one PVE registers in Perl. The property-string ones
  the schema only names (``pve-qm-hostpci``, ``pve-vm-cpu-conf``, ...) and the string
  checks used by guest configs are spelled out below from qemu-server, pve-container
  and pve-common. Names ending in ``-list`` are lists (``,``, ``;`` or white space),
  ``-opt`` may be empty. A named format not spelled out here is not checked; it is
  recorded in :data:`UNCHECKED_FORMATS` so a test can say so.

Entry points: :func:`parameters`, :func:`validate_params`, :func:`validate_config`,
:func:`check_request` and :func:`coerce`. Each returns :class:`Violation` objects.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

API_PREFIX = "/api2/json"
QEMU_CONFIG = "/nodes/{node}/qemu/{vmid}/config"
LXC_CONFIG = "/nodes/{node}/lxc/{vmid}/config"
QEMU_CREATE = "/nodes/{node}/qemu"
LXC_CREATE = "/nodes/{node}/lxc"

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")

# Highest index + 1 of PVE's numbered options (qemu-server's MAX_* constants, pve-container's).
MAX_INDEX = {
    "net": 32,
    "ipconfig": 32,
    "ide": 4,
    "sata": 6,
    "scsi": 31,
    "virtio": 16,
    "unused": 256,
    "numa": 8,
    "hostpci": 16,
    "usb": 14,
    "virtiofs": 10,
    "serial": 4,
    "parallel": 3,
    "mp": 256,
    "dev": 256,
}

# Keys a guest config file holds that no API method takes: PVE writes them itself
# (``meta``, ``digest`` is never written), or only root edits them in the file (``lxc.*``).
# Their schema, where PVE has one, is given here or taken from the GET method's answer.
FILE_ONLY = {
    "qemu": ("meta", "parent", "snaptime", "vmstate", "runningmachine", "runningcpu"),
    "lxc": ("parent", "snaptime"),
}
LXC_RAW_KEY = re.compile(r"lxc\.[a-z0-9_.\-]+")


@dataclass(frozen=True)
class Violation:
    """One value PVE would refuse: where (request or file), the parameter, its value, why."""

    where: str
    key: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.key}={self.value!r}: {self.message}"


# --------------------------------------------------------------------------- the apidoc


def apidoc_path() -> Path:
    spec = importlib.util.find_spec("fakepve")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fakepve is not installed; its data file is the PVE API schema")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "pve-api.json.gz"


@functools.cache
def apidoc() -> dict[str, Any]:
    """``{path template: {HTTP method: method info}}`` of PVE's API."""
    with gzip.open(apidoc_path(), "rt", encoding="utf-8") as handle:
        return json.load(handle)["paths"]


def method(template: str, verb: str) -> dict[str, Any]:
    """The apidoc entry of one method; KeyError if PVE has no such method."""
    return apidoc()[template][verb.upper()]


def parameters(template: str, verb: str) -> dict[str, dict[str, Any]]:
    """Parameter name (``net[n]`` for a numbered family) -> its schema."""
    return method(template, verb).get("parameters", {}).get("properties", {})


def returns(template: str, verb: str) -> dict[str, Any]:
    return method(template, verb).get("returns", {}) or {}


def param_schema(props: Mapping[str, dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The schema of ``name``; ``net3`` is found as ``net[n]`` within PVE's index range."""
    if name in props:
        return props[name]
    match = re.fullmatch(r"([a-z]+)(\d+)", name)
    if not match:
        return None
    base, index = match.group(1), match.group(2)
    family = props.get(base + "[n]")
    if family is None or index != str(int(index)) or int(index) >= MAX_INDEX.get(base, 10**9):
        return None
    return family


def resolve(path: str) -> tuple[str, dict[str, str]] | None:
    """``/api2/json/nodes/pve1/qemu/101/config`` -> (``/nodes/{node}/qemu/{vmid}/config``,
    ``{node: pve1, vmid: 101}``), or None when PVE has no such path."""
    if path.startswith(API_PREFIX):
        path = path[len(API_PREFIX) :]
    segments = [s for s in path.strip("/").split("/") if s]
    best: tuple[int, str, dict[str, str]] | None = None
    for template in apidoc():
        parts = [s for s in template.strip("/").split("/") if s]
        if len(parts) != len(segments):
            continue
        params: dict[str, str] = {}
        literal = 0
        for want, got in zip(parts, segments, strict=True):
            if want.startswith("{") and want.endswith("}"):
                params[want[1:-1]] = urllib.parse.unquote(got)
            elif want == got:
                literal += 1
            else:
                break
        else:
            if best is None or literal > best[0]:
                best = (literal, template, params)
    return None if best is None else (best[1], best[2])


# ------------------------------------------------------------------ named formats (Perl)

# Property-string formats the apidoc only names. From qemu-server (PVE 8/9).
_PCI_RE = r"(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\.[a-f0-9])?"
_PCI_ID = {"type": "string", "optional": 1, "pattern": r"0x[0-9a-fA-F]{4}"}
# CPU flags a VM (not a custom CPU model) may set: CPUConfig.pm @supported_cpu_flags.
VM_CPU_FLAGS = (
    "pcid",
    "spec-ctrl",
    "ibpb",
    "ssbd",
    "virt-ssbd",
    "amd-ssbd",
    "amd-no-ssb",
    "pdpe1gb",
    "md-clear",
    "hv-tlbflush",
    "hv-evmcs",
    "aes",
)
_FLAG = r"[+-](?:" + "|".join(re.escape(f) for f in VM_CPU_FLAGS) + ")"
_SMBIOS_TEXT = {"type": "string", "optional": 1, "pattern": r"[^,]+"}

REGISTERED: dict[str, dict[str, dict[str, Any]]] = {
    "pve-qm-ipconfig": {
        "ip": {"type": "string", "format": "pve-ipv4-config", "optional": 1},
        "gw": {"type": "string", "format": "ipv4", "optional": 1},
        "ip6": {"type": "string", "format": "pve-ipv6-config", "optional": 1},
        "gw6": {"type": "string", "format": "ipv6", "optional": 1},
    },
    "pve-qm-boot": {
        "legacy": {"type": "string", "optional": 1, "default_key": 1, "pattern": "[acdn]{1,4}"},
        "order": {"type": "string", "optional": 1, "format": "pve-qm-bootdev-list"},
    },
    "pve-qm-rng": {
        "source": {
            "type": "string",
            "default_key": 1,
            "enum": ["/dev/urandom", "/dev/random", "/dev/hwrng"],
        },
        "max_bytes": {"type": "integer", "optional": 1, "minimum": 0},
        "period": {"type": "integer", "optional": 1, "minimum": 0},
    },
    "pve-qm-watchdog": {
        "model": {
            "type": "string",
            "default_key": 1,
            "optional": 1,
            "enum": ["i6300esb", "ib700"],
        },
        "action": {
            "type": "string",
            "optional": 1,
            "enum": ["reset", "shutdown", "poweroff", "pause", "debug", "none"],
        },
    },
    "pve-vm-cpu-conf": {
        "cputype": {
            "type": "string",
            "default_key": 1,
            "optional": 1,
            "pattern": r"(?:custom-)?[A-Za-z0-9_.+\-]+",
        },
        "hidden": {"type": "boolean", "optional": 1},
        "hv-vendor-id": {"type": "string", "optional": 1, "pattern": r"[a-zA-Z0-9]{1,12}"},
        "flags": {"type": "string", "optional": 1, "pattern": _FLAG + "(?:;" + _FLAG + ")*"},
        "phys-bits": {"type": "string", "optional": 1, "pattern": r"host|\d+"},
        "guest-phys-bits": {"type": "integer", "optional": 1, "minimum": 32, "maximum": 64},
        "reported-model": {"type": "string", "optional": 1},
    },
    "pve-qm-hostpci": {
        "host": {
            "type": "string",
            "default_key": 1,
            "optional": 1,
            "pattern": _PCI_RE + "(?:;" + _PCI_RE + ")*",
        },
        "mapping": {"type": "string", "optional": 1, "format": "pve-configid"},
        "rombar": {"type": "boolean", "optional": 1},
        "romfile": {"type": "string", "optional": 1, "pattern": r"[^,;/]+(?:/[^,;/]+)*"},
        "pcie": {"type": "boolean", "optional": 1},
        "x-vga": {"type": "boolean", "optional": 1},
        "legacy-igd": {"type": "boolean", "optional": 1},
        "mdev": {"type": "string", "optional": 1, "format": "pve-configid"},
        "vendor-id": _PCI_ID,
        "device-id": _PCI_ID,
        "sub-vendor-id": _PCI_ID,
        "sub-device-id": _PCI_ID,
        "driver": {"type": "string", "optional": 1, "enum": ["keep"]},
    },
    "pve-qm-smbios1": {
        "uuid": {
            "type": "string",
            "optional": 1,
            "pattern": r"[a-fA-F0-9]{8}(?:-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}",
        },
        "version": _SMBIOS_TEXT,
        "serial": _SMBIOS_TEXT,
        "manufacturer": _SMBIOS_TEXT,
        "product": _SMBIOS_TEXT,
        "sku": _SMBIOS_TEXT,
        "family": _SMBIOS_TEXT,
        "base64": {"type": "boolean", "optional": 1},
    },
    "pve-qm-cicustom": {
        name: {"type": "string", "optional": 1, "format": "pve-volume-id"}
        for name in ("meta", "network", "user", "vendor")
    },
}


def _registered(name: str) -> dict[str, dict[str, Any]] | None:
    if name in REGISTERED:
        return REGISTERED[name]
    if name == "pve-qm-ide":  # the schema spells it out on ide[n]
        return parameters(QEMU_CONFIG, "PUT")["ide[n]"]["format"]
    return None


_STORAGE_ID = re.compile(r"[A-Za-z][A-Za-z0-9\-_.]*[A-Za-z0-9]")
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?")
_BOOTDEV = re.compile(r"(?:ide|sata|scsi|virtio|efidisk|tpmstate)\d+|net\d+|hostpci\d+|usb\d+")
_URLENCODED = re.compile(r"[A-Za-z0-9\-%_.!~*'()]*")


def _ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(
        p.isdigit() and p.isascii() and (p == "0" or p[0] != "0") and int(p) <= 255 for p in parts
    )


def _ipv6(text: str) -> bool:
    if "/" in text or "%" in text:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _cidr(text: str, version: int) -> bool:
    address, sep, bits = text.partition("/")
    if not sep or not bits.isdigit():
        return False
    if version == 4:
        return _ipv4(address) and 8 <= int(bits) <= 32
    return _ipv6(address) and 8 <= int(bits) <= 128


def _dns_name(text: str) -> bool:
    return bool(text) and all(_DNS_LABEL.fullmatch(label) for label in text.split("."))


def _volume_id(text: str) -> bool:
    store, colon, rest = text.partition(":")
    return bool(colon and rest and _STORAGE_ID.fullmatch(store) and "\n" not in rest)


def _disk_size(text: str) -> bool:
    return re.fullmatch(r"\d+(?:\.\d+)?(?:[KMGT]|[KMGT]iB)?", text) is not None


def _cpuset(text: str) -> bool:
    for part in text.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match or (match.group(2) and int(match.group(2)) < int(match.group(1))):
            return False
    return True


def _startup(text: str) -> bool:
    parts = [p for p in text.split(",") if p]
    return bool(parts) and all(
        re.fullmatch(r"(?:order=\d+|up=\d+|down=\d+)", part) for part in parts
    )


@functools.cache
def _timezones() -> frozenset[str]:
    try:
        import zoneinfo

        return frozenset(zoneinfo.available_timezones())
    except Exception:  # pragma: no cover - no tzdata: fall back to the shape
        return frozenset()


def _timezone(text: str) -> bool:
    if text == "host":
        return True
    zones = _timezones()
    if zones:
        return text in zones
    return re.fullmatch(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*", text) is not None


def _mp_string(text: str) -> bool:
    # pve-container verify_lxc_mp_string: no '..' path component
    return bool(text) and re.search(r"(?:^|/)\.\.(?:/|$)", text) is None


def _dev_string(text: str) -> bool:
    return text.startswith("/dev/") and re.search(r"(?:^|/)\.\.(?:/|$)", text) is None


def _ll_iface_ip(text: str) -> bool:
    address, pct, iface = text.partition("%")
    if pct:
        return _ipv6(address) and address.lower().startswith("fe80") and bool(iface)
    return _ipv4(text) or _ipv6(text)


def _hotplug(text: str) -> bool:
    if text in ("0", "1"):
        return True
    items = [i for i in re.split(r"[,;\s]+", text) if i]
    return all(i in ("network", "disk", "cpu", "memory", "usb", "cloudinit") for i in items)


NAMED: dict[str, Any] = {
    "string": lambda v: True,
    "urlencoded": lambda v: _URLENCODED.fullmatch(v) is not None,
    "pve-configid": lambda v: re.fullmatch(r"[a-z][a-z0-9_\-]+", v, re.I) is not None,
    "pve-storage-id": lambda v: len(v) >= 2 and _STORAGE_ID.fullmatch(v) is not None,
    "pve-bridge-id": lambda v: re.fullmatch(r"[-_.\w]+", v) is not None,
    "pve-node": lambda v: re.fullmatch(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?", v) is not None,
    "pve-vmid": lambda v: re.fullmatch(r"[1-9][0-9]{2,8}", v) is not None,
    "pve-poolid": lambda v: (
        re.fullmatch(r"[A-Za-z0-9_\-.]+(?:/[A-Za-z0-9_\-.]+){0,2}", v) is not None
    ),
    "mac-addr": lambda v: (
        re.fullmatch(r"[a-fA-F0-9][02468aceACE](?::[a-fA-F0-9]{2}){5}", v) is not None
    ),
    "ipv4": _ipv4,
    "ipv6": _ipv6,
    "ip": lambda v: _ipv4(v) or _ipv6(v),
    "pve-ipv4-config": lambda v: v in ("dhcp", "manual") or _cidr(v, 4),
    "pve-ipv6-config": lambda v: v in ("auto", "dhcp", "manual") or _cidr(v, 6),
    "dns-name": _dns_name,
    "address": lambda v: _ipv4(v) or _ipv6(v) or _dns_name(v),
    "lxc-ip-with-ll-iface": _ll_iface_ip,
    "disk-size": _disk_size,
    "pve-tag": lambda v: re.fullmatch(r"[a-z0-9_][a-z0-9_\-+.]*", v, re.I) is not None,
    "pve-startup-order": _startup,
    "pve-hotplug-features": _hotplug,
    "pve-cpuset": _cpuset,
    "pve-qm-bootdev": lambda v: _BOOTDEV.fullmatch(v) is not None,
    "pve-qm-bootdisk": lambda v: re.fullmatch(r"(?:ide|sata|scsi|virtio)\d+", v) is not None,
    "pve-volume-id": _volume_id,
    "pve-volume-id-or-qm-path": lambda v: (
        v in ("none", "cdrom") or v.startswith("/") or _volume_id(v)
    ),
    "pve-volume-id-or-absolute-path": lambda v: v.startswith("/") or _volume_id(v),
    "pve-lxc-mp-string": _mp_string,
    "pve-lxc-dev-string": _dev_string,
    "pve-ct-timezone": _timezone,
    "pve-configid-list": lambda v: True,  # handled as a list of pve-configid
}

# Named formats met but not implemented here (not checked, not a violation).
UNCHECKED_FORMATS: set[str] = set()


def _split_list(text: str) -> list[str]:
    if "\0" in text:
        return [i for i in text.split("\0") if i]
    return [i for i in re.split(r"[,;\s]+", text) if i]


def _check_named(name: str, text: str) -> str | None:
    sub = _registered(name)
    if sub is not None:
        return _check_property_string(sub, text)
    base, kind = name, ""
    for suffix in ("-list", "-opt"):
        if name.endswith(suffix) and name not in NAMED:
            base, kind = name[: -len(suffix)], suffix
    checker = NAMED.get(base)
    if checker is None:
        UNCHECKED_FORMATS.add(name)
        return None
    if kind == "-opt" and not text:
        return None
    items = _split_list(text) if kind == "-list" else [text]
    if kind == "-list" and base == "pve-qm-bootdev":
        items = [i for i in text.split(";") if i]
    for item in items:
        if not checker(item):
            return f"value {item!r} does not look like a valid {base}"
    return None


# ----------------------------------------------------------------------- value checks


@functools.cache
def _regex(pattern: str) -> re.Pattern[str] | None:
    """A Perl pattern from the apidoc as an anchored Python one."""
    text = pattern.replace("(?^:", "(?:").replace("(?^i:", "(?i:").replace("(?^u:", "(?:")
    try:
        return re.compile(r"(?:" + text + r")\Z", re.S)
    except re.error:
        return None


def parse_boolean(text: str) -> int | None:
    low = str(text).lower()
    return 1 if low in TRUE else 0 if low in FALSE else None


def check_value(schema: Mapping[str, Any], value: Any) -> list[str]:
    """Messages for ``value`` against one parameter schema; empty when PVE accepts it."""
    kind = schema.get("type", "string")
    if isinstance(value, (list, dict)):
        if kind == "array":
            items = value if isinstance(value, list) else [value]
            return [m for item in items for m in check_value(schema.get("items") or {}, item)]
        return [f"type check ('{kind}') failed - got a {type(value).__name__}"]
    text = ("1" if value else "0") if isinstance(value, bool) else str(value)
    number: float | None = None
    if kind == "boolean":
        if parse_boolean(text) is None:
            return [f"type check ('boolean') failed - got {text!r}"]
        return []
    if kind == "integer":
        if re.fullmatch(r"[+-]?\d+", text) is None:
            return [f"type check ('integer') failed - got {text!r}"]
        number = int(text)
    elif kind == "number":
        try:
            number = float(text)
        except ValueError:
            return [f"type check ('number') failed - got {text!r}"]
        if text.strip() != text or text.lower() in ("nan", "inf", "-inf", "infinity"):
            return [f"type check ('number') failed - got {text!r}"]
    fmt = schema.get("format")
    if isinstance(fmt, dict):
        why = _check_property_string(fmt, text)
        if why:
            return [why]
    elif isinstance(fmt, str):
        why = _check_named(fmt, text)
        if why:
            return [f"invalid format - {why}"]
    pattern = schema.get("pattern")
    if pattern and kind == "string":
        rx = _regex(pattern)
        if rx is not None and rx.match(text) is None:
            return [f"value does not match the regex pattern {pattern}"]
    if "maxLength" in schema and len(text) > int(schema["maxLength"]):
        return [f"value may only be {schema['maxLength']} characters long"]
    if "minLength" in schema and len(text) < int(schema["minLength"]):
        return [f"value must be at least {schema['minLength']} characters long"]
    if number is not None:
        if "minimum" in schema and number < float(schema["minimum"]):
            return [f"value must have a minimum value of {schema['minimum']}"]
        if "maximum" in schema and number > float(schema["maximum"]):
            return [f"value must have a maximum value of {schema['maximum']}"]
    if "enum" in schema and text not in [str(e) for e in schema["enum"]]:
        return [f"value {text!r} is not one of {', '.join(str(e) for e in schema['enum'])}"]
    return []


def parse_property_string(fmt: Mapping[str, Any], text: str) -> dict[str, str]:
    """``key=value,...`` as a dict, the bare value under the default key, aliases resolved
    (``virtio=<mac>`` gives ``model: virtio`` and ``macaddr: <mac>``). Raises ValueError."""
    out: dict[str, str] = {}
    default = next((k for k, v in fmt.items() if v.get("default_key")), None)
    for part in text.split(","):
        if not part:
            continue
        key, eq, val = part.partition("=")
        if not eq:
            if default is None:
                raise ValueError(f"value without key, but the format has no default key: {part!r}")
            if default in out:
                raise ValueError(f"duplicate key in comma-separated list property: {default}")
            out[default] = part
            continue
        if not key or not val:
            raise ValueError(f"missing key or value in comma-separated list property: {part!r}")
        entry = fmt.get(key)
        if entry is None:
            raise ValueError(f"invalid key in comma-separated list property: {key}")
        if entry.get("alias"):
            if entry.get("keyAlias"):
                if entry["keyAlias"] in out:
                    raise ValueError(f"key alias {entry['keyAlias']!r} is already defined")
                out[entry["keyAlias"]] = key
            key = entry["alias"]
        if key in out:
            raise ValueError(f"duplicate key in comma-separated list property: {key}")
        out[key] = val
    return out


def _check_property_string(fmt: Mapping[str, Any], text: str) -> str | None:
    try:
        values = parse_property_string(fmt, text)
    except ValueError as error:
        return f"format error - {error}"
    problems = []
    for key, entry in fmt.items():
        if entry.get("alias"):
            continue
        if key not in values:
            if not entry.get("optional"):
                problems.append(f"{key}: property is missing and it is not optional")
            continue
        problems += [f"{key}: {m}" for m in check_value(entry, values[key])]
    return "format error - " + "; ".join(problems) if problems else None


# ----------------------------------------------------------------------- entry points


def validate_params(
    props: Mapping[str, dict[str, Any]],
    params: Mapping[str, Any],
    *,
    where: str = "",
    require: bool = False,
) -> list[Violation]:
    """Violations of ``params`` against a method's parameter schemas (``require``: report
    missing mandatory parameters too). ``delete`` and ``revert`` name keys that must exist."""
    out: list[Violation] = []
    for key, value in params.items():
        schema = param_schema(props, key)
        if schema is None:
            out.append(Violation(where, key, value, "parameter not defined in PVE's schema"))
            continue
        out += [Violation(where, key, value, m) for m in check_value(schema, value)]
        if key in ("delete", "revert") and isinstance(value, str):
            for name in _split_list(value):
                if param_schema(props, name) is None:
                    out.append(Violation(where, key, value, f"{name!r} is not a config key"))
    if require:
        for key, schema in props.items():
            if "[n]" not in key and not schema.get("optional") and key not in params:
                out.append(Violation(where, key, None, "parameter is missing and not optional"))
    return out


def config_schema(kind: str) -> dict[str, dict[str, Any]]:
    """Every key a config of this kind (qemu or lxc) may hold: the config PUT's parameters
    (API-only ones removed), plus the file-only ones from the GET answer."""
    template = QEMU_CONFIG if kind == "qemu" else LXC_CONFIG
    props = dict(parameters(template, "PUT"))
    for api_only in ("delete", "revert", "digest", "force", "skiplock", "node", "vmid"):
        props.pop(api_only, None)
    props.pop("background_delay", None)
    answer = returns(template, "GET").get("properties", {})
    for key in FILE_ONLY[kind]:
        if key in answer:
            props[key] = answer[key]
        else:
            props.setdefault(key, {"type": "string"})
    return props


def validate_config(kind: str, config: Mapping[str, Any], *, where: str = "") -> list[Violation]:
    """Violations of a guest config (``key: value`` as the file or GET holds it).

    ``lxc.*`` raw keys of a container are allowed (root edits them in the file); their
    values are not checked (PVE passes them to LXC as they are)."""
    props = config_schema(kind)
    out: list[Violation] = []
    plain = {}
    for key, value in config.items():
        if kind == "lxc" and LXC_RAW_KEY.fullmatch(key):
            continue
        plain[key] = value
    out += validate_params(props, plain, where=where)
    return out


def check_request(verb: str, path: str, body: Any) -> list[Violation]:
    """Violations of one request as fakepve records it (method, path, raw body): the path
    must be one of PVE's, the method one it has, and every parameter (the path's own too)
    valid. Form and JSON bodies are read; a DELETE's query string is not recorded by
    fakepve, so only its path parameters are checked."""
    where = f"{verb} {path}"
    found = resolve(path)
    if found is None:
        return [Violation(where, "path", path, "no such path in PVE's API")]
    template, path_params = found
    info = apidoc()[template].get(verb.upper())
    if info is None:
        return [Violation(where, "method", verb, f"{template} has no {verb} method")]
    params = {**decode_body(body), **path_params}
    props = info.get("parameters", {}).get("properties", {})
    return validate_params(props, params, where=where, require=verb.upper() != "DELETE")


def decode_body(body: Any) -> dict[str, Any]:
    """A recorded request body (bytes, form-encoded or JSON) as ``{param: value}``; a
    repeated form key becomes a list."""
    if body is None:
        return {}
    if isinstance(body, Mapping):
        return dict(body)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return {"<body>": text}
        return data if isinstance(data, dict) else {"<body>": text}
    out: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out


def coerce(kind: str, key: str, value: str) -> Any:
    """A config value as PVE's API answers it: integers and numbers as JSON numbers,
    booleans as 0/1, everything else the string the file holds."""
    schema = param_schema(config_schema(kind), key) or {}
    schema_type = schema.get("type")
    if schema_type == "integer" and re.fullmatch(r"[+-]?\d+", value):
        return int(value)
    if schema_type == "number":
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() and "." not in value else number
    if schema_type == "boolean" and parse_boolean(value) is not None:
        return parse_boolean(value)
    return value


def write_requests(log: Iterable[tuple[str, str, Any]]) -> list[tuple[str, str, Any]]:
    """The POST, PUT and DELETE requests of a fakepve request log."""
    return [(m, p, b) for m, p, b in log if m.upper() in ("POST", "PUT", "DELETE")]


def check_log(log: Iterable[tuple[str, str, Any]]) -> list[Violation]:
    """Every violation of every write request in a fakepve request log.

    Logins (``/access/ticket``) are checked like any other write."""
    out: list[Violation] = []
    for verb, path, body in write_requests(log):
        out += check_request(verb, path, body)
    return out
