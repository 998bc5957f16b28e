"""Reading history as typed data: commits, versions of a path, ancestry, signatures.

Everything that judges who did what in the repository (deletion requests,
approvals, removals) reads Git through this module, so the rules in
``deletions/`` are written over :class:`Commit` and :class:`Signature`
values, never over raw ``git log`` output. Signatures are verified by git
itself (``git log --format=%G?`` with ``gpg.ssh.allowedSignersFile`` for SSH,
``GNUPGHOME`` for GPG); proxgit never parses a signature on its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from proxgit.errors import RepositoryError

_COMMIT_ID = re.compile(r"[0-9a-fA-F]{7,64}")


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    committed_at: datetime

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


@dataclass(frozen=True)
class Signature:
    """What git says of a commit's signature.

    ``status`` is git's ``%G?``: ``G`` good, ``B`` bad, ``U`` good but the
    key is not trusted (SSH: not in the allowed signers), ``N`` none, ``E``
    cannot be checked, ``X``/``Y``/``R`` expired or revoked. ``signer`` is
    the SSH principal (an email) or the GPG user id; ``key`` the fingerprint.
    """

    kind: Literal["ssh", "gpg", "other"] | None
    status: str
    key: str = ""
    signer: str = ""

    @property
    def good(self) -> bool:
        return self.status == "G" or (self.kind == "gpg" and self.status == "U")

    @property
    def signer_email(self) -> str:
        signer = self.signer.strip()
        if "<" in signer and signer.endswith(">"):
            return signer[signer.rindex("<") + 1 : -1]
        return signer


class History:
    """Read-only access to the history of one repository."""

    def __init__(self, repo_path: Path) -> None:
        self.repo_path = repo_path
        self._commits: dict[str, Commit] = {}

    def run(
        self,
        *args: str,
        config: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> str:
        options = ["-c", "log.showSignature=false"]
        for key, value in (config or {}).items():
            options += ["-c", f"{key}={value}"]
        try:
            done = subprocess.run(
                ["git", "-C", str(self.repo_path), *options, *args],
                capture_output=True,
                text=True,
                env={**os.environ, **(env or {})},
                check=False,
            )
        except OSError as err:
            raise RepositoryError(f"cannot run git (is it installed?): {err}") from None
        if check and done.returncode != 0:
            detail = done.stderr.strip().splitlines()
            last = detail[-1] if detail else f"exit code {done.returncode}"
            raise RepositoryError(f"{self.repo_path}: git {args[0]}: {last}")
        return done.stdout

    # --- revisions and ancestry ----------------------------------------------------

    def resolve(self, revision: str) -> str:
        if revision.startswith("-"):
            raise RepositoryError(
                f"{self.repo_path}: no such revision '{revision}'; name a branch, tag or commit"
            )
        out = self.run("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
        if not out.strip():
            raise RepositoryError(
                f"{self.repo_path}: no such revision '{revision}'; {self.revision_hint(revision)}"
            )
        return out.strip()

    def revision_hint(self, revision: str) -> str:
        """What to do about a revision that does not resolve."""
        if not self.run("rev-parse", "--verify", "--quiet", "HEAD", check=False).strip():
            return "the repository has no commits yet: commit proxgit.yaml and clusters/ first"
        if "/" in revision and not revision.startswith(("refs/", "/")):
            remote = revision.split("/", 1)[0]
            return f"fetch it first (git fetch {remote}), or check the name with git branch -a"
        return "check the name with git log --oneline or git branch -a"

    def try_resolve(self, revision: str) -> str | None:
        try:
            return self.resolve(revision)
        except RepositoryError:
            return None

    def commit_named(self, text: str) -> str | None:
        """The commit a file names by its id (hex only: never a ref, range or option)."""
        if not _COMMIT_ID.fullmatch(text):
            return None
        return self.try_resolve(text)

    def is_ancestor(self, older: str, newer: str) -> bool:
        """True when ``older`` is ``newer`` or one of its ancestors."""
        if older.startswith("-") or newer.startswith("-"):
            return False
        done = subprocess.run(
            ["git", "-C", str(self.repo_path), "merge-base", "--is-ancestor", older, newer],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def landing_commit(self, sha: str, head: str) -> str | None:
        """The commit on ``head``'s first-parent chain that brought ``sha`` in (a merge
        commit for a merged branch; ``sha`` itself when it is on the chain)."""
        lines = self.run("rev-list", "--first-parent", "--ancestry-path", f"{sha}..{head}").split()
        if not lines:
            return sha if self.is_ancestor(sha, head) else None
        oldest = lines[-1]  # the first commit of the chain that contains sha
        # sha is on the chain itself when it is that commit's first parent
        return sha if self.commit(oldest).parents[:1] == (sha,) else oldest

    def is_shallow(self) -> bool:
        return self.run("rev-parse", "--is-shallow-repository").strip() == "true"

    def commit(self, sha: str) -> Commit:
        cached = self._commits.get(sha)
        if cached is not None:
            return cached
        out = self.run("log", "-1", "--no-walk", "--format=%H%x00%P%x00%an%x00%ae%x00%ct", sha)
        full, parents, name, email, ctime = out.rstrip("\n").split("\x00")
        commit = Commit(
            sha=full,
            parents=tuple(parents.split()),
            author_name=name,
            author_email=email,
            committed_at=datetime.fromtimestamp(int(ctime), tz=UTC),
        )
        self._commits[sha] = self._commits[full] = commit
        return commit

    def changed_files(self, sha: str) -> list[str]:
        """Paths a commit changes against its first parent (all files for a root commit)."""
        out = self.run("diff-tree", "--no-commit-id", "--root", "-r", "--name-only", "-z", sha)
        return [name for name in out.split("\x00") if name]

    # --- paths -----------------------------------------------------------------------

    def read_blobs(self, specs: Iterable[str]) -> dict[str, str | None]:
        """``{"<rev>:<path>": text or None when missing}`` in one ``cat-file --batch``."""
        wanted = list(dict.fromkeys(specs))
        if not wanted:
            return {}
        try:
            done = subprocess.run(
                ["git", "-C", str(self.repo_path), "cat-file", "--batch"],
                input="".join(f"{spec}\n" for spec in wanted).encode(),
                capture_output=True,
                check=True,
            )
        except (OSError, subprocess.CalledProcessError) as err:
            raise RepositoryError(f"{self.repo_path}: git cat-file failed: {err}") from None
        out = done.stdout
        result: dict[str, str | None] = {}
        pos = 0
        for spec in wanted:
            end = out.index(b"\n", pos)
            parts = out[pos:end].decode().split()
            pos = end + 1
            if len(parts) == 3 and parts[1] == "blob":
                size = int(parts[2])
                result[spec] = out[pos : pos + size].decode("utf-8", errors="replace")
                pos += size + 1
            elif len(parts) == 3:  # a tree or another object type: skip its content
                pos += int(parts[2]) + 1
                result[spec] = None
            else:  # "<spec> missing" / "ambiguous"
                result[spec] = None
        return result

    def tree_files(
        self, revision: str, paths: Iterable[str], suffixes: tuple[str, ...] = ()
    ) -> Iterator[tuple[str, str]]:
        """``(path, text)`` of every blob under ``paths`` at ``revision`` whose name ends in
        one of ``suffixes`` (or is one of ``paths``): one ``ls-tree`` and one
        ``cat-file --batch`` for all of them, fast for 10,000 files."""
        wanted = list(paths)
        listing = self._raw("ls-tree", "-r", "-z", "--full-tree", revision, "--", *wanted)
        entries: list[tuple[str, str]] = []
        for record in listing.split(b"\0"):
            if not record:
                continue
            meta, _, raw_path = record.partition(b"\t")
            _mode, kind, sha = meta.split()
            name = raw_path.decode("utf-8", errors="replace")
            if kind == b"blob" and (name in wanted or name.endswith(suffixes)):
                entries.append((name, sha.decode()))
        if not entries:
            return
        request = b"".join(sha.encode() + b"\n" for _, sha in entries)
        out = self._raw("cat-file", "--batch", stdin=request)
        offset = 0
        for name, _sha in entries:
            header_end = out.index(b"\n", offset)
            size = int(out[offset:header_end].split()[2])
            start = header_end + 1
            yield name, out[start : start + size].decode("utf-8", errors="replace")
            offset = start + size + 1

    def dirty(self, paths: Iterable[str]) -> bool:
        """Whether the working tree differs from HEAD under ``paths``."""
        return bool(self.run("status", "--porcelain", "--", *paths).strip())

    def _raw(self, *args: str, stdin: bytes | None = None) -> bytes:
        try:
            return subprocess.run(
                ["git", "-C", str(self.repo_path), *args],
                input=stdin,
                capture_output=True,
                check=True,
            ).stdout
        except FileNotFoundError as err:
            raise RepositoryError("git is not installed; proxgit needs the git command") from err
        except subprocess.CalledProcessError as err:
            message = err.stderr.decode(errors="replace").strip().splitlines()
            detail = message[-1] if message else "no such revision or not a Git repository"
            raise RepositoryError(f"{self.repo_path}: git {' '.join(args[:2])}: {detail}") from err

    def read(self, revision: str, path: str) -> str | None:
        spec = f"{revision}:{path}"
        return self.read_blobs([spec])[spec]

    def path_graph(
        self, head: str, path: str, *, full: bool = False
    ) -> tuple[list[str], dict[str, tuple[str, ...]]]:
        """Commits of ``head``'s history that changed ``path``, newest first, with parents.

        Without ``full`` git simplifies history and rewrites parents: only the
        commits whose version of the file reached ``head`` remain. With ``full``
        every side branch that touched the path is listed too.
        """
        args = ["rev-list", "--topo-order", "--parents"]
        if full:
            args += ["--full-history", "--sparse"]
        out = self.run(*args, head, "--", path)
        order: list[str] = []
        parents: dict[str, tuple[str, ...]] = {}
        for line in out.splitlines():
            shas = line.split()
            if shas:
                order.append(shas[0])
                parents[shas[0]] = tuple(shas[1:])
        return order, parents

    def removal_of(self, path: str, head: str, since: str | None = None) -> Commit | None:
        """The newest commit in ``since..head`` that deleted ``path`` (git's simplified history)."""
        span = f"{since}..{head}" if since else head
        out = self.run("log", "-1", "--diff-filter=D", "--format=%H", span, "--", path)
        return self.commit(out.strip()) if out.strip() else None

    def addition_of(self, path: str, head: str, since: str | None = None) -> Commit | None:
        """The newest commit in ``since..head`` that added ``path``."""
        span = f"{since}..{head}" if since else head
        out = self.run("log", "-1", "--diff-filter=A", "--format=%H", span, "--", path)
        return self.commit(out.strip()) if out.strip() else None

    # --- signatures -------------------------------------------------------------------

    def signature_kind(self, sha: str) -> Literal["ssh", "gpg", "other"] | None:
        header = self.run("cat-file", "commit", sha).split("\n\n", 1)[0]
        lines = [
            line for line in header.splitlines() if line.startswith(("gpgsig ", "gpgsig-sha256 "))
        ]
        if not lines:
            return None
        if "BEGIN SSH SIGNATURE" in lines[0]:
            return "ssh"
        if "BEGIN PGP SIGNATURE" in lines[0]:
            return "gpg"
        return "other"

    def signature(
        self, sha: str, *, allowed_signers: str = "", gpg_home: Path | None = None
    ) -> Signature:
        """Verify ``sha``'s signature against ``allowed_signers`` (the file's text) or a keyring."""
        kind = self.signature_kind(sha)
        if kind is None:
            return Signature(kind=None, status="N")
        if kind == "other":
            return Signature(kind="other", status="E")
        config: dict[str, str] = {}
        env: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="proxgit-signers-") as tmp:
            if kind == "ssh":
                signers = Path(tmp) / "allowed_signers"
                signers.write_text(allowed_signers or "\n", encoding="utf-8")
                config["gpg.ssh.allowedSignersFile"] = str(signers)
            elif gpg_home is not None:
                env["GNUPGHOME"] = str(gpg_home)
            else:
                return Signature(kind="gpg", status="E")
            out = self.run(
                "log",
                "-1",
                "--no-walk",
                "--format=%G?%x00%GK%x00%GS",
                sha,
                config=config,
                env=env,
            )
        status, key, signer = [*out.rstrip("\n").split("\x00"), "", "", ""][:3]
        return Signature(kind=kind, status=status or "E", key=key, signer=signer)


def allowed_signers_line(principal: str, public_key: str) -> str:
    """One ``allowed_signers`` entry for git's signature checks."""
    return f'{principal} namespaces="git" {" ".join(public_key.split()[:2])}'
