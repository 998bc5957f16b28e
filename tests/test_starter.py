"""``proxgit init``: a starter repository that validates, lints and stands alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from proxgit.cli import main
from proxgit.starter import CI_FILES, narrow_ci_file
from tests.forges.test_ci_examples import check_command, proxgit_commands, shell_scripts
from tests.forges.test_ci_hygiene import INSTALL, _actionlint, _gitlab_schema
from tests.test_example_repo import check_modelines

EXAMPLE = Path(__file__).resolve().parents[1] / "example-repo"


def _init(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["init", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_init_writes_a_repository_that_validates_and_lints(tmp_path: Path, forge: str) -> None:
    repo = tmp_path / "infra"
    code, output = _init("--forge", forge, str(repo))
    assert code == 0, output
    result = CliRunner().invoke(main, ["validate", str(repo)])
    assert result.exit_code == 0, result.output
    assert "1 cluster(s), 1 VM(s), 1 container(s)" in result.output
    assert check_modelines(repo) == 3  # proxgit.yaml, the VM, the container
    assert (
        CliRunner().invoke(main, ["schema", "--check", "--out", str(repo / "schemas")]).exit_code
        == 0
    )
    config = (repo / "proxgit.yaml").read_text()
    assert config.count("\n  #") >= 5, "proxgit.yaml explains itself in comments"
    assert f"type: {forge}" in config
    assert (repo / "ci" / "requirements.txt").read_text() == (
        EXAMPLE / "ci" / "requirements.txt"
    ).read_text()
    for name in CI_FILES[forge]:
        path = repo / name
        text = path.read_text()
        code_lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
        assert not [line for line in code_lines if "PROD" in line], f"{name}: prod is not here"
        assert INSTALL in text
        assert (
            "/etc/proxgit/ca/proxmox-ca.pem" in text and "/etc/proxgit/ca/proxmox-ca.pem" in config
        )
        lint = _gitlab_schema(path) if forge == "gitlab" else _actionlint(path)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        for where, script in shell_scripts(yaml.safe_load(text)):
            for command in proxgit_commands(script, f"{name}:{where}"):
                assert not check_command(main, command), command
    others = {n for f, names in CI_FILES.items() if f != forge for n in names}
    assert not [n for n in others if (repo / n).exists()]


def test_init_works_in_a_fresh_git_clone_and_the_result_commits(tmp_path: Path) -> None:
    repo = tmp_path / "infra"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    code, output = _init(str(repo))
    assert code == 0, output
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".github/workflows/proxgit-plan.yml" in status
    assert "schemas/virtualmachine.schema.json" in status


def test_init_refuses_a_directory_with_files_and_writes_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "infra"
    repo.mkdir()
    (repo / "notes.txt").write_text("mine\n")
    code, output = _init(str(repo))
    assert code == 1
    assert "not empty (notes.txt)" in output and "nothing was written" in output
    assert "Traceback" not in output
    assert sorted(p.name for p in repo.iterdir()) == ["notes.txt"]


def test_init_refuses_a_file_and_an_unknown_forge(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    code, output = _init(str(target))
    assert code == 1 and "is not a directory" in output
    code, output = _init("--forge", "bitbucket", str(tmp_path / "new"))
    assert code == 1 and "bitbucket" in output
    assert not (tmp_path / "new").exists()


def test_narrowing_keeps_lab_and_renames_the_ca() -> None:
    text = (EXAMPLE / ".github" / "workflows" / "proxgit-apply.yml").read_text()
    narrowed = narrow_ci_file(text)
    assert "PROXGIT_LAB_TOKEN_SECRET: ${{ secrets.PROXGIT_LAB_TOKEN_SECRET }}" in narrowed
    assert "PROXGIT_PROD_TOKEN_SECRET" not in narrowed
    assert "CA_PEM: ${{ vars.PROXGIT_CA_PEM }}" in narrowed
    assert narrowed.startswith("# Written by `proxgit init`")


def test_an_odd_directory_name_is_still_one_yaml_string(tmp_path: Path) -> None:
    repo = tmp_path / 'a: b #c "d"'
    code, output = _init("--forge", "gitea", str(repo))
    assert code == 0, output
    result = CliRunner().invoke(main, ["validate", str(repo)])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((repo / "proxgit.yaml").read_text())["metadata"]["name"] == repo.name
