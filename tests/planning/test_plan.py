"""``proxgit plan`` against fakepve over HTTPS, with real Git revisions for base and head."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from proxgit.cli import main
from proxgit.loading import load_directory
from proxgit.proxmox.client import ProxmoxClient
from proxgit.proxmox.translate import lxc_create_params, qemu_config_params
from tests.support import (
    DEBIAN_TEMPLATE,
    TOKEN_SECRET,
    GitRepo,
    config_yaml,
    ct_path,
    ct_yaml,
    vm_path,
    vm_yaml,
)

WEB = """\
cores: 2
memory: 2048
tags: [web, prod]
description: Web frontend
onboot: true
disks:
  scsi0: {storage: local-lvm, size: 32G, ssd: true, discard: true}
networks:
  net0: {bridge: vmbr0, tag: 20, firewall: true}
cloudInit:
  user: ubuntu
  sshKeys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMq ops@example.com]
  ipconfig0: ip=10.0.20.11/24,gw=10.0.20.1
  nameserver: 10.0.0.53
"""

DNS = f"""\
ostemplate: {DEBIAN_TEMPLATE}
cores: 1
memory: 512
swap: 256
rootfs: {{storage: local-lvm, size: 8G}}
networks:
  net0: {{bridge: vmbr0, ip: 10.0.0.53/24, gw: 10.0.0.1}}
features: {{nesting: true}}
unprivileged: true
"""


def plan(repo: GitRepo, *args: str) -> tuple[Result, dict[str, Any]]:
    result = CliRunner().invoke(main, ["plan", "--repo", str(repo.path), "--output", "json", *args])
    assert "Traceback" not in result.output
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        data = {"unparsed": result.output}
    return result, data


def change(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in data["changes"] if c["name"] == name)


def codes(entry: dict[str, Any], key: str = "blockers") -> set[str]:
    return {f["code"] for f in entry[key]}


def client(repo: GitRepo) -> ProxmoxClient:
    state = load_directory(repo.path)
    return ProxmoxClient("lab", state.config.spec.clusters["lab"], secret=TOKEN_SECRET)


def create_from_desired(repo: GitRepo, pve: Any) -> None:
    """Create every declared guest through the Proxmox API, as apply does."""
    state = load_directory(repo.path)
    api = client(repo)
    for guest in state.guests.values():
        doc = guest.document
        node = doc.spec.node
        if doc.kind == "VirtualMachine":
            params = qemu_config_params(doc)  # type: ignore[arg-type]
            upid = api.post(f"nodes/{node}/qemu", vmid=doc.spec.vmid, **params)
        else:
            params = lxc_create_params(doc)  # type: ignore[arg-type]
            upid = api.post(f"nodes/{node}/lxc", **params)
        assert api.wait_task(node, upid, timeout=30).ok
        if str(doc.spec.power) == "running":
            kind = "qemu" if doc.kind == "VirtualMachine" else "lxc"
            api.wait_task(node, api.post(f"nodes/{node}/{kind}/{doc.spec.vmid}/status/start"))


def test_new_guests_plan_as_create_with_one_request(repo: GitRepo, pve: Any) -> None:
    repo.commit(
        {
            vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB),
            ct_path("dns-01"): ct_yaml("dns-01", 201, extra=DNS),
        },
        "Add web-01 and dns-01",
    )
    pve.requests.clear()
    result, data = plan(repo)
    assert result.exit_code == 2, result.output
    assert data["summary"]["create"] == 2, data
    web = change(data, "web-01")
    assert web["action"] == "create" and web["blockers"] == []
    fields = {f["path"]: f["after"] for f in web["fields"]}
    assert fields["disks.scsi0.size"] == "32G"
    assert fields["tags"] == ["prod", "web"]
    # one cluster/resources plus one vztmpl listing for the container's template
    paths = [p for _, p, _ in pve.requests if "/access/" not in p]
    assert paths.count("/api2/json/cluster/resources") == 1
    assert len(paths) == 2, paths


def test_converged_guests_plan_zero_changes_even_after_config_put(repo: GitRepo, pve: Any) -> None:
    repo.commit(
        {
            vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB),
            ct_path("dns-01"): ct_yaml("dns-01", 201, extra=DNS),
        },
        "Add guests",
    )
    create_from_desired(repo, pve)
    result, data = plan(repo)
    assert result.exit_code == 0, json.dumps(data.get("changes"), indent=1)
    assert data["summary"]["noop"] == 2 and data["summary"]["update"] == 0
    # a config PUT makes fakepve answer integers as strings: still no diff
    api = client(repo)
    api.put("nodes/pve1/qemu/101/config", cores=2, memory=2048, onboot=1)
    api.put("nodes/pve1/lxc/201/config", cores=1, memory=512)
    pending = {i["key"]: i for i in api.get("nodes/pve1/qemu/101/pending")}
    assert pending["cores"]["pending"] == "2" and pending["onboot"]["value"] == "1"
    result, data = plan(repo)
    assert result.exit_code == 0, json.dumps(data.get("changes"), indent=1)


def test_update_fields_with_effects(repo: GitRepo, pve: Any) -> None:
    base = repo.commit({vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Add web-01")
    create_from_desired(repo, pve)
    changed = (
        WEB.replace("cores: 2", "cores: 4")
        .replace("size: 32G", "size: 40G")
        .replace("tags: [web, prod]", "tags: [web, prod, frontend]")
        + "  scsi1: {storage: local-lvm, size: 10G}\n"
    )
    changed = changed.replace("  scsi1:", "disks_extra_placeholder")
    changed = changed.replace("disks:\n", "disks:\n  scsi1: {storage: local-lvm, size: 10G}\n")
    changed = changed.replace("disks_extra_placeholder {storage: local-lvm, size: 10G}\n", "")
    repo.commit({vm_path("web-01"): vm_yaml("web-01", 101, extra=changed)}, "Grow web-01")
    result, data = plan(repo, "--base", base, "--head", "HEAD", "--actor", "alice@example.com")
    assert result.exit_code == 2, result.output
    web = change(data, "web-01")
    effects = {f["path"]: (f["before"], f["after"], f["effect"]) for f in web["fields"]}
    assert effects["cores"] == (2, 4, "restart")
    assert effects["disks.scsi0.size"] == ("32G", "40G", "live")
    assert effects["disks.scsi1.size"] == (None, "10G", "live")
    assert effects["tags"] == (["prod", "web"], ["frontend", "prod", "web"], "live")
    assert codes(web, "warnings") == {"pending-restart"}
    assert web["blockers"] == []


def test_disk_shrink_is_a_blocker(repo: GitRepo, pve: Any) -> None:
    base = repo.commit({vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Add web-01")
    create_from_desired(repo, pve)
    repo.commit(
        {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB.replace("32G", "16G"))}, "Shrink"
    )
    result, data = plan(repo, "--base", base, "--head", "HEAD")
    assert result.exit_code == 1
    assert "disk-shrink" in codes(change(data, "web-01"))


def test_delete_comes_from_removed_document_only(repo: GitRepo, pve: Any) -> None:
    base = repo.commit({vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Add web-01")
    create_from_desired(repo, pve)
    pve.add_vm(150, "hand-made", node="pve1", status="running")
    head = repo.commit({vm_path("web-01"): None}, "Remove web-01")
    result, data = plan(repo, "--base", base, "--head", head, "--actor", "bob@example.com")
    assert result.exit_code == 2, result.output
    web = change(data, "web-01")
    assert web["action"] == "delete"
    assert "deletion-needs-approval" in codes(web, "warnings")
    # the undeclared guest is reported, never planned for deletion
    assert {g["vmid"] for g in data["unmanaged"]} >= {150, 9000}
    assert all(c["vmid"] != 150 for c in data["changes"])


def test_deleting_a_protected_guest_is_blocked(repo: GitRepo, pve: Any) -> None:
    base = repo.commit(
        {vm_path("db-01"): vm_yaml("db-01", 102, extra="protection: true\n")}, "Add db-01"
    )
    create_from_desired(repo, pve)
    head = repo.commit({vm_path("db-01"): None}, "Remove db-01")
    result, data = plan(repo, "--base", base, "--head", head)
    assert result.exit_code == 1
    assert "protected" in codes(change(data, "db-01"))


@pytest.mark.parametrize(
    ("files", "name", "code"),
    [
        ({vm_path("a"): vm_yaml("a", 301, node="pve9")}, "a", "node-missing"),
        ({vm_path("a"): vm_yaml("a", 301, node="pve3")}, "a", "node-offline"),
        (
            {vm_path("a"): vm_yaml("a", 301, extra="disks:\n  scsi0: {storage: ceph, size: 8G}\n")},
            "a",
            "storage-missing",
        ),
        (
            {
                vm_path("a"): vm_yaml(
                    "a", 301, extra="disks:\n  scsi0: {storage: local, size: 8G}\n"
                )
            },
            "a",
            "storage-content",
        ),
        ({vm_path("a"): vm_yaml("a", 9000)}, "a", "vmid-in-use"),
        ({vm_path("a"): vm_yaml("a", 301, extra="clone: {vmid: 9100}\n")}, "a", "template-missing"),
        (
            {vm_path("a"): vm_yaml("a", 301, extra="clone: {name: nope-tpl}\n")},
            "a",
            "template-missing",
        ),
        (
            {ct_path("c"): ct_yaml("c", 302, extra="ostemplate: local:vztmpl/nope.tar.zst\n")},
            "c",
            "ostemplate-missing",
        ),
        ({ct_path("c"): ct_yaml("c", 302)}, "c", "ostemplate-missing"),
    ],
)
def test_create_blockers(
    repo: GitRepo, pve: Any, files: dict[str, str], name: str, code: str
) -> None:
    repo.commit(files, "Add a guest")
    result, data = plan(repo)
    assert result.exit_code == 1, result.output
    assert code in codes(change(data, name))


def test_vmid_used_by_hand_made_guest_is_blocked(repo: GitRepo, pve: Any) -> None:
    pve.add_vm(310, "someone-elses", node="pve1")
    repo.commit({vm_path("mine"): vm_yaml("mine", 310)}, "Add mine")
    result, data = plan(repo)
    assert result.exit_code == 1
    assert "vmid-in-use" in codes(change(data, "mine"))


def test_clone_from_existing_template_is_fine(repo: GitRepo, pve: Any) -> None:
    repo.commit(
        {vm_path("a"): vm_yaml("a", 301, extra="clone: {name: ubuntu-2404-tpl}\n")}, "Clone"
    )
    result, data = plan(repo)
    assert result.exit_code == 2, result.output
    assert change(data, "a")["blockers"] == []


def test_permission_denied_for_actor(repo: GitRepo, pve: Any) -> None:
    repo.commit({vm_path("a"): vm_yaml("a", 301)}, "Add a")
    result, data = plan(repo, "--actor", "mallory@example.com")
    assert result.exit_code == 1
    assert "permission-denied" in codes(change(data, "a"))
    result, data = plan(repo, "--actor", "github:alice")
    assert result.exit_code == 2


def test_unreachable_cluster_is_a_blocker(repo: GitRepo, pve: Any, fakepve_cafile: str) -> None:
    repo.commit(
        {
            "proxgit.yaml": config_yaml("https://127.0.0.1:9", fakepve_cafile),
            vm_path("a"): vm_yaml("a", 301),
        },
        "Point at nothing",
    )
    result, data = plan(repo)
    assert result.exit_code == 1
    [blocker] = data["blockers"]
    assert blocker["code"] == "cluster-unreachable"
    assert "cluster 'lab'" in blocker["message"] and "cannot connect" in blocker["message"]


def test_tls_failure_names_the_setting(repo: GitRepo, pve: Any) -> None:
    text = (repo.path / "proxgit.yaml").read_text()
    repo.commit(
        {
            "proxgit.yaml": "\n".join(line for line in text.splitlines() if "caFile" not in line)
            + "\n",
            vm_path("a"): vm_yaml("a", 301),
        },
        "No CA",
    )
    result, data = plan(repo)
    assert result.exit_code == 1
    assert "set caFile" in data["blockers"][0]["message"]


def test_warnings_writes_disabled_and_apply_disabled(
    repo: GitRepo, pve: Any, fakepve_cafile: str
) -> None:
    repo.commit(
        {
            "proxgit.yaml": config_yaml(pve.url, fakepve_cafile, allow_writes=False),
            vm_path("a"): vm_yaml("a", 301),
        },
        "Writes off",
    )
    _, data = plan(repo)
    assert "writes-disabled" in {w["code"] for w in data["warnings"]}
    assert any("writes are disabled on cluster lab" in line for line in data["merge_effect"])
    repo.commit({"proxgit.yaml": config_yaml(pve.url, fakepve_cafile, apply=False)}, "Apply off")
    _, data = plan(repo)
    assert "apply-disabled" in {w["code"] for w in data["warnings"]}


def test_cloud_init_change_on_running_vm_warns(repo: GitRepo, pve: Any) -> None:
    base = repo.commit({vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Add web-01")
    create_from_desired(repo, pve)
    repo.commit(
        {vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB.replace("10.0.0.53", "10.0.0.54"))},
        "New resolver",
    )
    _, data = plan(repo, "--base", base, "--head", "HEAD")
    web = change(data, "web-01")
    assert {f["path"]: f["effect"] for f in web["fields"]} == {"cloudInit.nameserver": "live"}
    assert "cloud-init-running" in codes(web, "warnings")


def test_secret_looking_description_warns(repo: GitRepo, pve: Any) -> None:
    repo.commit(
        {vm_path("a"): vm_yaml("a", 301, extra="description: 'root pw = hunter22'\n")}, "Oops"
    )
    _, data = plan(repo)
    assert codes(change(data, "a"), "warnings") == set()
    repo.commit(
        {vm_path("a"): vm_yaml("a", 301, extra="description: 'password: hunter22'\n")}, "Oops"
    )
    _, data = plan(repo)
    assert "plaintext-secret" in codes(change(data, "a"), "warnings")


def test_drift_when_file_unchanged(repo: GitRepo, pve: Any) -> None:
    repo.commit({vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Add web-01")
    create_from_desired(repo, pve)
    base = repo.commit({vm_path("other"): vm_yaml("other", 120)}, "Add other")
    client(repo).put("nodes/pve1/qemu/101/config", cores=8)
    head = repo.commit({vm_path("other"): vm_yaml("other", 120, extra="cores: 1\n")}, "Tweak")
    # a pull request's plan reads only what it changes: web-01 is not refreshed
    _, data = plan(repo, "--base", base, "--head", head)
    assert change(data, "web-01")["action"] == "noop"
    assert data["drift"] == [] and data["unrefreshed"] == 1
    # --drift reads it too
    _, data = plan(repo, "--base", base, "--head", head, "--drift")
    assert change(data, "web-01")["action"] == "noop"
    assert data["unrefreshed"] == 0
    [drift] = data["drift"]
    assert drift["name"] == "web-01"
    assert drift["fields"][0]["path"] == "cores"
    assert drift["fields"][0]["before"] == 8


def test_markdown_and_text_views(repo: GitRepo, pve: Any) -> None:
    repo.commit({vm_path("web-01"): vm_yaml("web-01", 101, extra=WEB)}, "Add web-01")
    runner = CliRunner()
    md = runner.invoke(main, ["plan", "--repo", str(repo.path), "--output", "markdown"])
    assert md.exit_code == 2
    assert "| create | update | delete |" in md.stdout
    assert "<details><summary>" in md.stdout and "`lab/web-01`" not in md.stdout
    assert "Merging this pull request will:" in md.stdout
    text = runner.invoke(main, ["plan", "--repo", str(repo.path), "--no-color"])
    assert "+ VirtualMachine web-01 (vmid 101, lab/pve1) will be created" in text.stdout
    assert "Plan: 1 to create, 0 to update, 0 to delete" in text.stdout
    assert TOKEN_SECRET not in md.stdout + text.stdout
