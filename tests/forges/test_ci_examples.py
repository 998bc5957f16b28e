"""The CI examples in example-repo/ parse, and name only proxgit commands that exist.

Every ``proxgit ...`` command line in a GitHub or Gitea ``run:`` block or a
GitLab ``script:`` list is checked against the click command tree of
``proxgit.cli.main``: the subcommand path must exist, each ``--option`` must
be one of that command's options, and a literal value of a choice option
must be one of its choices. A command missing from the CLI fails the test,
naming it. The checker itself is tested on a small click group first.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from proxgit.cli import main as proxgit_cli

EXAMPLE_REPO = Path(__file__).resolve().parents[2] / "example-repo"

WORKFLOW_FILES = sorted(
    [
        *(EXAMPLE_REPO / ".github" / "workflows").glob("*.yml"),
        *(EXAMPLE_REPO / ".gitea" / "workflows").glob("*.yml"),
        EXAMPLE_REPO / ".gitlab-ci.yml",
    ]
)

# Tokens after which a word starts a new command in a shell line.
COMMAND_STARTS = {
    ";",
    "&&",
    "||",
    "|",
    "&",
    "(",
    "!",
    "then",
    "do",
    "else",
    "if",
    "while",
    "until",
    "time",
    "exec",
}
SHELL_STOPS = {";", "&&", "||", "|", "&", ")", ">", ">>", "<", "2>", "2>&1", "|&"}


@dataclass(frozen=True)
class CommandLine:
    """One ``proxgit`` invocation found in a CI file."""

    source: str
    words: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.source}: proxgit {' '.join(self.words)}"


def shell_scripts(document: Any) -> Iterator[tuple[str, str]]:
    """``(where, script)`` for every ``run:`` string and ``script:``-style list in a CI file."""

    def walk(node: Any, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{where}.{key}" if where else str(key)
                if key == "run" and isinstance(value, str):
                    yield here, value
                elif key in ("script", "before_script", "after_script"):
                    lines = value if isinstance(value, list) else [value]
                    for index, line in enumerate(lines):
                        if isinstance(line, str):
                            yield f"{here}[{index}]", line
                else:
                    yield from walk(value, here)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                yield from walk(item, f"{where}[{index}]")

    yield from walk(document, "")


def proxgit_commands(script: str, source: str) -> list[CommandLine]:
    """Every ``proxgit`` command in a shell script, continuation lines joined."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError as err:
            raise AssertionError(f"{source}: cannot split shell line {line!r}: {err}") from err
        at_start = True
        for index, token in enumerate(tokens):
            if at_start and (token == "proxgit" or token.endswith("/proxgit")):
                words = []
                for word in tokens[index + 1 :]:
                    if word in SHELL_STOPS or word.startswith((">", "<", "2>")):
                        break
                    words.append(word)
                found.append(CommandLine(source, tuple(words)))
            if token in COMMAND_STARTS:
                at_start = True
            elif at_start and "=" in token and not token.startswith("-"):
                at_start = True  # VAR=value before a command
            else:
                at_start = False
    return found


def check_command(group: click.Group, line: CommandLine) -> list[str]:
    """What is wrong with ``line`` against the click tree rooted at ``group``; [] when nothing."""
    problems: list[str] = []
    command: click.Command = group
    path = ["proxgit"]
    words = list(line.words)
    positional_done = False
    while words:
        word = words.pop(0)
        if word.startswith("-"):
            name, has_value, value = word.partition("=")
            option = _option(command, name)
            if option is None:
                problems.append(f"{line.source}: '{' '.join(path)}' has no option {name}")
                continue
            if not option.is_flag and option.nargs != 0 and not option.count:
                if not has_value:
                    value = words.pop(0) if words else ""
                choices = option.type.choices if isinstance(option.type, click.Choice) else None
                if choices is not None and "$" not in value and value not in choices:
                    problems.append(
                        f"{line.source}: '{' '.join(path)} {name}' does not accept "
                        f"{value!r} (choices: {', '.join(map(str, choices))})"
                    )
            continue
        if isinstance(command, click.Group) and not positional_done:
            sub = command.commands.get(word)
            if sub is None:
                problems.append(
                    f"{line.source}: no command '{' '.join([*path, word])}' in the proxgit CLI"
                )
                return problems
            command = sub
            path.append(word)
            continue
        positional_done = True  # an argument of the leaf command
    if (
        isinstance(command, click.Group)
        and command is not group
        and not command.invoke_without_command
    ):
        problems.append(f"{line.source}: '{' '.join(path)}' needs a subcommand")
    return problems


def _option(command: click.Command, name: str) -> click.Option | None:
    for param in command.params:
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return param
    if name in ("--help", "-h"):
        return click.Option(["--help"], is_flag=True)
    return None


def _all_commands() -> list[CommandLine]:
    commands = []
    for path in WORKFLOW_FILES:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        rel = path.relative_to(EXAMPLE_REPO)
        for where, script in shell_scripts(document):
            commands.extend(proxgit_commands(script, f"{rel}:{where}"))
    return commands


# -- the checker, on a group small enough to read --------------------------


@click.group()
@click.option("--verbose", is_flag=True)
def tiny() -> None:
    """A stand-in CLI."""


@tiny.command()
@click.option("--output", type=click.Choice(["text", "markdown"]))
@click.option("--push/--no-push", default=False)
@click.argument("target", required=False)
def plan(output: str, push: bool, target: str | None) -> None:
    """Plan."""


@tiny.group()
def deletions() -> None:
    """Deletions."""


@deletions.command()
@click.option("--reason")
def reject(reason: str) -> None:
    """Reject."""


def _check(script: str) -> list[str]:
    return [p for c in proxgit_commands(script, "t") for p in check_command(tiny, c)]


def test_checker_finds_commands_in_shell_lines() -> None:
    script = (
        "pip install proxgit\n"
        "set +e; proxgit plan --output markdown > plan.md || code=$?\n"
        "if ! proxgit deletions reject ID --reason 'too soon'; then exit 1; fi\n"
        "PROXGIT_DEBUG=1 proxgit plan \\\n  --push\n"
        "echo proxgit apply  # a word, not a command\n"
    )
    commands = proxgit_commands(script, "t")
    assert [c.words for c in commands] == [
        ("plan", "--output", "markdown"),
        ("deletions", "reject", "ID", "--reason", "too soon"),
        ("plan", "--push"),
    ]


def test_checker_accepts_what_exists() -> None:
    assert _check("proxgit --verbose plan --output=markdown --no-push here") == []
    assert _check('proxgit deletions reject x --reason "no"') == []
    assert _check('proxgit plan --output "$FORMAT"') == []  # a variable is not checked


def test_checker_names_what_does_not_exist() -> None:
    assert _check("proxgit apply --push") == ["t: no command 'proxgit apply' in the proxgit CLI"]
    assert _check("proxgit deletions execute") == [
        "t: no command 'proxgit deletions execute' in the proxgit CLI"
    ]
    assert _check("proxgit plan --comment github") == ["t: 'proxgit plan' has no option --comment"]
    assert _check("proxgit plan --output json") == [
        "t: 'proxgit plan --output' does not accept 'json' (choices: text, markdown)"
    ]
    assert _check("proxgit deletions") == ["t: 'proxgit deletions' needs a subcommand"]


# -- the examples -------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: str(p.relative_to(EXAMPLE_REPO)))
def test_every_ci_file_parses_and_runs_proxgit(path: Path) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    rel = path.relative_to(EXAMPLE_REPO)
    assert any(proxgit_commands(script, where) for where, script in shell_scripts(document)), (
        f"{rel} runs no proxgit command"
    )


def test_the_example_files_exist() -> None:
    names = {str(p.relative_to(EXAMPLE_REPO)) for p in WORKFLOW_FILES}
    assert ".gitlab-ci.yml" in names
    assert any(n.startswith(".github/workflows/") for n in names)
    assert any(n.startswith(".gitea/workflows/") for n in names)


# Commands of the CLI contract (DESIGN.md) whose issues are still open: their
# example lines are expected to fail the check until the command lands, and a
# strict xfail turns red the moment one does, so this list has to shrink.
PLANNED: dict[str, str] = {}


def _with_planned(commands: list[CommandLine]) -> list[Any]:
    marked: list[Any] = []
    for command in commands:
        issue = PLANNED.get(command.words[0]) if command.words else None
        if issue is None:
            marked.append(command)
        else:
            reason = f"'proxgit {command.words[0]}' arrives with {issue}"
            marked.append(
                pytest.param(command, marks=pytest.mark.xfail(strict=True, reason=reason))
            )
    return marked


@pytest.mark.parametrize("command", _with_planned(_all_commands()), ids=str)
def test_every_proxgit_command_exists_in_the_cli(command: CommandLine) -> None:
    problems = check_command(proxgit_cli, command)
    assert not problems, "\n".join(problems)


def test_github_workflows_keep_the_safety_rules() -> None:
    workflows = {
        p.name: yaml.safe_load(p.read_text(encoding="utf-8"))
        for p in (EXAMPLE_REPO / ".github" / "workflows").glob("*.yml")
    }
    for name, workflow in workflows.items():
        # PyYAML reads the key `on` as True.
        triggers = workflow.get("on", workflow.get(True))
        assert "pull_request_target" not in triggers, name
    plan = workflows["proxgit-plan.yml"]
    assert plan["permissions"] == {}
    assert plan["jobs"]["plan"]["permissions"] == {
        "contents": "read",
        "pull-requests": "write",
        "statuses": "write",
    }
    apply = workflows["proxgit-apply.yml"]
    assert apply["concurrency"]["cancel-in-progress"] is False
    for job in apply["jobs"].values():
        assert job.get("environment") == "proxmox-write"
    assert "proxgit@noreply.invalid" in apply["jobs"]["apply"]["if"]
    for workflow in (plan, apply):
        on = workflow.get("on", workflow.get(True))
        event = on.get("pull_request") or on.get("push")
        assert {"snapshot/**", ".proxgit/journal/**"} <= set(event["paths-ignore"])


def test_gitlab_pipeline_serialises_writers() -> None:
    pipeline = yaml.safe_load((EXAMPLE_REPO / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    assert pipeline["apply"]["resource_group"] == pipeline["deletions"]["resource_group"]
    assert pipeline["plan"]["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert any(
        "proxgit@noreply" in rule.get("if", "") and rule.get("when") == "never"
        for rule in pipeline["workflow"]["rules"]
    )
