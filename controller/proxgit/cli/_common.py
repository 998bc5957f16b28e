"""What every ``proxgit`` command shares: one-line errors, exit codes, the --repo option."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
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
            result = func(*args, **kwargs)
            _flush_stdout()
            return result
        except InvalidRepository as err:
            for problem in err.problems:
                click.echo(str(problem), err=True)
            _fail(
                f"the desired tree has {len(err.problems)} problem(s); run proxgit validate",
                err.exit_code,
            )
        except ProxgitError as err:
            _fail(err.message, err.exit_code)
        except BrokenPipeError:
            _stdout_closed()
        except SystemExit:
            _flush_stdout()
            raise
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt):
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


def _flush_stdout() -> None:
    """Flush stdout now, so that a reader that went away (``proxgit plan | head -1``)
    is noticed here rather than in Python's shutdown, which would print a traceback."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_closed()
    except (OSError, ValueError):
        pass


def _stdout_closed() -> None:
    """The reader of stdout went away: stop quietly, exit 1 (the output is incomplete)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # not a real file descriptor (a test runner's capture)
    sys.exit(1)


def _check_out_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """``--out FILE``: its directory must exist and be writable before any work is done."""
    if value is None:
        return None
    parent = value.absolute().parent
    if parent.exists() and not parent.is_dir():
        raise click.BadParameter(f"{parent} is a file, not a directory; choose another file")
    if not parent.is_dir():
        raise click.BadParameter(
            f"directory {parent} does not exist; create it first or choose another file"
        )
    if not os.access(parent, os.W_OK) or (value.exists() and not os.access(value, os.W_OK)):
        raise click.BadParameter(f"{value} is not writable; choose a file you may write")
    return value


def out_file_option(help_text: str) -> Callable[[F], F]:
    """``--out FILE``, checked before the command reads anything (see :func:`write_out`)."""
    return click.option(
        "--out",
        "out_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        callback=_check_out_file,
        help=help_text,
    )


def write_out(path: Path, text: str) -> None:
    """Write a rendered report to ``--out``; a failure is one line, not a traceback."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        _fail(f"--out {path}: cannot write it: {err.strerror}", 1)


def require_remote(repo: Path, push: bool) -> None:
    """``--push`` in a clone without the remote fails before anything is read or written,
    not after the commit it could not push."""
    if not push:
        return
    from proxgit.git import GitRepository

    clone = GitRepository(repo)
    if not clone.has_remote():
        _fail(
            f"--push: {repo} has no remote '{clone.remote}' to push to; add it (git remote add "
            f"{clone.remote} URL) or leave out --push; nothing was done",
            1,
        )


def stops_at_ctrl_c(func: F) -> F:
    """For commands that only read until their last step (plan, drift, reflect, import):
    Ctrl-C ends them at once with exit 130. Without this, the interrupt waits for every
    Proxmox read in flight to end, up to timeouts.read times the retries."""

    def on_interrupt(signum: int, frame: object) -> None:
        click.echo("error: interrupted (Ctrl-C); nothing was committed", err=True)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(130)  # worker threads blocked in a read are not waited for

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return func(*args, **kwargs)
        previous = signal.signal(signal.SIGINT, on_interrupt)
        try:
            return func(*args, **kwargs)
        finally:
            signal.signal(signal.SIGINT, previous)

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
