"""Git as proxgit uses it: its own commits, pushes that survive races, refs as state.

proxgit commits only the paths it owns (``snapshot/``, ``.proxgit/journal/``,
``deletions/``) under its own identity, with ``[skip ci]`` so CI does not start
again on them. A push that loses a race (non-fast-forward) fetches, rebases
proxgit's own commits onto the new tip and tries again; another commit's files
are never touched. Small pieces of shared state (the last applied revision per
cluster, the write lock) live as refs in the remote itself, updated with
compare-and-swap (``--force-with-lease``), so no extra server is needed.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import git

from proxgit.errors import ConfigError, RepositoryError
from proxgit.git.history import History
from proxgit.models.config import CommitIdentity, Config

SKIP_CI = "[skip ci]"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@dataclass(frozen=True)
class Identity:
    """Who proxgit's own commits are by, and the SSH key that signs them (never shown)."""

    name: str
    email: str
    signing_key: str | None = field(default=None, repr=False, compare=False)

    def env(self) -> dict[str, str]:
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }

    def signing_options(self) -> list[str]:
        """``git -c ...`` options that make commits signed with proxgit's key, or none."""
        if not self.signing_key:
            return []
        key = key_file(self.signing_key)
        return [
            "-c",
            "gpg.format=ssh",
            "-c",
            f"user.signingkey={key}",
            "-c",
            "commit.gpgsign=true",
        ]


_KEY_FILES: dict[str, Path] = {}
_KEY_LOCK = threading.Lock()


def key_file(private_key: str) -> Path:
    """A private file (mode 0600, removed at exit) holding ``private_key`` for ssh-keygen."""
    digest = hashlib.sha256(private_key.encode()).hexdigest()
    with _KEY_LOCK:
        path = _KEY_FILES.get(digest)
        if path is not None and path.exists():
            return path
        directory = Path(tempfile.mkdtemp(prefix="proxgit-key-"))
        path = directory / "signing_key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(private_key.strip() + "\n")
        _KEY_FILES[digest] = path
        atexit.register(shutil.rmtree, directory, True)
        return path


def public_key_of(private_key: str) -> str:
    """``ssh-ed25519 AAAA...`` for a private key (``ssh-keygen -y``); ConfigError if unusable."""
    path = key_file(private_key)
    try:
        done = subprocess.run(
            ["ssh-keygen", "-y", "-f", str(path)], capture_output=True, text=True, check=False
        )
    except OSError as err:
        raise ConfigError(f"commitIdentity.signingKeyFrom: cannot run ssh-keygen: {err}") from None
    if done.returncode != 0 or not done.stdout.strip():
        raise ConfigError(
            "commitIdentity.signingKeyFrom: the secret is not an unencrypted OpenSSH private "
            "key; generate one with ssh-keygen -t ed25519 -N ''"
        )
    return " ".join(done.stdout.split()[:2])


class GitRepository:
    """A working clone with an ``origin`` remote (or none, for local use)."""

    def __init__(self, path: Path, *, remote: str = "origin") -> None:
        try:
            self.repo = git.Repo(path)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as err:
            raise RepositoryError(f"{path}: not a Git repository") from err
        self.path = Path(self.repo.working_tree_dir or path)
        self.remote = remote
        self._identity: Identity | None = None

    @classmethod
    def clone(cls, url: str, workdir: Path, *, branch: str) -> GitRepository:
        """Clone ``url`` (``branch`` checked out) into ``workdir``; a one-line error on failure."""
        workdir.parent.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                ["git", "clone", "--quiet", "--branch", branch, "--", url, str(workdir)],
                capture_output=True,
                text=True,
            )
        except OSError as err:
            raise RepositoryError(f"cannot run git (is it installed?): {err}") from None
        if done.returncode != 0:
            detail = done.stderr.strip().splitlines()[-1:] or ["git clone failed"]
            raise RepositoryError(f"cloning {url}: {detail[0]}")
        return cls(workdir)

    # --- reading ---------------------------------------------------------------

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        """``git ARGS`` in the working tree; a one-line RepositoryError when git fails."""
        try:
            return str(self.repo.git.execute(["git", *args], env={**os.environ, **(env or {})}))
        except git.GitCommandError as err:
            detail = _problem_lines(err.stderr or "")
            verb = next(
                (
                    a
                    for i, a in enumerate(args)
                    if not a.startswith("-") and (i == 0 or args[i - 1] != "-c")
                ),
                args[0],
            )
            raise RepositoryError(f"git {verb}: {detail[-1] if detail else err}") from None

    def resolve(self, revision: str) -> str:
        try:
            return self.repo.commit(revision).hexsha
        except (git.BadName, ValueError) as err:
            hint = History(self.path).revision_hint(revision)
            raise RepositoryError(f"{self.path}: no such revision '{revision}'; {hint}") from err

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self.repo.is_ancestor(self.repo.commit(older), self.repo.commit(newer))

    def has_remote(self) -> bool:
        return any(r.name == self.remote for r in self.repo.remotes)

    def fetch(self, *refspecs: str) -> None:
        if self.has_remote():
            self.run("fetch", "--quiet", self.remote, *refspecs)

    # --- proxgit's own commits -------------------------------------------------

    def commit_paths(self, paths: Sequence[str], message: str, identity: Identity) -> str | None:
        """Commit exactly ``paths`` (added, changed or removed); None when nothing changed."""
        existing = [p for p in paths if (self.path / p).exists()]
        tracked = self.run("ls-files", "--", *paths).splitlines() if paths else []
        if existing:
            self.run("add", "--all", "--", *existing)
        gone = [p for p in tracked if not (self.path / p).exists()]
        if gone:
            self.run("rm", "--quiet", "--cached", "-r", "--ignore-unmatch", "--", *gone)
        staged = self.run("diff", "--cached", "--name-only", "--", *paths)
        if not staged.strip():
            return None
        subject = message if SKIP_CI in message else f"{message}\n\n{SKIP_CI}"
        sign = ["-S"] if identity.signing_key else ["--no-gpg-sign"]
        self.run(
            *identity.signing_options(),
            "commit",
            "--quiet",
            "--no-verify",
            *sign,
            "-m",
            subject,
            "--",
            *paths,
            env=identity.env(),
        )
        self._identity = identity
        return self.resolve("HEAD")

    def push_branch(
        self, branch: str, *, attempts: int = 5, identity: Identity | None = None
    ) -> None:
        """Push ``branch``; on a lost race, rebase our commits onto the remote tip and retry.

        The rebase re-commits under ``identity``, else the one of this clone's last
        :meth:`commit_paths`, else proxgit's default identity: never whatever
        ``GIT_COMMITTER_*`` the process environment holds."""
        if identity is not None:
            self._identity = identity
        if not self.has_remote():
            raise RepositoryError(f"{self.path}: no remote '{self.remote}' to push to")
        for attempt in range(attempts):
            try:
                self.run("push", "--quiet", self.remote, f"HEAD:refs/heads/{branch}")
                return
            except RepositoryError as err:
                if attempt == attempts - 1:
                    raise RepositoryError(
                        f"push to {self.remote}/{branch} failed after "
                        f"{attempts} attempts: {err.message}"
                    ) from None
                self.fetch(branch)
                try:
                    self.rebase_onto(f"{self.remote}/{branch}", self._identity)
                except RepositoryError:
                    self.run("rebase", "--abort")
                    raise RepositoryError(
                        f"rebasing proxgit's commit onto {self.remote}/"
                        f"{branch} conflicted; nothing was pushed"
                    ) from None
                time.sleep(0.05 * (attempt + 1))

    def own_commits_unpushed(self, branch: str, identity: Identity) -> bool:
        """Whether HEAD is ahead of the remote branch (as last fetched) by proxgit's own
        commits only (journals, archives, snapshots): what an earlier run committed but
        could not push, for this run to push."""
        if not self.has_remote():
            return False
        try:
            log = self.run("log", "--format=%ae%x00%B%x01", f"{self.remote}/{branch}..HEAD").strip()
        except RepositoryError:
            return False
        entries = [e.strip("\n") for e in log.split("\x01") if e.strip()]
        return bool(entries) and all(
            e.partition("\x00")[0] == identity.email and SKIP_CI in e.partition("\x00")[2]
            for e in entries
        )

    def rebase_onto(self, upstream: str, identity: Identity | None) -> None:
        """Rebase proxgit's local commits onto ``upstream``, re-signed with its key and
        committed under its identity (never the environment's GIT_COMMITTER_*); with no
        identity known (proxgit.yaml unreadable), under proxgit's default one, unsigned."""
        options = identity.signing_options() if identity else ["-c", "commit.gpgsign=false"]
        who = identity or default_identity()
        self.run(*options, "rebase", "--quiet", "--autostash", upstream, env=who.env())

    # --- refs as shared state ----------------------------------------------------

    def read_remote_ref(self, ref: str) -> str | None:
        """The sha a ref has on the remote (or locally, without a remote)."""
        if not self.has_remote():
            try:
                return self.run("rev-parse", "--verify", "--quiet", ref).strip() or None
            except RepositoryError:
                return None
        out = self.run("ls-remote", self.remote, ref).strip()
        return out.split()[0] if out else None

    def make_note_commit(
        self, message: str, identity: Identity, parents: Iterable[str] = ()
    ) -> str:
        """A commit object with an empty tree, carrying ``message`` (for lock refs)."""
        args = ["commit-tree", EMPTY_TREE, "-m", message]
        for parent in parents:
            args += ["-p", parent]
        return self.run(*args, env=identity.env()).strip()

    def swap_remote_ref(self, ref: str, new: str | None, expected: str | None) -> bool:
        """Compare-and-swap ``ref`` on the remote: set to ``new`` (None deletes) only if it
        is still ``expected`` (None: must not exist). False when someone else won."""
        lease = f"--force-with-lease={ref}:{expected or ''}"
        source = f"{new}:{ref}" if new else f":{ref}"
        if not self.has_remote():
            try:
                if new:
                    self.run("update-ref", ref, new, expected or "0" * 40)
                else:
                    self.run("update-ref", "-d", ref, expected or "")
                return True
            except RepositoryError:
                return False
        try:
            self.run("push", "--quiet", "--porcelain", lease, self.remote, source)
            return True
        except RepositoryError:
            return False

    def commits_touching(self, path: str, revision: str = "HEAD") -> list[git.Commit]:
        """Commits that changed ``path``, newest first."""
        return list(self.repo.iter_commits(revision, paths=path))


def _problem_lines(stderr: str) -> list[str]:
    """git's stderr, from its first ``fatal:``/``error:`` line on, as one line each.

    git ends some errors with advice ("...and the repository exists."): the line
    that says what went wrong is the ``fatal:`` one, not the last."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    first = next((line for line in lines if line.startswith(("fatal:", "error:"))), None)
    return [first] if first else lines


def default_identity() -> Identity:
    """proxgit's identity when proxgit.yaml names none (``commitIdentity``'s defaults)."""
    ident = CommitIdentity()
    return Identity(ident.name, ident.email)


def commit_identity(config: Config, base_dir: Path | None) -> Identity:
    """proxgit's commit identity from proxgit.yaml, with its signing key when one is set."""
    from proxgit.secrets import resolve_secret

    ident = config.spec.commit_identity or CommitIdentity()
    key = None
    if ident.signing_key_from is not None:
        key = resolve_secret(
            ident.signing_key_from, what="commitIdentity.signingKeyFrom", base_dir=base_dir
        )
        key = key.replace("\\n", "\n") if "\\n" in key and "\n" not in key else key
        public_key_of(key)  # refuse an unusable key before anything is written
    return Identity(ident.name, ident.email, signing_key=key)
