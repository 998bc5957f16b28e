"""A scene for attacking the four-eyes rule: people with SSH keys, proxgit's own key,
a bare remote, fakepve, and the CLI. Every scenario counts Proxmox DELETE requests."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from ruamel.yaml import YAML

from proxgit.applying.deletion_requests import render_request
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
PENDING_TAG = "proxgit-pending-deletion"
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
        ttl: str = "7d",
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
        self.ttl = ttl
        self.commit({"proxgit.yaml": self.config()}, "Configure proxgit", who="alice")
        self.push()

    # --- configuration ---------------------------------------------------------------

    def config(
        self,
        *,
        approvers: str = "[bob, carol]",
        extra_people: str = "",
        keys: dict[str, list[str]] | None = None,
        self_approval: bool | None = None,
        allow_writes: bool = True,
        apply_enabled: bool = True,
        ttl: str | None = None,
    ) -> str:
        """proxgit.yaml; keyword arguments change what a later commit of it says."""
        people = ""
        for name, (full, email) in PEOPLE.items():
            listed = [public(self.keys[name]), *(keys or {}).get(name, [])]
            people += (
                f"      {name}:\n        name: {full}\n        emails: [{email}]\n"
                f"        logins: ['github:{name}', 'gitlab:{name}', 'gitea:{name}']\n"
                f"        keys: [{', '.join(repr(k) for k in listed)}]\n"
            )
        people += extra_people
        signing = f"    signingKeyFrom: {{env: {KEY_ENV}}}\n" if self.with_key else ""
        self_ok = self.self_approval if self_approval is None else self_approval
        return (
            "apiVersion: proxgit/v1\nkind: Config\nspec:\n  clusters:\n    lab:\n"
            f"      url: {self.pve.url}\n      tokenId: '{TOKEN_ID}'\n"
            "      tokenSecretFrom: {env: PROXGIT_TEST_TOKEN}\n"
            f"      caFile: {self.cafile}\n"
            f"      allowWrites: {'true' if allow_writes else 'false'}\n"
            f"  apply:\n    enabled: {'true' if apply_enabled else 'false'}\n"
            "    confirm: allow-edit-and-add-actions\n"
            f"  deletions:\n    identity: {self.mode}\n    ttl: {ttl or self.ttl}\n"
            f"    selfApprovalAllowed: {'true' if self_ok else 'false'}\n"
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

    def reconfigure(self, *, who: str = "alice", sign: bool = True, **changes: Any) -> str:
        """``who`` pushes a proxgit.yaml changed as ``config(**changes)`` says."""
        sha = self.commit(
            {"proxgit.yaml": self.config(**changes)}, "Change proxgit.yaml", who=who, sign=sign
        )
        self.push()
        return sha

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
        signer = None
        if key == "proxgit":
            signer = self.proxgit_key
        elif sign:
            signer = self.keys[key or who]
        return commit_as(
            self.repo,
            files,
            message,
            author=author or PEOPLE[who],
            date=date,
            sign_key=signer,
        )

    def git(self, *args: str, who: str = "alice", sign: bool = False) -> str:
        return git_as(
            self.repo, *args, author=PEOPLE[who], sign_key=self.keys[who] if sign else None
        )

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

    def remove(
        self, name: str = "web-01", *, who: str = "alice", sign: bool = True, **kw: Any
    ) -> str:
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

    def approve_commit(
        self, who: str = "bob", *, sign: bool = True, path: str = REQUEST, **kw: Any
    ) -> str:
        """``who`` commits approve: true (not pushed)."""
        text = self.edit_request(path, approve=True)
        return self.commit({path: text}, "Approve deletion", who=who, sign=sign, **kw)

    def approve(
        self, who: str = "bob", *, sign: bool = True, path: str = REQUEST, **kw: Any
    ) -> str:
        sha = self.approve_commit(who, sign=sign, path=path, **kw)
        self.push()
        return sha

    def destroys(self) -> int:
        return sum(1 for m, p, _ in self.pve.requests if m == "DELETE" and "/qemu/" in p)

    def alive(self, vmid: int = 101) -> bool:
        return self.pve.guest(vmid) is not None

    def tags(self, vmid: int = 101) -> list[str]:
        guest = self.pve.guest(vmid)
        assert guest is not None, f"vmid {vmid} is gone"
        return [t for t in str(guest.config.get("tags") or "").split(";") if t]

    def tagged(self, vmid: int = 101) -> bool:
        return PENDING_TAG in self.tags(vmid)

    def remote_head(self) -> str:
        return self.repo.git_in(self.repo.remote, "rev-parse", "main")

    def read(self, path: str, revision: str = "HEAD") -> str:
        return self.repo.git("show", f"{revision}:{path}")

    def request_data(self, path: str = REQUEST, revision: str | None = None) -> Any:
        text = self.read(path, revision) if revision else (self.repo.path / path).read_text()
        return YAML(typ="safe").load(text)

    def archived(self) -> list[dict[str, Any]]:
        """The archived requests' documents, oldest name first."""
        folder = self.repo.path / "deletions/archive"
        if not folder.is_dir():
            return []
        return [YAML(typ="safe").load(p.read_text()) for p in sorted(folder.glob("*.yaml"))]

    def opening(self, path: str = REQUEST) -> str:
        """The commit that added the request file (proxgit's opening commit)."""
        return self.repo.git("log", "-1", "--diff-filter=A", "--format=%H", "--", path)

    def merge_commit(
        self,
        parents: list[str],
        files: dict[str, str | None],
        message: str,
        *,
        who: str = "alice",
        sign: bool = False,
    ) -> str:
        """A merge commit with exactly ``parents`` and the worktree changed by ``files``;
        main moves to it."""
        self.repo.write(files)
        self.repo.git("add", "-A")
        tree = self.repo.git("write-tree")
        args = ["commit-tree", tree, "-m", message]
        for parent in parents:
            args += ["-p", parent]
        if sign:
            args.insert(1, "-S")
        sha = self.git(*args, who=who, sign=sign)
        self.repo.git("update-ref", "refs/heads/main", sha)
        self.repo.git("reset", "--quiet", "--hard", sha)
        return sha

    def use_identity(self, who: str, *, key: bool = True) -> None:
        """The clone's git config as ``who`` has it (for ``deletions approve``)."""
        full, email = PEOPLE[who]
        self.repo.git("config", "user.name", full)
        self.repo.git("config", "user.email", email)
        if key:
            self.repo.git("config", "gpg.format", "ssh")
            self.repo.git("config", "user.signingkey", str(self.keys[who]))

    def request_text(
        self,
        *,
        vmid: int,
        name: str,
        removed_in: str,
        declared_in: str,
        requester: str = "carol",
        request_id: str = "f" * 32,
        approve: bool = False,
        hours: int = 48,
    ) -> str:
        """A request written by hand, shaped exactly like the ones proxgit opens."""
        now = datetime.now(UTC).replace(microsecond=0)
        document = {
            "apiVersion": "proxgit/v1",
            "kind": "DeletionRequest",
            "metadata": {"name": f"lab-{vmid}", "cluster": "lab"},
            "spec": {
                "requestId": request_id,
                "guest": {
                    "cluster": "lab",
                    "node": "pve1",
                    "vmid": vmid,
                    "kind": "VirtualMachine",
                    "name": name,
                },
                "requester": {
                    "handle": PEOPLE[requester][1],
                    "person": requester,
                    "via": "signature",
                },
                "removedIn": removed_in,
                "declaredIn": declared_in,
                "requestedAt": now.isoformat(),
                "expiresAt": (now + timedelta(hours=hours)).isoformat(),
                "snapshot": {"status": "running", "tags": [], "nics": []},
                "approve": approve,
            },
            "status": {"state": "open"},
        }
        return render_request(document)


def dedent(text: str) -> str:
    return textwrap.dedent(text)


class ForgeScene(Scene):
    """A scene in forge identity mode: who did what comes from a stateful fake forge.

    Every commit that reaches main is known to the forge (as pushed); a pull request
    is a branch commit merged (or squashed) into main, or closed, and registered with
    the fake along with its reviews."""

    def __init__(
        self, root: Path, pve: Any, cafile: str, monkeypatch: pytest.MonkeyPatch, *, fake: Any
    ) -> None:
        self.fake = fake
        self.next_pr = 10
        block = (
            f"  forge:\n    type: {fake.forge}\n    url: {fake.api_url}\n"
            "    repository: acme/infra\n    tokenFrom: {env: PROXGIT_FORGE_TOKEN}\n"
        )
        super().__init__(root, pve, cafile, monkeypatch, mode="forge", forge=block)

    def _known(self) -> None:
        self.fake.push(*self.repo.git("rev-list", "HEAD").split())

    def push(self) -> None:
        super().push()
        self._known()

    def pull(self) -> None:
        super().pull()
        self._known()

    def pull_request(
        self,
        login: str,
        files: dict[str, str | None],
        message: str,
        *,
        state: str = "merged",
        how: str = "merge",
        reviews: Any = (),
        **pull: Any,
    ) -> tuple[str, str | None]:
        """``login`` opens a pull request of one commit; returns (branch commit, merge)."""
        number = self.next_pr
        self.next_pr += 1
        branch = f"pr-{number}"
        author = PEOPLE.get(login, (login.title(), f"{login}@example.com"))
        self.repo.git("checkout", "--quiet", "-b", branch)
        commit = self.commit(files, message, author=author, sign=False)
        self.repo.git("checkout", "--quiet", "main")
        merge: str | None = None
        if state == "merged":
            if how == "squash":
                self.git("merge", "--quiet", "--squash", branch)
                self.git("commit", "--quiet", "--no-gpg-sign", "-m", f"{message} (#{number})")
            else:
                self.git("merge", "--quiet", "--no-ff", "--no-edit", branch)
            merge = self.head()
        self.fake.add_pull(
            number,
            login,
            commits=[commit],
            merge_commit=merge,
            state=state,
            reviews=reviews,
            **pull,
        )
        if merge is not None:
            self.push()
        return commit, merge

    def declare(self, name: str = "web-01", vmid: int = 101, *, who: str = "alice") -> str:
        """Declared through ``who``'s merged pull request (forge mode refuses direct pushes)."""
        _, merge = self.pull_request(
            who, {vm_path(name): vm_yaml(name, vmid, extra=WEB)}, f"Add {name}"
        )
        result = self.apply()
        assert result.exit_code == 0, result.output
        assert merge is not None
        return merge

    def requested_by_pr(self, login: str = "alice") -> None:
        """web-01 declared and applied, removed through ``login``'s merged pull request."""
        self.declare()
        self.pull_request(login, {vm_path("web-01"): None}, "Remove web-01")
        result = self.apply()
        assert result.exit_code == 0, result.output
        assert (self.repo.path / REQUEST).is_file(), result.output

    def approval_pr(self, login: str, **kw: Any) -> tuple[str, str | None]:
        text = self.edit_request(REQUEST, approve=True)
        self.repo.git("checkout", "--quiet", "--", REQUEST)
        return self.pull_request(login, {REQUEST: text}, "Approve deletion", **kw)
