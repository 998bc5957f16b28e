"""``proxgit demo``: the story of a change, told on a temporary Git repository.

It copies ``example-repo/`` into a temporary Git repository with a bare
remote, commits it as a user would, and walks the steps proxgit takes. Steps
that need features not built yet are named as such rather than faked.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import click

from proxgit.errors import ConfigError, InvalidRepository
from proxgit.loading import load_directory

EXAMPLE_REPO = Path(__file__).resolve().parents[2] / "example-repo"


def _git(
    cwd: Path, *args: str, author: tuple[str, str] = ("Alice Admin", "alice@example.com")
) -> str:
    env = {
        "GIT_AUTHOR_NAME": author[0],
        "GIT_AUTHOR_EMAIL": author[1],
        "GIT_COMMITTER_NAME": author[0],
        "GIT_COMMITTER_EMAIL": author[1],
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "HOME": str(cwd),
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


def step(title: str) -> None:
    click.secho(f"\n==> {title}", bold=True, fg="cyan")


def run_demo(workdir: Path | None = None) -> Path:
    """Run the demo; returns the temporary working repository it leaves behind."""
    if not EXAMPLE_REPO.is_dir():
        raise ConfigError(f"{EXAMPLE_REPO}: example-repo not found; run the demo from a clone")
    base = workdir or Path(tempfile.mkdtemp(prefix="proxgit-demo-"))
    remote, work = base / "remote.git", base / "work"
    step("A desired-state repository with a bare remote")
    _git(base, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    shutil.copytree(EXAMPLE_REPO, work)
    _git(work, "init", "--quiet", "--initial-branch=main")
    _git(work, "add", "-A")
    _git(work, "commit", "--quiet", "-m", "Initial desired state")
    _git(work, "remote", "add", "origin", str(remote))
    _git(work, "push", "--quiet", "origin", "main")
    click.echo(f"work tree: {work}\nremote:    {remote}")

    step("proxgit validate")
    try:
        state = load_directory(work)
    except InvalidRepository as err:
        for problem in err.problems:
            click.echo(str(problem))
        raise
    vms = sum(1 for g in state.guests.values() if g.kind == "VirtualMachine")
    click.echo(
        f"valid: {len(state.config.spec.clusters)} cluster(s), {vms} VM(s), "
        f"{len(state.guests) - vms} container(s)"
    )

    step("A broken change is caught before review")
    broken = work / "clusters" / "lab" / "vms" / "typo.yaml"
    broken.write_text(
        "apiVersion: proxgit/v1\nkind: VirtualMachine\n"
        "metadata: {name: typo, cluster: lab}\nspec:\n  vmid: 4242\n"
        "  node: pve1\n  cors: 2\n"
    )
    try:
        load_directory(work)
    except InvalidRepository as err:
        for problem in err.problems:
            click.echo(str(problem))
    broken.unlink()

    click.echo(f"\nThe temporary repository is at {work}; look around.")
    return work
