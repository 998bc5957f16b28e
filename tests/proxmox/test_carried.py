"""``extraConfig`` and writes that change only what the plan shows, against fakepve.

Guests whose configs look like what PVE 8/9 stores (UEFI with TPM, passthrough,
cdrom and cloud-init drives, serial consoles, CPU flags, disk and NIC options
proxgit does not type, containers with bind mounts, devices and mount
permissions) are imported, planned (zero changes), edited one field at a time
and applied; every write is asserted as sent, and what it must keep is read back.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any
from urllib.parse import parse_qs

import pytest
import yaml

from proxgit.errors import InvalidRepository
from proxgit.loading import load_files
from tests.applying.test_apply import apply, merge
from tests.reflecting.conftest import run
from tests.support import DEBIAN_TEMPLATE, GitRepo, config_yaml, ct_path, vm_path

WIN11 = {
    "name": "win11",
    "memory": "current=8192",
    "cores": 4,
    "sockets": 1,
    "bios": "ovmf",
    "machine": "pc-q35-9.0",
    "ostype": "win11",
    "cpu": "host,flags=+aes;+pdpe1gb",
    "scsihw": "virtio-scsi-single",
    "efidisk0": "local-lvm:vm-301-disk-0,efitype=4m,pre-enrolled-keys=1,size=4M",
    "tpmstate0": "local-lvm:vm-301-disk-2,size=4M,version=v2.0",
    "scsi0": "local-lvm:vm-301-disk-1,aio=native,cache=writeback,discard=on,iothread=1,"
    "replicate=0,serial=OSDISK,size=137438953472,ssd=1",
    "ide2": "local:iso/Win11_24H2_English_x64.iso,media=cdrom,size=5819M",
    "ide0": "local:iso/virtio-win-0.1.262.iso,media=cdrom,size=708140K",
    "net0": "virtio=BC:24:11:3A:01:01,bridge=vmbr0,firewall=1,tag=30,trunks=30;40",
    "vga": "virtio,memory=64",
    "tablet": 1,
    "smbios1": "uuid=0e6b6c2a-0a77-4d55-9a4b-9b0e2fb1c001",
    "vmgenid": "4c1e7b2a-3b4d-4f8e-9a61-5d2c0b7e4f13",
    "meta": "creation-qemu=9.0.2,ctime=1730000000",
    "tags": "windows;desktop",
    "boot": "order=scsi0;ide2;net0",
    "agent": "1",
    "cpuunits": 200,
}
NAS = {
    "name": "nas",
    "memory": 16384,
    "cores": 8,
    "numa": 1,
    "cpu": "host,hidden=1",
    "machine": "q35,viommu=intel",
    "hostpci0": "0000:01:00.0,pcie=1,rombar=0",
    "usb0": "host=1d6b:0002",
    "serial0": "socket",
    "scsi0": "local-lvm:vm-302-disk-0,bps=1048576,detect_zeroes=0,iothread=1,size=32G,"
    "wwn=0x5000c500a0b1c2d3",
    "scsi1": "/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K0XXXXXX,backup=0,size=3907018584K",
    "net0": "virtio=BC:24:11:3A:02:01,bridge=vmbr0",
    "ide2": "local-lvm:vm-302-cloudinit,media=cdrom",
    "ciuser": "admin",
    "ipconfig0": "ip=dhcp",
    "args": "-cpu host,kvm=off",
    "hookscript": "local:snippets/nas-hook.pl",
    "unused0": "local-lvm:vm-302-disk-9",
}
MEDIA = {
    "hostname": "media",
    "cores": 2,
    "memory": 1024,
    "swap": 512,
    "unprivileged": 1,
    "ostype": "debian",
    "arch": "amd64",
    "rootfs": "local-lvm:vm-401-disk-0,mountoptions=noatime,replicate=0,size=8G",
    "mp0": "/mnt/tank/media,mp=/media,backup=0",
    "mp1": "local-lvm:vm-401-disk-1,mp=/srv/cache,acl=1,backup=1,size=17179869184",
    "net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:3A:04:01,ip=10.0.0.40/24,gw=10.0.0.1,type=veth",
    "features": "fuse=1,mount=nfs;cifs,nesting=1",
    "dev0": "/dev/dri/renderD128,gid=104",
    "debug": 0,
    "timezone": "Europe/Berlin",
    "cmode": "console",
    "console": 1,
    "tty": 4,
    "tags": "media",
}


def _seed(pve: Any) -> None:
    pve.store_file("local", "Win11_24H2_English_x64.iso", 5819 << 20)
    pve.store_file("local", "virtio-win-0.1.262.iso", 708140 << 10)
    pve.add_vm(301, "win11", node="pve1", status="running", config=WIN11)
    pve.add_vm(302, "nas", node="pve1", status="stopped", config=NAS)
    pve.add_ct(401, "media", node="pve1", status="running", config=MEDIA)


@pytest.fixture
def imported(repo: GitRepo, pve: Any) -> GitRepo:
    _seed(pve)
    repo.git("push", "--quiet", "origin", "main")
    result = run(repo, "import", "--cluster", "lab", "--all-unmanaged")
    assert result.exit_code == 0, result.output
    repo.git("add", "-A")
    repo.git("commit", "--quiet", "-m", "Import guests")
    repo.git("push", "--quiet", "origin", "main")
    repo.output = result.output  # type: ignore[attr-defined]
    return repo


def _plan(repo: GitRepo) -> dict[str, Any]:
    result = run(repo, "plan", "--output", "json")
    return dict(json.loads(result.stdout), exit_code=result.exit_code)


def _doc(repo: GitRepo, path: str) -> dict[str, Any]:
    return dict(yaml.safe_load((repo.path / path).read_text()))


def test_import_carries_every_key_and_plans_zero(imported: GitRepo, pve: Any) -> None:
    out = imported.output  # type: ignore[attr-defined]
    # keys Proxmox owns are listed on a line of their own, never as "not carried"
    owned = [line for line in out.splitlines() if "set by Proxmox itself" in line]
    assert owned and all("vmgenid" in line and "meta" in line for line in owned[:1]), out
    assert any("unused0" in line for line in owned), out
    assert not [line for line in out.splitlines() if "not carried" in line], out
    for carried in ("efidisk0", "tpmstate0", "hostpci0", "args", "dev0", "mp0", "scsi1: "):
        assert f"{carried}: not carried" not in out, out
    assert _doc(imported, vm_path("nas"))["spec"]["hostpci"] == {
        "hostpci0": {"host": "0000:01:00.0", "pcie": True, "rombar": False}
    }
    assert _doc(imported, vm_path("nas"))["spec"]["usb"] == {"usb0": {"host": "1d6b:0002"}}
    for carried in ():
        assert f"{carried}: not carried" not in out, out
    win = _doc(imported, vm_path("win11"))["spec"]
    assert win["memory"] == 8192 and win["cpu"] == "host" and win["cpuFlags"] == "+aes;+pdpe1gb"
    assert win["efiDisk"] == {"storage": "local-lvm", "efitype": "4m", "preEnrolledKeys": True}
    assert win["tpmState"] == {"storage": "local-lvm", "version": "v2.0"}
    assert win["vga"] == {"type": "virtio", "memory": 64}
    assert win["disks"]["scsi0"]["size"] == "128G"
    extra = win["extraConfig"]
    assert extra["ide2"] == WIN11["ide2"] and extra["ide0"] == WIN11["ide0"]
    assert extra["smbios1"] == WIN11["smbios1"]
    assert "vmgenid" not in extra and "meta" not in extra
    nas = _doc(imported, vm_path("nas"))["spec"]
    assert nas["extraConfig"]["scsi1"] == NAS["scsi1"]  # a passed-through disk
    assert nas["extraConfig"]["args"] == NAS["args"]
    assert set(nas["disks"]) == {"scsi0"}
    assert nas["cloudInit"]["drive"] == {"slot": "ide2", "storage": "local-lvm"}
    assert "ide2" not in nas["extraConfig"]  # its volume is Proxmox's
    assert nas["disks"]["scsi0"]["bps"] == 1048576  # bytes per second, typed beside mbps
    assert nas["disks"]["scsi0"]["wwn"] == "0x5000c500a0b1c2d3"
    # typed keys with a sub-key no spec field holds are carried whole, verbatim
    assert nas["extraConfig"]["cpu"] == "host,hidden=1" and "cpu" not in nas
    assert nas["extraConfig"]["machine"] == "q35,viommu=intel" and "machine" not in nas
    media = _doc(imported, ct_path("media"))["spec"]
    assert media["mountpoints"]["mp0"] == {  # a bind mount
        "source": "/mnt/tank/media",
        "path": "/media",
        "backup": False,
    }
    assert media["mountpoints"]["mp1"]["size"] == "16G"
    assert media["timezone"] == "Europe/Berlin" and media["tty"] == 4
    assert media["features"] == {"fuse": True, "mount": "nfs;cifs", "nesting": True}
    plan = _plan(imported)
    assert plan["exit_code"] == 0, json.dumps(plan["changes"], indent=1)
    assert plan["summary"]["noop"] == 3


def _edit(repo: GitRepo, path: str, old: str, new: str) -> None:
    text = (repo.path / path).read_text()
    assert old in text, text
    merge(repo, {path: text.replace(old, new, 1)}, f"Edit {path}")


def _puts(pve: Any, vmid: int) -> list[dict[str, str]]:
    found = []
    for method, path, body in pve.requests:
        if method == "PUT" and path.endswith(f"/{vmid}/config"):
            raw = body.decode() if isinstance(body, bytes) else str(body)
            try:
                data = json.loads(raw)
            except ValueError:
                data = {k: v[0] for k, v in parse_qs(raw).items()}
            found.append({k: str(v) for k, v in data.items() if k != "digest"})
    return found


def test_a_disk_option_edit_keeps_every_other_sub_key(imported: GitRepo, pve: Any) -> None:
    _edit(imported, vm_path("win11"), "cache: writeback", "cache: none")
    plan = _plan(imported)
    [change] = [c for c in plan["changes"] if c["action"] == "update"]
    assert [(f["path"], f["effect"]) for f in change["fields"]] == [
        ("disks.scsi0.cache", "restart")
    ]
    pve.requests.clear()
    assert apply(imported).exit_code == 0
    assert _puts(pve, 301) == [{"scsi0": WIN11["scsi0"].replace("cache=writeback", "cache=none")}]
    assert _plan(imported)["exit_code"] == 0


def test_a_features_edit_keeps_mount_permissions(imported: GitRepo, pve: Any) -> None:
    text = (imported.path / ct_path("media")).read_text()
    assert "features: {fuse: true, mount: nfs;cifs, nesting: true}" in text, text
    _edit(
        imported, ct_path("media"), "features: {fuse: true", "features: {keyctl: true, fuse: true"
    )
    pve.requests.clear()
    result = apply(imported)
    assert result.exit_code == 0, result.output
    assert _puts(pve, 401) == [{"features": "fuse=1,mount=nfs;cifs,nesting=1,keyctl=1"}]
    assert "mount=nfs;cifs" in str(pve.guest(401).config.get("features")) + str(
        pve.guest(401).pending.get("features", "")
    )
    assert _plan(imported)["exit_code"] == 0


def test_a_nic_edit_keeps_mac_trunks_and_firewall(imported: GitRepo, pve: Any) -> None:
    _edit(imported, vm_path("win11"), "tag: 30", "tag: 31")
    pve.requests.clear()
    assert apply(imported).exit_code == 0
    assert _puts(pve, 301) == [{"net0": WIN11["net0"].replace("tag=30", "tag=31")}]
    assert _plan(imported)["exit_code"] == 0


def test_an_extra_config_edit_is_planned_and_applied(imported: GitRepo, pve: Any) -> None:
    _edit(imported, ct_path("media"), "debug: '0'", "debug: true")
    _edit(imported, vm_path("win11"), "tablet: '1'", "tablet: false")
    plan = _plan(imported)
    fields = {(c["name"], f["path"]): f for c in plan["changes"] for f in c["fields"]}
    assert fields[("media", "extraConfig.debug")]["after"] == "1"
    assert fields[("win11", "extraConfig.tablet")]["effect"] == "restart"
    pve.requests.clear()
    assert apply(imported).exit_code == 0
    assert _puts(pve, 401) == [{"debug": "1"}]
    assert _puts(pve, 301) == [{"tablet": "0"}]
    assert _plan(imported)["exit_code"] == 0


def test_typed_scalar_edits_are_planned_and_applied(imported: GitRepo, pve: Any) -> None:
    _edit(imported, ct_path("media"), "timezone: Europe/Berlin", "timezone: UTC")
    _edit(imported, ct_path("media"), "gid: 104", "gid: 105")
    _edit(imported, vm_path("win11"), "cpuunits: 200", "cpuunits: 300")
    plan = _plan(imported)
    fields = {(c["name"], f["path"]): f for c in plan["changes"] for f in c["fields"]}
    assert fields[("media", "timezone")]["after"] == "UTC"
    assert fields[("win11", "cpuunits")]["effect"] == "live"
    pve.requests.clear()
    assert apply(imported).exit_code == 0
    assert _puts(pve, 401) == [{"dev0": "/dev/dri/renderD128,gid=105", "timezone": "UTC"}]
    assert _puts(pve, 301) == [{"cpuunits": "300"}]
    assert _plan(imported)["exit_code"] == 0


def test_a_mount_point_option_edit_is_applied(imported: GitRepo, pve: Any) -> None:
    text = (imported.path / ct_path("media")).read_text()
    assert "mp1: {storage: local-lvm, size: 16G, path: /srv/cache" in text, text
    _edit(imported, ct_path("media"), "backup: true", "backup: false")
    pve.requests.clear()
    assert apply(imported).exit_code == 0
    assert _puts(pve, 401) == [{"mp1": MEDIA["mp1"].replace("backup=1", "backup=0")}]
    assert _plan(imported)["exit_code"] == 0


def test_root_only_keys_are_warned_in_the_plan(imported: GitRepo, pve: Any) -> None:
    _edit(imported, vm_path("nas"), "args: -cpu host,kvm=off", "args: -cpu host")
    plan = _plan(imported)
    [change] = [c for c in plan["changes"] if c["action"] == "update"]
    assert [w["code"] for w in change["warnings"]] == ["root-only-key"]
    assert change["warnings"][0]["key"] == "args"


CONFIG = config_yaml("https://127.0.0.1:8006", "/nonexistent")


def _load(extra: str, kind: str = "VirtualMachine") -> InvalidRepository:
    folder = "vms" if kind == "VirtualMachine" else "containers"
    doc = (
        f"apiVersion: proxgit/v1\nkind: {kind}\nmetadata: {{name: g, cluster: lab}}\n"
        "spec:\n  vmid: 100\n  node: pve1\n" + textwrap.indent(textwrap.dedent(extra), "  ")
    )
    with pytest.raises(InvalidRepository) as caught:
        load_files([("proxgit.yaml", CONFIG), (f"clusters/lab/{folder}/g.yaml", doc)])
    return caught.value


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "extraConfig:\n  vgaa: qxl\n",
            "'vgaa' is not a Proxmox QEMU VM config key; did you mean 'vga'?",
        ),
        ("extraConfig:\n  vmgenid: '1'\n", "'vmgenid' is set by Proxmox"),
        ("extraConfig:\n  cores: 4\n", "'cores' is a typed field: write it as spec.cores"),
        ("extraConfig:\n  cipassword: hunter2hunter2\n", "'cipassword' holds a secret"),
        (
            "disks:\n  ide2: {storage: local-lvm, size: 8G}\n"
            "extraConfig:\n  ide2: local:iso/x.iso,media=cdrom\n",
            "'ide2' is also declared as spec.disks.ide2",
        ),
    ],
)
def test_extra_config_keys_are_checked_against_the_table(extra: str, message: str) -> None:
    err = _load(extra)
    text = str(err)
    assert message in text, text
    assert "clusters/lab/vms/g.yaml:" in text and "Traceback" not in text
    line = next(
        str(p) for p in err.problems if message.split("'")[1 if "'" in message else 0] in str(p)
    )
    assert line.split(":")[1].isdigit() and line.split(":")[2].isdigit()


def test_container_extra_config_suggests_container_keys() -> None:
    err = _load("extraConfig:\n  timezon: UTC\n", kind="Container")
    assert "'timezon' is not a Proxmox container config key; did you mean 'timezone'?" in str(err)


def test_carried_values_load() -> None:
    doc = (
        "apiVersion: proxgit/v1\nkind: VirtualMachine\nmetadata: {name: g, cluster: lab}\n"
        "spec:\n  vmid: 100\n  node: pve1\n  extraConfig:\n    ide2: local:iso/x.iso,media=cdrom\n"
        "    scsi1: local-lvm:vm-100-disk-1,size=8G,detect_zeroes=1\n"
        "    keyboard: de\n    tablet: false\n    shares: 500\n    migrate_downtime: 0.5\n"
    )
    state = load_files([("proxgit.yaml", CONFIG), ("clusters/lab/vms/g.yaml", doc)])
    [guest] = state.guests.values()
    assert guest.document.spec.extra_config == {
        "ide2": "local:iso/x.iso,media=cdrom",
        "scsi1": "local-lvm:vm-100-disk-1,size=8G,detect_zeroes=1",
        "keyboard": "de",
        "tablet": False,
        "shares": 500,
        "migrate_downtime": 0.5,
    }


def test_cpu_flags_and_vga_edits_keep_the_rest(imported: GitRepo, pve: Any) -> None:
    _edit(imported, vm_path("win11"), "cpuFlags: +aes;+pdpe1gb", "cpuFlags: +aes")
    _edit(imported, vm_path("win11"), "type: virtio", "type: qxl")
    pve.requests.clear()
    assert apply(imported).exit_code == 0
    assert _puts(pve, 301) == [{"cpu": "host,flags=+aes", "vga": "qxl,memory=64"}]
    assert _plan(imported)["exit_code"] == 0


def test_an_efitype_change_is_blocked(imported: GitRepo, pve: Any) -> None:
    _edit(imported, vm_path("win11"), "efitype: 4m", "efitype: 2m")
    plan = _plan(imported)
    [change] = [c for c in plan["changes"] if c["action"] == "update"]
    assert [b["code"] for b in change["blockers"]] == ["create-only"]


UEFI = """\
cores: 2
memory: 2048
bios: ovmf
machine: q35
disks:
  scsi0: {storage: local-lvm, size: 16G, cache: none}
networks:
  net0: {bridge: vmbr0}
"""


def test_bios_ovmf_creates_an_efi_disk(repo: GitRepo, pve: Any) -> None:
    repo.git("push", "--quiet", "origin", "main")
    from tests.support import vm_yaml

    merge(repo, {vm_path("uefi"): vm_yaml("uefi", 150, extra=UEFI)}, "UEFI VM")
    pve.requests.clear()
    assert apply(repo).exit_code == 0
    [create] = [b for m, p, b in pve.requests if m == "POST" and p.endswith("/nodes/pve1/qemu")]
    assert "efidisk0" in str(create)
    config = pve.guest(150).config
    assert str(config["efidisk0"]).startswith("local-lvm:") and "efitype=4m" in config["efidisk0"]
    assert _plan(repo)["exit_code"] == 0


CLONED = """\
clone: {name: ubuntu-2404-tpl}
cores: 2
disks:
  scsi0: {storage: local-lvm, size: 12G, ssd: true, discard: true, cache: none}
"""


def test_a_clone_applies_declared_disk_options(repo: GitRepo, pve: Any) -> None:
    repo.git("push", "--quiet", "origin", "main")
    from tests.support import vm_yaml

    merge(repo, {vm_path("cloned"): vm_yaml("cloned", 151, extra=CLONED)}, "Clone")
    pve.requests.clear()
    assert apply(repo).exit_code == 0
    scsi0 = [p["scsi0"] for p in _puts(pve, 151) if "scsi0" in p]
    assert scsi0 and all(o in scsi0[0] for o in ("ssd=1", "discard=on", "cache=none")), scsi0
    assert "base-9000-disk-0" in scsi0[0] or "vm-151-disk" in scsi0[0]
    plan = _plan(repo)
    assert plan["exit_code"] in (0, 2)
    fields = [f["path"] for c in plan["changes"] for f in c["fields"]]
    assert not [f for f in fields if f != "disks.scsi0.size"]  # fakepve's resize changes nothing


def _compare_views(kind: str, original: dict[str, Any], created: dict[str, Any]) -> list[str]:
    """Paths whose values differ between two configs read as documents hold them,
    what Proxmox generates (MACs) and owns (volume names, vmgenid) aside."""
    from proxgit.proxmox.normalize import document_view, normalize_config

    def view(config: dict[str, Any]) -> dict[str, Any]:
        read = document_view(kind, config, normalize_config(kind, config))
        return {
            p: v
            for p, v in read.items()
            if p not in ("name", "hostname") and not p.endswith((".macaddr", ".hwaddr"))
        }

    want, got = view(original), view(created)
    return [
        f"{p}: {want.get(p)!r} -> {got.get(p)!r}"
        for p in sorted({*want, *got})
        if want.get(p) != got.get(p)
    ]


def test_creating_from_the_imported_document_reproduces_the_config(
    imported: GitRepo, pve: Any
) -> None:
    text = (imported.path / vm_path("win11")).read_text()
    copy = text.replace("name: win11", "name: win11-copy").replace("vmid: 301", "vmid: 311")
    merge(imported, {vm_path("win11-copy"): copy}, "Copy win11")
    result = apply(imported)
    assert result.exit_code == 0, result.output
    created = dict(pve.guest(311).config)
    differ = _compare_views("qemu", WIN11, created)
    assert not differ, differ
    for owned in ("vmgenid", "meta"):
        assert created.get(owned) != WIN11[owned]  # Proxmox's own, not copied
    assert _plan(imported)["exit_code"] == 0


def test_creating_a_container_from_its_imported_document(imported: GitRepo, pve: Any) -> None:
    text = (imported.path / ct_path("media")).read_text()
    copy = text.replace("name: media", "name: media-copy").replace("vmid: 401", "vmid: 411")
    copy = copy.replace("  vmid: 411\n", "  vmid: 411\n  ostemplate: " + DEBIAN_TEMPLATE + "\n")
    merge(imported, {ct_path("media-copy"): copy}, "Copy media")
    plan = _plan(imported)
    [create] = [c for c in plan["changes"] if c["action"] == "create"]
    assert [w["key"] for w in create["warnings"] if w["code"] == "root-only-key"] == ["mp0"]
    result = apply(imported)
    assert result.exit_code == 1  # proxgit's token is not root@pam: the bind mount is refused
    assert "Only root can pass arbitrary filesystem paths" in result.output
    # without the bind mount, the copy is the original
    copy = "\n".join(line for line in copy.splitlines() if "mp0:" not in line) + "\n"
    merge(imported, {ct_path("media-copy"): copy}, "Copy media without its bind mount")
    result = apply(imported)
    assert result.exit_code == 0, result.output
    original = {k: v for k, v in MEDIA.items() if k != "mp0"}
    differ = _compare_views("lxc", original, dict(pve.guest(411).config))
    assert not differ, differ
    assert _plan(imported)["exit_code"] == 0
