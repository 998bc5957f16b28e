"""``proxgit reflect``, ``proxgit drift`` and ``proxgit import``: thin commands over ``reflecting``.

Each is a plain :class:`click.Command`, registered on the ``proxgit`` group
by ``proxgit.cli``. Exit codes follow DESIGN.md: reflect 0 ok / 1 error, drift
0 none / 2 drift / 1 error, import 0 ok / 1 error.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from proxgit.cli._common import (
    _fail,
    finish,
    out_file_option,
    progress_options,
    progress_view,
    repo_option,
    require_remote,
    stops_at_ctrl_c,
    user_errors,
    write_out,
)
from proxgit.outcomes import Outcome


@click.command("reflect")
@repo_option
@click.option("--cluster", "clusters", multiple=True, help="Only these clusters; repeatable.")
@click.option(
    "--push/--no-push",
    default=False,
    show_default=True,
    help="Push the snapshot commit; a lost race rebases it onto the remote branch and retries.",
)
@click.option(
    "--commit/--no-commit",
    default=True,
    show_default=True,
    help="Commit snapshot/ when it changed (--no-commit only writes the files).",
)
@click.option(
    "--agent-addresses/--no-agent-addresses",
    default=True,
    show_default=True,
    help="Ask the guest agent of running VMs for their IP addresses (one call per such VM).",
)
@click.option(
    "--netbox/--no-netbox",
    default=False,
    show_default=True,
    help="Also write live state into the NetBox of proxgit.yaml's netbox block (docs/netbox.md).",
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@progress_options
@user_errors
@stops_at_ctrl_c
def reflect(
    repo: Path,
    clusters: tuple[str, ...],
    push: bool,
    commit: bool,
    agent_addresses: bool,
    netbox: bool,
    output: str,
    verbose: bool,
    quiet: bool,
) -> None:
    """Snapshot live state into snapshot/ and commit it when it changed: 0 ok, 1 error."""
    from proxgit.reflecting import ReflectOptions, reflect_repository
    from proxgit.reflecting.netbox import describe

    if push and not commit:
        _fail("--push pushes the snapshot commit, and --no-commit makes none; drop one of them", 1)
    require_remote(repo, push)
    with progress_view(verbose, quiet):
        result = reflect_repository(
            repo,
            ReflectOptions(
                clusters=clusters or None,
                commit=commit,
                push=push,
                agent_addresses=agent_addresses,
                netbox=netbox,
            ),
        )
    if quiet and output != "json":
        read = sum(1 for c in result.clusters if not c.error)
        committed = f"; committed {result.commit[:12]}" if result.commit else ""
        click.echo(f"reflect: {read}/{len(result.clusters)} cluster(s) read{committed}")
        if result.netbox is not None:
            for line in describe(result.netbox):
                if line.problem:
                    click.echo(line.text, err=True)
    elif output == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        for outcome in result.clusters:
            if outcome.error:
                prefix = f"cluster '{outcome.cluster}': "
                why = outcome.error.removeprefix(prefix)
                click.echo(f"{prefix}not read, snapshot kept: {why}")
                continue
            changes = outcome.changes
            what = changes.headline().split(": ", 1)[1] if changes and changes.any else "unchanged"
            click.echo(
                f"cluster {outcome.cluster}: {outcome.guests} guest(s), {outcome.requests} "
                f"request(s) ({outcome.requests_per_guest:.2f} per guest); snapshot {what}; "
                f"drift: {outcome.drift.get('changed', 0)} changed, "
                f"{outcome.drift.get('missing', 0)} missing, "
                f"{outcome.drift.get('unmanaged', 0)} unmanaged"
            )
            for warning in outcome.warnings:
                click.echo(f"  warning: {warning}")
            if outcome.unread:
                click.echo(
                    f"cluster {outcome.cluster}: {len(outcome.unread)} guest(s) not read, their "
                    f"previous snapshot kept: {'; '.join(outcome.unread)}",
                    err=True,
                )
        if result.commit:
            pushed = ", pushed" if result.pushed else ""
            click.echo(f"committed {result.commit[:12]}{pushed}")
        elif commit:
            click.echo("snapshot unchanged: nothing to commit")
        if result.netbox is not None:
            for line in describe(result.netbox):
                click.echo(line.text, err=line.problem)
    finish(Outcome.ok if result.ok else Outcome.failed)


@click.command("drift")
@repo_option
@click.option("--cluster", "clusters", multiple=True, help="Only these clusters; repeatable.")
@click.option(
    "--output", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True
)
@out_file_option("Write the report to this file instead of stdout.")
@user_errors
@stops_at_ctrl_c
def drift(repo: Path, clusters: tuple[str, ...], output: str, out_file: Path | None) -> None:
    """Live state against the desired tree, field by field: 0 none, 2 drift, 1 error."""
    from proxgit.reflecting import run_drift
    from proxgit.rendering.drift import (
        render_drift_json,
        render_drift_markdown,
        render_drift_text,
    )

    report = run_drift(repo, clusters=clusters or None)
    views = {"json": render_drift_json, "markdown": render_drift_markdown}
    text = views.get(output, render_drift_text)(report)
    if out_file is not None:
        write_out(out_file, text)
    else:
        click.echo(text, nl=False)
    finish(Outcome.failed if report.errors else Outcome.changes if report.has_drift else Outcome.ok)


@click.command("import")
@repo_option
@click.option("--cluster", required=True, help="The cluster (as named in proxgit.yaml).")
@click.option("--vmid", "vmids", type=int, multiple=True, help="A guest to import; repeatable.")
@click.option(
    "--all-unmanaged",
    is_flag=True,
    help="Import every guest of the cluster that no document declares (templates excepted).",
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@progress_options
@user_errors
@stops_at_ctrl_c
def import_command(
    repo: Path,
    cluster: str,
    vmids: tuple[int, ...],
    all_unmanaged: bool,
    output: str,
    verbose: bool,
    quiet: bool,
) -> None:
    """Write desired documents for existing guests (adoption): 0 ok, 1 error."""
    from proxgit.importing import import_guests

    with progress_view(verbose, quiet):
        result = import_guests(repo, cluster, vmids=vmids, all_unmanaged=all_unmanaged)
    if quiet and output != "json":
        click.echo(
            f"import: {len(result.written)} document(s) written, "
            f"{len(result.not_imported)} not imported"
        )
        finish(Outcome.failed if result.not_imported else Outcome.ok)
    if output == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
        finish(Outcome.failed if result.not_imported else Outcome.ok)
    for vmid, name, reason in result.not_imported:
        click.echo(f"vmid {vmid} ({name}) not imported: {reason}")
    for guest in result.written:
        click.echo(f"wrote {guest.path} ({guest.kind}, vmid {guest.vmid})")
        if guest.password_env:
            click.echo(
                f"  cloudInit.passwordFrom: {{env: {guest.password_env}}} is a placeholder; "
                "set that variable where apply runs, or point it at your secret"
            )
        for line in guest.left_out:
            click.echo(f"  {line}")
        if guest.owned:
            click.echo(f"  set by Proxmox itself, so not declared: {', '.join(guest.owned)}")
    if not result.written and not result.not_imported:
        click.echo(f"cluster {cluster}: no unmanaged guests to import")
    else:
        click.echo(
            f"{len(result.written)} document(s) written; review and commit them, "
            "then 'proxgit plan' shows no changes for these guests"
        )
    finish(Outcome.failed if result.not_imported else Outcome.ok)
