"""``plan --watch``: re-renders on real file changes in a temporary directory."""

from __future__ import annotations

import io
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from watchfiles import Change

from proxgit.errors import ProxgitError
from proxgit.watching.local import CLEAR_SCREEN, desired_tree_filter, watch_plan

WAIT = 10.0  # seconds; a render normally follows a write within ~0.5 s


class Watcher:
    """``watch_plan`` on a thread; each render's number arrives on ``renders``."""

    def __init__(self, repo: Path, *, fail_on: int = 0, clear: bool | None = None) -> None:
        self.repo = repo
        self.count = 0
        self.fail_on = fail_on
        self.renders: queue.Queue[int] = queue.Queue()
        self.output: list[str] = []
        self.stop = threading.Event()
        self.result: int | None = None
        self.thread = threading.Thread(target=self._run, args=(clear,), daemon=True)

    def render(self) -> str:
        self.count += 1
        self.renders.put(self.count)
        if self.count == self.fail_on:
            raise ProxgitError("clusters/lab/vms/web-01.yaml:3:1: mapping values are not allowed")
        return f"plan #{self.count}"

    def _run(self, clear: bool | None) -> None:
        self.result = watch_plan(
            self.repo,
            self.render,
            out=self.output.append,
            stop_event=self.stop,
            debounce_ms=100,
            clear=clear,
        )

    def next_render(self) -> int:
        return self.renders.get(timeout=WAIT)

    def text(self) -> str:
        return "".join(self.output)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "proxgit.yaml").write_text("apiVersion: proxgit/v1\n")
    (tmp_path / "clusters" / "lab" / "vms").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    return tmp_path


@pytest.fixture
def watcher(repo: Path) -> Iterator[Watcher]:
    w = Watcher(repo)
    w.thread.start()
    yield w
    w.stop.set()
    w.thread.join(timeout=WAIT)


def test_renders_on_start_and_again_after_a_write(watcher: Watcher, repo: Path) -> None:
    assert watcher.next_render() == 1
    (repo / "clusters" / "lab" / "vms" / "web-01.yaml").write_text("kind: VirtualMachine\n")
    assert watcher.next_render() == 2
    watcher.stop.set()
    watcher.thread.join(timeout=WAIT)
    assert not watcher.thread.is_alive()
    assert watcher.result == 2
    text = watcher.text()
    assert "plan #1\n" in text
    assert "plan #2\n" in text
    assert "re-rendered after changes to clusters/lab/vms/web-01.yaml" in text
    assert CLEAR_SCREEN not in text  # out is a list, not a terminal


def test_ignores_git_snapshot_and_editor_files(watcher: Watcher, repo: Path) -> None:
    assert watcher.next_render() == 1
    (repo / ".git" / "index").write_text("x")
    (repo / "snapshot").mkdir()
    (repo / "snapshot" / "lab.yaml").write_text("x")
    (repo / "clusters" / "lab" / "vms" / ".web-01.yaml.swp").write_text("x")
    (repo / "README.md").write_text("x")
    with pytest.raises(queue.Empty):
        watcher.renders.get(timeout=1.0)
    (repo / "proxgit.yaml").write_text("apiVersion: proxgit/v1\nkind: Config\n")
    assert watcher.next_render() == 2
    assert "re-rendered after changes to proxgit.yaml;" in watcher.text()


def test_a_failing_render_shows_the_error_and_keeps_watching(repo: Path) -> None:
    w = Watcher(repo, fail_on=2, clear=True)
    w.thread.start()
    try:
        assert w.next_render() == 1
        (repo / "clusters" / "lab" / "vms" / "a.yaml").write_text("bad: [\n")
        assert w.next_render() == 2
        time.sleep(0.3)
        (repo / "clusters" / "lab" / "vms" / "a.yaml").write_text("good: 1\n")
        assert w.next_render() == 3
    finally:
        w.stop.set()
        w.thread.join(timeout=WAIT)
    text = w.text()
    assert "error: clusters/lab/vms/web-01.yaml:3:1: mapping values are not allowed\n" in text
    assert "plan #3\n" in text
    assert w.output.count(CLEAR_SCREEN) == w.count


def test_a_save_during_the_first_render_is_not_lost(repo: Path) -> None:
    stop = threading.Event()
    calls: queue.Queue[int] = queue.Queue()
    count = 0

    def slow_render() -> str:
        nonlocal count
        count += 1
        if count == 1:  # the user saves while the first plan still reads Proxmox
            (repo / "clusters" / "lab" / "vms" / "web-01.yaml").write_text("cores: 4\n")
            time.sleep(0.3)
        calls.put(count)
        return f"plan #{count}"

    output: list[str] = []
    thread = threading.Thread(
        target=watch_plan,
        args=(repo, slow_render),
        kwargs={"out": output.append, "stop_event": stop, "debounce_ms": 100},
        daemon=True,
    )
    thread.start()
    try:
        assert calls.get(timeout=WAIT) == 1
        assert calls.get(timeout=WAIT) == 2
    finally:
        stop.set()
        thread.join(timeout=WAIT)
    assert "re-rendered after changes to clusters/lab/vms/web-01.yaml" in "".join(output)


def test_stop_before_any_change_returns_promptly(repo: Path) -> None:
    w = Watcher(repo)
    w.thread.start()
    assert w.next_render() == 1
    started = time.monotonic()
    w.stop.set()
    w.thread.join(timeout=WAIT)
    assert not w.thread.is_alive()
    assert time.monotonic() - started < 3
    assert w.result == 1


def test_clears_only_for_a_terminal(repo: Path) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    def once(stop: threading.Event) -> str:
        stop.set()  # render once, then stop at the next check
        return "plan"

    tty, plain = Tty(), io.StringIO()
    for stream in (tty, plain):
        stop = threading.Event()
        renders = watch_plan(
            repo, lambda stop=stop: once(stop), out=stream.write, stop_event=stop, debounce_ms=50
        )
        assert renders == 1
    assert tty.getvalue().startswith(CLEAR_SCREEN + "plan\n")
    assert CLEAR_SCREEN not in plain.getvalue()


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ProxgitError, match="not a directory"):
        watch_plan(tmp_path / "missing", lambda: "", out=print, stop_event=threading.Event())


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("proxgit.yaml", True),
        ("clusters/lab/vms/web-01.yaml", True),
        ("clusters/lab/containers/dns.yml", True),
        ("deletions/lab-101.yaml", True),
        ("clusters/lab", True),  # a directory renamed or removed
        ("clusters", True),
        ("clusters/lab/vms/web-01.yaml~", False),
        ("clusters/lab/vms/.web-01.yaml.swp", False),
        ("clusters/lab/vms/notes.txt", False),
        (".git/index", False),
        (".git/refs/heads/main", False),
        ("snapshot/lab/vms/web-01.yaml", False),
        (".proxgit/journal/x.yaml", False),
        ("README.md", False),
        ("other/proxgit.yaml", False),
    ],
)
def test_filter(tmp_path: Path, rel: str, expected: bool) -> None:
    relevant = desired_tree_filter(tmp_path)
    assert relevant(Change.modified, str(tmp_path / rel)) is expected
    assert relevant(Change.modified, "/elsewhere/" + rel) is False
