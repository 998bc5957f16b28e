"""The watch pod's /healthz, /readyz and /metrics, served for real on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxgit.errors import ConfigError
from proxgit.watching.endpoints import (
    GUEST_STATES,
    EndpointServer,
    WatchMetrics,
    parse_listen,
    serve_endpoints,
)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def metrics(clock: FakeClock) -> WatchMetrics:
    return WatchMetrics(clusters=["lab"], clock=clock, wall_clock=lambda: 1_700_000_000.0)


@pytest.fixture
def server(metrics: WatchMetrics) -> Iterator[EndpointServer]:
    with serve_endpoints(metrics, "127.0.0.1", 0, ready_max_age=60) as handle:
        yield handle


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, keyed by name and label set."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def test_healthz_answers_while_the_process_lives(server: EndpointServer) -> None:
    response = httpx.get(f"{server.url}/healthz")
    assert response.status_code == 200
    assert response.text == "ok\n"
    assert server.port > 0


def test_readyz_flips_with_the_loop_and_goes_stale(
    server: EndpointServer, metrics: WatchMetrics, clock: FakeClock
) -> None:
    response = httpx.get(f"{server.url}/readyz")
    assert response.status_code == 503
    assert response.text == "not ready: no loop iteration has finished yet\n"

    metrics.record_iteration(True, 1.5)
    clock.now += 10
    response = httpx.get(f"{server.url}/readyz")
    assert response.status_code == 200
    assert response.text == "ready: the last loop iteration succeeded 10s ago\n"

    clock.now += 51  # 61 s since the success, past the 60 s maximum age
    response = httpx.get(f"{server.url}/readyz")
    assert response.status_code == 503
    assert "succeeded 61s ago, longer than the maximum age of 60s" in response.text
    assert response.text.count("\n") == 1

    metrics.record_iteration(True, 0.2)
    assert httpx.get(f"{server.url}/readyz").status_code == 200


def test_readyz_says_why_the_last_iteration_failed(
    server: EndpointServer, metrics: WatchMetrics, clock: FakeClock
) -> None:
    metrics.record_iteration(True, 1.0)
    clock.now += 5
    metrics.record_iteration(False, 2.0, error="lab: GET /cluster/resources:\n connection refused")
    response = httpx.get(f"{server.url}/readyz")
    assert response.status_code == 503
    assert response.text == (
        "not ready: the last loop iteration failed: lab: GET /cluster/resources: "
        "connection refused; last success 5s ago\n"
    )


def test_readyz_failure_reason_stays_one_short_line(metrics: WatchMetrics) -> None:
    metrics.record_iteration(False, 1.0, error="x" * 1000 + "\nsecond line")
    ready, reason = metrics.readiness(60)
    assert not ready
    assert "\n" not in reason
    assert len(reason) < 300
    assert reason.endswith("...; no success yet")


def test_metrics_parse_and_carry_every_value(server: EndpointServer, metrics: WatchMetrics) -> None:
    metrics.record_iteration(True, 0.3)
    metrics.record_iteration(False, 42.0, error="boom")
    metrics.record_iteration(True, 3.0)
    metrics.record_apply(
        "lab", "applied", {"succeeded": 3, "failed": 1, "pending-restart": 2, "skipped": 0}
    )
    metrics.record_apply("lab", "noop", {})
    metrics.record_apply("prod", "refused", {"skipped": 4})
    metrics.set_drift("lab", 2)
    metrics.set_drift("prod", 0)
    metrics.set_pending_deletions("lab", 1)
    metrics.add_proxmox_requests("lab", "get", 17)
    metrics.add_proxmox_requests("lab", "PUT", 2)
    metrics.add_proxmox_requests("lab", "GET")
    metrics.add_proxmox_error("lab")
    metrics.add_proxmox_error("lab")
    metrics.set_last_applied("lab", "1111111")
    metrics.set_last_applied("lab", "2222222")
    metrics.set_last_applied("prod", "3333333")

    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = samples(response.text)

    assert got[key("proxgit_applies_total", cluster="lab", result="applied")] == 1
    assert got[key("proxgit_applies_total", cluster="lab", result="noop")] == 1
    assert got[key("proxgit_applies_total", cluster="prod", result="refused")] == 1
    assert got[key("proxgit_guest_results_total", cluster="lab", state="succeeded")] == 3
    assert got[key("proxgit_guest_results_total", cluster="lab", state="failed")] == 1
    assert got[key("proxgit_guest_results_total", cluster="lab", state="pending-restart")] == 2
    assert got[key("proxgit_guest_results_total", cluster="prod", state="skipped")] == 4
    # Every state exists at zero once a cluster is known, so rate() sees it.
    for state in GUEST_STATES:
        assert key("proxgit_guest_results_total", cluster="prod", state=state) in got
    assert got[key("proxgit_loop_iterations_total", result="success")] == 2
    assert got[key("proxgit_loop_iterations_total", result="failure")] == 1
    assert got[key("proxgit_loop_duration_seconds_count")] == 3
    assert got[key("proxgit_loop_duration_seconds_sum")] == pytest.approx(45.3)
    assert got[key("proxgit_loop_duration_seconds_bucket", le="0.5")] == 1
    assert got[key("proxgit_loop_duration_seconds_bucket", le="5.0")] == 2
    assert got[key("proxgit_loop_duration_seconds_bucket", le="+Inf")] == 3
    assert got[key("proxgit_drift_guests", cluster="lab")] == 2
    assert got[key("proxgit_drift_guests", cluster="prod")] == 0
    assert got[key("proxgit_pending_deletion_requests", cluster="lab")] == 1
    assert (
        got[key("proxgit_proxmox_requests_total", cluster="lab", method="GET", outcome="ok")] == 18
    )
    assert (
        got[key("proxgit_proxmox_requests_total", cluster="lab", method="PUT", outcome="ok")] == 2
    )
    assert got[key("proxgit_proxmox_errors_total", cluster="lab")] == 2
    assert got[key("proxgit_last_success_timestamp_seconds")] == 1_700_000_000.0

    # The info metric keeps exactly one revision per cluster: the latest.
    revisions = {
        labels: value
        for (name, labels), value in got.items()
        if name == "proxgit_last_applied_revision_info"
    }
    assert revisions == {
        frozenset({("cluster", "lab"), ("revision", "2222222")}): 1.0,
        frozenset({("cluster", "prod"), ("revision", "3333333")}): 1.0,
    }
    # No *_created noise; besides proxgit's own, only the process and Python collectors.
    assert not [name for name, _ in got if name.endswith("_created")]
    assert {name.split("_")[0] for name, _ in got} == {"proxgit", "process", "python"}
    assert got[key("process_resident_memory_bytes")] > 0


def test_metrics_types_are_what_dashboards_expect(server: EndpointServer) -> None:
    text = httpx.get(f"{server.url}/metrics").text
    types = {
        family.name: family.type
        for family in text_string_to_metric_families(text)
        if family.name.startswith("proxgit_")
    }
    assert types == {
        "proxgit_step_duration_seconds": "histogram",
        "proxgit_step_last_success_timestamp_seconds": "gauge",
        "proxgit_errors": "counter",
        "proxgit_applies": "counter",
        "proxgit_guest_results": "counter",
        "proxgit_loop_duration_seconds": "histogram",
        "proxgit_loop_iterations": "counter",
        "proxgit_drift_guests": "gauge",
        "proxgit_pending_deletion_requests": "gauge",
        "proxgit_proxmox_requests": "counter",
        "proxgit_proxmox_errors": "counter",
        "proxgit_last_applied_revision_info": "gauge",
        "proxgit_last_success_timestamp_seconds": "gauge",
    }


def test_openmetrics_when_the_scraper_asks(server: EndpointServer, metrics: WatchMetrics) -> None:
    metrics.set_last_applied("lab", "abc")
    response = httpx.get(
        f"{server.url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    assert 'proxgit_last_applied_revision_info{cluster="lab",revision="abc"} 1.0' in response.text


def test_unknown_path_and_head(server: EndpointServer) -> None:
    assert httpx.get(f"{server.url}/nope").status_code == 404
    head = httpx.head(f"{server.url}/healthz")
    assert head.status_code == 200
    assert head.content == b""
    assert httpx.get(f"{server.url}/healthz?probe=1").status_code == 200


def test_concurrent_scrapes_while_the_loop_records(
    server: EndpointServer, metrics: WatchMetrics
) -> None:
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            metrics.record_iteration(True, 0.01)
            metrics.add_proxmox_requests("lab", "GET")

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        with httpx.Client(base_url=server.url) as client:
            for _ in range(20):
                assert client.get("/metrics").status_code == 200
                assert client.get("/readyz").status_code == 200
    finally:
        stop.set()
        worker.join()


def test_close_frees_the_port_and_is_idempotent(metrics: WatchMetrics) -> None:
    handle = serve_endpoints(metrics, "127.0.0.1", 0)
    url = handle.url
    handle.close()
    handle.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz")


def test_a_taken_port_is_one_line_config_error(
    server: EndpointServer, metrics: WatchMetrics
) -> None:
    with pytest.raises(ConfigError, match=rf"cannot listen on 127\.0\.0\.1:{server.port}"):
        serve_endpoints(metrics, "127.0.0.1", server.port)


def test_two_metrics_objects_do_not_share_numbers() -> None:
    a, b = WatchMetrics(), WatchMetrics()
    a.add_proxmox_error("lab")
    assert 'proxgit_proxmox_errors_total{cluster="lab"}' in a.exposition()[0].decode()
    assert "cluster=" not in b.exposition()[0].decode()


def test_bad_inputs_are_refused(metrics: WatchMetrics) -> None:
    with pytest.raises(ValueError, match="unknown guest state"):
        metrics.record_apply("lab", "applied", {"succeded": 1})
    with pytest.raises(ValueError, match="negative"):
        metrics.record_apply("lab", "applied", {"failed": -1})
    with pytest.raises(ValueError, match="negative"):
        metrics.set_drift("lab", -1)
    with pytest.raises(ConfigError):
        serve_endpoints(metrics, "127.0.0.1", 0, ready_max_age=0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        (":9000", ("0.0.0.0", 9000)),
        ("8080", ("0.0.0.0", 8080)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::]:8080", ("::", 8080)),
        ("[::1]:81", ("::1", 81)),
    ],
)
def test_parse_listen(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


@pytest.mark.parametrize("value", ["", "host:", "host:http", "1.2.3.4:70000", "[::1]8080"])
def test_parse_listen_refuses(value: str) -> None:
    with pytest.raises(ConfigError, match="--listen"):
        parse_listen(value)


def test_steps_count_success_failure_and_not_a_closed_gate(metrics: WatchMetrics) -> None:
    metrics.step("lab", "apply", 2.0, None)
    metrics.step("lab", "reflect", 1.0, "unauthorized")
    metrics.step("prod", "apply", 0.1, "refused")
    got = samples(metrics.exposition()[0].decode())
    stamp = "proxgit_step_last_success_timestamp_seconds"
    assert got[key(stamp, cluster="lab", step="apply")] == 1_700_000_000.0
    assert key(stamp, cluster="lab", step="reflect") not in got
    assert key(stamp, cluster="prod", step="apply") not in got
    errors = {labels: v for (name, labels), v in got.items() if name == "proxgit_errors_total"}
    assert errors == {
        frozenset({("cluster", "lab"), ("step", "reflect"), ("type", "unauthorized")}): 1.0
    }
    count = "proxgit_step_duration_seconds_count"
    assert got[key(count, cluster="prod", step="apply")] == 1
