"""Adoption: desired documents written from existing guests, so proxgit can manage them.

``proxgit import --cluster C --vmid N`` (or ``--all-unmanaged``) reads the
guests' config (one ``/pending`` read each, pending changes applied, as plan
reads them) and writes ``clusters/<C>/vms/<name>.yaml`` or
``containers/<name>.yaml``. Each field is taken from the same normalized view
the planner compares, so ``proxgit plan`` right after an import shows no
change for the imported guests; every document is checked that way before
anything is written.

What Proxmox generates by itself (MAC addresses, volume names) is left out,
as a hand-written document would leave it out. Secrets are never written: a
VM with a cloud-init password gets ``passwordFrom: {env: <NAME>_PASSWORD}``,
a placeholder for the operator to provide. Nothing is overwritten: a guest
already declared, or a file that already exists, stops the import before any
file is written. Templates are not guests proxgit manages and are refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString, SingleQuotedScalarString

from proxgit import observe
from proxgit.errors import ConfigError, ProxgitError
from proxgit.layout import guest_path
from proxgit.loading import DesiredState, load_directory
from proxgit.models import API_VERSION, Container, VirtualMachine, format_size
from proxgit.models.base import DNS_NAME_PATTERN
from proxgit.planning.planner import diff_guest
from proxgit.proxmox.fields import (
    carried_value,
    generated,
    holds_volume,
    key_for,
    untyped_subkeys,
)
from proxgit.proxmox.live import ClusterLive, LiveGuest
from proxgit.proxmox.reading import (
    ClientFactory,
    check_config,
    client_factory,
    parse_resources,
    read_guest_config,
)
from proxgit.yamlio import dump

_SCHEMA = {"VirtualMachine": "virtualmachine", "Container": "container"}
_NAME = re.compile(DNS_NAME_PATTERN)
_ENV_UNSAFE = re.compile(r"[^A-Z0-9]+")

# Spec keys in the order a person would write them; anything else follows, sorted.
_ORDER = (
    "vmid",
    "node",
    "description",
    "pool",
    "tags",
    "hostname",
    "ostype",
    "unprivileged",
    "features",
    "cores",
    "sockets",
    "memory",
    "balloon",
    "swap",
    "cpu",
    "cpuFlags",
    "cpulimit",
    "cpuunits",
    "vcpus",
    "affinity",
    "numa",
    "bios",
    "efiDisk",
    "tpmState",
    "machine",
    "scsihw",
    "hotplug",
    "boot",
    "vga",
    "serials",
    "agent",
    "onboot",
    "startup",
    "protection",
    "power",
    "rootfs",
    "mountpoints",
    "disks",
    "networks",
    "nameserver",
    "searchdomain",
    "cloudInit",
    "extraConfig",
)
# Keys inside a disk, NIC, cloud-init block..., in the order the examples use.
_INNER_ORDER = (
    "storage",
    "size",
    "path",
    "name",
    "model",
    "bridge",
    "tag",
    "ip",
    "gw",
    "ip6",
    "gw6",
    "enabled",
    "order",
    "up",
    "down",
    "user",
    "passwordFrom",
    "sshKeys",
)
# Written on one line, like the examples: {storage: local-lvm, size: 32G}
_FLOW_CHILDREN = ("disks", "networks", "mountpoints")
_FLOW = ("agent", "startup", "features", "rootfs", "efiDisk", "tpmState", "vga")


class ImportRefused(ProxgitError):
    """The import would overwrite, duplicate or adopt something it must not."""


@dataclass
class ImportedGuest:
    vmid: int
    name: str
    kind: str
    path: str
    password_env: str | None = None
    # one line per key or value the document could not carry, and why
    left_out: list[str] = field(default_factory=list)
    # keys Proxmox sets itself (meta, vmgenid, unusedN...): not lost, not declarable
    owned: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    cluster: str
    written: list[ImportedGuest] = field(default_factory=list)
    # guests whose config holds a value proxgit can't read: (vmid, name, why)
    not_imported: list[tuple[int, str, str]] = field(default_factory=list)
    requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "requests": self.requests,
            "written": [
                {
                    "vmid": g.vmid,
                    "name": g.name,
                    "kind": g.kind,
                    "file": g.path,
                    "passwordFrom": {"env": g.password_env} if g.password_env else None,
                    "leftOut": g.left_out,
                    "ownedByProxmox": g.owned,
                }
                for g in self.written
            ],
            "notImported": [
                {"vmid": vmid, "name": name, "reason": reason}
                for vmid, name, reason in self.not_imported
            ],
        }


def import_guests(
    repo: Path,
    cluster: str,
    *,
    vmids: Sequence[int] = (),
    all_unmanaged: bool = False,
    clients: ClientFactory | None = None,
) -> ImportResult:
    """Write desired documents for ``vmids`` (or every unmanaged guest) of ``cluster``."""
    if not vmids and not all_unmanaged:
        raise ConfigError("name the guests to import: --vmid N (repeatable) or --all-unmanaged")
    desired = load_directory(repo)
    if cluster not in desired.config.spec.clusters:
        known = ", ".join(sorted(desired.config.spec.clusters)) or "none"
        raise ConfigError(f"--cluster {cluster}: not in proxgit.yaml (clusters: {known})")
    factory = clients or client_factory(desired.config, repo, read_only=True)
    client = factory(cluster)
    live = ClusterLive(name=cluster)
    parse_resources(live, client.get("cluster/resources") or [])
    targets = _targets(desired, live, cluster, vmids, all_unmanaged)
    for target_guest in targets:
        observe.guest(cluster, target_guest.name, target_guest.vmid, "queued", "import")
    with ThreadPoolExecutor(max_workers=client.cluster.concurrency) as pool:
        configs = list(pool.map(lambda g: read_guest_config(client, g), targets))
    for guest, config in zip(targets, configs, strict=True):
        guest.config = config
    result = ImportResult(cluster=cluster, requests=client.request_count)
    planned: list[tuple[Path, str, ImportedGuest]] = []
    for guest in targets:
        if not check_config(guest):
            result.not_imported.append((guest.vmid, guest.name, guest.error or "config unread"))
            continue
        data, imported = guest_document(guest, cluster)
        document = _validate(data, guest)
        differences = diff_guest(document, guest)
        if differences:
            paths = ", ".join(f.path for f in differences)
            raise ImportRefused(
                f"vmid {guest.vmid} ({guest.name}): the written document would still plan "
                f"changes for {paths}; nothing was written"
            )
        target = repo / imported.path
        if target.exists():
            raise ImportRefused(
                f"{imported.path} already exists; proxgit import never overwrites a document "
                "(rename the guest in Proxmox or move the file); nothing was written"
            )
        planned.append((target, render_document(data, schema_ref(repo, imported)), imported))
    for target, text, imported in planned:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as handle:  # "x": never overwrite
            handle.write(text)
        result.written.append(imported)
        observe.guest(cluster, imported.name, imported.vmid, "imported", imported.path)
    return result


def _targets(
    desired: DesiredState,
    live: ClusterLive,
    cluster: str,
    vmids: Iterable[int],
    all_unmanaged: bool,
) -> list[LiveGuest]:
    declared = {g.document.spec.vmid: g for g in desired.guests_in(cluster)}
    names = {g.name.lower(): g.path for g in declared.values()}
    chosen: dict[int, LiveGuest] = {}
    for vmid in vmids:
        guest = live.guests.get(vmid)
        if guest is None:
            raise ImportRefused(f"vmid {vmid} does not exist on cluster '{cluster}'")
        if vmid in declared:
            raise ImportRefused(
                f"vmid {vmid} is already declared in {declared[vmid].path}; nothing was written"
            )
        if guest.template:
            raise ImportRefused(
                f"vmid {vmid} ({guest.name}) is a template; proxgit manages guests, "
                "not templates (refer to it with spec.clone)"
            )
        chosen[vmid] = guest
    if all_unmanaged:
        for vmid, guest in live.guests.items():
            if vmid not in declared and not guest.template and not guest.pending_deletion:
                chosen.setdefault(vmid, guest)
    seen: dict[str, int] = {}
    for vmid, guest in sorted(chosen.items()):
        if not _NAME.match(guest.name):
            raise ImportRefused(
                f"vmid {vmid}: name '{guest.name}' is not a DNS name, which a document's "
                "metadata.name must be; rename the guest in Proxmox first"
            )
        key = guest.name.lower()
        if key in names:
            raise ImportRefused(
                f"vmid {vmid}: name '{guest.name}' is already used by {names[key]} "
                "on this cluster; nothing was written"
            )
        if key in seen:
            raise ImportRefused(
                f"vmids {seen[key]} and {vmid} are both named '{guest.name}'; "
                "names must be unique per cluster, rename one in Proxmox first"
            )
        seen[key] = vmid
    return [chosen[v] for v in sorted(chosen)]


def guest_document(guest: LiveGuest, cluster: str) -> tuple[dict[str, Any], ImportedGuest]:
    """The desired document (plain data, in writing order) that matches ``guest`` as it is."""
    view = guest.document_view()
    config = guest.config or {}
    spec: dict[str, Any] = {"vmid": guest.vmid, "node": guest.node}
    left_out: list[str] = []
    for path, value in sorted(view.items()):
        if value is None or path == "name" or generated(guest.type, path):
            continue
        if path == "hostname" and value == guest.name:
            continue  # the hostname defaults to metadata.name
        if path.endswith(".size") and isinstance(value, int):
            value = format_size(value)
        if path.startswith("extraConfig."):
            value = str(config.get(path.split(".", 1)[1], value))  # verbatim, as Proxmox has it
        _set(spec, path.split("."), value)
    for group in ("disks", "mountpoints"):
        for slot, disk in list((spec.get(group) or {}).items()):
            if "source" in disk:
                continue  # a bind mount: no storage, no size
            if "size" not in disk or "storage" not in disk:
                del spec[group][slot]  # a volume without a size can't be declared
                left_out.append(
                    f"{slot}: {_excerpt(config.get(slot))} not carried: a volume "
                    "without a size= can't be declared"
                )
    if "rootfs" in spec and "size" not in spec["rootfs"]:
        del spec["rootfs"]
        left_out.append(
            f"rootfs: {_excerpt(config.get('rootfs'))} not carried: a volume without "
            "a size= can't be declared"
        )
    for slot, nic in list((spec.get("networks") or {}).items()):
        if "bridge" not in nic:
            del spec["networks"][slot]
            left_out.append(
                f"{slot}: {_excerpt(config.get(slot))} not carried: a NIC without a bridge "
                "can't be declared"
            )
    if guest.type == "lxc" and "unprivileged" not in spec:
        # a privileged container: said so, or a guest created from the document would
        # get the create default (unprivileged in Proxmox's GUI, and in fakepve)
        spec["unprivileged"] = False
    not_carried, owned = _not_carried(guest.type, config)
    left_out.extend(not_carried)
    for group in ("disks", "mountpoints", "networks"):
        if group in spec and not spec[group]:
            del spec[group]
    name = guest.name
    password_env = None
    if guest.type == "qemu" and config.get("cipassword"):
        password_env = _ENV_UNSAFE.sub("_", name.upper()).strip("_") + "_PASSWORD"
        spec.setdefault("cloudInit", {})["passwordFrom"] = {"env": password_env}
    ordered = _ordered(spec, _ORDER)
    kind = guest.kind
    data = {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "cluster": cluster},
        "spec": ordered,
    }
    path = guest_path(cluster, kind, name)
    imported = ImportedGuest(
        vmid=guest.vmid,
        name=name,
        kind=kind,
        path=path,
        password_env=password_env,
        left_out=left_out,
        owned=owned,
    )
    return data, imported


# owned keys that are not configuration at all: not worth a line
_QUIET = frozenset({"digest", "lock", "template"})


def _not_carried(kind: str, config: dict[str, Any]) -> tuple[list[str], list[str]]:
    """One line per config key (or value) the document does not hold, and why; and
    the keys Proxmox sets itself, which no document declares (nothing is lost)."""
    lines: list[str] = []
    owned: list[str] = []
    for key in sorted(config):
        if key in _QUIET:
            continue
        row = key_for(kind, key)
        if row is None:
            lines.append(
                f"{key}: not carried: proxgit's field table does not know this key "
                "(a newer Proxmox?); it stays as it is in Proxmox"
            )
        elif row.file_only:
            lines.extend(
                f"{name}: {_excerpt(value)} not carried: {row.why}; it stays as it is there"
                for name, value in _raw_lines(key, config[key])
            )
        elif row.role == "owned":
            owned.append(key)
        elif (
            holds_volume(row)
            and not carried_value(kind, key, config[key])
            and (untyped := untyped_subkeys(kind, key, config[key]))
        ):
            subs = ", ".join(untyped)
            lines.append(
                f"{key}: sub-key(s) {subs} not carried: not typed, and a volume is never "
                "carried whole; Proxmox keeps them on every write proxgit makes"
            )
    return lines, owned


def _raw_lines(key: str, value: Any) -> list[tuple[str, Any]]:
    """A container's raw ``lxc.*`` lines as ``GET .../config`` answers them: a list
    of ``[key, value]`` pairs (or one value)."""
    if isinstance(value, list):
        pairs = []
        for item in value:
            if isinstance(item, list | tuple) and len(item) == 2:
                pairs.append((str(item[0]), item[1]))
            else:
                pairs.append((key, item))
        return pairs
    return [(key, value)]


def _excerpt(value: Any) -> str:
    text = repr(str(value))
    return text if len(text) <= 60 else text[:57] + "...'"


def _ordered(data: dict[str, Any], order: Sequence[str]) -> dict[str, Any]:
    """``data`` with keys in ``order`` first, the rest sorted; nested mappings likewise."""
    keys = [k for k in order if k in data] + sorted(k for k in data if k not in order)
    return {
        k: _ordered(data[k], _INNER_ORDER) if isinstance(data[k], dict) else data[k] for k in keys
    }


def _set(spec: dict[str, Any], parts: list[str], value: Any) -> None:
    node = spec
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _validate(data: dict[str, Any], guest: LiveGuest) -> VirtualMachine | Container:
    model = VirtualMachine if data["kind"] == "VirtualMachine" else Container
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ImportRefused(
            f"vmid {guest.vmid} ({guest.name}): its live {where} can't be declared: "
            f"{first['msg']}; nothing was written"
        ) from None


def schema_ref(repo: Path, imported: ImportedGuest) -> str | None:
    """The schema path relative to the document, when the repository has ``schemas/``.

    Only the repository's own folder counts: a path out of it breaks once the
    repository is cloned elsewhere."""
    name = f"{_SCHEMA[imported.kind]}.schema.json"
    folder = (repo / imported.path).parent
    schema = repo / "schemas" / name
    if schema.is_file():
        return os.path.relpath(schema.resolve(), folder.resolve()).replace(os.sep, "/")
    return None


def render_document(data: dict[str, Any], schema: str | None) -> str:
    """The document as YAML in the style of the examples, with the schema comment first."""
    header = f"# yaml-language-server: $schema={schema}\n" if schema else ""
    return dump(_styled(data, ()), header=header, style="document")


def _styled(value: Any, path: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        node = CommentedMap()
        for key, child in value.items():
            node[key] = _styled(child, (*path, str(key)))
        last = path[-1] if path else None
        parent = path[-2] if len(path) >= 2 else None
        if last in (*_FLOW, "passwordFrom") or parent in _FLOW_CHILDREN:
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        seq = CommentedSeq(value)
        if path and path[-1] == "tags":
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    if isinstance(value, str) and _YAML11_AMBIGUOUS.match(value):
        return SingleQuotedScalarString(value)
    return value


# Plain scalars a YAML 1.1 reader (PyYAML, many editors) would not read as text:
# sexagesimal numbers (a PCI address 0000:01:00.0, a time 12:30) and yes/no/on/off.
_YAML11_AMBIGUOUS = re.compile(
    r"^([-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?|y|n|yes|no|on|off)$", re.IGNORECASE
)
