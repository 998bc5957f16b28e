"""``proxgit watch``: follow the repository until SIGTERM."""

from __future__ import annotations

from pathlib import Path

import click

from proxgit.cli._common import _fail, user_errors


@click.command()
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
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds between iterations.",
)
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
@click.option(
    "--max-iterations",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after N iterations.",
)
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
