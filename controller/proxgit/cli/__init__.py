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

import click

from proxgit import __version__
from proxgit.cli import apply, deletions, demo, init, plan, reflect, schema, validate, watch


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
