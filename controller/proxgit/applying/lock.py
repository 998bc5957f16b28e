"""One writer per cluster: a lock kept as a ref in the Git remote itself.

``refs/proxgit/locks/<cluster>`` points at an empty-tree commit whose message
holds the owner and the expiry. Taking the lock is a compare-and-swap push
(``--force-with-lease``): exactly one of two racing writers wins. A lock past
its expiry is stale and may be taken over (again by compare-and-swap), so a
crashed runner blocks nobody for longer than the lock's lifetime. No extra
server: every CI runner and pod that can push to the repository can lock.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from proxgit.errors import LockTimeout
from proxgit.gitops import GitRepository, Identity

LOCK_REF = "refs/proxgit/locks/{cluster}"


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
        if host != socket.gethostname() or not pid_text.isdigit():
            return False
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ClusterLock:
    """The write lock of one cluster; use as a context manager."""

    def __init__(
        self,
        repo: GitRepository,
        cluster: str,
        identity: Identity,
        *,
        ttl: timedelta = timedelta(minutes=30),
        wait: float = 300.0,
        poll: float = 1.0,
    ) -> None:
        self.repo = repo
        self.cluster = cluster
        self.ref = LOCK_REF.format(cluster=cluster)
        self.identity = identity
        self.ttl = ttl
        self.wait = wait
        self.poll = poll
        self.owner = owner_id()
        self._held: str | None = None

    def read(self) -> tuple[str | None, LockInfo | None]:
        sha = self.repo.read_remote_ref(self.ref)
        if sha is None:
            return None, None
        try:
            self.repo.fetch(f"{self.ref}:{self.ref}")
            message = self.repo.run("log", "-1", "--format=%B", sha)
            data = json.loads(message)
            return sha, LockInfo(
                owner=str(data["owner"]), expires=datetime.fromisoformat(data["expires"])
            )
        except Exception:  # an unreadable lock is treated as stale, not as free
            return sha, LockInfo(owner="unknown", expires=datetime.now(UTC))

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait
        while True:
            current, info = self.read()
            if current is None or (info is not None and info.stale):
                expires = datetime.now(UTC) + self.ttl
                body = json.dumps(
                    {"owner": self.owner, "cluster": self.cluster, "expires": expires.isoformat()}
                )
                commit = self.repo.make_note_commit(body, self.identity)
                if self.repo.swap_remote_ref(self.ref, commit, current):
                    self._held = commit
                    return
            if time.monotonic() >= deadline:
                holder = info.owner if info else "another proxgit"
                until = info.expires.isoformat(timespec="seconds") if info else "?"
                raise LockTimeout(
                    f"cluster '{self.cluster}' is locked by {holder} until {until}"
                    f"; waited {self.wait:g}s (another apply is running; retry "
                    "later or raise --lock-timeout)"
                )
            time.sleep(self.poll)

    def release(self) -> None:
        if self._held is not None:
            self.repo.swap_remote_ref(self.ref, None, self._held)
            self._held = None

    def __enter__(self) -> ClusterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
