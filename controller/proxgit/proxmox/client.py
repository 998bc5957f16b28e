"""The Proxmox VE API client: proxmoxer with API-token auth, and errors that say what to fix.

One :class:`ProxmoxClient` per cluster. Reads (GET) are retried with backoff
on connection errors and 5xx answers because they are idempotent; writes are
never retried here, since repeating a POST can create a second guest. Every
failure becomes a :class:`~proxgit.errors.ProxmoxError` whose one line names
the cluster, the call and Proxmox's own message. The token secret is resolved
from the environment or a file only here, and never appears in a message.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException
from requests.adapters import HTTPAdapter

from proxgit import observe
from proxgit.errors import ConfigError, ProxmoxError
from proxgit.models import Cluster
from proxgit.secrets import MASK, resolve_secret

READ_RETRIES = 3
RETRY_BASE_DELAY = 0.2


class ProxmoxClient:
    """API access to one cluster, safe to share between the threads of a bounded pool."""

    def __init__(
        self,
        name: str,
        cluster: Cluster,
        *,
        base_dir: Path | None = None,
        secret: str | None = None,
        read_only: bool = False,
    ) -> None:
        self.name = name
        self.cluster = cluster
        self.requests = Counter[str]()
        self._lock = threading.Lock()
        # Set to stop waiting on tasks (an interrupted apply); shared by the run's threads.
        self.cancel = threading.Event()
        # plan, drift, reflect and import use the cluster's read token when it names one
        use_read = read_only and cluster.read_token_id is not None
        self.token_id = cluster.read_token_id if use_read else cluster.token_id
        ref = cluster.read_token_secret_from if use_read else cluster.token_secret_from
        assert self.token_id is not None and ref is not None
        field_name = "readTokenSecretFrom" if use_read else "tokenSecretFrom"
        self.secret_source = (
            f"{field_name} env {ref.env}" if ref.env else f"{field_name} file {ref.file}"
        )
        user, _, token_name = self.token_id.partition("!")
        token = (
            secret
            if secret is not None
            else resolve_secret(ref, what=f"cluster '{name}' {field_name}", base_dir=base_dir)
        )
        if not _HEADER_SAFE.fullmatch(token):
            # it goes into an HTTP header: a line break or a non-ASCII character cannot
            raise ConfigError(
                f"cluster '{name}' {field_name}: the secret ({self.secret_source}) holds a "
                "space, line break or non-ASCII character; it must be the token's secret alone, "
                "as pveum printed it"
            )
        self.token_secret = token
        parts = urlsplit(cluster.url)
        verify: bool | str = cluster.verify_ssl
        if cluster.verify_ssl and cluster.ca_file:
            verify = str(_ca_file(name, cluster.ca_file, base_dir))
        self._api = ProxmoxAPI(
            parts.hostname,
            port=parts.port or 8006,
            user=user,
            token_name=token_name,
            token_value=token,
            verify_ssl=verify,
            timeout=(cluster.timeouts.connect, cluster.timeouts.read),
            service="PVE",
        )
        session = self._api._backend.get_session()
        # Room for the whole bounded pool, so no thread waits on a connection.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(10, cluster.concurrency))
        session.mount("https://", adapter)
        session.mount("http://", adapter)

    def __repr__(self) -> str:
        return f"ProxmoxClient({self.name!r}, {self.cluster.url!r})"

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())

    def _scrub(self, text: str) -> str:
        """``text`` with the token secret masked: it never reaches a message."""
        return text.replace(self.token_secret, MASK) if self.token_secret else text

    def _count(self, method: str) -> None:
        with self._lock:
            self.requests[method] += 1

    def get(
        self,
        path: str,
        *,
        retries: int = READ_RETRIES,
        expect: type[list[Any]] | type[dict[str, Any]] | None = None,
        **params: Any,
    ) -> Any:
        """GET with retries for connection errors and 5xx (reads are idempotent).

        ``expect`` (``list`` or ``dict``) is the JSON shape the call must answer
        with; anything else (``null``, a string, the wrong container) is an error
        naming the call and a short excerpt, never data.
        """
        delay = RETRY_BASE_DELAY
        for attempt in range(retries + 1):
            try:
                answer = self._call("GET", path, params)
                if expect is not None and not isinstance(answer, expect):
                    call = f"GET /{path.lstrip('/')}"
                    what = "a JSON list" if expect is list else "a JSON object"
                    raise ProxmoxError(
                        f"cluster '{self.name}': {call}: expected {what}, got "
                        f"{self._scrub(excerpt(answer))}",
                        cluster=self.name,
                        call=call,
                        status=-1,
                    )
                return answer
            except ProxmoxError as err:
                retryable = err.status == 0 or err.status >= 500
                if not retryable or attempt == retries or err.tls:
                    raise
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def start_task(self, method: str, path: str, **params: Any) -> str:
        """A call that starts a Proxmox task: its answer must be a UPID, else an error."""
        answer = self._call(method, path, params)
        if not isinstance(answer, str) or not answer.startswith("UPID:"):
            call = f"{method} /{path.lstrip('/')}"
            raise ProxmoxError(
                f"cluster '{self.name}': {call}: expected a task id (UPID), got "
                f"{excerpt(answer)}; the call is not counted as done",
                cluster=self.name,
                call=call,
                status=-1,
            )
        return answer

    def post(self, path: str, **params: Any) -> Any:
        return self._call("POST", path, params)

    def put(self, path: str, **params: Any) -> Any:
        return self._call("PUT", path, params)

    def delete(self, path: str, **params: Any) -> Any:
        return self._call("DELETE", path, params)

    def _call(self, method: str, path: str, params: dict[str, Any]) -> Any:
        started = time.monotonic()
        outcome = "internal"
        try:
            answer = self._call_once(method, path, params)
            outcome = "ok"
            return answer
        except ProxmoxError as err:
            outcome = err.kind
            raise
        finally:
            observe.request(
                self.name, method, path.lstrip("/"), outcome, time.monotonic() - started
            )

    def _call_once(self, method: str, path: str, params: dict[str, Any]) -> Any:
        self._count(method)
        call = f"{method} /{path.lstrip('/')}"
        resource = self._api(path.lstrip("/"))
        try:
            answer = getattr(resource, method.lower())(**params)
        except ResourceException as err:
            # Proxmox (or a proxy before it) may quote the request, token included
            detail = self._scrub(_proxmox_message(err))
            if err.status_code == 401:
                detail += (
                    f": Proxmox did not accept API token {self.token_id} (secret from "
                    f"{self.secret_source}); check that the token exists and the secret matches"
                )
            elif err.status_code == 403:
                detail += (
                    f"; API token {self.token_id} lacks that privilege: grant it with pveum acl "
                    "modify (docs/quickstart.md lists the privileges proxgit needs)"
                )
            raise ProxmoxError(
                f"cluster '{self.name}': {call}: {detail}",
                cluster=self.name,
                call=call,
                status=err.status_code,
            ) from None
        except requests.exceptions.SSLError as err:
            raise ProxmoxError(
                f"cluster '{self.name}': {call}: {_tls_problem(self.cluster.url, err)}",
                cluster=self.name,
                call=call,
                tls=True,
            ) from None
        except requests.exceptions.Timeout:
            raise ProxmoxError(
                f"cluster '{self.name}': {call}: timed out after "
                f"{self.cluster.timeouts.read:g}s (timeouts.read); check that {self.cluster.url} "
                "is the node's API, or raise timeouts.read for a slow cluster",
                cluster=self.name,
                call=call,
            ) from None
        except requests.exceptions.ConnectionError as err:
            reason = _root_cause(err)
            raise ProxmoxError(
                f"cluster '{self.name}': {call}: cannot connect to {self.cluster.url}: {reason}",
                cluster=self.name,
                call=call,
            ) from None

        if isinstance(answer, dict) and set(answer) == {"errors"}:
            raw = answer["errors"]
            if isinstance(raw, bytes | bytearray):
                # proxmoxer's stand-in for a body that is not JSON (a proxy's page, ...)
                raise ProxmoxError(
                    f"cluster '{self.name}': {call}: the answer is not JSON: "
                    f"{self._scrub(excerpt(raw))}",
                    cluster=self.name,
                    call=call,
                    status=-1,
                )
        return answer

    def wait_task(
        self, node: str, upid: str, *, timeout: float | None = None, poll: float = 0.05
    ) -> TaskResult:
        """Wait for a Proxmox task to finish; returns its exit status and, when it failed,
        the last lines of its log.

        When :attr:`cancel` is set (SIGTERM or SIGINT during an apply) the wait is
        abandoned: the task keeps running in Proxmox and the result says so.
        """
        limit = timeout if timeout is not None else self.cluster.timeouts.task
        deadline = time.monotonic() + limit
        path = f"nodes/{node}/tasks/{upid}"
        while True:
            status = self.get(f"{path}/status", expect=dict)
            if status.get("status") == "stopped":
                break
            if time.monotonic() > deadline:
                return TaskResult(
                    upid,
                    ok=False,
                    exitstatus="timeout",
                    log=[f"task did not finish within {limit:g}s (timeouts.task)"],
                )
            if self.cancel.wait(poll):
                return TaskResult(
                    upid,
                    ok=False,
                    exitstatus="abandoned",
                    log=["apply interrupted while waiting; the task goes on in Proxmox"],
                )
            poll = min(poll * 1.5, 2.0)
        exitstatus = str(status.get("exitstatus", ""))
        log: list[str] = []
        if exitstatus == "OK":
            # a task that ended well says nothing its status did not: its log is read
            # only to explain a failure (one request per task saved)
            return TaskResult(upid, ok=True, exitstatus=exitstatus, log=log)
        try:
            lines = self.get(f"{path}/log", start=0, limit=500, expect=list)
            log = [str(line.get("t", "")) for line in lines if isinstance(line, dict)][-10:]
        except ProxmoxError:
            pass
        return TaskResult(upid, ok=exitstatus == "OK", exitstatus=exitstatus, log=log)


_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


def _ca_file(name: str, ca_file: str, base_dir: Path | None) -> Path:
    """The cluster's caFile, checked to be a readable PEM certificate before any request."""
    ca = Path(ca_file)
    if not ca.is_absolute() and base_dir is not None:
        ca = base_dir / ca
    where = f"cluster '{name}': caFile {ca}"
    fix = "copy /etc/pve/pve-root-ca.pem from a node there, or fix caFile in proxgit.yaml"
    if ca.is_dir():
        raise ConfigError(f"{where} is a directory; name the certificate file in it")
    if not ca.is_file():
        raise ConfigError(f"{where} does not exist; {fix}")
    try:
        head = ca.read_bytes()
    except OSError as err:
        raise ConfigError(f"{where} cannot be read: {err.strerror}; {fix}") from None
    if b"-----BEGIN CERTIFICATE-----" not in head:
        raise ConfigError(f"{where} is not a PEM certificate (no BEGIN CERTIFICATE line); {fix}")
    return ca


class TaskResult:
    """The end of one Proxmox task (UPID)."""

    def __init__(self, upid: str, *, ok: bool, exitstatus: str, log: list[str]) -> None:
        self.upid = upid
        self.ok = ok
        self.exitstatus = exitstatus
        self.log = log

    def __repr__(self) -> str:
        return f"TaskResult({self.upid!r}, ok={self.ok}, exitstatus={self.exitstatus!r})"


def _tls_problem(url: str, err: BaseException) -> str:
    """Why a TLS connection to ``url`` failed, and what to change."""
    reason = _root_cause(err)
    if any(
        mark in reason
        for mark in ("WRONG_VERSION_NUMBER", "record layer", "UNKNOWN_PROTOCOL", "HTTP_REQUEST")
    ):
        return (
            f"{url} does not answer with TLS (a plain-HTTP port or a proxy?); the Proxmox "
            "API is HTTPS, on port 8006 unless a proxy says otherwise: check url"
        )
    if "mismatch" in reason or "doesn't match" in reason:
        return (
            f"the certificate of {url} is not issued for that host name; write url with a "
            "name the certificate names"
        )
    if "expired" in reason:
        return f"the certificate of {url} has expired; renew it on the node (pvecm updatecerts)"
    return (
        f"TLS verification of {url} failed; "
        "set caFile to the CA that signed the node's certificate (or verifySsl: false "
        "for a lab with a self-signed certificate)"
    )


def _proxmox_message(err: ResourceException) -> str:
    message = f"{err.status_code} {err.status_message}".strip()
    content = str(getattr(err, "content", "") or "").strip()
    errors = getattr(err, "errors", None)
    if isinstance(errors, dict) and set(errors) == {"errors"}:
        errors = errors["errors"]
    if isinstance(errors, bytes | bytearray):
        # proxmoxer's stand-in for a body that is not JSON (a proxy's error page)
        return f"{message}: the answer is not JSON: {excerpt(errors)}"
    if errors:
        details = "; ".join(f"{k}: {str(v).strip()}" for k, v in sorted(errors.items()))
        return f"{message}: {details}"
    if content and content not in message:
        return f"{message}: {content}"
    return message


def _root_cause(err: BaseException) -> str:
    while err.__cause__ is not None or err.__context__ is not None:
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    text = str(err)
    return text.split(": ", 1)[-1] if ": " in text else text or type(err).__name__


def excerpt(value: Any, limit: int = 80) -> str:
    """A short, one-line rendering of an unexpected answer for an error message."""
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", "replace")
    elif isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
