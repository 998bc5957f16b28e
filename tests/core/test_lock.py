"""The cluster lock directly: a lease held as a ref on a real bare remote, two clones."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from proxgit.applying.lock import ClusterLock, Interrupted
from proxgit.errors import LockTimeout
from proxgit.git import GitRepository, Identity
from proxgit.layout import lock_ref
from tests.support import GitRepo

ME = Identity("proxgit", "proxgit@noreply.invalid")


@pytest.fixture
def clones(tmp_path: Path) -> tuple[GitRepository, GitRepository]:
    first = GitRepo(tmp_path)
    first.commit({"README": "x\n"}, "Start")
    first.git("push", "--quiet", "origin", "main")
    second = tmp_path / "second"
    GitRepo.git_in(tmp_path, "clone", "--quiet", str(first.remote), str(second))
    return GitRepository(first.path), GitRepository(second)


def test_one_holder_at_a_time_and_release_frees_it(
    clones: tuple[GitRepository, GitRepository],
) -> None:
    one, two = clones
    with ClusterLock(one, "lab", ME, renew_every=60):
        other = ClusterLock(two, "lab", ME, wait=0.3, poll=0.05)
        with pytest.raises(LockTimeout, match=r"cluster 'lab' is locked by .* until"):
            other.acquire()
        with ClusterLock(two, "prod", ME, wait=0.3, renew_every=60):
            pass  # another cluster's lock is independent
    assert one.read_remote_ref(lock_ref("lab")) is None
    with ClusterLock(two, "lab", ME, wait=0.3):
        pass


def test_an_expired_lease_is_taken_over(clones: tuple[GitRepository, GitRepository]) -> None:
    one, two = clones
    dead = ClusterLock(one, "lab", ME, ttl=timedelta(seconds=0), renew_every=60)
    dead.acquire()
    dead._stop.set()  # its process "died": no renewal, no release
    with ClusterLock(two, "lab", ME, wait=2, poll=0.05) as taker:
        _, info = taker.read()
        assert info is not None and info.owner == taker.owner


def test_a_lease_moved_by_someone_else_is_lost_and_check_refuses(
    clones: tuple[GitRepository, GitRepository],
) -> None:
    one, two = clones
    lock = ClusterLock(one, "lab", ME, renew_every=60)
    lock.acquire()
    try:
        thief = ClusterLock(two, "lab", ME)
        current, _ = thief.read()
        assert two.swap_remote_ref(thief.ref, thief._note(), current)
        lock.renew()
        with pytest.raises(LockTimeout, match="lease was lost"):
            lock.check()
    finally:
        lock.release()
    # The thief's lease stays: a lost holder never deletes someone else's lock.
    assert one.read_remote_ref(lock_ref("lab")) is not None


def test_waiting_stops_when_asked(clones: tuple[GitRepository, GitRepository]) -> None:
    one, two = clones
    stop = threading.Event()
    with ClusterLock(one, "lab", ME, renew_every=60):
        waiter = ClusterLock(two, "lab", ME, wait=30, poll=0.05, stop=stop)
        threading.Timer(0.2, stop.set).start()
        started = time.monotonic()
        with pytest.raises(Interrupted):
            waiter.acquire()
        assert time.monotonic() - started < 10
