"""The corpus is what PVE writes: every key and value valid by PVE's own API schema.

Also holds the schema checker to account: it must refuse what PVE refuses (issue 13,
finding 4) and accept what PVE accepts, so a clean corpus means something.
"""

from __future__ import annotations

import re

import pytest

from tests.fidelity import pveconf, pveschema

CORPUS = pveconf.load_corpus()
IDS = [e.name for e in CORPUS]
_VOLUME = re.compile(r"\b[A-Za-z][A-Za-z0-9\-_.]*:(?:vm|base|subvol)-(\d+)-(?:disk-\d+|cloudinit)")


def _all_violations(entry: pveconf.Entry) -> list[pveschema.Violation]:
    out = pveschema.validate_config(
        entry.kind, pveconf.flat_config(entry.config.main), where=entry.name
    )
    for snap, section in entry.config.snapshots.items():
        where = f"{entry.name} [{snap}]"
        out += pveschema.validate_config(entry.kind, pveconf.flat_config(section), where=where)
    if entry.config.pending is not None:
        pending = pveconf.flat_config(entry.config.pending)
        deleted = pending.pop("delete", "")
        out += pveschema.validate_config(entry.kind, pending, where=f"{entry.name} [pending]")
        known = pveschema.config_schema(entry.kind)
        for key in filter(None, deleted.split(",")):
            if pveschema.param_schema(known, key) is None:
                out.append(
                    pveschema.Violation(f"{entry.name} [pending]", "delete", key, "no such key")
                )
    return out


def test_corpus_is_large_enough_and_has_both_kinds() -> None:
    kinds = [e.kind for e in CORPUS]
    assert len(CORPUS) >= 25
    assert kinds.count("qemu") >= 15 and kinds.count("lxc") >= 6
    assert len({e.vmid for e in CORPUS}) == len(CORPUS), "vmids must be unique"


@pytest.mark.parametrize("entry", CORPUS, ids=IDS)
def test_every_key_and_value_is_valid_for_pve(entry: pveconf.Entry) -> None:
    violations = _all_violations(entry)
    assert not violations, "\n".join(map(str, violations))


@pytest.mark.parametrize("entry", CORPUS, ids=IDS)
def test_file_is_laid_out_as_pve_writes_it(entry: pveconf.Entry) -> None:
    for name, section in [("main", entry.config.main), *entry.config.snapshots.items()]:
        assert section.order == sorted(section.order), f"{name}: PVE writes keys sorted"
    text = entry.path.read_text(encoding="utf-8")
    if entry.kind == "lxc":
        # raw keys come after every sorted key
        lines = [line for line in text.splitlines() if line and not line.startswith("#")]
        first_raw = next((i for i, line in enumerate(lines) if line.startswith("lxc.")), None)
        if first_raw is not None:
            assert all(line.startswith("lxc.") for line in lines[first_raw:])
    for line in text.splitlines():
        if line.startswith("#"):
            assert ":" not in line, f"PVE percent-encodes ':' in descriptions: {line!r}"
    owners = {int(vmid) for vmid in _VOLUME.findall(text)}
    assert owners <= {entry.vmid}, f"volumes of other guests: {owners}"


@pytest.mark.parametrize("entry", CORPUS, ids=IDS)
def test_sidecar_names_the_guest_and_valid_edits(entry: pveconf.Entry) -> None:
    assert entry.kind in ("qemu", "lxc")
    assert 100 <= entry.vmid <= 999_999_999
    assert entry.node in ("pve1", "pve2")  # the seeded fake's online nodes
    assert entry.status in ("running", "stopped")
    assert entry.edits, "name the fields a one-field edit should try"
    for edit in entry.edits:
        assert set(edit) == {"key", "to"}, edit
        current = entry.config.main.values.get(edit["key"])
        assert current != edit["to"], f"{edit['key']}: the edit changes nothing"
        violations = pveschema.validate_config(entry.kind, {edit["key"]: edit["to"]})
        assert not violations, "\n".join(map(str, violations))


def test_checker_reads_every_format_the_corpus_uses() -> None:
    """A named format the checker does not implement would pass unchecked."""
    pveschema.UNCHECKED_FORMATS.clear()
    for entry in CORPUS:
        _all_violations(entry)
        for edit in entry.edits:
            pveschema.validate_config(entry.kind, {edit["key"]: edit["to"]})
    assert not pveschema.UNCHECKED_FORMATS


# What the issue asks the corpus to cover: (what, kind, key pattern, value pattern).
COVERAGE = [
    ("UEFI with Secure Boot keys", "qemu", r"efidisk0", r"efitype=4m.*pre-enrolled-keys=1"),
    ("OVMF", "qemu", r"bios", r"ovmf"),
    ("TPM 2.0", "qemu", r"tpmstate0", r"version=v2\.0"),
    ("Windows 11 on pinned q35", "qemu", r"machine", r"pc-q35-8\.1"),
    ("virtio-win ISO on ide", "qemu", r"ide\d", r"virtio-win.*media=cdrom"),
    ("SATA disk", "qemu", r"sata\d", r"size="),
    ("PCI passthrough by address", "qemu", r"hostpci\d", r"^[0-9a-f:.]+,.*pcie=1.*x-vga=1"),
    ("PCI passthrough by mapping", "qemu", r"hostpci\d", r"^mapping="),
    ("USB by vendor:product", "qemu", r"usb\d", r"host=1234:5678"),
    ("USB by mapping", "qemu", r"usb\d", r"^mapping="),
    ("NUMA on", "qemu", r"numa", r"^1$"),
    ("NUMA node", "qemu", r"numa0", r"cpus=0-3,hostnodes=0,memory=4096,policy=bind"),
    ("huge pages", "qemu", r"hugepages", r".+"),
    ("cloud-init on scsi", "qemu", r"scsi\d", r"cloudinit,media=cdrom"),
    ("cloud-init on ide2", "qemu", r"ide2", r"local-lvm:vm-\d+-cloudinit,media=cdrom"),
    ("ciuser", "qemu", r"ciuser", r".+"),
    ("ipconfig0", "qemu", r"ipconfig0", r"ip="),
    ("URL-encoded ssh keys", "qemu", r"sshkeys", r"%20.*%0A"),
    ("serial socket", "qemu", r"serial0", r"^socket$"),
    ("VGA on serial", "qemu", r"vga", r"^serial0$"),
    ("aio=native", "qemu", r"scsi\d", r"aio=native"),
    ("iops_rd", "qemu", r"scsi\d", r"iops_rd="),
    ("mbps_wr", "qemu", r"scsi\d", r"mbps_wr="),
    ("disk serial", "qemu", r"scsi\d", r"serial="),
    ("replicate=0", "qemu", r"scsi\d", r"replicate=0"),
    ("discard, ssd, iothread", "qemu", r"scsi\d", r"discard=on.*iothread=1.*ssd=1"),
    ("size in G", "qemu", r"(scsi|sata|virtio)\d", r"size=\d+G(,|$)"),
    ("size in M", "qemu", r"(scsi|sata|virtio)\d", r"size=\d+M(,|$)"),
    ("size in T", "qemu", r"(scsi|sata|virtio)\d", r"size=\d+T(,|$)"),
    ("size in bare bytes", "qemu", r"(scsi|sata|virtio)\d", r"size=\d+(,|$)"),
    ("physical disk by id", "qemu", r"scsi\d", r"^/dev/disk/by-id/"),
    ("NIC trunks", "qemu", r"net\d", r"trunks="),
    ("NIC firewall", "qemu", r"net\d", r"firewall=1"),
    ("NIC rate", "qemu", r"net\d", r"rate="),
    ("cpu flags", "qemu", r"cpu", r"^host,flags=\+aes;\+pcid$"),
    ("affinity", "qemu", r"affinity", r".+"),
    ("cpulimit", "qemu", r"cpulimit", r".+"),
    ("cpuunits", "qemu", r"cpuunits", r".+"),
    ("vcpus", "qemu", r"vcpus", r".+"),
    ("memory property string", "qemu", r"memory", r"^current=2048$"),
    ("balloon", "qemu", r"balloon", r"^[1-9]"),
    ("mixed-case tags", "qemu", r"tags", r"^Web;prod$"),
    ("hookscript", "qemu", r"hookscript", r"snippets/"),
    ("args", "qemu", r"args", r".+"),
    ("agent with fstrim", "qemu", r"agent", r"^1,fstrim_cloned_disks=1$"),
    ("boot order", "qemu", r"boot", r"^order=scsi0;ide2;net0$"),
    ("audio", "qemu", r"audio0", r".+"),
    ("rng", "qemu", r"rng0", r".+"),
    ("watchdog", "qemu", r"watchdog", r".+"),
    ("unused disk", "qemu", r"unused\d", r".+"),
    ("rootfs with mount options", "lxc", r"rootfs", r"mountoptions=noatime"),
    ("volume mount point", "lxc", r"mp\d", r"^local-lvm:vm-\d+-disk-\d+,mp=/"),
    ("bind mount", "lxc", r"mp1", r"^/srv/data,mp=/data$"),
    ("device", "lxc", r"dev0", r"^/dev/dri/renderD128,gid=44$"),
    ("features with mount", "lxc", r"features", r"^nesting=1,keyctl=1,mount=nfs;cifs$"),
    ("timezone", "lxc", r"timezone", r"/"),
    ("cmode shell", "lxc", r"cmode", r"^shell$"),
    ("console", "lxc", r"console", r".+"),
    ("tty", "lxc", r"tty", r".+"),
    ("arch", "lxc", r"arch", r".+"),
    ("unprivileged", "lxc", r"unprivileged", r"^1$"),
    ("lxc.* raw keys", "lxc", r"lxc\..+", r".*"),
    ("container cpulimit", "lxc", r"cpulimit", r".+"),
    ("container hookscript", "lxc", r"hookscript", r".+"),
    ("container mixed-case tags", "lxc", r"tags", r"[A-Z]"),
]


@pytest.mark.parametrize(("what", "kind", "key", "value"), COVERAGE, ids=[c[0] for c in COVERAGE])
def test_corpus_covers(what: str, kind: str, key: str, value: str) -> None:
    for entry in CORPUS:
        if entry.kind != kind:
            continue
        pairs = [*entry.config.main.values.items(), *entry.config.main.raw]
        if any(re.fullmatch(key, k) and re.search(value, v) for k, v in pairs):
            return
    pytest.fail(f"no {kind} config in the corpus has {what}")


# The checker against issue 13's finding 4: what PVE refuses, and what it accepts.
REFUSED = [
    ("qemu", "memory", "current=8"),
    ("lxc", "memory", "-5"),
    ("lxc", "memory", "8"),
    ("qemu", "scsi0", "local-:vm-101-disk-0,size=32G"),
    ("qemu", "hotplug", "foo"),
    ("qemu", "ipconfig0", "ip=notanip"),
    ("lxc", "net0", "name=eth0,bridge=vmbr0,ip=10.0.0.5"),
    ("qemu", "description", "x" * 8193),
    ("qemu", "cpu", "host,flags=+aes;+evil"),
    ("qemu", "net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0,trunks=10,20"),
    ("qemu", "efidisk0", "local-lvm:vm-101-disk-0,efitype=8m"),
    ("qemu", "tpmstate0", "local-lvm:vm-101-disk-1,version=v3.0"),
    ("qemu", "hostpci0", "01:00.0.1,pcie=1"),
    ("qemu", "usb0", "host=12345:678"),
    ("qemu", "serial0", "tty"),
    ("qemu", "vga", "fancy"),
    ("qemu", "tags", "web;c!"),
    ("qemu", "boot", "order=scsi0;floppy0"),
    ("qemu", "numa0", "cpus=0-3,policy=strict"),
    ("qemu", "affinity", "3-1"),
    ("qemu", "scsi1", "local-lvm:vm-101-disk-1,aio=fast"),
    ("qemu", "scsi2", "local-lvm:vm-101-disk-2,size=32X"),
    ("qemu", "net1", "virtio=BC:24:11:00:00:01,bridge=vmbr0,speed=10"),
    ("qemu", "sockets", "0"),
    ("qemu", "cpulimit", "129"),
    ("qemu", "no-such-key", "1"),
    ("qemu", "scsi31", "local-lvm:vm-101-disk-3,size=1G"),
    ("lxc", "rootfs", "local-lvm:vm-201-disk-0,mountoptions=noatime;sync"),
    ("lxc", "features", "mount=nfs!"),
    ("lxc", "dev0", "/tmp/x"),
    ("lxc", "timezone", "Mars/Olympus"),
    ("lxc", "mp0", "/srv,mp=../etc"),
    ("lxc", "cmode", "serial"),
    ("lxc", "tty", "7"),
    ("lxc", "args", "-cpu host"),
]
ACCEPTED = [
    ("qemu", "sockets", "8"),
    ("qemu", "net0", "e1000-82540em=BC:24:11:00:00:01,bridge=vmbr0"),
    ("qemu", "memory", "current=2048"),
    ("qemu", "memory", "2048"),
    ("qemu", "scsi0", "/dev/disk/by-id/ata-ST4000VN008-2DR166_ZDH1ABCD,size=3907018584K"),
    ("qemu", "scsi1", "local-lvm:vm-101-disk-1,size=10737418752"),
    ("qemu", "hostpci0", "0000:01:00.0;0000:01:00.1,pcie=yes"),
    ("qemu", "tags", "Web;prod"),
    ("lxc", "net0", "name=eth0,bridge=vmbr0,ip=10.0.0.5/24"),
    ("lxc", "lxc.cgroup2.devices.allow", "c 226:* rwm"),
]


@pytest.mark.parametrize(("kind", "key", "value"), REFUSED)
def test_checker_refuses_what_pve_refuses(kind: str, key: str, value: str) -> None:
    assert pveschema.validate_config(kind, {key: value}), f"{kind} {key}: {value!r} passed"


@pytest.mark.parametrize(("kind", "key", "value"), ACCEPTED)
def test_checker_accepts_what_pve_accepts(kind: str, key: str, value: str) -> None:
    assert pveschema.validate_config(kind, {key: value}) == []


def test_property_strings_parse_as_pve_reads_them() -> None:
    net = pveschema.param_schema(pveschema.config_schema("qemu"), "net3")
    assert net is not None
    parsed = pveschema.parse_property_string(
        net["format"], "virtio=BC:24:11:D0:70:02,bridge=vmbr1,firewall=0,trunks=10;20;30"
    )
    assert parsed == {
        "model": "virtio",
        "macaddr": "BC:24:11:D0:70:02",
        "bridge": "vmbr1",
        "firewall": "0",
        "trunks": "10;20;30",
    }
    assert pveschema.param_schema(pveschema.config_schema("qemu"), "ide4") is None  # ide0-3
    assert pveschema.coerce("qemu", "cpulimit", "1.5") == 1.5
    assert pveschema.coerce("qemu", "cores", "4") == 4
    assert pveschema.coerce("qemu", "memory", "current=2048") == "current=2048"
    assert pveschema.coerce("lxc", "memory", "512") == 512


def test_config_parser_reads_sections_descriptions_and_raw_keys() -> None:
    text = (
        "#Owner%3A ops\n#second line\narch: amd64\nhostname: x\n"
        "lxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 65536\nlxc.cap.drop: \n"
        "\n[snap1]\n#snap%3A desc\nhostname: x\nsnaptime: 1700000000\n"
    )
    config = pveconf.parse_config(text, "lxc")
    assert config.main.description == "Owner: ops\nsecond line"
    assert config.main.values == {"arch": "amd64", "hostname": "x"}
    assert config.main.raw == [
        ("lxc.idmap", "u 0 100000 65536"),
        ("lxc.idmap", "g 0 100000 65536"),
        ("lxc.cap.drop", ""),
    ]
    assert config.snapshots["snap1"].description == "snap: desc"
    assert pveconf.api_config("lxc", config.main)["lxc"][2] == ["lxc.cap.drop", ""]
    with pytest.raises(ValueError, match="unable to parse"):
        pveconf.parse_config("Cores = 2\n", "qemu")
