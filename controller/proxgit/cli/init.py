"""``proxgit init``: write a starter repository."""

from __future__ import annotations

from pathlib import Path

import click

from proxgit.cli._common import user_errors


@click.command()
@click.option(
    "--forge",
    type=click.Choice(["github", "gitlab", "gitea"]),
    default="github",
    show_default=True,
    help="Whose CI files to write.",
)
@click.argument("directory", type=click.Path(file_okay=True, path_type=Path))
@user_errors
def init(forge: str, directory: Path) -> None:
    """Write a starter repository: proxgit.yaml, one VM, one container, CI, schemas."""
    from proxgit.starter import example_repository, write_starter

    written = write_starter(directory, forge, example_repository())
    click.echo(f"{directory}: {len(written)} files written for {forge}")
    click.echo(f"next: proxgit validate {directory}; then edit proxgit.yaml and commit")
