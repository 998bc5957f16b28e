"""Import each corpus guest from fakepve, then judge the written document.

For every config in ``corpus/``: the guest is loaded into fakepve as PVE's API would
answer for it, ``proxgit import --cluster lab --vmid N`` runs through the CLI, and

- the import succeeds and writes one document that loads;
- ``proxgit plan`` right after shows zero changes;
- nothing is lost: every key of the config (apart from what Proxmox owns: MAC
  addresses, volume names, ``meta``, ``vmgenid``, ``unusedN``, ``digest``) is found in
  the document, typed or carried verbatim; the keys Proxmox owns are listed on one
  line of their own, not as losses; the only thing the import may not carry is what
  the API cannot write (a container's raw ``lxc.*`` lines), and each such line must be
  reported with that reason. The check is independent of how proxgit names its fields: each value
  (property-string sub-values, list items, decoded SSH keys and description lines,
  sizes compared in bytes) must appear in the document, and each flag-like value
  (``1``, ``0``, ``on``) must appear under its key's name.

Every write request of these tests is checked against PVE's schema (``schema_checked_pve``).
A case the product does not pass goes into ``KNOWN`` as ``xfail(strict=False)`` with
what it shows is missing.
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

# Today's gaps, per test and corpus entry (issue 13): none left.
KNOWN: dict[str, dict[str, str]] = {"import": {}, "plan": {}, "lost": {}}
# What the API cannot write at all: a container's raw lxc.* lines live only in the file
# on the node. Import must name each such line with this reason; it is not carried.
FILE_ONLY = "only editable in the file on the node"
_OWNED_LINE = re.compile(r"^set by Proxmox itself, so not declared: (.+)$")


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
    pending = pveconf.pending_changes(entry.kind, entry.config)
    if entry.kind == "qemu":
        vm = pve.add_vm(
            entry.vmid,
            entry.guest_name,
            node=entry.node,
            status=entry.status,
            config=config,
            pending=pending,
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
            pending=pending,
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
            if len(key) >= 4 and wanted.endswith(key):  # ciupgrade as cloudInit.upgrade
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
    main = pveconf.effective(entry.config)  # pending changes are what proxgit plans with
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


def owned_by_test(entry: pveconf.Entry) -> set[str]:
    """The config keys this test counts as Proxmox's own (``digest`` and ``lock`` are
    not configuration at all and need no line)."""
    return {
        key
        for key in entry.config.main.values
        if (key in OWNED_KEYS or key.rstrip("0123456789") in OWNED_FAMILIES)
        and key not in ("digest", "lock", "cipassword")
    }


def judge_report(entry: pveconf.Entry, output: str, missing: list[str]) -> list[str]:
    """What is wrong with an import's report, given what the document lacks:

    - a raw ``lxc.*`` line (the API can't write it) must be named by a line of the
      report that gives the reason (:data:`FILE_ONLY`), with its value;
    - everything else must be carried: any other loss line, or any other value missing
      from the document, is a failure;
    - keys Proxmox owns are listed on their own line, not as losses, and only they."""
    problems: list[str] = []
    lines = [line.strip() for line in output.splitlines()]
    losses = [line for line in lines if _LOSS.search(line)]
    owned_lines = [m.group(1) for line in lines if (m := _OWNED_LINE.match(line))]
    listed = {k.strip() for group in owned_lines for k in group.split(",")}
    expected = owned_by_test(entry)
    if listed != expected:
        problems.append(f"owned keys listed {sorted(listed)}, expected {sorted(expected)}")
    for line in losses:
        if any(line.startswith(f"{k}:") for k in listed):
            problems.append(f"an owned key reported as lost: {line}")
    raw = {f"{k}: {v}" for k, v in entry.config.main.raw}
    for key, value in entry.config.main.raw:
        said = [
            line
            for line in losses
            if line.startswith(f"{key}:") and FILE_ONLY in line and repr(value) in line
        ]
        if not said:
            problems.append(f"raw line {key}: {value} not reported with the reason")
    for line in losses:
        if not (line.startswith("lxc.") and FILE_ONLY in line):
            problems.append(f"reported lost: {line}")
    problems.extend(f"missing from the document: {m}" for m in missing if m not in raw)
    return problems


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
    _, data = _document(repo)
    problems = judge_report(entry, result.output, missing_from(entry, data))
    assert not problems, "\n".join(problems) + "\n" + result.output
