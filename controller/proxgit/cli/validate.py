"""``proxgit validate``: load and check the whole desired tree."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from proxgit.cli._common import finish, repo_option, user_errors
from proxgit.errors import InvalidRepository
from proxgit.outcomes import Outcome


@click.command()
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@repo_option
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@user_errors
def validate(path: Path | None, repo: Path, output: str) -> None:
    """Load and check the whole desired tree; every problem as file:line:col."""
    from proxgit.loading import load_directory

    root = path or repo
    try:
        state = load_directory(root)
    except InvalidRepository as err:
        # Paths as the user can open them from where they ran the command.
        problems = [
            dataclasses.replace(p, path=str(root / p.path)) if root != Path(".") else p
            for p in err.problems
        ]
        if output == "json":
            click.echo(
                json.dumps({"valid": False, "problems": [p.as_dict() for p in problems]}, indent=2)
            )
        else:
            for problem in problems:
                click.echo(str(problem), err=True)
            click.echo(f"{len(err.problems)} problem(s) found", err=True)
        finish(Outcome.blocked)
    vms = sum(1 for g in state.guests.values() if g.kind == "VirtualMachine")
    containers = len(state.guests) - vms
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "valid": True,
                    "problems": [],
                    "clusters": sorted(state.config.spec.clusters),
                    "virtualMachines": vms,
                    "containers": containers,
                    "deletionRequests": len(state.deletion_requests),
                },
                indent=2,
            )
        )
    else:
        click.echo(
            f"valid: {len(state.config.spec.clusters)} cluster(s), {vms} VM(s), "
            f"{containers} container(s), {len(state.deletion_requests)} deletion "
            "request(s)"
        )
