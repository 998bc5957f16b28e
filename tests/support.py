"""Test peers: a seeded fake Proxmox (fakepve over HTTPS) and real Git repositories."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

TOKEN_ID = "proxgit@pve!ci"
TOKEN_SECRET = "7c1e9a52-3b4d-4f8e-9a61-5d2c0b7e4f13"
TOKEN_ENV = "PROXGIT_TEST_TOKEN"
DEBIAN_TEMPLATE = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"

ALICE = ("Alice Admin", "alice@example.com")
BOB = ("Bob Builder", "bob@example.com")
MALLORY = ("Mallory Outsider", "mallory@example.com")


def seed_pve(pve: Any) -> Any:
    """Token, three nodes (pve3 offline), a VM template and a container template."""
    pve.apitokens[TOKEN_ID] = TOKEN_SECRET
    pve.add_node("pve1")
    pve.add_node("pve2")
    pve.add_node("pve3", online=False)
    pve.store_file("local", DEBIAN_TEMPLATE.split("/", 1)[1], 120 << 20, content="vztmpl")
    pve.add_vm(
        9000,
        "ubuntu-2404-tpl",
        node="pve1",
        template=True,
        config={
            "memory": 2048,
            "cores": 2,
            "template": 1,
            "scsi0": "local-lvm:base-9000-disk-0,size=8G",
            "net0": "virtio=BC:24:11:00:90:00,bridge=vmbr0",
        },
    )
    return pve


def config_yaml(
    url: str,
    cafile: str,
    *,
    allow_writes: bool = True,
    apply: bool = True,
    policy: str | None = None,
    extra: str = "",
) -> str:
    apply_block = (
        "  apply:\n    enabled: true\n    confirm: allow-edit-and-add-actions\n" if apply else ""
    )
    policy_block = (
        policy
        if policy is not None
        else textwrap.dedent("""\
      policy:
        roles:
          operators:
            members: [alice@example.com, bob@example.com, github:alice]
            permissions: [create_vm, update_vm, create_container, update_container]
          approvers:
            members: [bob@example.com, carol@example.com]
            permissions: [approve_deletion, delete_vm, delete_container]
    """)
    )
    policy_block = textwrap.indent(policy_block, "  ")
    return (
        "apiVersion: proxgit/v1\nkind: Config\nspec:\n  clusters:\n    lab:\n"
        f"      url: {url}\n      tokenId: '{TOKEN_ID}'\n"
        f"      tokenSecretFrom: {{env: {TOKEN_ENV}}}\n      caFile: {cafile}\n"
        f"      allowWrites: {'true' if allow_writes else 'false'}\n"
        f"{apply_block}{policy_block}{extra}"
    )


def vm_yaml(
    name: str, vmid: int, *, node: str = "pve1", extra: str = "", cluster: str = "lab"
) -> str:
    return (
        "apiVersion: proxgit/v1\nkind: VirtualMachine\n"
        f"metadata: {{name: {name}, cluster: {cluster}}}\n"
        f"spec:\n  vmid: {vmid}\n  node: {node}\n" + textwrap.indent(textwrap.dedent(extra), "  ")
    )


def ct_yaml(name: str, vmid: int, *, node: str = "pve1", extra: str = "") -> str:
    return (
        "apiVersion: proxgit/v1\nkind: Container\n"
        f"metadata: {{name: {name}, cluster: lab}}\n"
        f"spec:\n  vmid: {vmid}\n  node: {node}\n" + textwrap.indent(textwrap.dedent(extra), "  ")
    )


def vm_path(name: str) -> str:
    return f"clusters/lab/vms/{name}.yaml"


def ct_path(name: str) -> str:
    return f"clusters/lab/containers/{name}.yaml"


class GitRepo:
    """A working clone of a bare remote, with commits by named authors."""

    def __init__(self, root: Path) -> None:
        self.remote = root / "remote.git"
        self.path = root / "work"
        self.git_in(root, "init", "--quiet", "--bare", "--initial-branch=main", str(self.remote))
        self.git_in(root, "clone", "--quiet", str(self.remote), str(self.path))
        self.git("checkout", "--quiet", "-B", "main")

    @staticmethod
    def git_in(
        cwd: Path, *args: str, author: tuple[str, str] = ALICE, env: dict[str, str] | None = None
    ) -> str:
        full_env = {
            **os.environ,
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_COMMITTER_NAME": author[0],
            "GIT_COMMITTER_EMAIL": author[1],
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            **(env or {}),
        }
        return subprocess.run(
            ["git", *args], cwd=cwd, env=full_env, check=True, capture_output=True, text=True
        ).stdout.strip()

    def git(self, *args: str, author: tuple[str, str] = ALICE) -> str:
        return self.git_in(self.path, *args, author=author)

    def write(self, files: dict[str, str | None]) -> None:
        for rel, text in files.items():
            target = self.path / rel
            if text is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")

    def commit(
        self, files: dict[str, str | None], message: str, author: tuple[str, str] = ALICE
    ) -> str:
        self.write(files)
        self.git("add", "-A")
        self.git("commit", "--quiet", "-m", message, author=author)
        return self.git("rev-parse", "HEAD")
