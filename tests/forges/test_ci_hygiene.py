"""The CI examples and the release workflow, as a linter and a forge would read them.

actionlint (with ShellCheck for ``run:`` scripts) lints every GitHub and Gitea
workflow; GitLab's own CI JSON Schema (vendored by check-jsonschema) checks
``.gitlab-ci.yml``. Both tools are first shown to fail on a broken file, so a
pass means something. Then the rules the examples keep: an exact proxgit
version from a hash-pinned lock, actions pinned to commit SHAs with the version
in a comment, per-job permissions, timeouts, no persisted credentials where
nothing is pushed, the read token for read jobs and the write token only for
apply and deletions, ``--push`` where a commit must reach the remote, prod's CA
file written before any job talks to Proxmox, and a pinned GitLab image.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example-repo"
BIN = Path(sys.executable).parent
GITHUB = sorted((EXAMPLE / ".github" / "workflows").glob("*.yml"))
GITEA = sorted((EXAMPLE / ".gitea" / "workflows").glob("*.yml"))
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
GITLAB = EXAMPLE / ".gitlab-ci.yml"
LOCK = EXAMPLE / "ci" / "requirements.txt"
INSTALL = "python -m pip install --require-hashes --no-deps -r ci/requirements.txt"
PINNED_USE = re.compile(r"^\s*(?:-\s*)?uses:\s*(\S+?)@([0-9a-f]{40}) # v\d+\.\d+\.\d+\s*$")
READ_JOBS = {"plan", "drift", "reflect"}
WRITE_JOBS = {"apply", "deletions"}


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


def _actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("actionlint"), "-no-color", "-shellcheck", _tool("shellcheck"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _gitlab_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), path
    return document


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in _steps(job))


def _envs(job: dict[str, Any]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for step in _steps(job):
        merged.update(step.get("env") or {})
    return merged


# -- the linters are real -------------------------------------------------------------


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
        "      - run: echo $UNQUOTED_VAR\n        timeout-minute: 3\n"
    )
    result = _actionlint(broken)
    assert result.returncode != 0
    assert "timeout-minute" in result.stdout
    assert "SC2086" in result.stdout  # ShellCheck ran on the run: script


def test_gitlab_schema_rejects_a_broken_pipeline(tmp_path: Path) -> None:
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text("plan:\n  stage: plan\n  scripts: [proxgit plan]\n  when: sometimes\n")
    result = _gitlab_schema(broken)
    assert result.returncode != 0, result.stdout


# -- the files pass them --------------------------------------------------------------


@pytest.mark.parametrize("path", [*GITHUB, *GITEA, RELEASE], ids=lambda p: str(p.relative_to(ROOT)))
def test_workflow_passes_actionlint(path: Path) -> None:
    result = _actionlint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gitlab_pipeline_matches_gitlabs_schema() -> None:
    result = _gitlab_schema(GITLAB)
    assert result.returncode == 0, result.stdout + result.stderr


# -- an exact, hash-checked proxgit ---------------------------------------------------


def _lock_entries() -> dict[str, list[str]]:
    """Requirement line to its hashes, from ci/requirements.txt."""
    entries: dict[str, list[str]] = {}
    current = ""
    for line in LOCK.read_text().splitlines():
        if re.match(r"^[A-Za-z0-9]", line):
            current = line.rstrip(" \\")
            entries[current] = []
        elif "--hash=sha256:" in line:
            entries[current].append(line.split("sha256:")[1].rstrip(" \\"))
    return entries


def test_the_lock_pins_proxgit_exactly_and_every_dependency_by_hash() -> None:
    entries = _lock_entries()
    pins = [name for name in entries if name.startswith("proxgit")]
    assert len(pins) == 1 and re.fullmatch(r"proxgit==\d+\.\d+\.\d+", pins[0]), pins
    assert len(entries) > 20, "the lock lists every runtime dependency"
    for name, hashes in entries.items():
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[^ ]+", name), name
        if name != pins[0]:  # proxgit's own hashes arrive with the release's lock
            assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name


def _all_ci_text() -> str:
    return "\n".join(p.read_text() for p in [*GITHUB, *GITEA, GITLAB])


def test_no_example_installs_an_unpinned_proxgit() -> None:
    docs = [ROOT / "README.md", *(ROOT / "docs").glob("ci-*.md"), EXAMPLE / "README.md"]
    for path in [*GITHUB, *GITEA, GITLAB, *docs]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"pip install\s+['\"]?proxgit(?!\s*@|[=\w\[-])", line):
                pytest.fail(f"{path.relative_to(ROOT)}:{number}: unpinned install: {line.strip()}")


# -- GitHub and Gitea -----------------------------------------------------------------


@pytest.mark.parametrize("path", [*GITHUB, *GITEA, RELEASE], ids=lambda p: str(p.relative_to(ROOT)))
def test_actions_are_pinned_to_commit_shas_with_a_version_comment(path: Path) -> None:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if re.match(r"^\s*(-\s*)?uses:", line):
            assert PINNED_USE.match(line), f"{path.name}:{number}: {line.strip()}"


@pytest.mark.parametrize("path", [*GITHUB, *GITEA], ids=lambda p: str(p.relative_to(EXAMPLE)))
def test_workflow_jobs_keep_the_rules(path: Path) -> None:
    workflow = _load(path)
    assert workflow.get("permissions") == {}, f"{path.name}: permissions at workflow level"
    for name, job in workflow["jobs"].items():
        where = f"{path.name}:{name}"
        assert isinstance(job.get("timeout-minutes"), int), f"{where}: no timeout-minutes"
        assert isinstance(job.get("permissions"), dict), f"{where}: no job permissions"
        runs = _runs(job)
        pushes = "--push" in runs
        writes = job["permissions"].get("contents") == "write"
        assert pushes == writes, f"{where}: contents: write exactly when the job pushes"
        checkout = [s for s in _steps(job) if str(s.get("uses", "")).startswith("actions/checkout")]
        assert len(checkout) == 1, where
        persist = checkout[0].get("with", {}).get("persist-credentials")
        assert persist is pushes, f"{where}: persist-credentials must be {pushes}"
        assert INSTALL in runs, f"{where}: proxgit is not installed from the lock"
        env = _envs(job)
        talks_to_proxmox = name in READ_JOBS | WRITE_JOBS
        if talks_to_proxmox:
            ca = runs.find("/etc/proxgit/ca/example-internal-ca.pem")
            assert 0 <= ca < runs.find("proxgit " + ("deletions" if name == "deletions" else name))
        if name in READ_JOBS:
            assert {"PROXGIT_LAB_READ_TOKEN_SECRET", "PROXGIT_PROD_READ_TOKEN_SECRET"} <= set(env)
            assert not any(k.endswith("_TOKEN_SECRET") and "READ" not in k for k in env), where
        if name in WRITE_JOBS:
            assert env.get("PROXGIT_LAB_TOKEN_SECRET") == "${{ secrets.PROXGIT_LAB_TOKEN_SECRET }}"
            assert not any("READ_TOKEN" in k for k in env), where
        if "deletions execute" in runs:
            assert "proxgit deletions execute --push" in runs, where


# -- GitLab ---------------------------------------------------------------------------


def test_gitlab_jobs_keep_the_rules() -> None:
    pipeline = _load(GITLAB)
    default = pipeline["default"]
    image = default["image"]
    assert re.search(r"@sha256:[0-9a-f]{64}$|:\d+\.\d+\.\d+(-[a-z]+)?$", image), image
    assert INSTALL in default["before_script"]
    assert any(
        "/etc/proxgit/ca/example-internal-ca.pem" in line for line in default["before_script"]
    )
    assert default["timeout"]
    for name in ("plan", "reflect", "drift"):
        variables = pipeline[name]["variables"]
        assert variables["PROXGIT_LAB_TOKEN_SECRET"] == "", f"{name} holds the write token"
        assert variables["PROXGIT_PROD_TOKEN_SECRET"] == "", f"{name} holds the write token"
    script = "\n".join(pipeline["deletions"]["script"])
    assert "proxgit deletions execute --push" in script
    for name in ("apply", "deletions"):
        assert "PROXGIT_LAB_TOKEN_SECRET" not in pipeline[name].get("variables", {})


# -- the release workflow -------------------------------------------------------------


def test_release_workflow_builds_tests_publishes_and_pushes_an_image() -> None:
    release = _load(RELEASE)
    on = release.get("on", release.get(True))
    assert on == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    assert release["permissions"] == {}
    jobs = release["jobs"]
    with_id_token = [n for n, j in jobs.items() if j.get("permissions", {}).get("id-token")]
    assert with_id_token == ["pypi"]
    assert jobs["pypi"]["permissions"] == {"id-token": "write"}
    assert set(jobs["pypi"]["needs"]) == {"build", "test"}
    assert "CHECK_WHEEL_DIST" in str(jobs["test"]["steps"])
    assert "scripts/check-wheel.sh" in _runs(jobs["test"])
    push = next(s for s in _steps(jobs["image"]) if "build-push-action" in s["uses"])
    assert push["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert push["with"]["provenance"] == "mode=max"
    assert {m["target"] for m in jobs["image"]["strategy"]["matrix"]["include"]} == {
        "runtime",
        "demo",
    }
    for job in jobs.values():
        assert isinstance(job.get("timeout-minutes"), int)
        for step in _steps(job):
            if str(step.get("uses", "")).startswith("actions/checkout"):
                assert step["with"]["persist-credentials"] is False
