"""The comment body: the marker, truncation at line boundaries, closing open blocks."""

from __future__ import annotations

from pathlib import Path

from proxgit.forges import PLAN_MARKER, comment_body, is_plan_comment, write_step_summary


def test_the_marker_must_be_the_first_line() -> None:
    assert is_plan_comment(f"{PLAN_MARKER}\n## plan")
    assert is_plan_comment(f"{PLAN_MARKER}\r\n## plan")
    assert not is_plan_comment(f"see below\n{PLAN_MARKER}")
    assert not is_plan_comment("<!-- proxgit:plan-other -->\n")


def test_short_plans_pass_unchanged() -> None:
    assert comment_body("plan\n", forge="github") == (f"{PLAN_MARKER}\nplan\n", False)


def test_truncation_cuts_at_a_line_and_closes_fences_and_details() -> None:
    markdown = "<details><summary>all</summary>\n\n```diff\n" + "".join(
        f"+ line {n}\n" for n in range(20_000)
    )

    body, truncated = comment_body(markdown, forge="github", limit=5_000)

    assert truncated and len(body) <= 5_000
    kept, _, note = body.partition("\n```\n</details>\n\n---\n")
    assert kept.endswith(tuple(f"+ line {n}" for n in range(20_000)))  # whole lines only
    assert "This plan was truncated" in note and "characters shown" in note


def test_a_plan_exactly_at_the_limit_is_not_truncated() -> None:
    markdown = "x" * (65_536 - len(PLAN_MARKER) - 1)
    body, truncated = comment_body(markdown, forge="gitea")
    assert not truncated and len(body) == 65_536


def test_step_summary_is_appended_on_github_actions(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")

    assert write_step_summary("## plan", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert summary.read_text() == "# earlier step\n## plan\n\n"
    assert not write_step_summary("## plan", env={})


def test_step_summary_stays_within_one_mebibyte(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"

    write_step_summary("é line\n" * 200_000, env={"GITHUB_STEP_SUMMARY": str(summary)})

    assert len(summary.read_bytes()) <= 1_048_576
    assert "Truncated" in summary.read_text()
