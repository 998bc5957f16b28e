"""A plan catches at PR time what the merge's apply would trip on, through the CLI."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from proxgit.cli import main
from tests.support import GitRepo, config_yaml, ct_path, ct_yaml, vm_path, vm_yaml

WEB02 = """\
cores: 1
memory: 1024
cloudInit:
  user: ubuntu
  passwordFrom: {env: WEB02_PASSWORD}
"""
DNS02 = """\
ostemplate: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst
rootfs: {storage: local-lvm, size: 8G}
passwordFrom: {file: secrets/dns02-root}
"""


def plan(repo: GitRepo, *args: str) -> Result:
    result = CliRunner().invoke(
        main, ["plan", "--repo", str(repo.path), "--base", "HEAD", "--output", "json", *args]
    )
    assert "Traceback" not in result.output, result.output
    return result


def warnings(result: Result) -> list[dict[str, Any]]:
    return list(json.loads(result.stdout)["warnings"])


def test_a_password_the_merge_needs_is_named_when_unset(
    repo: GitRepo, pve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEB02_PASSWORD", raising=False)
    repo.write(
        {
            vm_path("web-02"): vm_yaml("web-02", 102, extra=WEB02),
            ct_path("dns-02"): ct_yaml("dns-02", 202, extra=DNS02),
        }
    )
    result = plan(repo)
    assert result.exit_code == 2, result.output  # a warning, not a blocker
    missing = [w["message"] for w in warnings(result) if w["code"] == "secret-not-set"]
    assert len(missing) == 2, missing
    assert missing[0].startswith("environment variable WEB02_PASSWORD is not set")
    assert "clusters/lab/vms/web-02.yaml cloudInit.passwordFrom" in missing[0]
    assert missing[1].startswith("secret file secrets/dns02-root is not set")

    text = CliRunner().invoke(main, ["plan", "--repo", str(repo.path)])
    assert "warning [secret-not-set]: environment variable WEB02_PASSWORD" in text.output

    # present (the value is never read into the plan, only its presence checked)
    monkeypatch.setenv("WEB02_PASSWORD", "hunter2-not-in-any-output")
    (repo.path / "secrets").mkdir()
    (repo.path / "secrets" / "dns02-root").write_text("s3cret-root-pw\n")
    result = plan(repo)
    assert [w for w in warnings(result) if w["code"] == "secret-not-set"] == []
    assert "hunter2" not in result.output and "s3cret" not in result.output


def test_an_existing_guest_needs_no_password_at_apply(
    repo: GitRepo, pve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEB02_PASSWORD", raising=False)
    repo.commit({vm_path("web-02"): vm_yaml("web-02", 102, extra=WEB02)}, "Add web-02")
    pve.add_vm(102, "web-02", node="pve1", config={"memory": 1024, "cores": 1})
    repo.write({vm_path("web-02"): vm_yaml("web-02", 102, extra=WEB02.replace("1024", "2048"))})
    result = plan(repo)
    assert [w for w in warnings(result) if w["code"] == "secret-not-set"] == []


def test_opening_the_write_gates_is_a_security_relevant_change(
    repo: GitRepo, pve: Any, fakepve_cafile: str
) -> None:
    repo.commit(
        {"proxgit.yaml": config_yaml(pve.url, fakepve_cafile, apply=False, allow_writes=False)},
        "Read-only",
    )
    repo.write({"proxgit.yaml": config_yaml(pve.url, fakepve_cafile)})
    result = plan(repo)
    lines = [w["message"] for w in warnings(result) if w["code"] == "security-relevant-change"]
    assert any(
        line.startswith("security-relevant change: apply changes in this pull request")
        and "enabled: false -> true" in line
        and "confirm: added" in line
        for line in lines
    ), lines
    assert any(
        "clusters.lab.allowWrites changes" in line and "false -> true" in line for line in lines
    ), lines
    markdown = CliRunner().invoke(
        main, ["plan", "--repo", str(repo.path), "--base", "HEAD", "--output", "markdown"]
    )
    assert "security-relevant change: apply changes" in markdown.output
