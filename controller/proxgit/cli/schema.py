"""``proxgit schema``: write or check the JSON Schemas."""

from __future__ import annotations

from pathlib import Path

import click

from proxgit.cli._common import _fail, user_errors


def _named_dir(value: str) -> Path:
    """``--out ''`` would write into the current directory: a mistake, not a choice."""
    if not value.strip():
        raise click.BadParameter("empty; name the directory for the schemas, like schemas")
    return Path(value)


@click.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="schemas",
    show_default=True,
    callback=lambda ctx, param, value: _named_dir(value),
)
@click.option("--check", is_flag=True, help="Exit 1 if the files differ from the models.")
@user_errors
def schema(out_dir: Path, check: bool) -> None:
    """Write the JSON Schemas of every document kind."""
    from proxgit.schemas import stale_schemas, write_schemas

    if check:
        stale = stale_schemas(out_dir)
        if stale:
            _fail(
                f"{out_dir}: out of date: {', '.join(stale)}; run 'proxgit schema --out {out_dir}'",
                1,
            )
        click.echo(f"{out_dir}: schemas match the models")
        return
    changed = write_schemas(out_dir)
    click.echo(f"{out_dir}: {len(changed)} schema file(s) written")
