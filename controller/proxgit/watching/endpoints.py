"""The watch pod's HTTP endpoints: ``/healthz``, ``/readyz`` and ``/metrics``.

A tiny threaded server from the standard library. ``/healthz`` answers 200 while
the process can answer at all; ``/readyz`` answers 200 only when the last loop
iteration succeeded and finished no longer ago than the configured maximum age
(else 503 and one line saying why); ``/metrics`` is the Prometheus text
exposition (or OpenMetrics, when the scraper asks for it) of a :class:`WatchMetrics`.

The metrics live in their own :class:`prometheus_client.CollectorRegistry`,
never the process-global one, so tests (and two loops in one process) do not
see each other's numbers; the process, platform and GC collectors are added to
it (``process_*``, ``python_*``). The loop subscribes the metrics to
:mod:`proxgit.observe`, so every Proxmox request and every step (sync, plan,
apply, execute, reflect) of every cluster is counted where it happens.

Nothing here reads secrets: labels are cluster names, HTTP methods, Git
revisions and fixed state names, and the readiness reason is the loop's
one-line error message, which is scrubbed where it is made.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import cast
from urllib.parse import urlsplit

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from proxgit.applying.results import GuestState
from proxgit.errors import ConfigError

log = logging.getLogger(__name__)

#: Per-guest outcomes of an apply, the values of ``proxgit_guest_results_total{state}``:
#: the apply's own vocabulary, except ``refused`` (a policy refusal), which has no series.
GUEST_STATES = tuple(s.value for s in GuestState)

#: Loop iterations range from a no-op fetch (well under a second) to a large
#: apply with full clones (many minutes).
LOOP_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

#: Longest failure message ``/readyz`` repeats, so a probe body stays one short line.
_REASON_LIMIT = 200


class WatchMetrics:
    """The watch loop's counters and gauges, and the state ``/readyz`` answers from.

    Every method is thread-safe: the loop records from its thread while the
    endpoint server reads from its own.

    ``clock`` measures how long ago the last iteration finished (monotonic by
    default, so a wall-clock step does not flip readiness); ``wall_clock`` is
    the Unix time exported as ``proxgit_last_success_timestamp_seconds``.
    ``clusters`` pre-creates the per-cluster error and per-state series at zero,
    so dashboards and ``rate()`` see them before the first event.
    """

    def __init__(
        self,
        *,
        clusters: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._last_ok: bool | None = None
        self._last_finished = 0.0
        self._last_success: float | None = None
        self._last_error = ""

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._applies = Counter(
            "proxgit_applies",
            "Applies run by the watch loop, per cluster and result.",
            ["cluster", "result"],
            registry=r,
        )
        self._guest_results = Counter(
            "proxgit_guest_results",
            "Per-guest outcomes of applies, per cluster and state.",
            ["cluster", "state"],
            registry=r,
        )
        self._loop_duration = Histogram(
            "proxgit_loop_duration_seconds",
            "Wall time of one watch loop iteration.",
            buckets=LOOP_DURATION_BUCKETS,
            registry=r,
        )
        self._iterations = Counter(
            "proxgit_loop_iterations",
            "Watch loop iterations, per result (success or failure).",
            ["result"],
            registry=r,
        )
        self._drift = Gauge(
            "proxgit_drift_guests",
            "Managed guests whose live state differs from the desired state.",
            ["cluster"],
            registry=r,
        )
        self._pending_deletions = Gauge(
            "proxgit_pending_deletion_requests",
            "Open deletion requests waiting for approval or execution.",
            ["cluster"],
            registry=r,
        )
        self._pve_requests = Counter(
            "proxgit_proxmox_requests",
            "Proxmox API requests made, per cluster, HTTP method and outcome (ok or the "
            "error type: unauthorized, forbidden, unreachable, server-error, ...).",
            ["cluster", "method", "outcome"],
            registry=r,
        )
        self._pve_errors = Counter(
            "proxgit_proxmox_errors",
            "Proxmox API requests that failed, per cluster.",
            ["cluster"],
            registry=r,
        )
        self._step_duration = Histogram(
            "proxgit_step_duration_seconds",
            "Wall time of one step (sync, plan, apply, execute, reflect) for one cluster "
            "(sync, a Git fetch, has no cluster).",
            ["cluster", "step"],
            buckets=LOOP_DURATION_BUCKETS,
            registry=r,
        )
        self._step_success = Gauge(
            "proxgit_step_last_success_timestamp_seconds",
            "Unix time at which a step last succeeded for a cluster.",
            ["cluster", "step"],
            registry=r,
        )
        self._errors = Counter(
            "proxgit_errors",
            "Steps that failed, per cluster, step and error type.",
            ["cluster", "step", "type"],
            registry=r,
        )
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        r.register(GC_COLLECTOR)
        self._netbox_requests = Counter(
            "proxgit_netbox_requests",
            "NetBox API requests made by reflect, per HTTP method.",
            ["method"],
            registry=r,
        )
        self._netbox_writes = Counter(
            "proxgit_netbox_writes",
            "Objects written to NetBox by reflect, per cluster, action and kind.",
            ["cluster", "action", "kind"],
            registry=r,
        )
        self._netbox_failures = Counter(
            "proxgit_netbox_failures",
            "Objects NetBox refused (or whole NetBox steps that failed), per cluster.",
            ["cluster"],
            registry=r,
        )
        self._last_applied = Info(
            "proxgit_last_applied_revision",
            "The Git revision last applied to each cluster.",
            ["cluster"],
            registry=r,
        )
        self._last_success_ts = Gauge(
            "proxgit_last_success_timestamp_seconds",
            "Unix time at which the last successful loop iteration finished.",
            registry=r,
        )
        for result in ("success", "failure"):
            self._iterations.labels(result)
        for cluster in clusters:
            self._touch_cluster(cluster)

    # -- what the loop calls ------------------------------------------------------------

    def record_iteration(self, ok: bool, seconds: float, *, error: str = "") -> None:
        """One loop iteration finished after ``seconds``; ``error`` says why it failed."""
        self._loop_duration.observe(max(0.0, seconds))
        self._iterations.labels("success" if ok else "failure").inc()
        now = self._clock()
        with self._lock:
            self._last_ok = ok
            self._last_finished = now
            if ok:
                self._last_success = now
                self._last_error = ""
            else:
                self._last_error = _one_line(error)
        if ok:
            self._last_success_ts.set(self._wall_clock())

    def record_apply(self, cluster: str, result: str, guest_states: Mapping[str, int]) -> None:
        """An apply to ``cluster`` ended with ``result``; ``guest_states`` counts guests per state.

        ``result`` is the apply's outcome (for example ``applied``, ``noop``,
        ``partial``, ``failed``, ``refused``); states must be among
        :data:`GUEST_STATES`, so a typo cannot mint a new time series.
        """
        unknown = sorted(set(guest_states) - set(GUEST_STATES))
        if unknown:
            raise ValueError(
                f"unknown guest state(s) {', '.join(unknown)}; expected {', '.join(GUEST_STATES)}"
            )
        negative = sorted(state for state, n in guest_states.items() if n < 0)
        if negative:
            raise ValueError(f"negative guest count for state(s) {', '.join(negative)}")
        self._touch_cluster(cluster)
        self._applies.labels(cluster, result).inc()
        for state, n in guest_states.items():
            if n:
                self._guest_results.labels(cluster, state).inc(n)

    def set_drift(self, cluster: str, n: int) -> None:
        """``n`` managed guests of ``cluster`` drift from their desired state."""
        self._drift.labels(cluster).set(_non_negative(n, "drift"))

    def set_pending_deletions(self, cluster: str, n: int) -> None:
        """``n`` deletion requests for ``cluster`` are open."""
        self._pending_deletions.labels(cluster).set(_non_negative(n, "pending deletions"))

    def add_proxmox_requests(
        self, cluster: str, method: str, n: int = 1, *, outcome: str = "ok"
    ) -> None:
        """``n`` more Proxmox API requests with HTTP ``method`` went to ``cluster``."""
        self._pve_requests.labels(cluster, method.upper(), outcome).inc(
            _non_negative(n, "requests")
        )
        if outcome != "ok":
            self._pve_errors.labels(cluster).inc(n)

    def add_proxmox_error(self, cluster: str) -> None:
        """One Proxmox API request to ``cluster`` failed."""
        self._pve_errors.labels(cluster).inc()

    # -- proxgit.observe's listener: every request and step, where it happens ----------

    def request(self, cluster: str, method: str, path: str, outcome: str, seconds: float) -> None:
        self.add_proxmox_requests(cluster, method, outcome=outcome)

    def step(self, cluster: str, step: str, seconds: float, error: str | None) -> None:
        self._step_duration.labels(cluster, step).observe(max(0.0, seconds))
        if error == "refused":
            return  # a closed gate is the operator's choice: neither success nor error
        if error is None:
            self._step_success.labels(cluster, step).set(self._wall_clock())
        else:
            self._errors.labels(cluster, step, error).inc()

    def guest(self, cluster: str, name: str, vmid: int, state: str, detail: str) -> None:
        """Guest progress is for the terminal, not for metrics."""

    def add_netbox_requests(self, method: str, n: int = 1) -> None:
        """``n`` more NetBox API requests with HTTP ``method``."""
        self._netbox_requests.labels(method.upper()).inc(_non_negative(n, "requests"))

    def add_netbox_writes(self, cluster: str, action: str, kind: str, n: int = 1) -> None:
        """``n`` objects of ``kind`` were created, updated or deleted in NetBox for ``cluster``."""
        self._netbox_writes.labels(cluster, action, kind).inc(_non_negative(n, "writes"))

    def add_netbox_failures(self, cluster: str, n: int = 1) -> None:
        """NetBox refused ``n`` objects of ``cluster`` ("" when the whole step failed)."""
        self._netbox_failures.labels(cluster).inc(_non_negative(n, "failures"))

    def set_last_applied(self, cluster: str, revision: str) -> None:
        """``revision`` is now the last revision applied to ``cluster`` (replaces the old one)."""
        self._last_applied.labels(cluster).info({"revision": revision})

    # -- what the endpoints read -------------------------------------------------------

    def readiness(self, max_age: float) -> tuple[bool, str]:
        """Whether the loop is ready, and one line saying why (or why not)."""
        now = self._clock()
        with self._lock:
            last_ok, finished, success = self._last_ok, self._last_finished, self._last_success
            error = self._last_error
        if last_ok is None:
            return False, "not ready: no loop iteration has finished yet"
        if not last_ok:
            since = (
                f"; last success {_age(now - success)} ago"
                if success is not None
                else "; no success yet"
            )
            why = f": {error}" if error else ""
            return False, f"not ready: the last loop iteration failed{why}{since}"
        age = now - finished
        if age > max_age:
            return False, (
                f"not ready: the last loop iteration succeeded {_age(age)} ago, "
                f"longer than the maximum age of {_age(max_age)}"
            )
        return True, f"ready: the last loop iteration succeeded {_age(age)} ago"

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics as bytes and their content type, chosen from an ``Accept`` header."""
        encoder, content_type = choose_encoder(accept)
        return encoder(_WithoutCreated(self.registry)), content_type

    def _touch_cluster(self, cluster: str) -> None:
        self._pve_errors.labels(cluster)
        for state in GUEST_STATES:
            self._guest_results.labels(cluster, state)


class _WithoutCreated(Collector):
    """The registry's families without the ``*_created`` samples.

    prometheus_client adds a ``_created`` timestamp series beside every counter
    and histogram; in the classic text format each becomes a separate gauge
    that nearly doubles the exposition and that no dashboard here uses.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for family in self._registry.collect():
            kept = [s for s in family.samples if not s.name.endswith("_created")]
            clone = Metric(family.name, family.documentation, family.type, family.unit)
            clone.samples = kept
            yield clone


def _non_negative(n: int, what: str) -> int:
    if n < 0:
        raise ValueError(f"{what} must not be negative, got {n}")
    return n


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _REASON_LIMIT else line[: _REASON_LIMIT - 3] + "..."


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


# -- the server --------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Ports in TIME_WAIT after a pod restart must not block the next bind.
    allow_reuse_address = True
    metrics: WatchMetrics
    ready_max_age: float


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server_version = "proxgit"
    sys_version = ""
    # A client that connects and says nothing must not hold a thread forever.
    timeout = 10

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        server = cast(_Server, self.server)
        path = urlsplit(self.path).path
        if path == "/healthz":
            status, body, ctype = HTTPStatus.OK, b"ok\n", "text/plain; charset=utf-8"
        elif path == "/readyz":
            ready, reason = server.metrics.readiness(server.ready_max_age)
            status = HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE
            body, ctype = (reason + "\n").encode(), "text/plain; charset=utf-8"
        elif path == "/metrics":
            body, ctype = server.metrics.exposition(self.headers.get("Accept", ""))
            status = HTTPStatus.OK
        else:
            status, ctype = HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8"
            body = b"not found: try /healthz, /readyz or /metrics\n"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # Probes and scrapes arrive every few seconds: not worth an INFO line each.
        log.debug("%s %s", self.address_string(), format % args)


class EndpointServer:
    """A running endpoint server; :meth:`close` stops it (also as a context manager)."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self._closed = False
        address = server.server_address
        self.host = str(address[0])
        self.port = int(address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def close(self) -> None:
        """Stop serving, close the socket and join the thread; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> EndpointServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def serve_endpoints(
    metrics: WatchMetrics,
    host: str = "0.0.0.0",
    port: int = 8080,
    ready_max_age: float = 300.0,
) -> EndpointServer:
    """Serve ``/healthz``, ``/readyz`` and ``/metrics`` on ``host:port`` from a daemon thread.

    ``port`` 0 picks a free port (read it back from ``.port``). A port that
    cannot be bound is a :class:`~proxgit.errors.ConfigError` naming the address.
    """
    if ready_max_age <= 0:
        raise ConfigError(f"the readiness maximum age must be positive, got {ready_max_age}")
    server_class = _Server6 if ":" in host else _Server
    try:
        server = server_class((host, port), _Handler)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} for /healthz, /readyz and /metrics: {exc.strerror}"
        ) from exc
    server.metrics = metrics
    server.ready_max_age = ready_max_age
    thread = threading.Thread(
        target=server.serve_forever, name="proxgit-endpoints", kwargs={"poll_interval": 0.2}
    )
    thread.daemon = True
    thread.start()
    handle = EndpointServer(server, thread)
    log.info("serving /healthz, /readyz and /metrics on %s", handle.url)
    return handle


def parse_listen(value: str) -> tuple[str, int]:
    """``--listen`` as ``(host, port)``: ``0.0.0.0:8080``, ``:8080``, ``[::]:8080`` or ``8080``."""
    text = value.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ConfigError(f"--listen {value!r}: expected [IPv6]:PORT, for example [::]:8080")
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
    else:
        host, port_text = "", text
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"--listen {value!r}: the port must be a number from 0 to 65535")
    return host or "0.0.0.0", int(port_text)
