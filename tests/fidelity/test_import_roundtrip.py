"""Import each corpus guest from fakepve, then judge the written document.

For every config in ``corpus/``: the guest is loaded into fakepve as PVE's API would
answer for it, ``proxgit import --cluster lab --vmid N`` runs through the CLI, and

- the import succeeds and writes one document that loads;
- ``proxgit plan`` right after shows zero changes;
- nothing is lost: the import reports no key it could not carry, and every key of the
  config (apart from what Proxmox owns: MAC addresses, volume names, ``meta``,
  ``vmgenid``, the SMBIOS UUID, ``digest``) is found in the document, typed or carried
  verbatim. The check is independent of how proxgit names its fields: each value
  (property-string sub-values, list items, decoded SSH keys and description lines,
  sizes compared in bytes) must appear in the document, and each flag-like value
  (``1``, ``0``, ``on``) must appear under its key's name.

Every write request of these tests is checked against PVE's schema (``schema_checked_pve``).
Cases the product does not pass yet are ``xfail(strict=False)`` with what they show is
missing (issue 13); they turn into real checks as the product catches up.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from proxgit.loading import load_directory
from tests.fidelity import pveconf, pveschema
from tests.reflecting.conftest import run
from tests.support import GitRepo

CORPUS = pveconf.load_corpus()

# What Proxmox generates or keeps for itself: never expected in a document.
OWNED_KEYS = {"digest", "meta", "vmgenid", "parent", "snaptime", "lock", "cipassword"}
OWNED_FAMILIES = ("unused",)  # detached volumes: nothing but a volume name
OWNED_SUBKEYS = {"macaddr", "hwaddr", "uuid", "type"}
_OWN_VOLUME = re.compile(r"([A-Za-z][\w\-.]*):(?:vm|base|subvol)-\d+-(?:disk-\d+|cloudinit)")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?", re.I)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_KEYED = re.compile(r"[\w\-]+=[^,]*(?:,[\w\-]+=[^,]*)*")
_LOSS = re.compile(
    r"left out|not carried|could not carry|cannot carry|dropped|lost|not imported", re.I
)

# Today's gaps, per test and corpus entry (see the report of issue 13's tests).
KNOWN: dict[str, dict[str, str]] = {
    "import": {},
    "plan": {},
    "lost": {
        "cloudinit-cicustom": (
            "loses the cloud-init drive ide0 (slot, storage); import reports nothing"
        ),
        "cloudinit-ide": (
            "loses the cloud-init drive ide2 (slot, storage), serial0; import reports nothing"
        ),
        "cloudinit-scsi": (
            "loses ciupgrade, the cloud-init drive scsi1 (slot, storage), serial0; import "
            "reports nothing"
        ),
        "cpu-tuning": (
            "loses affinity, cpu (flags), cpulimit, cpuunits, vcpus; import reports nothing"
        ),
        "ct-docker-nfs": (
            "loses arch, features (mount), rootfs (quota), lxc.* raw keys; import reports nothing"
        ),
        "ct-media-tags": "loses arch, tags (case); import reports nothing",
        "ct-tailscale-raw": "loses arch, lxc.* raw keys; import reports nothing",
        "ct-zfs-idmap": (
            "loses arch, cpulimit, hookscript, mp0 (acl, replicate), rootfs (acl), timezone, "
            "lxc.* raw keys; import reports nothing"
        ),
        "desktop-spice": (
            "loses audio0 (device, driver), rng0 (max_bytes, period, source), spice_enhancements"
            " (foldersharing, videostreaming), tablet, vga (memory), watchdog (action, model); "
            "import reports nothing"
        ),
        "gpu-mapping": (
            "loses efidisk0 (efitype, pre-enrolled-keys), hostpci0 (mapping, pcie, x-vga), "
            "hostpci1 (mapping, mdev), usb0 (mapping); import reports nothing"
        ),
        "gpu-passthrough": (
            "loses args, cpu (flags, hidden), efidisk0 (efitype), hostpci0 (pcie, the host, "
            "x-vga), hostpci1 (rombar, the host), tpmstate0 (version); import reports nothing"
        ),
        "k8s-node": (
            "loses the cloud-init drive ide2 (slot, storage), tags (case); import reports nothing"
        ),
        "legacy-i440fx": "loses bootdisk, the empty cdrom ide2; import reports nothing",
        "memory-current": (
            "loses hookscript, the empty cdrom ide2, shares, tags (case); import reports nothing"
        ),
        "numa-hugepages": (
            "loses affinity, hugepages, keephugepages, numa0 (cpus, hostnodes, memory, policy), "
            "numa1 (cpus, hostnodes, memory, policy), scsi0 (aio), scsi1 (aio); import reports "
            "nothing"
        ),
        "passthrough-disks": (
            "import fails at HEAD; loses scsi1 (backup, size, the file), scsi2 (backup, size, "
            "the file), scsi3 (backup, size, the file); import reports nothing"
        ),
        "router-trunks": "loses net1 (trunks); import reports nothing",
        "serial-console": "loses serial0, serial1; import reports nothing",
        "tuned-disks": (
            "loses scsi0 (aio, iops_rd, iops_wr, mbps_rd, mbps_wr, replicate, serial), scsi1 "
            "(aio, iops_rd_max, iops_wr_max, replicate, serial), scsi4 (ro); import reports "
            "nothing"
        ),
        "uefi-secureboot": "loses efidisk0 (efitype, pre-enrolled-keys); import reports nothing",
        "usb-home-assistant": (
            "loses efidisk0 (efitype, pre-enrolled-keys), tablet, usb0 (the host), usb1 (the "
            "host, usb3), usb2 (the host), usb3 (mapping); import reports nothing"
        ),
        "virtiofs-pve9": (
            "import fails at HEAD; loses agent (freeze-fs), efidisk0 (efitype, ms-cert, "
            "pre-enrolled-keys), tags (case), virtiofs0 (cache, dirid, expose-acl); import "
            "reports nothing"
        ),
        "windows-server-2025": (
            "loses efidisk0 (efitype, ms-cert, pre-enrolled-keys), hookscript, the empty cdrom "
            "ide2, localtime, tablet, tpmstate0 (version); import reports nothing"
        ),
        "windows11": (
            "loses efidisk0 (efitype, pre-enrolled-keys), ide0 (media, the file), ide2 (media, "
            "the file), tpmstate0 (version); import reports nothing"
        ),
    },
}


def _cases(test: str) -> list[Any]:
    out = []
    for entry in CORPUS:
        reason = KNOWN[test].get(entry.name)
        marks = [pytest.mark.xfail(strict=False, reason=f"issue 13: {reason}")] if reason else []
        out.append(pytest.param(entry, id=entry.name, marks=marks))
    return out


# ------------------------------------------------------------------------- fakepve side


def load_guest(pve: Any, entry: pveconf.Entry) -> None:
    """Put the corpus guest, and what it refers to, into fakepve."""
    pve.storages.setdefault(
        "local-zfs",
        {
            "type": "zfspool",
            "active": 1,
            "content": "images,rootdir",
            "files": set(),
            "pool": "rpool/data",
        },
    )
    if "snippets" not in pve.storages["local"]["content"]:
        pve.storages["local"]["content"] += ",snippets"
    text = entry.path.read_text(encoding="utf-8")
    for content, name in set(re.findall(r"\blocal:(iso|snippets)/([^,\s]+)", text)):
        pve.store_file("local", name, 4 << 20, content=content)
    config = pveconf.api_config(entry.kind, entry.config.main)
    if entry.kind == "qemu":
        vm = pve.add_vm(
            entry.vmid, entry.guest_name, node=entry.node, status=entry.status, config=config
        )
        for snap, section in entry.config.snapshots.items():
            vm.snapshots[snap] = pveconf.api_config("qemu", section)
    else:
        ct = pve.add_ct(
            entry.vmid,
            entry.guest_name,
            node=entry.node,
            status=entry.status,
            config=config,
            defaults=False,
        )
        for snap, section in entry.config.snapshots.items():
            ct.snapshots[snap] = pveconf.api_config("lxc", section)


@pytest.fixture
def imported(
    request: pytest.FixtureRequest, repo: GitRepo, schema_checked_pve: Any
) -> Iterator[tuple[pveconf.Entry, GitRepo, Any]]:
    entry: pveconf.Entry = request.param
    load_guest(schema_checked_pve, entry)
    result = run(repo, "import", "--cluster", "lab", "--vmid", str(entry.vmid))
    yield entry, repo, result


def _document(repo: GitRepo) -> tuple[str, dict[str, Any]]:
    files = [p for p in (repo.path / "clusters").rglob("*.yaml") if p.parent.name != "deletions"]
    assert len(files) == 1, f"expected one written document, found {files}"
    text = files[0].read_text(encoding="utf-8")
    return text, yaml.safe_load(text)


# ------------------------------------------------------------------ the carried check


def _walk(node: Any, keys: set[str], scalars: list[tuple[str, str]], parent: str = "") -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            keys.add(_norm(str(key)))
            _walk(value, keys, scalars, str(key))
    elif isinstance(node, list):
        for item in node:
            _walk(item, keys, scalars, parent)
    elif node is not None:
        text = str(node).lower() if isinstance(node, bool) else str(node)
        scalars.append((parent, text))


def _norm(name: str) -> str:
    return re.sub(r"[-_\s]", "", name).lower()


def _bytes(text: str) -> float | None:
    match = _SIZE.fullmatch(text.strip())
    if not match:
        return None
    return float(match.group(1)) * _UNITS[match.group(2).upper()]


class Document:
    """The written document as a bag of keys and scalar values."""

    def __init__(self, data: Any) -> None:
        self.keys: set[str] = set()
        located: list[tuple[str, str]] = []
        _walk(data, self.keys, located)
        self.scalars = [text for _, text in located]
        # list items (tags) are looked for outside free text
        self.items = {
            item
            for parent, text in located
            if parent != "description"
            for item in re.split(r"[,;\s]+", text)
        }
        self.sizes = {b for s in self.scalars if (b := _bytes(s)) is not None}

    def has_value(self, piece: str, *, size: bool = False, item: bool = False) -> bool:
        """``piece`` inside a value; a list ``item`` (a tag) only as a whole item."""
        if size:
            wanted = _bytes(piece)
            if wanted is not None and wanted in self.sizes:
                return True
        if item:
            return piece in self.items
        return any(piece in s for s in self.scalars)

    def has_word(self, word: str) -> bool:
        """``word`` as a key or inside a value, any case (``cdrom``, ``ide2``)."""
        low = _norm(word)
        return any(low in k for k in self.keys) or any(low in _norm(s) for s in self.scalars)

    def has_slot(self, name: str) -> bool:
        """An indexed key (``ide2``, ``mp1``, ``hostpci0``) as a key or a whole value."""
        return _norm(name) in self.keys or name in self.scalars

    def has_name(self, name: str) -> bool:
        """A key's name, however the document spells it (``fstrim_cloned_disks`` as
        ``fstrim``, ``pre-enrolled-keys`` as ``preEnrolledKeys``), or ``name=`` in a value
        carried verbatim."""
        wanted = _norm(name)
        for key in self.keys:
            if key == wanted or (len(key) >= 4 and wanted.startswith(key)):
                return True
            if len(wanted) >= 4 and key.startswith(wanted):
                return True
        return any(f"{name}=" in s for s in self.scalars)


def _format_of(kind: str, key: str) -> tuple[dict[str, Any] | None, str | None]:
    schema = pveschema.param_schema(pveschema.config_schema(kind), key) or {}
    fmt = schema.get("format")
    if isinstance(fmt, dict):
        return fmt, None
    if isinstance(fmt, str):
        return pveschema._registered(fmt), fmt
    return None, None


def _indexed(kind: str, key: str) -> bool:
    """A key of a numbered family (``scsi0``, ``mp1``, ``hostpci0``; not ``efidisk0``)."""
    base = key.rstrip("0123456789")
    return base != key and f"{base}[n]" in pveschema.config_schema(kind)


def _flaglike(value: str) -> bool:
    return (
        value.lower() in pveschema.TRUE + pveschema.FALSE or re.fullmatch(r"\d", value) is not None
    )


def missing_from(entry: pveconf.Entry, data: Any) -> list[str]:
    """Keys (and sub-keys) of the config whose content the document does not hold."""
    doc = Document(data)
    lost: list[str] = []
    kind = entry.kind
    main = entry.config.main
    if main.description:
        for line in main.description.splitlines():
            if line and not doc.has_value(line):
                lost.append(f"description line {line!r}")
    for key, value in main.values.items():
        if key in OWNED_KEYS or key.rstrip("0123456789") in OWNED_FAMILIES:
            continue
        if _indexed(kind, key) and not doc.has_slot(key):
            lost.append(f"{key} (slot)")
        props, named = _format_of(kind, key)
        if props is not None:
            try:
                fields = pveschema.parse_property_string(props, value)
            except ValueError:
                fields = {key: value}
        elif _KEYED.fullmatch(value):  # a named format of k=v pairs (startup)
            fields = dict(item.partition("=")[::2] for item in value.split(","))
        else:
            fields = {key: value}
        cdrom = fields.get("media") == "cdrom" or "cloudinit" in fields.get("file", "")
        for sub, sub_value in fields.items():
            if sub in OWNED_SUBKEYS:
                continue
            if sub == "size" and (cdrom or key in ("efidisk0", "tpmstate0")):
                continue  # PVE sizes ISOs, cloud-init, EFI vars and TPM state itself
            label = key if sub == key else f"{key}.{sub}"
            if (sub, sub_value) == ("media", "cdrom"):
                if not doc.has_word("cdrom") and not doc.has_word("cloudinit"):
                    lost.append(f"{label}={sub_value}")
                continue
            if sub_value == "none":  # an empty drive: declared by its slot (checked above)
                continue
            own = _OWN_VOLUME.fullmatch(sub_value)
            if own:
                sub_value = own.group(1)  # the storage is the user's, the volume name is not
            if _flaglike(sub_value):
                if not doc.has_name(sub):
                    lost.append(f"{label}={sub_value}")
                continue
            if named == "urlencoded":
                pieces = [p for p in urllib.parse.unquote(sub_value).splitlines() if p]
            elif props is None and named and named.endswith("-list"):
                pieces = [p for p in re.split(r"[,;\s]+", sub_value) if p]
            elif props is not None and sub != "file":
                pieces = [p.lstrip("+") for p in sub_value.split(";") if p]
            else:
                pieces = [sub_value]
            listed = props is None and bool(named) and str(named).endswith("-list")
            absent = [p for p in pieces if not doc.has_value(p, size=sub == "size", item=listed)]
            if absent:
                lost.append(f"{label}={sub_value}")
    for raw_key, raw_value in main.raw:
        if not doc.has_value(raw_value) or not doc.has_name(raw_key):
            lost.append(f"{raw_key}: {raw_value}")
    return lost


# ------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("imported", _cases("import"), indirect=True)
def test_import_writes_a_document_that_loads(imported: Any) -> None:
    entry, repo, result = imported
    assert result.exit_code == 0, result.output
    assert f"vmid {entry.vmid})" in result.output
    _, data = _document(repo)
    assert data["spec"]["vmid"] == entry.vmid
    assert data["kind"] == ("VirtualMachine" if entry.kind == "qemu" else "Container")
    state = load_directory(repo.path)
    assert ("lab", entry.vmid) in state.guests


@pytest.mark.parametrize("imported", _cases("plan"), indirect=True)
def test_import_then_plan_shows_zero_changes(imported: Any) -> None:
    entry, repo, result = imported
    assert result.exit_code == 0, result.output
    plan = run(repo, "plan", "--output", "json")
    data = json.loads(plan.stdout)
    changed = [c for c in data["changes"] if c["action"] != "noop"]
    assert plan.exit_code == 0 and not changed, json.dumps(changed or data, indent=1)
    assert any(c["vmid"] == entry.vmid for c in data["changes"])


@pytest.mark.parametrize("imported", _cases("lost"), indirect=True)
def test_import_loses_nothing(imported: Any) -> None:
    entry, repo, result = imported
    assert result.exit_code == 0, result.output
    reported = [line.strip() for line in result.output.splitlines() if _LOSS.search(line)]
    _, data = _document(repo)
    missing = missing_from(entry, data)
    assert not reported and not missing, (
        f"import reported {reported or 'nothing'}; missing from the document: {missing}"
    )
