"""One writer per cluster: a lease kept as a ref in the Git remote itself.

``refs/proxgit/locks/<cluster>`` points at an empty-tree commit whose message
holds the owner and the expiry. Taking the lock is a compare-and-swap push
(``--force-with-lease``): exactly one of two racing writers wins. The lock is
a lease: it expires after ``lease`` (2 minutes by default) unless its holder
renews it, which a background thread does every quarter of the lease, again
by compare-and-swap on the commit it holds. A holder killed with SIGKILL stops
renewing, so on any host the cluster is free again within one lease; on the
holder's own host a dead owner process frees it at once, and so does a lock
the same process left behind (its release could not reach the remote). A renewal that finds
the ref moved means the lease was lost (the holder stalled for a whole lease
and someone took over): :attr:`ClusterLock.lost` is set, the run starts no new
work and does not move the applied revision. No extra server: every CI runner
and pod that can push to the repository can lock.

The owner id is ``host:pid:random``; ``PROXGIT_HOSTNAME`` overrides the host
part (pods whose hostname is not unique, and tests that play two hosts).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from proxgit.errors import LockTimeout, ProxgitError
from proxgit.git import GitRepository, Identity
from proxgit.layout import lock_ref
from proxgit.outcomes import Outcome

DEFAULT_LEASE = timedelta(minutes=2)


# owner ids of the locks this process holds right now
_HELD_HERE: set[str] = set()
_HELD_LOCK = threading.Lock()


def hostname() -> str:
    return os.environ.get("PROXGIT_HOSTNAME") or socket.gethostname()


@dataclass
class LockInfo:
    owner: str
    expires: datetime

    @property
    def stale(self) -> bool:
        """Past its expiry, or held by a process on this host that no longer runs."""
        return datetime.now(UTC) >= self.expires or self._owner_dead_here()

    def _owner_dead_here(self) -> bool:
        host, _, rest = self.owner.partition(":")
        pid_text = rest.partition(":")[0]
        if host != hostname() or not pid_text.isdigit():
            return False
        if int(pid_text) == os.getpid():
            # ours: stale unless one of this process's locks still holds it (a release
            # that could not reach the remote left it behind: the watch pod would
            # otherwise wait a whole lease for itself)
            with _HELD_LOCK:
                return self.owner not in _HELD_HERE
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


class Interrupted(ProxgitError):
    """SIGTERM or SIGINT arrived before the run could start its work."""

    outcome = Outcome.interrupted


def owner_id() -> str:
    return f"{hostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ClusterLock:
    """The write lease of one cluster; use as a context manager."""

    def __init__(
        self,
        repo: GitRepository,
        cluster: str,
        identity: Identity,
        *,
        ttl: timedelta = DEFAULT_LEASE,
        wait: float = 300.0,
        poll: float = 1.0,
        renew_every: float | None = None,
        progress: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.repo = repo
        self.cluster = cluster
        self.ref = lock_ref(cluster)
        self.identity = identity
        self.ttl = ttl
        self.wait = wait
        self.poll = poll
        self.renew_every = (
            renew_every if renew_every is not None else max(0.2, ttl.total_seconds() / 4)
        )
        self.progress = progress
        self.stop = stop
        self.on_lost: Callable[[], None] | None = None
        self.owner = owner_id()
        self.lost = threading.Event()
        self._held: str | None = None
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def read(self) -> tuple[str | None, LockInfo | None]:
        sha = self.repo.read_remote_ref(self.ref)
        if sha is None:
            return None, None
        try:
            self.repo.fetch(f"+{self.ref}:{self.ref}")
            message = self.repo.run("log", "-1", "--format=%B", sha)
            data = json.loads(message)
            return sha, LockInfo(
                owner=str(data["owner"]), expires=datetime.fromisoformat(data["expires"])
            )
        except Exception:  # an unreadable lock is treated as stale, not as free
            return sha, LockInfo(owner="unknown", expires=datetime.now(UTC))

    def _note(self) -> str:
        expires = datetime.now(UTC) + self.ttl
        body = json.dumps(
            {"owner": self.owner, "cluster": self.cluster, "expires": expires.isoformat()}
        )
        return self.repo.make_note_commit(body, self.identity)

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait
        said = 0.0
        while True:
            current, info = self.read()
            if current is None or (info is not None and info.stale):
                commit = self._note()
                with _HELD_LOCK:
                    _HELD_HERE.add(self.owner)
                if self.repo.swap_remote_ref(self.ref, commit, current):
                    self._held = commit
                    self._start_renewing()
                    return
                with _HELD_LOCK:
                    _HELD_HERE.discard(self.owner)
                # someone else moved it between our read and our swap: look again soon
            now = time.monotonic()
            if self.stop is not None and self.stop.is_set():
                raise Interrupted(
                    f"cluster '{self.cluster}': interrupted while waiting for the lock"
                )
            if now >= deadline:
                holder = info.owner if info else "another proxgit"
                until = info.expires.isoformat(timespec="seconds") if info else "?"
                raise LockTimeout(
                    f"cluster '{self.cluster}' is locked by {holder} until {until}"
                    f"; waited {self.wait:g}s (another apply is running; retry "
                    "later or raise --lock-timeout)"
                )
            if self.progress is not None and info is not None and now - said >= 10:
                said = now
                self.progress(
                    f"cluster '{self.cluster}': waiting for the lock held by {info.owner} "
                    f"(lease until {info.expires.isoformat(timespec='seconds')})"
                )
            time.sleep(self.poll if info is not None and not info.stale else 0.05)

    # --- the lease ------------------------------------------------------------------

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(
            target=self._renew_loop, name=f"proxgit-lease-{self.cluster}", daemon=True
        )
        self._renewer.start()

    def _renew_loop(self) -> None:
        last_ok = time.monotonic()
        while not self._stop.wait(self.renew_every):
            try:
                self.renew()
                last_ok = time.monotonic()
            except ProxgitError:
                # A remote that does not answer: try again next tick; the lease is
                # gone only once its whole lifetime passed without a renewal.
                if time.monotonic() - last_ok >= self.ttl.total_seconds():
                    self.lost.set()
            if self.lost.is_set():
                if self.on_lost is not None:
                    self.on_lost()
                return

    def renew(self) -> None:
        """Extend the lease by compare-and-swap on the commit we hold."""
        with self._guard:
            held = self._held
            if held is None or self.lost.is_set():
                return
            commit = self._note()
            if self.repo.swap_remote_ref(self.ref, commit, held):
                self._held = commit
                return
            if self.repo.read_remote_ref(self.ref) != held:
                self.lost.set()

    def check(self) -> None:
        """Raise when the lease was lost: nothing may be recorded as this holder's."""
        if self.lost.is_set():
            raise LockTimeout(
                f"cluster '{self.cluster}': the lock's lease was lost (not renewed for "
                f"{self.ttl.total_seconds():g}s); the applied revision was not moved"
            )

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=30)
        with self._guard:
            if self._held is not None and not self.lost.is_set():
                # On failure the lease simply expires on its own.
                with contextlib.suppress(ProxgitError):
                    self.repo.swap_remote_ref(self.ref, None, self._held)
            self._held = None
            with _HELD_LOCK:
                _HELD_HERE.discard(self.owner)

    def __enter__(self) -> ClusterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
