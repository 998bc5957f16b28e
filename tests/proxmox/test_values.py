"""Values as real Proxmox writes them: sizes in bytes, ``memory: current=``, and values
proxgit can't read, which stop one guest with a finding and never the cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from proxgit.models.base import format_size, parse_size, proxmox_size
from proxgit.proxmox.live import LiveGuest
from proxgit.proxmox.normalize import ConfigValueError, normalize_lxc_config, normalize_qemu_config
from tests.reflecting.conftest import run
from tests.support import GitRepo, vm_path, vm_yaml

GIB = 1 << 30


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("34359738368", 32 * GIB),  # a bare number in a config is bytes
        ("32G", 32 * GIB),
        ("4M", 4 << 20),
        ("528K", 528 << 10),
        ("1.5T", int(1.5 * (1 << 40))),
        ("1000B", 1000),
    ],
)
def test_config_sizes_are_bytes_when_bare(text: str, size: int) -> None:
    view = normalize_qemu_config({"scsi0": f"local-lvm:vm-1-disk-0,size={text}"})
    assert view["disks.scsi0.size"] == size
    ct = normalize_lxc_config({"rootfs": f"local-lvm:subvol-1-disk-0,size={text}"})
    assert ct["rootfs.size"] == size


def test_desired_sizes_keep_their_meaning_and_format_round_trips() -> None:
    assert parse_size("32") == 32 * GIB  # desired YAML: a bare number is GiB
    assert parse_size(32) == 32 * GIB
    assert parse_size("1000B") == 1000
    for size in (32 * GIB, 1536 << 20, 1000, 4 << 20, 1 << 50):
        assert parse_size(format_size(size)) == size
        assert parse_size(proxmox_size(size), bare_unit="B") == size
    assert format_size(1000) == "1000B" and proxmox_size(1000) == "1000"


def test_memory_current_is_read() -> None:
    assert normalize_qemu_config({"memory": "current=2048"})["memory"] == 2048
    assert normalize_qemu_config({"memory": 4096})["memory"] == 4096
    assert normalize_qemu_config({"memory": "4096"})["memory"] == 4096


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("memory", "current=lots"),
        ("cores", "two"),
        ("scsi0", "local-lvm:vm-1-disk-0,size=huge"),
        ("net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=x"),
        ("startup", "order=first"),
    ],
)
def test_an_unreadable_value_names_its_key_and_value(key: str, raw: str) -> None:
    with pytest.raises(ConfigValueError) as caught:
        normalize_qemu_config({"name": "a", key: raw})
    assert caught.value.key == key and caught.value.raw == raw
    assert key in str(caught.value) and "malformed value" in str(caught.value)


def test_a_secret_value_is_never_shown() -> None:
    err = ConfigValueError("cipassword", "hunter2-secret", "bad")
    assert "hunter2" not in str(err)


def _real_configs(pve: Any) -> None:
    """Configs as PVE 8.1+ writes them: ``memory: current=``, a disk size in bytes."""
    pve.add_vm(
        130,
        "mem-current",
        node="pve1",
        config={
            "memory": "current=2048",
            "cores": 2,
            "scsihw": "virtio-scsi-single",
            "scsi0": "local-lvm:vm-130-disk-0,iothread=1,size=34359738368",
            "net0": "virtio=BC:24:11:00:01:30,bridge=vmbr0",
        },
    )
    pve.add_vm(
        131,
        "broken",
        node="pve1",
        config={"memory": 1024, "cores": 1, "startup": "order=first"},
    )


def test_real_values_import_plan_zero_and_a_broken_guest_stays_alone(
    repo: GitRepo, pve: Any
) -> None:
    _real_configs(pve)
    result = run(repo, "import", "--cluster", "lab", "--all-unmanaged")
    assert result.exit_code == 1, result.output  # one guest could not be imported
    assert "internal error" not in result.output
    assert (
        "vmid 131 (broken) not imported: vmid 131: config key startup: malformed value "
        "'order=first'" in result.output
    )
    assert "wrote clusters/lab/vms/mem-current.yaml" in result.output
    doc = yaml.safe_load((repo.path / vm_path("mem-current")).read_text())
    assert doc["spec"]["memory"] == 2048
    assert doc["spec"]["disks"]["scsi0"]["size"] == "32G"

    # the broken guest declared by hand: a finding for it, the others are planned
    repo.commit(
        {vm_path("broken"): vm_yaml("broken", 131, extra="cores: 1\n")},
        "Declare the broken guest",
    )
    plan = run(repo, "plan", "--output", "json")
    data = json.loads(plan.stdout)
    assert not data["blockers"], data["blockers"]
    changes = {c["vmid"]: c for c in data["changes"]}
    assert changes[130]["action"] == "noop" and not changes[130]["blockers"]
    [blocker] = changes[131]["blockers"]
    assert blocker["code"] == "config-unreadable"
    assert blocker["key"] == "startup" and blocker["value"] == "order=first"
    assert plan.exit_code == 1

    drift = run(repo, "drift")
    assert "internal error" not in drift.output


def test_live_guest_view_reads_memory_current() -> None:
    guest = LiveGuest(vmid=1, type="qemu", name="a", node="n", status="stopped")
    guest.config = {"memory": "current=1024,", "cores": "1"}
    assert guest.view()["memory"] == 1024


def test_tags_keep_their_case_as_proxmox_does() -> None:
    """Proxmox keeps a tag as written, drops duplicates ignoring case (datacenter.cfg
    ``tag-style: case-sensitive=0``, the default) and sorts ignoring case."""
    from proxgit.models.base import normalize_tags
    from proxgit.proxmox.fields import key_for

    assert normalize_tags(["web", "Prod", "prod", "DMZ"]) == ["DMZ", "Prod", "web"]
    assert normalize_qemu_config({"tags": "Home;Media"})["tags"] == ["Home", "Media"]
    assert normalize_lxc_config({"tags": "k8s;DMZ;Prod"})["tags"] == ["DMZ", "k8s", "Prod"]
    tags = key_for("qemu", "tags")
    assert tags is not None
    assert tags.write({"": ["media", "Home"]}) == "Home;media"
    # proxgit's own marker is not a user's tag, whatever its case
    marked = normalize_qemu_config({"tags": "Web;Proxgit-Pending-Deletion"})
    assert marked["tags"] == ["Web"]


def test_a_tag_whose_case_differs_is_a_planned_change(repo: GitRepo, pve: Any) -> None:
    pve.add_vm(
        150, "tagged", node="pve1", config={"memory": 1024, "cores": 1, "tags": "Home;Media"}
    )
    imported = run(repo, "import", "--cluster", "lab", "--vmid", "150")
    assert imported.exit_code == 0, imported.output
    path = repo.path / vm_path("tagged")
    text = path.read_text(encoding="utf-8")
    assert "tags: [Home, Media]" in text, text
    path.write_text(text.replace("tags: [Home, Media]", "tags: [home, Media]"))
    result = run(repo, "plan", "--output", "json")
    fields = [
        (f["path"], f["before"], f["after"])
        for c in json.loads(result.stdout)["changes"]
        for f in c["fields"]
    ]
    assert fields == [("tags", ["Home", "Media"], ["home", "Media"])], result.stdout


# Garbage a hand-edited config file could hold, across kinds of keys: (kind, vmid, key, raw).
GARBAGE = [
    ("qemu", 160, "cpulimit", "fast"),
    ("qemu", 161, "net0", "virtio=BC:24:11:00:01:61,bridge=vmbr0,tag=x"),
    ("qemu", 162, "scsi0", "local-lvm:vm-162-disk-0,size=huge"),
    ("qemu", 163, "rng0", "source=/dev/urandom,max_bytes=many"),
    ("qemu", 164, "numa0", "cpus=0-3,memory=lots"),
    ("qemu", 165, "vga", "qxl,memory=big"),
    ("lxc", 360, "rootfs", "local-lvm:vm-360-disk-0,size=??"),
    ("lxc", 361, "net0", "name=eth0,bridge=vmbr0,mtu=abc"),
    ("lxc", 362, "dev0", "/dev/dri/card0,gid=video"),
    ("lxc", 363, "tty", "many"),
]


def test_garbage_values_are_findings_of_their_guest_only(repo: GitRepo, pve: Any) -> None:
    """Each unreadable value is a finding for its guest (code, key, raw value); the
    healthy guest beside them is imported, planned and applied as usual."""
    from tests.applying.test_apply import apply
    from tests.support import ct_path, ct_yaml

    repo.git("push", "--quiet", "origin", "main")
    pve.add_vm(150, "healthy", node="pve1", config={"memory": 1024, "cores": 1})
    files = {}
    for kind, vmid, key, raw in GARBAGE:
        name = f"junk-{vmid}"
        if kind == "qemu":
            config: dict[str, Any] = {"memory": 1024, "cores": 1, key: raw}
            pve.add_vm(vmid, name, node="pve1", config=config)
            files[vm_path(name)] = vm_yaml(name, vmid, extra="cores: 1\n")
        else:
            config = {
                "hostname": name,
                "memory": 512,
                "ostype": "debian",
                "rootfs": f"local-lvm:vm-{vmid}-disk-0,size=8G",
                key: raw,
            }
            pve.add_ct(vmid, name, node="pve1", config=config, defaults=False)
            files[ct_path(name)] = ct_yaml(name, vmid, extra="memory: 512\n")

    result = run(repo, "import", "--cluster", "lab", "--all-unmanaged")
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output
    for _, vmid, key, raw in GARBAGE:
        assert f"vmid {vmid} (junk-{vmid}) not imported: vmid {vmid}: config key {key}: " in (
            result.output
        )
        assert repr(raw) in result.output
    assert "wrote clusters/lab/vms/healthy.yaml" in result.output

    repo.commit(files, "Declare the guests with unreadable values")
    repo.git("push", "--quiet", "origin", "main")
    plan = run(repo, "plan", "--output", "json")
    assert plan.exit_code == 1
    changes = {c["vmid"]: c for c in json.loads(plan.stdout)["changes"]}
    assert changes[150]["action"] == "noop" and not changes[150]["blockers"]
    for _, vmid, key, raw in GARBAGE:
        [blocker] = changes[vmid]["blockers"]
        assert (blocker["code"], blocker["key"], blocker["value"]) == (
            "config-unreadable",
            key,
            raw,
        ), blocker
    applied = apply(repo)
    assert "internal error" not in applied.output and "Traceback" not in applied.output
    for _, vmid, _, _ in GARBAGE:
        assert f"junk-{vmid} (vmid {vmid})" in applied.output, applied.output
    for command in ("drift", "reflect"):
        assert "internal error" not in run(repo, command).output


def test_turning_off_what_proxmox_takes_as_on_is_planned() -> None:
    """``backup: false`` on a disk whose config has no ``backup=`` (Proxmox backs it up)
    is a change; ``ssd: false`` against no ``ssd=`` is not (Proxmox's default is off)."""
    from proxgit.loading import load_files
    from proxgit.planning.planner import diff_guest
    from tests.support import config_yaml

    spec = (
        "memory: 1024\ndisks:\n  scsi0: {storage: local-lvm, size: 8G, backup: false, "
        "ssd: false}\nhostpci:\n  hostpci0: {mapping: gpu, rombar: false}\n"
    )
    state = load_files(
        [
            ("proxgit.yaml", config_yaml("https://127.0.0.1:8006", "/nonexistent")),
            ("clusters/lab/vms/g.yaml", vm_yaml("g", 100, extra=spec)),
        ]
    )
    document = state.guests["lab", 100].document
    live = LiveGuest(vmid=100, type="qemu", name="g", node="pve1", status="running")
    live.config = {
        "name": "g",
        "memory": 1024,
        "scsi0": "local-lvm:vm-100-disk-0,size=8G",
        "hostpci0": "mapping=gpu",
    }
    paths = sorted(change.path for change in diff_guest(document, live))
    assert paths == ["disks.scsi0.backup", "hostpci.hostpci0.rombar"]
    live.config["scsi0"] += ",backup=0"
    live.config["hostpci0"] += ",rombar=0"
    assert diff_guest(document, live) == []
