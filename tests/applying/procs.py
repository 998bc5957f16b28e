"""Helpers for tests that run ``proxgit`` as separate processes against fakepve in its own
process and a bare remote whose pushes are slowed by a pre-receive hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.applying.pveproc import PveProcess
from tests.support import TOKEN_ENV, TOKEN_SECRET, GitRepo, config_yaml

ROOT = Path(__file__).resolve().parents[2]


def slow_remote(repo: GitRepo, seconds: float) -> None:
    """Every push to ``repo``'s remote (branches and lock refs alike) takes ``seconds``."""
    hook = repo.remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ncat >/dev/null\nsleep {seconds}\n", encoding="utf-8")
    hook.chmod(0o755)


def setup_repo(
    root: Path, pve: PveProcess, files: dict[str, str], *, cluster_extra: str = ""
) -> GitRepo:
    root.mkdir(parents=True, exist_ok=True)
    repo = GitRepo(root)
    config = config_yaml(pve.url, pve.cafile)
    if cluster_extra:
        marker = "      allowWrites: true\n"
        config = config.replace(marker, marker + cluster_extra)
    repo.commit({"proxgit.yaml": config, **files}, "Configure proxgit")
    repo.git("push", "--quiet", "origin", "main")
    return repo


def clone(repo: GitRepo, where: Path) -> Path:
    GitRepo.git_in(repo.path.parent, "clone", "--quiet", str(repo.remote), str(where))
    return where


def env_for(host: str) -> dict[str, str]:
    return {
        **os.environ,
        TOKEN_ENV: TOKEN_SECRET,
        "PROXGIT_HOSTNAME": host,
        "PYTHONPATH": str(ROOT / "controller"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }


def start(workdir: Path, *args: str, host: str = "host-a") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "proxgit", *args, "--repo", str(workdir)],
        env=env_for(host),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(workdir: Path, *args: str, host: str = "host-a", timeout: float = 180) -> Result:
    process = start(workdir, *args, host=host)
    out, err = process.communicate(timeout=timeout)
    return Result(process.returncode, out, err)


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"

    @property
    def json(self) -> Any:
        return json.loads(self.out)


def remote_ref(repo: GitRepo, ref: str) -> str | None:
    out = GitRepo.git_in(repo.path.parent, "--git-dir", str(repo.remote), "for-each-ref", ref)
    return out.split()[0] if out else None


def wait_for(predicate: Any, timeout: float = 60, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def effective(guest: dict[str, Any] | None) -> dict[str, Any]:
    """A guest's config with its pending values (what it runs after a restart)."""
    assert guest is not None
    merged = dict(guest["config"])
    for key, value in guest["pending"].items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def remote_journals(repo: GitRepo) -> list[dict[str, Any]]:
    """Every journal on the remote's main branch."""
    git = ["--git-dir", str(repo.remote)]
    names = GitRepo.git_in(
        repo.path.parent, *git, "ls-tree", "--name-only", "main", ".proxgit/journal/"
    ).split()
    return [
        json.loads(GitRepo.git_in(repo.path.parent, *git, "show", f"main:{name}")) for name in names
    ]
