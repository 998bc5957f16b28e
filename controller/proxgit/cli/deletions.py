"""``proxgit deletions``: list, approve, reject and execute deletion requests."""

from __future__ import annotations

from pathlib import Path

import click

from proxgit.cli._common import (
    _fail,
    finish,
    progress_options,
    progress_view,
    repo_option,
    require_remote,
    user_errors,
)


@click.group()
def deletions() -> None:
    """The deletion-request workflow: list, approve, reject, execute."""


@deletions.command("list")
@repo_option
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@user_errors
def deletions_list(repo: Path, output: str) -> None:
    """Open requests and what Git history says about each."""
    from proxgit.deletions.executing import list_open_requests

    found = list_open_requests(repo)
    if output == "json":
        click.echo(found.model_dump_json(indent=2))
        return
    for line in found.warnings:
        click.echo(f"warning: {line}")
    if not found.requests:
        click.echo("no open deletion requests")
    for row in found.requests:
        why = f" ({'; '.join(row.reasons)})" if row.reasons else ""
        if row.guest is None:
            click.echo(f"{row.id}: {row.state.value}{why}")
            continue
        click.echo(
            f"{row.id}: {row.guest} (vmid {row.vmid}) requested by "
            f"{row.requester}, expires {row.expires}: {row.state.value}{why}"
        )


@deletions.command("approve")
@click.argument("request_id")
@repo_option
@click.option(
    "--sign/--no-sign",
    default=None,
    help="Sign the commit (git commit -S); always on in signatures mode.",
)
@click.option("--push/--no-push", default=False)
@user_errors
def deletions_approve(request_id: str, repo: Path, sign: bool | None, push: bool) -> None:
    """Approve a request in a commit of your own, after checking it would count."""
    from proxgit.deletions.deciding import decide_locally

    require_remote(repo, push)
    done = decide_locally(repo, request_id, approve=True, sign=sign, push=push)
    click.echo(done.message)


@deletions.command("reject")
@click.argument("request_id")
@repo_option
@click.option("--reason", required=True, help="Why the guest must stay.")
@click.option("--sign/--no-sign", default=None, help="Sign the commit (git commit -S).")
@click.option("--push/--no-push", default=False)
@user_errors
def deletions_reject(
    request_id: str, repo: Path, reason: str, sign: bool | None, push: bool
) -> None:
    """Reject a request, with a reason, in a commit of your own."""
    from proxgit.deletions.deciding import decide_locally

    if not reason.strip():
        _fail("--reason must say why the guest must stay", 1)
    require_remote(repo, push)
    done = decide_locally(repo, request_id, approve=False, reason=reason, sign=sign, push=push)
    click.echo(done.message)


@deletions.command("execute")
@repo_option
@click.option("--push/--no-push", default=False, help="Push the archive commit.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=300.0, show_default=True)
@progress_options
@user_errors
def deletions_execute(
    repo: Path, push: bool, lock_timeout: float, verbose: bool, quiet: bool
) -> None:
    """Destroy approved guests; untag and archive rejected, expired and withdrawn requests."""
    from proxgit.deletions.executing import process_requests

    require_remote(repo, push)
    with progress_view(verbose, quiet):
        run = process_requests(repo, execute=True, push=push, lock_wait=lock_timeout)
    if quiet:
        click.echo(f"deletions: {run.summary() or 'no open deletion requests'}")
        finish(run.outcome)
    shown: set[str] = set()
    for outcome in run.outcomes:
        for line in outcome.warnings:
            if line not in shown:
                shown.add(line)
                click.echo(f"warning: {line}")
    for outcome in run.outcomes:
        click.echo(f"{outcome.state.value:<9} {outcome.name}: {outcome.message}")
    if not run.outcomes:
        click.echo("no open deletion requests")
    if run.push_error:
        click.echo(f"error: {run.push_error}", err=True)
    finish(run.outcome)
