"""Least privilege per job: plan, drift and reflect with a read-only token; apply writes.

fakepve enforces PVE's privileges per API token once any grant exists: the read
token holds only audit privileges on /, the write token all of them.
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner, Result
from fakepve.shapes import PRIVILEGES

from proxgit.cli import main
from tests.support import BOB, TOKEN_ENV, TOKEN_ID, TOKEN_SECRET, GitRepo, config_yaml, vm_path
from tests.support import vm_yaml as vm

READ_ID = "proxgit@pve!plan"
READ_SECRET = "0f9d2c4e-5a1b-4c3d-8e7f-a1b2c3d4e5f6"
READ_ENV = "PROXGIT_TEST_READ_TOKEN"
AUDIT = ("VM.Audit", "Sys.Audit", "Datastore.Audit", "Pool.Audit", "SDN.Audit")


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def with_read_token(text: str) -> str:
    line = f"      tokenSecretFrom: {{env: {TOKEN_ENV}}}\n"
    assert line in text
    return text.replace(
        line,
        line + f"      readTokenId: '{READ_ID}'\n      readTokenSecretFrom: {{env: {READ_ENV}}}\n",
    )


@pytest.fixture
def split(repo: GitRepo, pve: Any, fakepve_cafile: str) -> GitRepo:
    pve.apitokens[READ_ID] = READ_SECRET
    pve.grant(READ_ID, "/", *AUDIT)
    pve.grant(TOKEN_ID, "/", *PRIVILEGES)
    repo.commit(
        {
            "proxgit.yaml": with_read_token(config_yaml(pve.url, fakepve_cafile)),
            vm_path("web-01"): vm("web-01", 101, extra="cores: 1\nmemory: 1024\n"),
        },
        "Split tokens",
        author=BOB,
    )
    repo.git("push", "--quiet", "origin", "main")
    return repo


def test_plan_drift_and_reflect_need_only_the_read_token(
    split: GitRepo, pve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(split.path)
    # the apply job: the write token only
    monkeypatch.delenv(READ_ENV, raising=False)
    assert run("apply", "--repo", path, "--lock-timeout", "5").exit_code == 0
    assert pve.guest(101).config["name"] == "web-01"
    pve.guest(101).config["memory"] = 2048  # drift, for drift to find

    # the read jobs: the read token only; the write token's secret is not there at all
    monkeypatch.delenv(TOKEN_ENV)
    monkeypatch.setenv(READ_ENV, READ_SECRET)
    split.write({vm_path("web-02"): vm("web-02", 102, extra="cores: 1\nmemory: 1024\n")})
    planned = run("plan", "--repo", path)
    assert planned.exit_code == 2, planned.output
    assert "web-02" in planned.output and "cluster-" not in planned.output
    drifted = run("drift", "--repo", path)
    assert drifted.exit_code == 2, drifted.output
    assert "memory" in drifted.output
    reflected = run("reflect", "--repo", path, "--no-commit")
    assert reflected.exit_code == 0, reflected.output
    assert (split.path / "snapshot").is_dir()
    assert READ_SECRET not in planned.output + drifted.output + reflected.output

    # and that token really cannot write: as the write token, apply is refused by Proxmox
    monkeypatch.setenv(TOKEN_ENV, READ_SECRET)
    pve.apitokens[TOKEN_ID] = READ_SECRET  # (the write token id, read privileges)
    pve.acl[TOKEN_ID] = [("/", set(AUDIT))]
    split.git("add", "-A")
    split.git("commit", "--quiet", "-m", "Add web-02", author=BOB)
    split.git("push", "--quiet", "origin", "main")
    denied = run("apply", "--repo", path, "--lock-timeout", "5")
    assert denied.exit_code == 1
    assert "403" in denied.output and "Permission check failed" in denied.output
    assert 102 not in pve.vms


def test_a_refused_token_names_its_id_and_variable_never_the_secret(
    split: GitRepo, pve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(READ_ENV, "wrong-secret-value-1234")
    result = run("plan", "--repo", str(split.path), "--output", "json")
    assert result.exit_code == 1
    assert "cluster-unauthorized" in result.output
    assert f"API token {READ_ID}" in result.output
    assert f"readTokenSecretFrom env {READ_ENV}" in result.output
    assert "wrong-secret-value-1234" not in result.output
    assert "cluster 'lab': cluster 'lab'" not in result.output
    text = run("plan", "--repo", str(split.path))
    assert "cluster 'lab': cluster 'lab'" not in text.output


def test_read_token_fields_go_together(repo: GitRepo, pve: Any, fakepve_cafile: str) -> None:
    text = with_read_token(config_yaml(pve.url, fakepve_cafile)).replace(
        f"      readTokenSecretFrom: {{env: {READ_ENV}}}\n", ""
    )
    repo.write({"proxgit.yaml": text})
    result = run("validate", "--repo", str(repo.path))
    assert result.exit_code == 1
    assert "readTokenId and readTokenSecretFrom go together" in result.output


def test_without_a_read_token_every_command_uses_the_write_token(
    repo: GitRepo, pve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert TOKEN_SECRET  # the repo fixture's config names only tokenId
    monkeypatch.delenv(READ_ENV, raising=False)
    assert run("plan", "--repo", str(repo.path)).exit_code == 0
