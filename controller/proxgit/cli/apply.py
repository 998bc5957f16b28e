"""``proxgit apply``: apply a merged revision, then settle rejected and expired requests."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from proxgit.cli._common import (
    finish,
    progress_options,
    progress_view,
    repo_option,
    require_remote,
    user_errors,
)
from proxgit.outcomes import Outcome, worst


@click.command()
@repo_option
@click.option("--revision", default="HEAD", show_default=True, help="The merged revision.")
@click.option("--cluster", "clusters", multiple=True, help="Only these clusters; repeatable.")
@click.option(
    "--push/--no-push",
    default=False,
    show_default=True,
    help="Push the journal commit (and deletion requests) to the remote.",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    help="Seconds to wait for another apply's cluster lock.",
)
@click.option(
    "--lock-lease",
    type=click.FloatRange(min=0, min_open=True),
    default=120.0,
    show_default=True,
    help="Seconds the cluster lock lives unless renewed (renewed every quarter of it).",
)
@click.option(
    "--sync",
    is_flag=True,
    help="Also put back every declared guest whose live state drifted, not only those "
    "the revision changed (same gates, lock, restart policy and journal).",
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@progress_options
@user_errors
def apply(
    repo: Path,
    revision: str,
    clusters: tuple[str, ...],
    push: bool,
    lock_timeout: float,
    lock_lease: float,
    sync: bool,
    output: str,
    verbose: bool,
    quiet: bool,
) -> None:
    """Apply a merged revision: 0 applied or nothing to do, 1 failed or partial, 3 refused,
    130 or 143 interrupted by SIGINT or SIGTERM (work journaled, lock released)."""
    import signal
    import threading

    from proxgit.applying.run import ApplyOptions
    from proxgit.deletions.executing import RequestState
    from proxgit.deletions.settling import apply_and_settle

    require_remote(repo, push)
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        if len(received) == 1:
            click.echo(
                f"proxgit apply: {signal.Signals(signum).name} received: starting nothing new, "
                "journaling what was done and releasing the lock",
                err=True,
            )
        stop.set()

    previous = {
        sig: signal.signal(sig, on_signal)
        for sig in (signal.SIGTERM, signal.SIGINT)
        if threading.current_thread() is threading.main_thread()
    }
    try:
        with progress_view(verbose, quiet) as view:
            done = apply_and_settle(
                repo,
                ApplyOptions(
                    revision=revision,
                    clusters=clusters or None,
                    push=push,
                    lock_wait=lock_timeout,
                    lease=lock_lease,
                    stop=stop,
                    progress=view.note,
                    sync="all" if sync else None,
                ),
                destroy_approved=False,
            )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    run = done.apply
    if received and not run.interrupted:
        run.interrupted = True
    if output == "json":
        click.echo(run.model_dump_json(indent=2))
    elif quiet:
        click.echo(
            f"apply {run.revision[:12]}: {run.state.value}"
            + (" (interrupted)" if run.interrupted else "")
        )
    else:
        for outcome in run.clusters:
            if outcome.message:
                click.echo(f"cluster {outcome.cluster}: {outcome.state.value}: {outcome.message}")
        for result in run.results:
            upids = f" [{', '.join(t.upid for t in result.tasks)}]" if result.tasks else ""
            message = f": {result.message}" if result.message else ""
            click.echo(
                f"{result.state.value:<17} {result.action:<7} {result.cluster}/"
                f"{result.name} (vmid {result.vmid}){message}{upids}"
            )
        click.echo(
            f"apply {run.revision[:12]}: {run.state.value}"
            + (" (interrupted)" if run.interrupted else "")
        )
    if received:
        sys.exit(130 if signal.SIGINT in received else 143)
    # Rejected, expired and withdrawn deletion requests are carried out on every apply.
    for decided in done.requests.outcomes if done.requests else ():
        if (
            decided.state in (RequestState.rejected, RequestState.expired)
            and output != "json"
            and not quiet
        ):
            click.echo(
                f"deletion request {decided.name}: {decided.state.value}; guest untagged and "
                "request archived"
            )
    if done.requests is not None and done.requests.push_error:
        # what was settled is committed but not on the remote: as failed as a journal
        # that could not be pushed
        click.echo(f"error: deletion requests: {done.requests.push_error}", err=True)
        finish(worst([run.outcome, Outcome.failed]))
    finish(run.outcome)
