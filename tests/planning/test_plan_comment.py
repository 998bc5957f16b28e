"""``proxgit plan --comment github`` end to end: fakepve for Proxmox, a fake GitHub API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from proxgit.cli import main
from tests.forges.fakeforge import OWNER_REPO, PR, TOKEN, FakeForge
from tests.support import TOKEN_SECRET, GitRepo, vm_path, vm_yaml


def github_env(fake: FakeForge, tmp_path: Path, sha: str) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": PR, "head": {"sha": sha}}}))
    return {
        "GITHUB_API_URL": fake.server.url_for("").rstrip("/"),
        "GITHUB_REPOSITORY": OWNER_REPO,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_SHA": sha,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }


def test_plan_comment_created_then_edited_with_pr_author_as_actor(
    repo: GitRepo,
    pve: Any,
    github: FakeForge,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = repo.git("rev-parse", "HEAD")
    head = repo.commit({vm_path("web-01"): vm_yaml("web-01", 101)}, "Add web-01")
    for key, value in github_env(github, tmp_path, head).items():
        monkeypatch.setenv(key, value)
    args = [
        "plan",
        "--repo",
        str(repo.path),
        "--base",
        base,
        "--head",
        head,
        "--comment",
        "github",
        "--output",
        "markdown",
    ]
    first = CliRunner().invoke(main, args)
    # the PR author github:alice is an operator in the policy: create is allowed
    assert first.exit_code == 2, first.output
    second_head = repo.commit({vm_path("web-02"): vm_yaml("web-02", 102)}, "Add web-02")
    monkeypatch.setenv("GITHUB_SHA", second_head)
    args[args.index(head)] = second_head
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 2, second.output

    posts = [r for r in github.requests if r.method == "POST" and "/comments" in r.path]
    patches = [r for r in github.requests if r.method == "PATCH"]
    assert len(posts) == 1 and len(patches) == 1
    [comment] = github.comments
    assert "web-02" in comment["body"] and "as `github:alice`" in comment["body"]
    assert [s["state"] for s in github.statuses] == ["success", "success"]
    assert "proxgit plan" in (tmp_path / "summary.md").read_text()
    everything = json.dumps([r.body for r in github.requests]) + first.output + second.output
    assert TOKEN_SECRET not in everything and TOKEN not in everything
