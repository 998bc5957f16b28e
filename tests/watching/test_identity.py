"""One commit identity for everything the watch pod commits, whatever its environment says."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxgit.git import GitRepository, Identity
from proxgit.watching.loop import Watcher, WatchOptions
from tests.support import BOB, GitRepo

PROXGIT = Identity("proxgit", "proxgit@noreply.invalid")


@pytest.mark.parametrize("pod_env", [True, False], ids=["pod-git-env", "clean-env"])
def test_sync_rebases_proxgit_commits_under_its_own_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pod_env: bool
) -> None:
    repo = GitRepo(tmp_path)
    repo.commit({"README.md": "infra\n"}, "Start")
    repo.git("push", "--quiet", "origin", "main")
    # proxgit's own commit, not yet pushed (a push lost a race, or the pod restarted).
    (repo.path / "snapshot").mkdir()
    (repo.path / "snapshot" / "lab.yaml").write_text("guests: 3\n")
    local = GitRepository(repo.path)
    assert local.commit_paths(["snapshot"], "Snapshot of lab", PROXGIT)
    # Meanwhile a person moves main, so the pod has to rebase its commit.
    (tmp_path / "other").mkdir()
    other = GitRepo(tmp_path / "other")
    other.git("remote", "set-url", "origin", str(repo.remote))
    other.git("fetch", "--quiet", "origin")
    other.git("reset", "--quiet", "--hard", "origin/main")
    other.commit({"clusters/lab/vms/a.yaml": "x: 1\n"}, "Add a", author=BOB)
    other.git("push", "--quiet", "origin", "main")
    if pod_env:  # what the old ConfigMap set for the pod
        for key, value in {
            "GIT_AUTHOR_NAME": "pod",
            "GIT_AUTHOR_EMAIL": "pod@example.net",
            "GIT_COMMITTER_NAME": "pod",
            "GIT_COMMITTER_EMAIL": "pod@example.net",
        }.items():
            monkeypatch.setenv(key, value)

    Watcher(WatchOptions(workdir=repo.path, listen=None), log=lambda _line: None).sync()

    log = repo.git("log", "origin/main", "--format=%an <%ae> / %cn <%ce> / %s").splitlines()
    assert log[0] == (
        "proxgit <proxgit@noreply.invalid> / proxgit <proxgit@noreply.invalid> / Snapshot of lab"
    )
    assert log[1].startswith("Bob")
    assert not [line for line in log if "pod" in line]
