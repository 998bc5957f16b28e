"""The ``proxgit`` command line: parses options, calls the library, sets exit codes.

One module per verb (``validate``, ``plan``, ``apply``, ``deletions``,
``reflect`` with ``drift`` and ``import``, ``watch``, ``schema``, ``init``,
``demo``); ``_common`` holds what they share (options, the error wrapper, exit
codes) and ``_progress`` the progress view. Exit codes follow DESIGN.md's
contract. Every error a user can cause is printed as one line; an unexpected
exception is printed as one line too, with ``PROXGIT_DEBUG=1`` to see the
traceback.
"""

from __future__ import annotations

from typing import Any

import click

from proxgit import __version__
from proxgit.cli import apply, deletions, demo, init, plan, reflect, schema, validate, watch


class _Cli(click.Group):
    """The ``proxgit`` group: a mistake on the command line (an unknown option, a bad
    value, a missing argument) exits 1, "error" in every command's table, never 2,
    which ``plan`` and ``drift`` use for "changes"."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as err:
            err.exit_code = 1  # type: ignore[misc]  # click keeps it on the class
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            err.exit_code = 1  # type: ignore[misc]  # click keeps it on the class
            raise


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="proxgit")
def main() -> None:
    """GitOps for Proxmox VE: plan on pull requests, apply on merge, four-eyes deletions."""


for _command in (
    validate.validate,
    schema.schema,
    plan.plan,
    apply.apply,
    deletions.deletions,
    watch.watch,
    init.init,
    demo.demo,
    reflect.reflect,
    reflect.drift,
    reflect.import_command,
):
    main.add_command(_command)

__all__ = ["main"]
