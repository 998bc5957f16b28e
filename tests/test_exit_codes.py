"""Every row of the exit-code table in README.md, for every command, through the CLI.

The table is parsed from README.md: a code documented for a command without a
scenario here fails the test, so the contract and its proof move together.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from proxgit.applying.lock import ClusterLock
from proxgit.cli import main
from proxgit.git import GitRepository, Identity
from tests.support import BOB, CAROL, GitRepo, config_yaml, vm_path, vm_yaml

README = Path(__file__).resolve().parents[1] / "README.md"


def documented() -> list[tuple[str, int]]:
    """(command, exit code) for every code README's command table documents."""
    rows: list[tuple[str, int]] = []
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\| `proxgit (\w+)[^|]*\|.*\| ([^|]*) \|$", line)
        if not match:
            continue
        for item in match.group(2).split(", "):
            codes = re.match(r"^(\d+(?:/\d+)*) ", item)
            if codes:
                rows.extend((match.group(1), int(code)) for code in codes.group(1).split("/"))
    return rows


class Case:
    def __init__(self, repo: GitRepo, pve: Any, cafile: str, tmp: Path) -> None:
        self.repo, self.pve, self.cafile, self.tmp = repo, pve, cafile, tmp

    def run(self, *args: str) -> Result:
        result = CliRunner().invoke(main, list(args))
        assert "Traceback" not in result.output, result.output
        return result

    def merge(self, files: dict[str, str | None], author: tuple[str, str] = BOB) -> str:
        sha = self.repo.commit(files, "change", author=author)
        self.repo.git("push", "--quiet", "origin", "main")
        return sha

    def apply(self, *args: str) -> Result:
        return self.run("apply", "--repo", str(self.repo.path), "--lock-timeout", "5", *args)

    @property
    def path(self) -> str:
        return str(self.repo.path)


Scenario = Callable[[Case], list[Result]]


def codes_of(results: list[Result]) -> set[int]:
    return {r.exit_code for r in results}


# --- one scenario per (command, code): each returns the results that must carry it --


def validate_0(c: Case) -> list[Result]:
    return [c.run("validate", "--repo", c.path)]


def validate_1(c: Case) -> list[Result]:
    c.repo.write({vm_path("bad"): vm_yaml("bad", 101, extra="cores: many\n")})
    return [c.run("validate", "--repo", c.path)]


def schema_0(c: Case) -> list[Result]:
    out = str(c.tmp / "schemas")
    c.run("schema", "--out", out)
    return [c.run("schema", "--out", out, "--check")]


def schema_1(c: Case) -> list[Result]:
    return [c.run("schema", "--out", str(c.tmp / "empty"), "--check")]


def plan_0(c: Case) -> list[Result]:
    return [c.run("plan", "--repo", c.path)]


def plan_2(c: Case) -> list[Result]:
    c.repo.write({vm_path("web-01"): vm_yaml("web-01", 101)})
    return [c.run("plan", "--repo", c.path)]


def plan_1(c: Case) -> list[Result]:
    error = c.run("plan", "--repo", c.path, "--base", "origin/nope")
    c.repo.write({vm_path("web-01"): vm_yaml("web-01", 101, node="pve3")})  # pve3 is offline
    blocker = c.run("plan", "--repo", c.path)
    assert "node-offline" in blocker.output or "offline" in blocker.output, blocker.output
    return [error, blocker]


def apply_0(c: Case) -> list[Result]:
    c.merge({vm_path("web-01"): vm_yaml("web-01", 101)})
    applied = c.apply()
    return [applied, c.apply()]  # applied, then nothing to do


def apply_1(c: Case) -> list[Result]:
    c.merge({vm_path("web-01"): vm_yaml("web-01", 101)})
    c.pve.lose_quorum()
    return [c.apply()]


def apply_3(c: Case) -> list[Result]:
    results = []
    for text in (
        config_yaml(c.pve.url, c.cafile, apply=False),
        config_yaml(c.pve.url, c.cafile, allow_writes=False),
        config_yaml(c.pve.url, c.cafile).replace(
            "allow-edit-and-add-actions", "allow-edit-and-add-action"
        ),
    ):
        c.merge({"proxgit.yaml": text, vm_path("web-01"): vm_yaml("web-01", 101)})
        results.append(c.apply())
    assert "refused by gate apply.confirm" in results[-1].stderr, results[-1].output
    return results


def _apply_stopped_by(sig: signal.Signals) -> Scenario:
    def scenario(c: Case) -> list[Result]:
        c.merge({vm_path("web-01"): vm_yaml("web-01", 101)})
        lock = ClusterLock(GitRepository(c.repo.path), "lab", Identity("other", "o@example.com"))
        lock.acquire()  # another apply holds the cluster: this one waits, then is stopped
        timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), sig))
        timer.start()
        try:
            result = c.run("apply", "--repo", c.path, "--lock-timeout", "30")
        finally:
            timer.cancel()
            lock.release()
        assert f"{sig.name} received" in result.stderr, result.output
        return [result]

    return scenario


def deletions_0(c: Case) -> list[Result]:
    return [c.run("deletions", "list", "--repo", c.path)]


def deletions_1(c: Case) -> list[Result]:
    return [c.run("deletions", "approve", "lab-999", "--repo", c.path)]


def deletions_3(c: Case) -> list[Result]:
    c.merge({vm_path("web-01"): vm_yaml("web-01", 101)})
    assert c.apply().exit_code == 0
    c.merge({vm_path("web-01"): None})
    assert c.apply("--push").exit_code == 0
    c.repo.git("config", "user.email", BOB[1])  # the requester approving their own
    own = c.run("deletions", "approve", "lab-101", "--repo", c.path)
    c.repo.git("config", "user.email", CAROL[1])
    assert c.run("deletions", "approve", "lab-101", "--repo", c.path, "--push").exit_code == 0
    c.merge({"proxgit.yaml": config_yaml(c.pve.url, c.cafile, allow_writes=False)})
    gated = c.run("deletions", "execute", "--repo", c.path)
    return [own, gated]


def reflect_0(c: Case) -> list[Result]:
    return [c.run("reflect", "--repo", c.path)]


def reflect_1(c: Case) -> list[Result]:
    c.pve.fail("GET", "/cluster/resources", 500, "boom")
    return [c.run("reflect", "--repo", c.path)]


def drift_0(c: Case) -> list[Result]:
    return [c.run("drift", "--repo", c.path)]


def drift_2(c: Case) -> list[Result]:
    c.merge({vm_path("web-01"): vm_yaml("web-01", 101, extra="memory: 1024\n")})
    assert c.apply().exit_code == 0
    c.pve.guest(101).config["memory"] = 4096
    return [c.run("drift", "--repo", c.path)]


def drift_1(c: Case) -> list[Result]:
    c.pve.fail("GET", "/cluster/resources", 500, "boom")
    return [c.run("drift", "--repo", c.path)]


def import_0(c: Case) -> list[Result]:
    return [c.run("import", "--repo", c.path, "--cluster", "lab", "--all-unmanaged")]


def import_1(c: Case) -> list[Result]:
    return [c.run("import", "--repo", c.path, "--cluster", "lab", "--vmid", "9000")]


def demo_0(c: Case) -> list[Result]:
    return [c.run("demo", "--workdir", str(c.tmp / "demo"))]


SCENARIOS: dict[tuple[str, int], Scenario] = {
    ("validate", 0): validate_0,
    ("validate", 1): validate_1,
    ("schema", 0): schema_0,
    ("schema", 1): schema_1,
    ("plan", 0): plan_0,
    ("plan", 2): plan_2,
    ("plan", 1): plan_1,
    ("apply", 0): apply_0,
    ("apply", 1): apply_1,
    ("apply", 3): apply_3,
    ("apply", 143): _apply_stopped_by(signal.SIGTERM),
    ("apply", 130): _apply_stopped_by(signal.SIGINT),
    ("deletions", 0): deletions_0,
    ("deletions", 1): deletions_1,
    ("deletions", 3): deletions_3,
    ("reflect", 0): reflect_0,
    ("reflect", 1): reflect_1,
    ("drift", 0): drift_0,
    ("drift", 2): drift_2,
    ("drift", 1): drift_1,
    ("import", 0): import_0,
    ("import", 1): import_1,
    ("demo", 0): demo_0,
}


def test_every_documented_code_has_a_scenario() -> None:
    rows = documented()
    assert len(rows) >= 20, rows  # the table was found
    missing = [row for row in rows if row not in SCENARIOS]
    assert not missing, f"README documents exit codes no test proves: {missing}"


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(
            row, id=f"{row[0]}-{row[1]}", marks=[pytest.mark.slow] if row[0] == "demo" else []
        )
        for row in documented()
    ],
)
def test_exit_code(
    row: tuple[str, int], repo: GitRepo, pve: Any, fakepve_cafile: str, tmp_path: Path
) -> None:
    repo.git("push", "--quiet", "origin", "main")
    results = SCENARIOS[row](Case(repo, pve, fakepve_cafile, tmp_path))
    assert results
    for result in results:
        assert result.exit_code == row[1], (row, result.output)
