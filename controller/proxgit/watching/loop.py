"""``proxgit watch``: the long-running loop of the watch pod, like Argo CD or Flux.

Each iteration: bring the clone up to date with the main branch; apply a new
revision and decide deletion requests, the sequence ``proxgit apply`` runs
(``deletions/settling.py``; every gate applies exactly as in CI), except that
approved requests are destroyed here too; every
``reflect_interval``, reflect live state into ``snapshot/`` and push it, which
also measures drift. A failing step is logged in one line and retried with
backoff on the next iteration; it never ends the loop. SIGTERM lets the
current step finish (its locks are released on the way out) and then stops.

Sharding: ``clusters`` limits the pod to those clusters, so several pods can
split a large estate, each taking only its own clusters' locks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from proxgit import observe
from proxgit.applying.results import ApplyRun, GuestState, RunState
from proxgit.errors import GateRefused, ProxgitError, RepositoryError
from proxgit.git import GitRepository, Identity, commit_identity
from proxgit.layout import CONFIG_FILE
from proxgit.outcomes import Outcome
from proxgit.watching.endpoints import WatchMetrics, serve_endpoints

if TYPE_CHECKING:
    from proxgit.deletions.executing import DeletionsRun
    from proxgit.reflecting.netbox import NetBoxResult

Log = Callable[[str], None]


@dataclass
class WatchOptions:
    workdir: Path
    url: str | None = None
    branch: str = "main"
    clusters: Sequence[str] | None = None
    interval: float = 30.0
    reflect_interval: float = 900.0
    backoff: float = 5.0
    max_backoff: float = 300.0
    listen: tuple[str, int] | None = ("0.0.0.0", 8080)
    ready_max_age: float = 300.0
    push: bool = True
    lock_wait: float = 60.0
    max_iterations: int | None = None


class Watcher:
    def __init__(
        self,
        options: WatchOptions,
        *,
        log: Log,
        metrics: WatchMetrics | None = None,
        log_error: Log | None = None,
    ) -> None:
        self.options = options
        self.log = log
        self.log_error = log_error or log  # a failing step (level error in JSON logs)
        self.metrics = metrics or WatchMetrics(clusters=options.clusters or ())
        self.iterations = 0
        self.last_reflect = float("-inf")
        self.failures = 0
        self.reported_pending: set[str] = set()

    # --- the loop --------------------------------------------------------------------

    def run(self, stop: threading.Event, on_iteration: Callable[[int], None] | None = None) -> int:
        server = None
        if self.options.listen is not None:
            host, port = self.options.listen
            server = serve_endpoints(self.metrics, host, port, self.options.ready_max_age)
            self.log(f"watch: endpoints on {server.url} (/healthz /readyz /metrics)")
        try:
            with observe.listening(self.metrics):
                self._loop(stop, on_iteration)
        finally:
            if server is not None:
                server.close()
        self.log(f"watch: stopped after {self.iterations} iteration(s)")
        return self.iterations

    def _loop(self, stop: threading.Event, on_iteration: Callable[[int], None] | None) -> None:
        self._ensure_clone()
        while not stop.is_set():
            if (
                self.options.max_iterations is not None
                and self.iterations >= self.options.max_iterations
            ):
                break
            if on_iteration is not None:
                on_iteration(self.iterations)
            ok = self.iterate(stop)
            self.iterations += 1
            self.failures = 0 if ok else self.failures + 1
            # after a failure: back off exponentially, capped, then back to the interval
            delay = (
                self.options.interval
                if ok
                else min(
                    self.options.max_backoff,
                    self.options.backoff * 2 ** min(self.failures - 1, 10),
                )
            )
            if stop.wait(delay):
                break

    def iterate(self, stop: threading.Event) -> bool:
        started = time.monotonic()
        errors: list[str] = []
        steps: list[tuple[str, Callable[[], None]]] = [
            ("sync", self.sync),
            ("apply", self.apply),
        ]
        if time.monotonic() - self.last_reflect >= self.options.reflect_interval:
            steps.append(("reflect", self.reflect))
        for name, step in steps:
            if stop.is_set():
                break
            try:
                step()
            except ProxgitError as err:
                errors.append(f"{name}: {err.message}")
            except Exception as err:  # a bug in a step must not kill the pod
                errors.append(f"{name}: internal error: {type(err).__name__}: {err}")
        for error in errors:
            self.log_error(f"watch: step {error}")
        seconds = time.monotonic() - started
        self.metrics.record_iteration(not errors, seconds, error="; ".join(errors)[:200])
        return not errors

    # --- steps -------------------------------------------------------------------------

    def _ensure_clone(self) -> None:
        workdir = self.options.workdir
        if (workdir / ".git").exists():
            return
        if not self.options.url:
            raise RepositoryError(f"{workdir}: not a Git clone and no --url to clone from")
        GitRepository.clone(self.options.url, workdir, branch=self.options.branch)

    def sync(self) -> None:
        """Fetch the main branch and put any unpushed proxgit commits on top of it."""
        with observe.step("", "sync"):
            self._sync()

    def _sync(self) -> None:
        repo = GitRepository(self.options.workdir)
        branch = self.options.branch
        repo.fetch(f"+refs/heads/{branch}:refs/remotes/{repo.remote}/{branch}")
        repo.run("checkout", "--quiet", branch)
        identity = self._identity(repo)
        try:
            repo.rebase_onto(f"{repo.remote}/{branch}", identity)
        except RepositoryError:
            repo.run("rebase", "--abort")
            repo.run("reset", "--quiet", "--hard", f"{repo.remote}/{branch}")
            self.log("watch: local proxgit commits conflicted with the remote; reset to it")
        ahead = repo.run("rev-list", "--count", f"{repo.remote}/{branch}..HEAD").strip()
        if self.options.push and ahead not in ("", "0"):
            repo.push_branch(branch, identity=identity)

    def _identity(self, repo: GitRepository) -> Identity | None:
        """proxgit's own identity and key, from the working tree's proxgit.yaml."""
        try:
            from proxgit.loading import load_files

            config = (repo.path / CONFIG_FILE).read_text(encoding="utf-8")
            return commit_identity(load_files([(CONFIG_FILE, config)]).config, repo.path)
        except (OSError, ProxgitError):
            return None

    def apply(self) -> None:
        """Apply the branch's newest revision, then settle and execute deletion requests.

        The same sequence as ``proxgit apply`` (:func:`apply_and_settle`), except that
        approved requests are destroyed here: the pod is the deletions executor.
        """
        from proxgit.applying.run import ApplyOptions
        from proxgit.deletions.settling import apply_and_settle

        try:
            done = apply_and_settle(
                self.options.workdir,
                ApplyOptions(
                    clusters=self.options.clusters,
                    push=self.options.push,
                    lock_wait=self.options.lock_wait,
                    # guests whose syncPolicy (or cluster's) says selfHeal are put back
                    sync="self-heal",
                ),
                destroy_approved=True,
            )
        except GateRefused as err:
            self.log(f"watch: apply {err.message}; deletion requests not settled")
            return
        failures = [*self._record_apply(done.apply), *self._record_deletions(done.requests)]
        if failures:
            raise ProxgitError("; ".join(failures))

    def _record_apply(self, run: ApplyRun) -> list[str]:
        for outcome in run.clusters:
            if outcome.state == RunState.noop and not any(
                r.cluster == outcome.cluster for r in run.results
            ):
                # nothing new: no apply ran, so none is counted (the revision is current)
                self.metrics.set_last_applied(outcome.cluster, run.revision)
                continue
            states: dict[str, int] = {}
            for result in run.results:
                if result.cluster == outcome.cluster:
                    states[result.state.value] = states.get(result.state.value, 0) + 1
            self.metrics.record_apply(outcome.cluster, outcome.state.value, states)
            if outcome.state.outcome is Outcome.ok:
                self.metrics.set_last_applied(outcome.cluster, run.revision)
        if run.results:
            self.log(f"watch: applied {run.revision[:12]}: {run.state.value}")
        for result in run.results:
            if result.state == GuestState.failed:
                self.log_error(
                    f"watch: {result.cluster}/{result.name} (vmid {result.vmid}): "
                    f"{result.action} failed: {result.message}"
                )
        failed = [c for c in run.clusters if c.state.outcome == Outcome.failed]
        if failed or run.state.outcome == Outcome.failed:
            detail = "; ".join(f"{c.cluster}: {c.message}" for c in failed if c.message)
            return [f"apply {run.state.value}{': ' + detail if detail else ''}"]
        return []

    def _record_deletions(self, run: DeletionsRun | None) -> list[str]:
        from proxgit.deletions.executing import RequestState

        if run is None:
            return []  # the apply was interrupted: nothing settled
        for outcome in run.outcomes:
            if outcome.state is not RequestState.pending:
                self.log(
                    f"watch: deletion {outcome.name}: {outcome.state.value}: {outcome.message}"
                )
        # Open requests left after this run wait for a decision. Counted from the run
        # itself: loading the whole desired tree again costs seconds on large estates.
        waiting = dict.fromkeys([*(self.options.clusters or ()), *self.reported_pending], 0)
        for outcome in run.outcomes:
            waiting.setdefault(outcome.cluster, 0)
            if not outcome.state.settled:
                waiting[outcome.cluster] += 1
        for cluster, count in waiting.items():
            self.metrics.set_pending_deletions(cluster, count)
        self.reported_pending = set(waiting)
        # a gate that keeps a request blocked is the operator's choice, not a failing step
        blocked = [o for o in run.outcomes if o.outcome == Outcome.failed]
        if blocked:
            return [f"deletion {blocked[0].name}: {blocked[0].message}"]
        if run.push_error:
            return [f"deletions: {run.push_error}"]
        return []

    def reflect(self) -> None:
        from proxgit.reflecting import ReflectOptions, reflect_repository

        result = reflect_repository(
            self.options.workdir,
            ReflectOptions(clusters=self.options.clusters, push=self.options.push, netbox=None),
        )
        self.last_reflect = time.monotonic()
        for outcome in result.clusters:
            if outcome.error:
                continue  # its requests and error were counted as they happened
            self.metrics.set_drift(
                outcome.cluster, sum(n for kind, n in outcome.drift.items() if kind != "in_sync")
            )
        if result.commit:
            self.log(f"watch: {result.message.splitlines()[0] if result.message else 'reflected'}")
        problems = [f"{c.cluster}: {c.error}" for c in result.clusters if c.error]
        if result.netbox is not None:
            from proxgit.reflecting.netbox import describe

            self._record_netbox(result.netbox)
            problems += [
                f"netbox: {line.text.removeprefix('netbox: ')}"
                for line in describe(result.netbox)
                if line.problem
            ]
        if not result.ok:
            raise ProxgitError("reflect: " + "; ".join(problems or ["guests not read"]))

    def _record_netbox(self, netbox: NetBoxResult) -> None:
        for method, n in netbox.requests.items():
            self.metrics.add_netbox_requests(method, n)
        if netbox.error:
            self.metrics.add_netbox_failures("", 1)
        for cluster in netbox.clusters:
            for what, n in cluster.written.items():
                action, _, kind = what.partition(" ")
                self.metrics.add_netbox_writes(cluster.cluster, action, kind, n)
            failed = len(cluster.failures) + (1 if cluster.error else 0)
            if failed:
                self.metrics.add_netbox_failures(cluster.cluster, failed)
            self.log(f"watch: netbox: cluster {cluster.cluster}: {cluster.summary()}")
