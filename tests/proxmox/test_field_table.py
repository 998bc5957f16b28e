"""The field table against PVE's own API schema (the oracle), and each row's round trip:
Proxmox config string -> spec -> API parameter -> the same config string."""

from __future__ import annotations

from typing import Any

import pytest

from proxgit.models.guests import ContainerSpec, VirtualMachineSpec
from proxgit.proxmox.fields import LXC, QEMU, Key, key_for, table
from proxgit.proxmox.normalize import normalize_config
from proxgit.proxmox.translate import key_params
from tests.proxmox.pveapi import config_keys

KINDS = ("qemu", "lxc")


def _family(name: str) -> str:
    return name[: -len("[n]")] if name.endswith("[n]") else name


def _row(kind: str, schema_name: str) -> Key | None:
    name = _family(schema_name)
    return next(
        (r for r in table(kind) if r.name == name and bool(r.count) == schema_name.endswith("[n]")),
        None,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_every_schema_key_is_classified(kind: str) -> None:
    missing = [name for name in config_keys(kind) if _row(kind, name) is None]
    assert not missing, f"{kind}: keys of PVE's schema the field table does not classify: {missing}"


@pytest.mark.parametrize("kind", KINDS)
def test_every_table_row_is_a_schema_key(kind: str) -> None:
    names = {_family(n) + ("[n]" if n.endswith("[n]") else "") for n in config_keys(kind)}
    extra = [r.name for r in table(kind) if (r.name + ("[n]" if r.count else "")) not in names]
    assert not extra, f"{kind}: rows that are not PVE config keys: {extra}"


@pytest.mark.parametrize("kind", KINDS)
def test_no_key_is_in_two_rows(kind: str) -> None:
    seen = [(r.name, bool(r.count)) for r in table(kind)]
    assert len(seen) == len(set(seen))


def _agree(where: str, ours: Any, theirs: dict[str, Any], problems: list[str]) -> None:
    if ours.type != theirs.get("type", "string"):
        problems.append(f"{where}: type {ours.type} != {theirs.get('type')}")
    enum = tuple(theirs["enum"]) if "enum" in theirs else None
    if (ours.enum is not None or enum is not None) and set(ours.enum or ()) != set(enum or ()):
        problems.append(f"{where}: enum {ours.enum} != {enum}")
    for bound in ("minimum", "maximum"):
        mine, pve = getattr(ours, bound), theirs.get(bound)
        if (mine is None) != (pve is None) or (mine is not None and float(mine) != float(pve)):
            problems.append(f"{where}: {bound} {mine} != {pve}")


@pytest.mark.parametrize("kind", KINDS)
def test_typed_keys_agree_with_the_schema(kind: str) -> None:
    problems: list[str] = []
    for name, prop in config_keys(kind).items():
        row = _row(kind, name)
        if row is None or row.role != "typed":
            continue
        _agree(f"{kind} {name}", row, prop, problems)
        fmt = prop.get("format")
        if not row.subs:
            continue
        if not isinstance(fmt, dict):
            continue  # a format PVE only names (pve-vm-cpu-conf, pve-startup-order)
        for sub in row.subs:
            if sub.virtual:
                continue
            theirs = fmt.get(sub.name)
            if theirs is None:
                problems.append(f"{kind} {name}: sub-key {sub.name} is not in PVE's format")
                continue
            if "alias" in theirs:
                continue
            _agree(f"{kind} {name} {sub.name}", sub, theirs, problems)
            if bool(theirs.get("default_key")) != sub.default_key:
                problems.append(f"{kind} {name} {sub.name}: default_key differs")
    assert not problems, "\n".join(problems)


def test_carried_and_owned_rows_say_why() -> None:
    for row in (*QEMU, *LXC):
        if row.role != "typed":
            assert row.why, row.name


# --- the model's constraints are the table's ------------------------------------------

_MODEL = {"qemu": VirtualMachineSpec, "lxc": ContainerSpec}


@pytest.mark.parametrize("kind", KINDS)
def test_model_bounds_are_the_tables(kind: str) -> None:
    """``validate`` refuses what Proxmox refuses for the typed scalar keys: same
    minimum, maximum and enum in the desired model as in the table (and so in PVE)."""
    props = _MODEL[kind].model_json_schema(by_alias=True)["properties"]
    problems = []
    for row in table(kind):
        if row.role != "typed" or row.path is None or "." in row.path or "{" in row.path:
            continue
        if row.path not in props:
            continue
        field = props[row.path]
        options = field.get("anyOf", [field])
        schema = next((o for o in options if o.get("type") != "null"), field)
        minimum = row.minimum
        if row.subs and row.default_sub is not None:
            minimum = row.default_sub.minimum
        for bound, mine in (("minimum", minimum), ("maximum", row.maximum)):
            if schema.get(bound) != mine and not (mine is None and bound not in schema):
                problems.append(f"{kind} {row.path}: model {bound} {schema.get(bound)} != {mine}")
        if row.enum is not None and set(schema.get("enum", ())) != set(row.enum):
            problems.append(f"{kind} {row.path}: model enum {schema.get('enum')} != {row.enum}")
    assert not problems, "\n".join(problems)


# --- rows round-trip: config string -> spec view -> parameter -> same string ---------

ROUND_TRIPS = {
    "qemu": [
        ("cores", "4"),
        ("sockets", "8"),
        ("memory", "2048"),
        ("balloon", "1024"),
        ("numa", "1"),
        ("onboot", "1"),
        ("protection", "0"),
        ("bios", "ovmf"),
        ("machine", "q35"),
        ("machine", "pc-q35-8.1,viommu=virtio"),
        ("ostype", "win11"),
        ("scsihw", "virtio-scsi-single"),
        ("boot", "order=scsi0;ide2;net0"),
        ("hotplug", "network,disk,usb"),
        ("cpu", "host,flags=+aes"),
        ("cpu", "x86-64-v2-AES"),
        ("agent", "1,fstrim_cloned_disks=1"),
        ("tags", "prod;web"),
        ("description", "Web frontend"),
        ("startup", "order=2,up=30"),
        ("name", "web-01"),
        ("scsi0", "local-lvm:vm-100-disk-0,discard=on,iothread=1,size=32G,ssd=1"),
        ("scsi1", "local-lvm:vm-100-disk-1,aio=native,cache=none,replicate=0,size=34359738368"),
        ("virtio0", "ceph:vm-100-disk-2,backup=0,serial=DATA01,size=100G"),
        ("sata0", "local:100/vm-100-disk-0.qcow2,format=qcow2,size=8G"),
        ("net0", "virtio=BC:24:11:00:01:00,bridge=vmbr0,firewall=1,tag=20"),
        ("net1", "e1000-82540em=BC:24:11:00:01:01,bridge=vmbr1,trunks=10;20;30"),
        ("net2", "virtio=BC:24:11:00:01:02,bridge=vmbr0,link_down=1,mtu=9000,queues=4,rate=12.5"),
        ("ipconfig0", "ip=10.0.20.11/24,gw=10.0.20.1"),
        ("ciuser", "ubuntu"),
        ("sshkeys", "ssh-ed25519%20AAAAC3Nza%20ops%40example.com%0A"),
        ("nameserver", "10.0.0.1"),
        ("searchdomain", "example.com"),
        ("cicustom", "user=local:snippets/user.yaml"),
        ("citype", "nocloud"),
        ("ciupgrade", "0"),
        ("cpulimit", "1.5"),
        ("cpuunits", "200"),
        ("vcpus", "2"),
        ("affinity", "0-3,8"),
        ("hookscript", "local:snippets/hook.pl"),
        ("scsi2", "local-lvm:vm-100-disk-3,iops_rd=500,iops_wr=200,mbps=100.5,ro=1,size=4G"),
        ("virtio1", "local-lvm:vm-100-disk-4,iops=1000,mbps_rd=50,mbps_wr=25,size=4G"),
        ("net3", "virtio=BC:24:11:00:01:03,bridge=vmbr0,trunks=10;20-30"),
        ("efidisk0", "local-lvm:vm-100-disk-5,efitype=4m,pre-enrolled-keys=1,size=4M"),
        ("efidisk0", "local-zfs:vm-100-disk-6,efitype=2m,ms-cert=2023,size=128K"),
        ("tpmstate0", "local-lvm:vm-100-disk-7,size=4M,version=v2.0"),
        ("vga", "qxl,memory=32"),
        ("vga", "virtio,clipboard=vnc"),
        ("serial0", "socket"),
        ("serial1", "/dev/ttyS1"),
        ("cpu", "host,flags=+aes;-pcid,hidden=1"),
        ("hostpci0", "0000:01:00.0,pcie=1,rombar=0,x-vga=1"),
        ("hostpci1", "mapping=gpu,pcie=1"),
        ("usb0", "host=1d6b:0002,usb3=1"),
        ("usb1", "mapping=stick"),
        ("audio0", "device=ich9-intel-hda,driver=spice"),
        ("rng0", "source=/dev/urandom,max_bytes=1024,period=1000"),
        ("watchdog", "model=i6300esb,action=reset"),
        ("numa0", "cpus=0-3,hostnodes=0,memory=4096,policy=bind"),
        ("hugepages", "1024"),
    ],
    "lxc": [
        ("hostname", "dns-01"),
        ("cores", "2"),
        ("memory", "512"),
        ("swap", "0"),
        ("unprivileged", "1"),
        ("nameserver", "10.0.0.1"),
        ("searchdomain", "example.com"),
        ("ostype", "debian"),
        ("features", "fuse=1,mount=nfs;cifs,nesting=1"),
        ("rootfs", "local-lvm:vm-200-disk-0,size=8G"),
        ("rootfs", "local-zfs:subvol-200-disk-0,mountoptions=noatime,replicate=0,size=8G"),
        ("mp0", "local-lvm:vm-200-disk-1,mp=/srv/data,backup=1,size=16G"),
        ("mp1", "local-lvm:vm-200-disk-2,mp=/var/lib,acl=1,quota=1,ro=1,size=4G"),
        ("mp2", "/mnt/tank/media,mp=/media,backup=0,ro=1"),
        ("net0", "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:02:00,ip=10.0.0.53/24,gw=10.0.0.1"),
        ("net1", "name=eth1,bridge=vmbr1,firewall=1,ip=dhcp,ip6=auto,mtu=1500,tag=30"),
        ("tags", "dns"),
        ("onboot", "1"),
        ("startup", "order=1"),
        ("arch", "arm64"),
        ("cmode", "shell"),
        ("console", "0"),
        ("tty", "4"),
        ("timezone", "Europe/Berlin"),
        ("cpulimit", "2"),
        ("cpuunits", "512"),
        ("hookscript", "local:snippets/ct-hook.pl"),
        ("features", "mknod=1,mount=nfs"),
        ("net2", "name=eth2,bridge=vmbr0,trunks=10;20"),
        ("dev0", "/dev/dri/renderD128,gid=104,mode=0660"),
        ("dev1", "path=/dev/ttyUSB0,uid=0,deny-write=1"),
    ],
}


def _props(text: str) -> set[str]:
    return set(text.split(","))


@pytest.mark.parametrize(
    ("kind", "key", "raw"),
    [(kind, key, raw) for kind, rows in ROUND_TRIPS.items() for key, raw in rows],
)
def test_row_round_trips(kind: str, key: str, raw: str) -> None:
    row = key_for(kind, key)
    assert row is not None and row.role == "typed"
    view = normalize_config(kind, {key: raw})
    typed = {p: v for p, v in view.items() if not p.startswith("extraConfig.")}
    assert typed, f"{key}={raw} read as nothing"
    # written from the typed view alone, over no live value: the typed sub-keys
    fresh = key_params(kind, typed)[key]
    if ":" not in fresh.split(",")[0]:
        reread = normalize_config(kind, {key: fresh})
        assert {p: v for p, v in reread.items() if not p.startswith("extraConfig.")} == typed
    # carried verbatim, the value compares equal to what Proxmox holds
    assert key_params(kind, {f"extraConfig.{key}": raw})[key] == raw
    # written over the live value: exactly the live string (nothing lost, nothing added)
    over = key_params(kind, view, live={key: raw})[key]
    assert _props(over) == _props(raw), (over, raw)
    assert normalize_config(kind, {key: over}) == view


def test_an_edit_changes_only_its_sub_key() -> None:
    live = "local-lvm:vm-100-disk-0,aio=native,replicate=0,serial=DATA01,size=32G,ssd=1"
    view = {"disks.scsi0.cache": "none"}
    written = key_params("qemu", view, live={"scsi0": live})["scsi0"]
    assert written == live + ",cache=none"
    features = key_params(
        "lxc", {"features.keyctl": True}, live={"features": "fuse=1,mount=nfs;cifs,nesting=1"}
    )
    assert features["features"] == "fuse=1,mount=nfs;cifs,nesting=1,keyctl=1"
    nic = key_params(
        "qemu",
        {"networks.net0.tag": 30},
        live={"net0": "virtio=BC:24:11:00:01:00,bridge=vmbr0,firewall=1,tag=20,trunks=10;20"},
    )
    assert nic["net0"] == "virtio=BC:24:11:00:01:00,bridge=vmbr0,firewall=1,tag=30,trunks=10;20"
    cpu = key_params("qemu", {"cpu": "x86-64-v3"}, live={"cpu": "host,flags=+aes"})
    assert cpu["cpu"] == "x86-64-v3,flags=+aes"


@pytest.mark.parametrize(
    "raw",
    [
        "local:iso/debian-12.iso,media=cdrom",
        "none,media=cdrom",
        "/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXXX,size=3907018584K",
    ],
)
def test_values_a_disk_row_does_not_type(raw: str) -> None:
    row = key_for("qemu", "ide2")
    assert row is not None and row.parse("ide2", raw) is None


def test_the_cloud_init_drive_is_its_slot_and_storage() -> None:
    view = normalize_config("qemu", {"scsi1": "ceph:vm-100-cloudinit,media=cdrom,size=4M"})
    assert view["cloudInit.drive.slot"] == "scsi1"
    assert view["cloudInit.drive.storage"] == "ceph"


@pytest.mark.parametrize("bus", ["scsi", "virtio", "sata", "ide"])
def test_disk_options_the_model_takes_are_the_buss(bus: str) -> None:
    row = key_for("qemu", f"{bus}0")
    assert row is not None
    values = {"ssd": True, "iothread": True, "discard": True, "backup": True, "cache": "none"}
    for option, value in values.items():
        disk = {"storage": "local-lvm", "size": "8G", option: value}
        spec = {"vmid": 100, "node": "pve1", "disks": {f"{bus}0": disk}}
        has = row.sub_for_path(option) is not None
        if has:
            VirtualMachineSpec.model_validate(spec)
        else:
            with pytest.raises(ValueError, match=f"no {option} option on {bus}"):
                VirtualMachineSpec.model_validate(spec)


def test_nic_models_are_pves() -> None:
    from proxgit.models.guests import NicModel

    row = key_for("qemu", "net0")
    assert row is not None and (sub := row.sub("model")) is not None
    assert {m.value for m in NicModel} == set(sub.enum or ())


def test_the_keys_page_is_current() -> None:
    from pathlib import Path

    from proxgit.proxmox.fields_doc import render

    page = Path(__file__).resolve().parents[2] / "docs" / "proxmox-keys.md"
    assert page.read_text(encoding="utf-8") == render(), (
        "docs/proxmox-keys.md is stale: run python -m proxgit.proxmox.fields_doc "
        "docs/proxmox-keys.md"
    )


def test_the_request_checker_refuses_what_pve_refuses() -> None:
    from tests.proxmox.pveapi import request_problems

    path = "/api2/json/nodes/pve1/qemu/100/config"
    assert (
        request_problems("PUT", path, b"cores=2&scsi0=local-lvm%3Avm-100-disk-0%2Ccache%3Dnone")
        == []
    )
    assert request_problems("PUT", path, b"cores=0") == [f"PUT {path} cores: 0 below minimum 1"]
    bad = request_problems("PUT", path, b"scsi0=local-lvm%3Avm-100-disk-0%2Ccache%3Dfast%2Cfoo%3D1")
    assert any("cache" in p for p in bad) and any("unknown sub-key 'foo'" in p for p in bad)
    assert request_problems("PUT", path, b"bogus=1") == [f"PUT {path}: unknown parameter 'bogus'"]


def test_the_request_checker_sees_the_writes(pve: Any, repo: Any) -> None:
    from tests.proxmox.pveapi import request_problems

    pve.requests.clear()
    from tests.planning.test_plan import client

    client(repo).put("nodes/pve1/qemu/9000/config", description="x")
    puts = [r for r in pve.requests if r[0] == "PUT"]
    assert puts and request_problems(*puts[0]) == []


# Sub-keys whose default PVE's schema does not state (a named format, or only in the
# description), and that Proxmox takes as on when absent.
_DEFAULT_ON = {
    ("qemu", "hostpci", "rombar"),
    ("qemu", "scsi", "backup"),
    ("qemu", "scsi", "detect_zeroes"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_defaults_that_are_not_false_are_the_tables(kind: str) -> None:
    """Where Proxmox takes a missing key as on (or a number other than 0), the planner
    must know, or ``backup: false`` on a disk without ``backup=`` would never be written."""
    problems: list[str] = []
    for name, prop in config_keys(kind).items():
        row = _row(kind, name)
        if row is None or row.role != "typed":
            continue
        wanted: list[tuple[str, Any, Any]] = []
        zero_allowed = prop.get("minimum") is None or float(prop["minimum"]) <= 0
        if not row.subs and prop.get("type") in ("boolean", "integer") and zero_allowed:
            wanted.append((name, prop.get("default"), row.default))
        fmt = prop.get("format")
        for sub in row.subs:
            if sub.path is None or sub.virtual:
                continue
            theirs = fmt.get(sub.name, {}) if isinstance(fmt, dict) else {}
            zero_allowed = theirs.get("minimum") is None or float(theirs["minimum"]) <= 0
            if theirs.get("type") in ("boolean", "integer") and zero_allowed:
                wanted.append((f"{name} {sub.name}", theirs.get("default"), sub.default))
            if (kind, row.name, sub.name) in _DEFAULT_ON:
                wanted.append((f"{name} {sub.name}", 1, sub.default))
        for where, pve, ours in wanted:
            if pve in (None, 0, "0") or not isinstance(pve, int):
                continue
            if ours is None or int(ours) != int(pve):
                problems.append(f"{kind} {where}: Proxmox's default {pve}, the table's {ours}")
    assert not problems, "\n".join(problems)


def test_an_absent_default_on_value_is_compared_as_on() -> None:
    from proxgit.proxmox.fields import absent_value

    assert absent_value("qemu", "disks.scsi0.backup") is True
    assert absent_value("qemu", "disks.virtio1.replicate") is True
    assert absent_value("qemu", "hostpci.hostpci0.rombar") is True
    assert absent_value("lxc", "swap") == 512 and absent_value("lxc", "tty") == 2
    assert absent_value("qemu", "disks.scsi0.ssd") is None
