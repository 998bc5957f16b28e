"""What every ``proxgit`` command shares: one-line errors, exit codes, the --repo option."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from proxgit.cli._progress import Progress
from proxgit.errors import InvalidRepository, ProxgitError
from proxgit.outcomes import Outcome, exit_code

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def finish(outcome: Outcome) -> None:
    """End the command with the exit code of its typed outcome (README's table)."""
    sys.exit(exit_code(outcome))


def user_errors(func: F) -> F:
    """Turn every exception into one line on stderr and an exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InvalidRepository as err:
            for problem in err.problems:
                click.echo(str(problem), err=True)
            _fail(
                f"the desired tree has {len(err.problems)} problem(s); run proxgit validate",
                err.exit_code,
            )
        except ProxgitError as err:
            _fail(err.message, err.exit_code)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as err:  # a bug: still one line for the user
            if os.environ.get("PROXGIT_DEBUG"):
                raise
            _fail(
                f"internal error: {type(err).__name__}: {err} "
                "(rerun with PROXGIT_DEBUG=1 for details)",
                1,
            )
        return None

    return wrapper  # type: ignore[return-value]


def progress_options(func: F) -> F:
    """``-v/--verbose`` (each Proxmox call too) and ``-q/--quiet`` (the summary only)."""
    func = click.option(
        "-q", "--quiet", is_flag=True, help="Print only the summary: no progress lines."
    )(func)
    return click.option(
        "-v", "--verbose", is_flag=True, help="Also print each Proxmox API call as it ends."
    )(func)


def progress_view(verbose: bool, quiet: bool) -> Progress:
    """Per-guest progress on stderr (live on a terminal, one line per change in CI)."""
    stream = sys.stderr
    return Progress(stream, verbose=verbose, quiet=quiet)


repo_option: Callable[[F], F] = click.option(
    "--repo",
    "repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The desired-state repository (a Git work tree).",
)
