"""Every class of mistake in desired YAML gives one located, fixable message.

Each case writes one broken document into an otherwise valid repository, runs
``proxgit validate`` as a user would, and checks the exact ``file:line:col``,
the field and the message, plus exit code 1 and nothing written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from proxgit.cli import main
from tests.conftest import CONFIG, WEB01

VM = "clusters/lab/vms/web-01.yaml"
CT = "clusters/lab/containers/dns-01.yaml"


def vm(spec_extra: str = "", *, head: str | None = None, spec: str | None = None) -> str:
    """web-01 with extra spec lines, or a replaced head/spec block."""
    header = (
        head
        if head is not None
        else (
            "apiVersion: proxgit/v1\nkind: VirtualMachine\nmetadata: {name: web-01, cluster: lab}\n"
        )
    )
    body = spec if spec is not None else "spec:\n  vmid: 101\n  node: pve1\n"
    return header + body + spec_extra


# (id, files, expected problem line "file:line:col: field: message-fragment")
CASES: list[tuple[str, dict[str, str | None], str]] = [
    (
        "yaml-syntax",
        {VM: vm("  cores: [2\n")},
        f"{VM}:8:1: YAML syntax error: while parsing a flow sequence (started at line 7)",
    ),
    ("duplicate-key", {VM: vm("  cores: 2\n  cores: 4\n")}, f"{VM}:8:3: duplicate key 'cores'"),
    (
        "unknown-key-did-you-mean",
        {VM: vm("  cors: 2\n")},
        f"{VM}:7:3: spec.cors: unknown key 'cors'; did you mean 'cores'?",
    ),
    (
        "missing-vmid",
        {VM: vm(spec="spec:\n  node: pve1\n")},
        f"{VM}:4:1: spec.vmid: required key 'vmid' is missing",
    ),
    (
        "vmid-too-small",
        {VM: vm(spec="spec:\n  vmid: 99\n  node: pve1\n")},
        f"{VM}:5:9: spec.vmid: 99 is too small: it must be greater than or equal to 100",
    ),
    (
        "bad-size",
        {VM: vm("  disks:\n    scsi0: {storage: local-lvm, size: 32X}\n")},
        f"{VM}:8:39: spec.disks.scsi0.size: '32X' is not a size; write it like 32G",
    ),
    (
        "bad-tag",
        {VM: vm("  tags: [web, '-x']\n")},
        f"{VM}:7:15: spec.tags.1: '-x' is not valid: tags use letters",
    ),
    (
        "memory-not-number",
        {VM: vm("  memory: lots\n")},
        f"{VM}:7:11: spec.memory: 'lots' is not a size",
    ),
    (
        "unknown-cluster",
        {
            VM: vm(
                head="apiVersion: proxgit/v1\nkind: VirtualMachine\n"
                "metadata: {name: web-01, cluster: lab}\n"
            ),
            "clusters/prod/vms/db-01.yaml": vm(
                head="apiVersion: proxgit/v1\nkind: VirtualMachine\n"
                "metadata: {name: db-01, cluster: prod}\n",
                spec="spec:\n  vmid: 300\n  node: pve1\n",
            ),
        },
        "clusters/prod/vms/db-01.yaml:3:34: metadata.cluster: cluster 'prod' is not defined",
    ),
    (
        "path-cluster-mismatch",
        {
            "clusters/other/vms/web-02.yaml": vm(
                head="apiVersion: proxgit/v1\nkind: VirtualMachine\n"
                "metadata: {name: web-02, cluster: lab}\n",
                spec="spec:\n  vmid: 102\n  node: pve1\n",
            )
        },
        "clusters/other/vms/web-02.yaml:3:35: metadata.cluster: file is under clusters/other/",
    ),
    (
        "file-name-mismatch",
        {"clusters/lab/vms/web-02.yaml": vm(spec="spec:\n  vmid: 102\n  node: pve1\n")},
        "clusters/lab/vms/web-02.yaml:3:18: metadata.name: file is named web-02.yaml but",
    ),
    (
        "duplicate-vmid",
        {
            "clusters/lab/vms/web-02.yaml": vm(
                head="apiVersion: proxgit/v1\nkind: VirtualMachine\n"
                "metadata: {name: web-02, cluster: lab}\n"
            )
        },
        "clusters/lab/vms/web-02.yaml:5:9: spec.vmid: vmid 101 on cluster 'lab' is already "
        f"declared in {VM}",
    ),
    (
        "duplicate-name",
        {
            "clusters/lab/containers/web-01.yaml": "apiVersion: proxgit/v1\nkind: Container\n"
            "metadata: {name: web-01, cluster: lab}\n"
            "spec:\n  vmid: 202\n  node: pve1\n"
        },
        "clusters/lab/vms/web-01.yaml:3:18: metadata.name: name 'web-01' on cluster 'lab' is "
        "already used by clusters/lab/containers/web-01.yaml",
    ),
    (
        "plaintext-password",
        {VM: vm("  cloudInit:\n    user: ubuntu\n    password: hunter2\n")},
        f"{VM}:9:5: spec.cloudInit.password: plaintext secret in desired YAML; use passwordFrom",
    ),
    (
        "plaintext-token-secret",
        {
            "proxgit.yaml": CONFIG.replace(
                "      allowWrites: true\n",
                "      allowWrites: true\n      tokenSecret: 1234-abcd\n",
            )
        },
        "proxgit.yaml:10:7: spec.clusters.lab.tokenSecret: plaintext secret in desired YAML; "
        "use tokenSecretFrom",
    ),
    (
        "apply-without-confirm",
        {"proxgit.yaml": CONFIG.replace("    confirm: allow-edit-and-add-actions\n", "")},
        "proxgit.yaml:11:14: spec.apply.enabled: apply.enabled is true without confirm: "
        "allow-edit-and-add-actions",
    ),
    (
        "apply-wrong-phrase",
        {
            "proxgit.yaml": CONFIG.replace(
                "confirm: allow-edit-and-add-actions", "confirm: yes-please"
            )
        },
        "proxgit.yaml:12:14: spec.apply.confirm: 'yes-please' is not the confirmation phrase",
    ),
    (
        "kind-in-wrong-folder",
        {
            VM: vm(
                head="apiVersion: proxgit/v1\nkind: Container\n"
                "metadata: {name: web-01, cluster: lab}\n"
            )
        },
        f"{VM}:2:7: kind: a Container does not belong here; this path holds kind: VirtualMachine",
    ),
    (
        "unknown-kind",
        {VM: vm(head="apiVersion: proxgit/v1\nkind: VM\nmetadata: {name: web-01, cluster: lab}\n")},
        f"{VM}:2:7: kind: unknown kind 'VM'",
    ),
    (
        "missing-api-version",
        {VM: vm(head="kind: VirtualMachine\nmetadata: {name: web-01, cluster: lab}\n")},
        f"{VM}:1:1: apiVersion: required key 'apiVersion' is missing",
    ),
    (
        "wrong-api-version",
        {
            VM: vm(
                head="apiVersion: proxgit/v2\nkind: VirtualMachine\n"
                "metadata: {name: web-01, cluster: lab}\n"
            )
        },
        f"{VM}:1:13: apiVersion: 'proxgit/v2' is not allowed; use 'proxgit/v1'",
    ),
    (
        "bad-disk-slot",
        {VM: vm("  disks:\n    scsi99: {storage: local-lvm, size: 8G}\n")},
        f"{VM}:8:5: spec.disks.scsi99: 'scsi99' is not valid: disk slots are scsi0-scsi30",
    ),
    (
        "bad-net-slot",
        {VM: vm("  networks:\n    eth0: {bridge: vmbr0}\n")},
        f"{VM}:8:5: spec.networks.eth0: 'eth0' is not valid: network slots are net0-net31",
    ),
    (
        "vlan-out-of-range",
        {VM: vm("  networks:\n    net0: {bridge: vmbr0, tag: 5000}\n")},
        f"{VM}:8:32: spec.networks.net0.tag: 5000 is too large: it must be less than or "
        "equal to 4094",
    ),
    (
        "bad-mac",
        {VM: vm("  networks:\n    net0: {bridge: vmbr0, macaddr: 'zz:11'}\n")},
        f"{VM}:8:36: spec.networks.net0.macaddr: 'zz:11' is not valid: write a MAC address like",
    ),
    (
        "bad-power",
        {VM: vm("  power: paused\n")},
        f"{VM}:7:10: spec.power: 'paused' is not allowed; use 'running' or 'stopped'",
    ),
    (
        "bad-restart-policy",
        {VM: vm("  restartPolicy: Always\n")},
        f"{VM}:7:18: spec.restartPolicy: 'Always' is not allowed; use 'Never' or 'IfRequired'",
    ),
    (
        "secret-ref-both",
        {VM: vm("  cloudInit:\n    passwordFrom: {env: PW, file: /pw}\n")},
        f"{VM}:8:19: spec.cloudInit.passwordFrom: give exactly one of env: NAME or file: PATH",
    ),
    (
        "clone-both-sources",
        {VM: vm("  clone: {vmid: 9000, name: tpl}\n")},
        f"{VM}:7:10: spec.clone: give the template as exactly one of vmid: N or name: NAME",
    ),
    ("empty-file", {VM: ""}, f"{VM}:1:1: empty document"),
    (
        "two-documents",
        {VM: WEB01 + "---\n" + WEB01},
        f"{VM}:14:1: YAML syntax error: one document per file",
    ),
    (
        "unexpected-location",
        {"clusters/lab/web.yaml": WEB01},
        "clusters/lab/web.yaml:1:1: unexpected file location",
    ),
    (
        "private-key-value",
        {VM: vm("  cloudInit:\n    sshKeys:\n      - '-----BEGIN OPENSSH PRIVATE KEY----- abc'\n")},
        f"{VM}:9:9: spec.cloudInit.sshKeys.0: value looks like a secret",
    ),
    (
        "bad-guest-name",
        {
            "clusters/lab/vms/web_01.yaml": vm(
                head="apiVersion: proxgit/v1\nkind: VirtualMachine\n"
                "metadata: {name: web_01, cluster: lab}\n",
                spec="spec:\n  vmid: 105\n  node: pve1\n",
            )
        },
        "clusters/lab/vms/web_01.yaml:3:18: metadata.name: 'web_01' is not valid: use a DNS name",
    ),
    (
        "missing-config",
        {"proxgit.yaml": None},
        "proxgit.yaml:0:0: missing: a desired-state repository needs proxgit.yaml",
    ),
    (
        "bad-duration",
        {"proxgit.yaml": CONFIG + "  deletions:\n    ttl: 7 days\n"},
        "proxgit.yaml:19:10: spec.deletions.ttl: '7 days' is not a duration",
    ),
    (
        "config-key-typo",
        {"proxgit.yaml": CONFIG.replace("allowWrites: true", "allowWrite: true")},
        "proxgit.yaml:9:7: spec.clusters.lab.allowWrite: unknown key 'allowWrite'; did you mean "
        "'allowWrites'?",
    ),
    (
        "unknown-permission",
        {"proxgit.yaml": CONFIG.replace('["*"]', "[destroy_everything]")},
        "proxgit.yaml:17:23: spec.policy.roles.operators.permissions.0: 'destroy_everything' is "
        "not allowed",
    ),
    (
        "container-feature-typo",
        {
            CT: "apiVersion: proxgit/v1\nkind: Container\n"
            "metadata: {name: dns-01, cluster: lab}\n"
            "spec:\n  vmid: 201\n  node: pve1\n  features: {nest: true}\n"
        },
        f"{CT}:7:14: spec.features.nest: unknown key 'nest'; did you mean 'nesting'?",
    ),
    (
        "bad-cluster-url",
        {"proxgit.yaml": CONFIG.replace("https://127.0.0.1:8006", "pve1:8006")},
        "proxgit.yaml:6:12: spec.clusters.lab.url: 'pve1:8006' is not valid: write the API address",
    ),
]


@pytest.mark.parametrize(("files", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_mistake_is_located_and_explained(
    make_repo: Callable[..., Path], files: dict[str, str | None], expected: str
) -> None:
    root = make_repo(files)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    result = CliRunner().invoke(main, ["validate", "--repo", str(root)])
    assert result.exit_code == 1, result.output
    lines = [line.removeprefix(f"{root}/") for line in result.stderr.splitlines()]
    assert any(line.startswith(expected) for line in lines), "\n".join(lines)
    assert "Traceback" not in result.output
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_corpus_covers_at_least_25_distinct_mistakes() -> None:
    assert len({case[0] for case in CASES}) >= 25


def test_all_problems_reported_at_once(make_repo: Callable[..., Path]) -> None:
    root = make_repo({VM: vm("  cors: 2\n  power: paused\n"), CT: ""})
    result = CliRunner().invoke(main, ["validate", "--repo", str(root), "--output", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    found = {
        (p["file"].removeprefix(f"{root}/"), p["line"], p["field"]) for p in report["problems"]
    }
    assert found == {(VM, 7, "spec.cors"), (VM, 8, "spec.power"), (CT, 1, "")}


def test_valid_repository_exits_zero(make_repo: Callable[..., Path]) -> None:
    result = CliRunner().invoke(main, ["validate", "--repo", str(make_repo())])
    assert result.exit_code == 0, result.output
    assert "1 VM(s), 1 container(s)" in result.stdout


def test_missing_directory_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", "--repo", str(tmp_path / "nope")])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
