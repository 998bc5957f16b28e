"""``proxgit plan``: diff desired state against live Proxmox, render, publish."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from proxgit.cli._common import (
    finish,
    out_file_option,
    repo_option,
    stops_at_ctrl_c,
    user_errors,
    write_out,
)

if TYPE_CHECKING:
    from proxgit.forges import ForgeSettings
    from proxgit.planning.plan import Plan


@click.command()
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
@out_file_option("Write the rendered plan to this file instead of stdout.")
@click.option(
    "--actor",
    "actors",
    multiple=True,
    callback=lambda ctx, param, value: _check_actors(value),
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
@stops_at_ctrl_c
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
    from proxgit.cli._progress import color_allowed
    from proxgit.planning.run import run_plan
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
        write_out(out_file, text)
    else:
        click.echo(text, nl=False)
    if forge_settings is not None:
        _publish(forge_settings, the_plan)
    finish(the_plan.outcome)


def _check_actors(actors: tuple[str, ...]) -> tuple[str, ...]:
    """``--actor`` values without surrounding blanks; an empty one is a mistake."""
    cleaned = tuple(actor.strip() for actor in actors)
    if any(not actor or any(c.isspace() for c in actor) for actor in cleaned):
        shown = next(a for a in actors if not a.strip() or any(c.isspace() for c in a.strip()))
        raise click.BadParameter(
            f"'{shown}' is not an identity; give an email (alice@example.com) or a forge "
            "login (github:alice)"
        )
    return cleaned


def _publish(settings: ForgeSettings, the_plan: Plan) -> None:
    from proxgit.forges import plan_status, publish_plan, write_step_summary
    from proxgit.rendering import render_markdown

    markdown = render_markdown(the_plan)
    state, description = plan_status(the_plan)
    publish_plan(settings, markdown=markdown, state=state, description=description)
    write_step_summary(markdown)
    click.echo(f"plan posted to {settings.forge} ({state}: {description})", err=True)
