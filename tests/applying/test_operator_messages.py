"""The small things an operator meets: messages that name what they mean, plan --cluster."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner, Result

from proxgit.cli import main
from tests.support import BOB, GitRepo, config_yaml, vm_path, vm_yaml

STOPPED = "power: stopped\nmemory: 512\n"


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def test_an_unpushed_commit_is_compared_with_the_remote_branch(repo: GitRepo, pve: Any) -> None:
    repo.git("push", "--quiet", "origin", "main")
    repo.commit({vm_path("web-01"): vm_yaml("web-01", 101)}, "Local only", author=BOB)
    result = run("apply", "--repo", str(repo.path))
    assert result.exit_code == 3
    line = result.stderr.strip().splitlines()[-1]
    assert "is not on origin/main" in line and "push it first" in line, line


def test_an_unknown_base_is_named(repo: GitRepo, pve: Any) -> None:
    result = run("plan", "--repo", str(repo.path), "--base", "origin/nope")
    assert result.exit_code == 1
    assert "no such revision 'origin/nope'" in result.stderr


def test_plan_cluster_reads_and_plans_only_that_cluster(
    repo: GitRepo, pve: Any, fakepve_cafile: str
) -> None:
    far = (
        "    far:\n      url: https://127.0.0.1:9\n      tokenId: 'proxgit@pve!ci'\n"
        "      tokenSecretFrom: {env: PROXGIT_FAR_TOKEN}\n"
    )
    text = config_yaml(pve.url, fakepve_cafile).replace("  clusters:\n", "  clusters:\n" + far)
    repo.write({"proxgit.yaml": text, vm_path("web-01"): vm_yaml("web-01", 101)})
    everything = run("plan", "--repo", str(repo.path))
    assert everything.exit_code == 1  # far cannot be read
    assert "cluster 'far'" in everything.output
    only_lab = run("plan", "--repo", str(repo.path), "--cluster", "lab")
    assert only_lab.exit_code == 2, only_lab.output
    assert "far" not in only_lab.output and "web-01" in only_lab.output
    unknown = run("plan", "--repo", str(repo.path), "--cluster", "nope")
    assert unknown.exit_code == 1
    assert "--cluster nope: no such cluster in proxgit.yaml (clusters: far, lab)" in (
        unknown.stderr
    )


def test_a_guest_pending_deletion_is_not_called_unmanaged(repo: GitRepo, pve: Any) -> None:
    repo.git("push", "--quiet", "origin", "main")
    for files in (
        {vm_path("old-01"): vm_yaml("old-01", 101, extra=STOPPED)},
        {vm_path("old-01"): None},
    ):
        repo.commit(files, "change", author=BOB)
        repo.git("push", "--quiet", "origin", "main")
        assert run("apply", "--repo", str(repo.path), "--push").exit_code == 0
        repo.git("pull", "--quiet", "--rebase", "origin", "main")
    assert "proxgit-pending-deletion" in str(pve.guest(101).config.get("tags"))
    text = run("plan", "--repo", str(repo.path)).output
    # the only other undeclared guest is fakepve's template: not called unmanaged either
    assert not any(line.startswith("unmanaged") for line in text.splitlines())
    assert "templates (not declared; not drift, never touched): lab/9000" in text
    assert "pending deletion (a deletion request is open" in text and "lab/101 old-01" in text
    assert ", 0 unmanaged." in text
    markdown = run("plan", "--repo", str(repo.path), "--output", "markdown").output
    assert "Pending deletion (request open; destroyed only once approved): 1" in markdown
