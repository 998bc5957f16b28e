"""The ``proxgit`` command line: parses options, calls the library, sets exit codes.

Exit codes follow DESIGN.md's contract. Every error a user can cause is
printed as one line; an unexpected exception is printed as one line too, with
``PROXGIT_DEBUG=1`` to see the traceback.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click

from proxgit import __version__
from proxgit.clitools import (
    _fail,
    finish,
    progress_options,
    progress_view,
    repo_option,
    user_errors,
)
from proxgit.commands_reflect import drift, import_command, reflect
from proxgit.errors import InvalidRepository
from proxgit.outcomes import Outcome


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="proxgit")
def main() -> None:
    """GitOps for Proxmox VE: plan on pull requests, apply on merge, four-eyes deletions."""


@main.command()
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


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
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


@main.command()
@repo_option
@click.option(
    "--base",
    default=None,
    help="Base revision (the PR's target); deletions and drift are computed against it.",
)
@click.option("--head", default=None, help="Head revision; default: the working tree.")
@click.option(
    "--output", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the rendered plan to this file instead of stdout.",
)
@click.option(
    "--actor",
    "actors",
    multiple=True,
    help="Identity whose permissions are checked "
    "(email or forge login like github:alice); repeatable.",
)
@click.option(
    "--comment",
    type=click.Choice(["github", "gitlab", "gitea"]),
    default=None,
    help="Post (or update) the plan as a PR comment and set a commit status.",
)
@click.option(
    "--api-url",
    default=None,
    help="Forge API base URL (default: from the CI's "
    "environment, e.g. GITHUB_API_URL; set it for GitHub Enterprise).",
)
@click.option(
    "--repository",
    default=None,
    help="owner/name (GitLab: project id or path); default from the CI's environment.",
)
@click.option("--pr", default=None, help="Pull/merge request number; default from the CI.")
@click.option("--sha", default=None, help="Head commit for the status; default from the CI.")
@click.option(
    "--token",
    default=None,
    help="Forge token; prefer the environment variable "
    "(PROXGIT_GITHUB_TOKEN, GITHUB_TOKEN, ...) so it stays out of shell history.",
)
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the text view (default: on a terminal, unless NO_COLOR is set).",
)
@click.option(
    "--sync",
    is_flag=True,
    help="Also put back drifted guests whose files did not change: what 'apply --sync' "
    "would do (base: the last applied revision unless --base names one).",
)
@click.option("--cluster", "clusters", multiple=True, help="Only these clusters; repeatable.")
@click.option(
    "--watch",
    "watch_files",
    is_flag=True,
    help="Re-render whenever a desired file changes (local editing).",
)
@click.option(
    "--drift",
    is_flag=True,
    help="With --base, also read the guests the change leaves alone and report their drift "
    "(by default a pull request's plan reads only what it changes).",
)
@user_errors
def plan(
    repo: Path,
    base: str | None,
    head: str | None,
    output: str,
    out_file: Path | None,
    actors: tuple[str, ...],
    comment: str | None,
    api_url: str | None,
    repository: str | None,
    pr: str | None,
    sha: str | None,
    token: str | None,
    color: bool | None,
    sync: bool,
    clusters: tuple[str, ...],
    watch_files: bool,
    drift: bool,
) -> None:
    """Diff desired state against live Proxmox: 0 no changes, 2 changes, 1 error or blocker."""
    from proxgit.planning.run import run_plan
    from proxgit.progress import color_allowed
    from proxgit.rendering import render_json, render_markdown, render_text

    if watch_files:
        import threading

        from proxgit.watching.local import watch_plan

        def render() -> str:
            result = run_plan(
                repo,
                base=base,
                actor=list(actors) or None,
                sync=sync,
                clusters=clusters,
                drift=drift,
            )
            return render_text(
                result.plan, color=color_allowed(sys.stdout) if color is None else color
            )

        def out(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

        watch_plan(repo, render, out=out, stop_event=threading.Event(), clear=sys.stdout.isatty())
        return

    actor: list[str] | None = list(actors) or None
    forge_settings = None
    if comment is not None:
        from proxgit.forges import ForgeSettings, pr_author

        forge_settings = ForgeSettings.from_env(
            comment, api_url=api_url, repository=repository, pr=pr, sha=sha, token=token
        )
        if actor is None:
            actor = pr_author(forge_settings).identities()
    result = run_plan(
        repo,
        base=base,
        head=head,
        actor=actor,
        sync=sync,
        clusters=clusters or None,
        drift=drift,
    )
    the_plan = result.plan
    if output == "json":
        text = render_json(the_plan)
    elif output == "markdown":
        text = render_markdown(the_plan)
    else:
        use_color = color if color is not None else (out_file is None and color_allowed(sys.stdout))
        text = render_text(the_plan, color=use_color)
    if out_file is not None:
        out_file.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    if forge_settings is not None:
        _publish(forge_settings, the_plan)
    finish(the_plan.outcome)


def _publish(settings: Any, the_plan: Any) -> None:
    from proxgit.forges import publish_plan, write_step_summary
    from proxgit.rendering import render_markdown

    markdown = render_markdown(the_plan)
    if the_plan.blocker_count:
        state, description = "failure", f"{the_plan.blocker_count} blocker(s)"
    elif the_plan.has_changes:
        s = the_plan.summary
        moves = f", {s.migrate} migrate" if s.migrate else ""
        state, description = (
            "success",
            f"{s.create} create, {s.update} update, {s.delete} delete{moves}",
        )
    else:
        state, description = "neutral", "no changes"
    publish_plan(settings, markdown=markdown, state=state, description=description)
    write_step_summary(markdown)
    click.echo(f"plan posted to {settings.forge} ({state}: {description})", err=True)


@main.command()
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
    default=300.0,
    show_default=True,
    help="Seconds to wait for another apply's cluster lock.",
)
@click.option(
    "--lock-lease",
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

    from proxgit.applying.run import ApplyOptions, apply_revision

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
            run = apply_revision(
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
            )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
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
    # Rejected and expired deletion requests are carried out on every apply too.
    from proxgit.deletions.executing import process_requests

    requests = process_requests(
        repo, execute=False, push=push, lock_wait=lock_timeout, clusters=clusters or None
    )
    for decided in requests.outcomes:
        if decided.state in ("rejected", "expired") and output != "json" and not quiet:
            click.echo(
                f"deletion request {decided.name}: {decided.state}; guest untagged and "
                "request archived"
            )
    finish(run.outcome)


@main.group()
def deletions() -> None:
    """The deletion-request workflow: list, approve, reject, execute."""


@deletions.command("list")
@repo_option
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@user_errors
def deletions_list(repo: Path, output: str) -> None:
    """Open requests and what Git history says about each."""
    from datetime import UTC, datetime

    from proxgit.deletions.executing import decide
    from proxgit.loading import load_directory

    state = load_directory(repo)
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for name in sorted(state.deletion_requests):
        path, request = state.deletion_requests[name]
        if str(request.status.state) != "open":
            continue
        decision = decide(repo, path, state.config, now=datetime.now(UTC))
        trusted = decision.request
        warnings.extend(w for w in decision.warnings if w not in warnings)
        rows.append(
            {
                "id": name,
                "file": path,
                "guest": trusted.spec.guest.name if trusted else None,
                "vmid": trusted.spec.guest.vmid if trusted else None,
                "requester": decision.requester.label if decision.requester else None,
                "expires": trusted.spec.expires_at.isoformat() if trusted else None,
                "state": decision.state,
                "approver": decision.approver.label if decision.approver else None,
                "reasons": decision.reasons,
            }
        )
    if output == "json":
        click.echo(json.dumps({"requests": rows, "warnings": warnings}, indent=2))
        return
    for line in warnings:
        click.echo(f"warning: {line}")
    if not rows:
        click.echo("no open deletion requests")
    for row in rows:
        why = f" ({'; '.join(row['reasons'])})" if row["reasons"] else ""
        if row["guest"] is None:
            click.echo(f"{row['id']}: {row['state']}{why}")
            continue
        click.echo(
            f"{row['id']}: {row['guest']} (vmid {row['vmid']}) requested by "
            f"{row['requester']}, expires {row['expires']}: {row['state']}{why}"
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
    done = decide_locally(repo, request_id, approve=False, reason=reason, sign=sign, push=push)
    click.echo(done.message)


@deletions.command("execute")
@repo_option
@click.option("--push/--no-push", default=False, help="Push the archive commit.")
@click.option("--lock-timeout", default=300.0, show_default=True)
@progress_options
@user_errors
def deletions_execute(
    repo: Path, push: bool, lock_timeout: float, verbose: bool, quiet: bool
) -> None:
    """Destroy approved guests; untag and archive rejected, expired and withdrawn requests."""
    from proxgit.deletions.executing import process_requests

    with progress_view(verbose, quiet):
        run = process_requests(repo, execute=True, push=push, lock_wait=lock_timeout)
    if quiet:
        counts: dict[str, int] = {}
        for outcome in run.outcomes:
            counts[outcome.state] = counts.get(outcome.state, 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        click.echo(f"deletions: {summary or 'no open deletion requests'}")
        finish(run.outcome)
    shown: set[str] = set()
    for outcome in run.outcomes:
        for line in outcome.warnings:
            if line not in shown:
                shown.add(line)
                click.echo(f"warning: {line}")
    for outcome in run.outcomes:
        click.echo(f"{outcome.state:<9} {outcome.name}: {outcome.message}")
    if not run.outcomes:
        click.echo("no open deletion requests")
    finish(run.outcome)


@main.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PROXGIT_WORKDIR",
    default=Path("."),
    show_default=True,
    help="The clone to work in (cloned from --url when it is not one yet).",
)
@click.option("--url", envvar="PROXGIT_REPO_URL", default=None, help="Repository to clone.")
@click.option("--branch", envvar="PROXGIT_BRANCH", default="main", show_default=True)
@click.option(
    "--cluster",
    "clusters",
    multiple=True,
    help="Only these clusters (shard); repeatable. Default: all.",
)
@click.option("--interval", default=30.0, show_default=True, help="Seconds between iterations.")
@click.option(
    "--reflect-interval",
    default="15m",
    show_default=True,
    help="How often to reflect and push a snapshot (e.g. 15m, 1h).",
)
@click.option(
    "--listen",
    default="0.0.0.0:8080",
    show_default=True,
    help="Address of /healthz, /readyz and /metrics ('off' to disable).",
)
@click.option("--push/--no-push", default=True, show_default=True)
@click.option("--max-iterations", type=int, default=None, help="Stop after N iterations.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    envvar="PROXGIT_LOG_FORMAT",
    default="text",
    show_default=True,
    help="json: one JSON object per line (time, level, message), for log collectors.",
)
@user_errors
def watch(
    workdir: Path,
    url: str | None,
    branch: str,
    clusters: tuple[str, ...],
    interval: float,
    reflect_interval: str,
    listen: str,
    push: bool,
    max_iterations: int | None,
    log_format: str,
) -> None:
    """Follow the repository: apply, decide deletions, reflect; until SIGTERM."""
    import signal
    import threading

    from proxgit.models.config import parse_duration
    from proxgit.watching.endpoints import parse_listen
    from proxgit.watching.loop import Watcher, WatchOptions

    try:
        every = parse_duration(reflect_interval).total_seconds()
    except ValueError as err:
        _fail(f"--reflect-interval: {err}", 1)
    options = WatchOptions(
        workdir=workdir,
        url=url,
        branch=branch,
        clusters=list(clusters) or None,
        interval=interval,
        reflect_interval=every,
        push=push,
        max_iterations=max_iterations,
        listen=None if listen == "off" else parse_listen(listen),
    )
    stop = threading.Event()

    from proxgit.watching.logs import log_writer

    log, log_error = log_writer(log_format)

    def on_signal(signum: int, _frame: object) -> None:
        log(f"watch: {signal.Signals(signum).name}: finishing the current step")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    Watcher(options, log=log, log_error=log_error).run(stop)


@main.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to create the demo repositories (default: a new temp dir).",
)
@user_errors
def demo(workdir: Path | None) -> None:
    """The whole story on a temporary Git repository."""
    from proxgit.demo import run_demo

    run_demo(workdir)


main.add_command(reflect)
main.add_command(drift)
main.add_command(import_command)
