"""Guest config files as PVE writes them, and the corpus of them under ``corpus/``.

``/etc/pve/qemu-server/<vmid>.conf`` and ``/etc/pve/lxc/<vmid>.conf`` are ``key: value``
lines, keys sorted, the description first as ``#`` lines (``:`` and control characters
percent-encoded, PVE::Tools::encode_text), then one ``[name]`` section per snapshot
(``[PENDING]`` for a VM's pending changes, ``[pve:pending]`` for a container's, with
``delete: a,b`` naming the keys pending deletion). A container's raw ``lxc.*`` keys
follow its sorted keys, in the order written, and may repeat. This module reads that text, as
PVE::QemuServer::parse_vm_config and PVE::LXC::Config::parse_pct_config do.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.fidelity import pveschema

CORPUS = Path(__file__).parent / "corpus"
_KEY = re.compile(r"([a-z][a-z_\-]*\d*):\s*(.+?)\s*")
_RAW = re.compile(r"(lxc\.[a-z0-9_\-.]+)(?::|\s*=)\s*(.*?)\s*")
_SECTION = re.compile(r"\[([a-z][a-z0-9_\-:]*|PENDING)\]\s*", re.I)


@dataclass
class Section:
    """One section of a config file: the keys, the description, raw ``lxc.*`` pairs."""

    values: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    raw: list[tuple[str, str]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)


@dataclass
class GuestConfig:
    kind: str  # qemu | lxc
    main: Section
    snapshots: dict[str, Section] = field(default_factory=dict)
    pending: Section | None = None


def parse_config(text: str, kind: str) -> GuestConfig:
    """A config file's text; ValueError for a line PVE would not parse."""
    main = Section()
    current = main
    snapshots: dict[str, Section] = {}
    pending: Section | None = None
    described: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        section = _SECTION.fullmatch(line)
        if section:
            if described:
                current.description = "\n".join(described)
            described = []
            current = Section()
            if section.group(1).upper() in ("PENDING", "PVE:PENDING"):
                pending = current
            else:
                snapshots[section.group(1)] = current
            continue
        if line.startswith("#"):
            described.append(urllib.parse.unquote(line[1:]))
            continue
        raw = _RAW.fullmatch(line) if kind == "lxc" else None
        if raw:
            current.raw.append((raw.group(1), raw.group(2)))
            continue
        match = _KEY.fullmatch(line)
        if not match:
            raise ValueError(f"line {number}: unable to parse {line!r}")
        key, value = match.group(1), match.group(2)
        if key in current.values:
            raise ValueError(f"line {number}: {key} set twice")
        current.values[key] = value
        current.order.append(key)
    if described:
        current.description = "\n".join(described)
    return GuestConfig(kind=kind, main=main, snapshots=snapshots, pending=pending)


def flat_config(section: Section) -> dict[str, str]:
    """The section as ``key: value`` strings, the description under ``description``."""
    out = dict(section.values)
    if section.description is not None:
        out["description"] = section.description
    return out


def pending_changes(kind: str, config: GuestConfig) -> dict[str, Any]:
    """The pending section as fakepve keeps it: key -> pending value, None to delete."""
    if config.pending is None:
        return {}
    section = Section(
        values={k: v for k, v in config.pending.values.items() if k != "delete"},
        description=config.pending.description,
    )
    out: dict[str, Any] = api_config(kind, section)
    for key in config.pending.values.get("delete", "").split(","):
        if key.strip():
            out[key.strip()] = None
    return out


def effective(config: GuestConfig) -> Section:
    """The main section with the pending changes applied: what a reboot would run and
    what ``GET .../pending`` shows as each key's newest value."""
    values = dict(config.main.values)
    description = config.main.description
    if config.pending is not None:
        for key, value in config.pending.values.items():
            if key != "delete":
                values[key] = value
        for key in config.pending.values.get("delete", "").split(","):
            values.pop(key.strip(), None)
            if key.strip() == "description":
                description = None
        if config.pending.description is not None:
            description = config.pending.description
    values = dict(sorted(values.items()))
    return Section(values=values, description=description, raw=list(config.main.raw))


def api_config(kind: str, section: Section) -> dict[str, Any]:
    """The section as PVE's ``GET .../config`` answers it: numbers and booleans typed by
    the schema, the description decoded, a container's raw keys under ``lxc`` as pairs."""
    out: dict[str, Any] = {k: pveschema.coerce(kind, k, v) for k, v in section.values.items()}
    if section.description is not None:
        out["description"] = section.description
    if section.raw:
        out["lxc"] = [[k, v] for k, v in section.raw]
    return out


@dataclass
class Entry:
    """One corpus guest: its file, its sidecar metadata and its parsed config."""

    name: str
    path: Path
    meta: dict[str, Any]
    config: GuestConfig

    @property
    def kind(self) -> str:
        return str(self.meta["kind"])

    @property
    def vmid(self) -> int:
        return int(self.meta["vmid"])

    @property
    def node(self) -> str:
        return str(self.meta["node"])

    @property
    def status(self) -> str:
        return str(self.meta.get("status", "stopped"))

    @property
    def guest_name(self) -> str:
        values = self.config.main.values
        return values.get("name") or values.get("hostname") or f"guest-{self.vmid}"

    @property
    def edits(self) -> list[dict[str, str]]:
        return list(self.meta.get("edits") or [])

    def __str__(self) -> str:
        return self.name


def load_corpus() -> list[Entry]:
    entries = []
    for conf in sorted(CORPUS.glob("*.conf")):
        meta_path = conf.with_name(conf.stem + ".meta.yaml")
        meta = yaml.safe_load(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        kind = str(meta.get("kind", "qemu"))
        config = parse_config(conf.read_text(encoding="utf-8"), kind)
        entries.append(Entry(name=conf.stem, path=conf, meta=meta, config=config))
    return entries
