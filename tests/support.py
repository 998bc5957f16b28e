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
    identity: str = "git-author",
) -> str:
    """proxgit.yaml for tests; deletions are decided in ``identity`` mode (author strings by
    default here; tests/deletions_trust attacks the forge and signatures modes)."""
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
    if "  deletions:\n" in extra:
        extra = extra.replace("  deletions:\n", f"  deletions:\n    identity: {identity}\n", 1)
    else:
        extra = f"  deletions:\n    identity: {identity}\n{extra}"
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
            # no background gc/maintenance racing the next command for the ref locks
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "gc.auto",
            "GIT_CONFIG_VALUE_0": "0",
            "GIT_CONFIG_KEY_1": "maintenance.auto",
            "GIT_CONFIG_VALUE_1": "false",
            **(env or {}),
        }
        done = subprocess.run(["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True)
        if done.returncode != 0:
            raise subprocess.CalledProcessError(
                done.returncode, ["git", *args], done.stdout, done.stderr
            )
        return done.stdout.strip()

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


# --- deletion approvals: more people, proxgit's identity, SSH signing, dated commits ---

CAROL = ("Carol Checker", "carol@example.com")
PROXGIT = ("proxgit", "proxgit@noreply.invalid")


def ssh_signing_key(directory: Path, name: str) -> Path:
    """A fresh passphrase-less ed25519 key pair; returns the private key's path."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return key


def allowed_signers_text(entries: list[tuple[str, Path]]) -> str:
    """``email namespaces="git" ssh-ed25519 AAAA...`` lines for (email, private key) pairs."""
    lines = []
    for email, key in entries:
        kind, blob = Path(f"{key}.pub").read_text(encoding="utf-8").split()[:2]
        lines.append(f'{email} namespaces="git" {kind} {blob}')
    return "\n".join(lines) + "\n"


def git_date(moment: Any) -> str:
    """A datetime as git's GIT_AUTHOR_DATE / GIT_COMMITTER_DATE want it."""
    return str(moment.strftime("%Y-%m-%dT%H:%M:%S%z"))


def _commit_env(date: Any | None) -> dict[str, str]:
    return {"GIT_AUTHOR_DATE": git_date(date), "GIT_COMMITTER_DATE": git_date(date)} if date else {}


def git_as(
    repo: GitRepo,
    *args: str,
    author: tuple[str, str] = ALICE,
    date: Any | None = None,
    sign_key: Path | None = None,
) -> str:
    """Run git in ``repo`` as ``author`` (also committer), at ``date``, signing with an SSH key."""
    signing = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={sign_key}"] if sign_key else []
    return GitRepo.git_in(repo.path, *signing, *args, author=author, env=_commit_env(date))


def commit_as(
    repo: GitRepo,
    files: dict[str, str | None],
    message: str,
    *,
    author: tuple[str, str] = ALICE,
    date: Any | None = None,
    sign_key: Path | None = None,
) -> str:
    """Like ``GitRepo.commit`` with a commit date and an optional SSH signature."""
    repo.write(files)
    repo.git("add", "-A")
    sign = ["-S"] if sign_key else ["--no-gpg-sign"]
    git_as(
        repo, "commit", "--quiet", *sign, "-m", message, author=author, date=date, sign_key=sign_key
    )
    return repo.git("rev-parse", "HEAD")
