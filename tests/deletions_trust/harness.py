"""A scene for attacking the four-eyes rule: people with SSH keys, proxgit's own key,
a bare remote, fakepve, and the CLI. Every scenario counts Proxmox DELETE requests."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from ruamel.yaml import YAML

from proxgit.cli import main
from tests.support import (
    TOKEN_ID,
    GitRepo,
    commit_as,
    git_as,
    ssh_signing_key,
    vm_path,
    vm_yaml,
)

PEOPLE = {
    "alice": ("Alice Admin", "alice@example.com"),
    "bob": ("Bob Builder", "bob@example.com"),
    "carol": ("Carol Checker", "carol@example.com"),
    "mallory": ("Mallory Insider", "mallory@example.com"),
}
PROXGIT = ("proxgit", "proxgit@noreply.invalid")
KEY_ENV = "PROXGIT_TEST_SIGNING_KEY"
REQUEST = "deletions/lab-101.yaml"
WEB = "cores: 1\nmemory: 512\nnetworks:\n  net0: {bridge: vmbr0}\n"


def public(key: Path) -> str:
    return " ".join(Path(f"{key}.pub").read_text(encoding="utf-8").split()[:2])


class Scene:
    """One repository under attack. ``mode`` is deletions.identity."""

    def __init__(
        self,
        root: Path,
        pve: Any,
        cafile: str,
        monkeypatch: pytest.MonkeyPatch,
        *,
        mode: str = "signatures",
        forge: str = "",
        self_approval: bool = False,
        proxgit_key: bool = True,
    ) -> None:
        self.root = root
        self.pve = pve
        self.cafile = cafile
        self.mode = mode
        self.keys = {name: ssh_signing_key(root / "keys", name) for name in PEOPLE}
        self.proxgit_key = ssh_signing_key(root / "keys", "proxgit")
        if proxgit_key:
            monkeypatch.setenv(KEY_ENV, self.proxgit_key.read_text(encoding="utf-8"))
        self.repo = GitRepo(root)
        self.forge = forge
        self.self_approval = self_approval
        self.with_key = proxgit_key
        self.commit({"proxgit.yaml": self.config()}, "Configure proxgit", who="alice")
        self.push()

    # --- configuration ---------------------------------------------------------------

    def config(self, *, approvers: str = "[bob, carol]", extra_people: str = "") -> str:
        people = ""
        for name, (full, email) in PEOPLE.items():
            people += (
                f"      {name}:\n        name: {full}\n        emails: [{email}]\n"
                f"        logins: ['github:{name}', 'gitlab:{name}', 'gitea:{name}']\n"
                f"        keys: ['{public(self.keys[name])}']\n"
            )
        people += extra_people
        signing = f"    signingKeyFrom: {{env: {KEY_ENV}}}\n" if self.with_key else ""
        return (
            "apiVersion: proxgit/v1\nkind: Config\nspec:\n  clusters:\n    lab:\n"
            f"      url: {self.pve.url}\n      tokenId: '{TOKEN_ID}'\n"
            "      tokenSecretFrom: {env: PROXGIT_TEST_TOKEN}\n"
            f"      caFile: {self.cafile}\n      allowWrites: true\n"
            "  apply:\n    enabled: true\n    confirm: allow-edit-and-add-actions\n"
            f"  deletions:\n    identity: {self.mode}\n"
            f"    selfApprovalAllowed: {'true' if self.self_approval else 'false'}\n"
            f"  commitIdentity:\n    name: proxgit\n    email: {PROXGIT[1]}\n{signing}"
            f"{self.forge}"
            "  policy:\n    people:\n"
            f"{people}"
            "    roles:\n      operators:\n"
            "        members: [alice, bob, carol, mallory]\n"
            "        permissions: [create_vm, update_vm, delete_vm, create_container,"
            " update_container, delete_container]\n"
            f"      approvers:\n        members: {approvers}\n"
            "        permissions: [approve_deletion]\n"
        )

    # --- Git as people do it ---------------------------------------------------------------

    def commit(
        self,
        files: dict[str, str | None],
        message: str,
        *,
        who: str = "alice",
        sign: bool = True,
        author: tuple[str, str] | None = None,
        date: datetime | None = None,
        key: str | None = None,
    ) -> str:
        signer = self.keys[key or who] if sign else None
        if key == "proxgit":
            signer = self.proxgit_key
        return commit_as(
            self.repo,
            files,
            message,
            author=author or PEOPLE[who],
            date=date,
            sign_key=signer,
        )

    def git(self, *args: str, who: str = "alice", sign: bool = False) -> str:
        return git_as(self.repo, *args, author=PEOPLE[who], sign_key=self.keys[who] if sign else None)

    def push(self) -> None:
        self.repo.git("push", "--quiet", "origin", "HEAD:main")

    def pull(self) -> None:
        self.repo.git("pull", "--quiet", "--rebase=false", "--no-edit", "origin", "main")

    def head(self) -> str:
        return self.repo.git("rev-parse", "HEAD")

    def cli(self, *args: str) -> Result:
        result = CliRunner().invoke(main, [*args, "--repo", str(self.repo.path)])
        assert "Traceback" not in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result

    def apply(self) -> Result:
        result = self.cli("apply", "--push")
        self.pull()
        return result

    def execute(self) -> Result:
        result = self.cli("deletions", "execute", "--push")
        self.pull()
        return result

    # --- the deletion story -------------------------------------------------------------

    def declare(self, name: str = "web-01", vmid: int = 101, *, who: str = "alice") -> str:
        sha = self.commit({vm_path(name): vm_yaml(name, vmid, extra=WEB)}, f"Add {name}", who=who)
        self.push()
        result = self.apply()
        assert result.exit_code == 0, result.output
        return sha

    def remove(self, name: str = "web-01", *, who: str = "alice", sign: bool = True, **kw: Any) -> str:
        sha = self.commit({vm_path(name): None}, f"Remove {name}", who=who, sign=sign, **kw)
        self.push()
        return sha

    def requested(self, name: str = "web-01", vmid: int = 101, *, who: str = "alice") -> None:
        """Declared, applied, removed by ``who`` (signed) and applied: a request is open."""
        self.declare(name, vmid)
        self.remove(name, who=who)
        result = self.apply()
        assert result.exit_code == 0, result.output
        assert (self.repo.path / f"deletions/lab-{vmid}.yaml").is_file(), result.output

    def edit_request(self, path: str = REQUEST, **changes: Any) -> str:
        yaml = YAML()
        yaml.width = 4096
        target = self.repo.path / path
        data = yaml.load(target.read_text(encoding="utf-8"))
        for key, value in changes.items():
            data["spec"][key] = value
        buffer = target.open("w", encoding="utf-8")
        with buffer:
            yaml.dump(data, buffer)
        return target.read_text(encoding="utf-8")

    def approve(self, who: str = "bob", *, sign: bool = True, path: str = REQUEST, **kw: Any) -> str:
        text = self.edit_request(path, approve=True)
        sha = self.commit({path: text}, "Approve deletion", who=who, sign=sign, **kw)
        self.push()
        return sha

    def destroys(self) -> int:
        return sum(1 for m, p, _ in self.pve.requests if m == "DELETE" and "/qemu/" in p)

    def alive(self, vmid: int = 101) -> bool:
        return self.pve.guest(vmid) is not None


def dedent(text: str) -> str:
    return textwrap.dedent(text)
