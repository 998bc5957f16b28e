"""The watch pod's /metrics after an apply, a reflect, a failure and a deletion,
scraped over HTTP and parsed with prometheus_client's own parser."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from proxgit.watching.endpoints import serve_endpoints
from proxgit.watching.loop import Watcher, WatchOptions
from tests.support import BOB, GitRepo, vm_path, vm_yaml
from tests.watching.test_watch_loop import approve, push

SMALL = "cores: 1\nmemory: 512\nnetworks:\n  net0: {bridge: vmbr0}\n"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> tuple[Samples, dict[str, str]]:
    text = httpx.get(f"{url}/metrics").text
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, types


def total(samples: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_metrics_after_apply_reflect_failure_and_deletion(
    repo: GitRepo, pve: Any, tmp_path: Path
) -> None:
    people = repo
    people.git("push", "--quiet", "origin", "main")
    push(people, {vm_path("web-1"): vm_yaml("web-1", 121, extra=SMALL)}, "Add web-1")
    watcher = Watcher(
        WatchOptions(
            workdir=tmp_path / "pod",
            url=str(people.remote),
            interval=0.0,
            reflect_interval=0.0,  # reflect on every iteration
            listen=None,
            lock_wait=10,
            backoff=0.01,
            max_backoff=0.01,
        ),
        log=lambda _line: None,
    )
    server = serve_endpoints(watcher.metrics, "127.0.0.1", 0)

    def run(iterations: int) -> None:
        watcher.options.max_iterations = watcher.iterations + iterations
        watcher.run(threading.Event())

    try:
        run(2)  # the apply (creates web-1) and reflects; then an idle iteration
        assert pve.guest(121).status == "running"
        pve.lose_quorum()  # the failure: the next change cannot be written
        push(people, {vm_path("web-1"): vm_yaml("web-1", 121, extra=SMALL + "tags: [x]\n")}, "Tag")
        run(1)
        pve.regain_quorum()
        run(1)  # the same revision, retried, succeeds
        push(people, {vm_path("web-1"): None}, "Remove web-1", author=BOB)
        run(1)  # opens the deletion request
        approve(people, "deletions/lab-121.yaml")
        run(1)  # executes it
        assert 121 not in pve.vms
        samples, types = scrape(server.url)
    finally:
        server.close()

    requests = "proxgit_proxmox_requests_total"
    for method in ("GET", "POST", "PUT", "DELETE"):
        assert total(samples, requests, cluster="lab", method=method, outcome="ok") > 0, method
    failed = total(samples, requests, cluster="lab") - total(samples, requests, outcome="ok")
    assert failed > 0  # lost quorum: answered with an error type, not "ok"
    assert total(samples, "proxgit_proxmox_errors_total", cluster="lab") == failed

    for step in ("plan", "apply", "execute", "reflect"):
        assert total(samples, "proxgit_step_duration_seconds_count", cluster="lab", step=step) > 0
        stamp = total(
            samples, "proxgit_step_last_success_timestamp_seconds", cluster="lab", step=step
        )
        assert stamp > 1_700_000_000, step
    assert total(samples, "proxgit_step_duration_seconds_count", step="sync") == 6
    assert total(samples, "proxgit_errors_total", cluster="lab", step="apply") >= 1
    assert types["proxgit_step_duration_seconds"] == "histogram"
    assert types["proxgit_errors"] == "counter"

    # 6 iterations, but only the runs that applied something are counted as applies:
    # the create, the failed update, its retry, and the deletion request
    assert total(samples, "proxgit_loop_iterations_total") == 6
    assert total(samples, "proxgit_applies_total", cluster="lab") == 4
    assert total(samples, "proxgit_applies_total", cluster="lab", result="noop") == 0

    assert ("proxgit_pending_deletion_requests", frozenset({("cluster", "lab")})) in samples
    assert total(samples, "proxgit_pending_deletion_requests", cluster="lab") == 0
    assert ("proxgit_drift_guests", frozenset({("cluster", "lab")})) in samples
    assert total(samples, "process_resident_memory_bytes") > 0
