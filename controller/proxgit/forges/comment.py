"""The plan comment's body: proxgit's marker, the Markdown plan, and truncation.

proxgit keeps one comment per pull request and edits it on every push, the
way Atlantis does, so reviewers see the current plan and not a stack of stale
ones. The comment is recognised by a hidden HTML marker on its first line;
a comment without the marker (a person's, another bot's) is never edited.

Forges cap a comment's length (GitHub at 65,536 characters). A plan longer
than that is cut at a line boundary, any open code fence or ``<details>`` is
closed so the rest of the page still renders, and a note says where the full
plan is: the CI job's log, and on GitHub Actions the job summary.
"""

from __future__ import annotations

from collections.abc import Callable

# Renders the truncation note for (characters shown, characters in total).
NoteFormatter = Callable[[int, int], str]

PLAN_MARKER = "<!-- proxgit:plan -->"

# Characters a comment body may hold. Gitea documents no limit; 65,536 is
# what its MySQL TEXT column and GitHub allow, so it is the safe choice.
COMMENT_LIMITS = {"github": 65_536, "gitlab": 1_000_000, "gitea": 65_536}

# GitHub's job summary takes up to 1 MiB per step.
STEP_SUMMARY_LIMIT = 1_048_576

_WHERE_FULL_PLAN = {
    "github": "the CI job's log and the job summary",
    "gitlab": "the CI job's log",
    "gitea": "the CI job's log",
}


def is_plan_comment(body: str, marker: str = PLAN_MARKER) -> bool:
    """Whether ``body`` is a comment proxgit wrote: its first line is the marker."""
    return body.lstrip("\ufeff").split("\n", 1)[0].strip() == marker


def comment_body(
    markdown: str,
    *,
    forge: str,
    marker: str = PLAN_MARKER,
    details_url: str | None = None,
    limit: int | None = None,
) -> tuple[str, bool]:
    """The full comment body for ``markdown`` and whether it had to be truncated."""
    limit = COMMENT_LIMITS[forge] if limit is None else limit
    body = f"{marker}\n{markdown}"
    if len(body) <= limit:
        return body, False
    where = _WHERE_FULL_PLAN[forge]
    if details_url:
        where = f"[{where}]({details_url})"
    kept = truncate_markdown(
        markdown,
        limit - len(marker) - 1,
        note=lambda shown, total: (
            f"\n\n---\n:warning: **This plan was truncated** to fit the comment limit "
            f"({shown:,} of {total:,} characters shown). The full plan is in {where}.\n"
        ),
    )
    return f"{marker}\n{kept}", True


def truncate_markdown(markdown: str, limit: int, *, note: NoteFormatter) -> str:
    """``markdown`` cut at a line boundary so that it and ``note`` fit in ``limit`` characters.

    ``note(shown, total)`` renders the note for the characters kept. Open code
    fences and ``<details>`` blocks are closed so the note renders as text.
    """
    if len(markdown) <= limit:
        return markdown
    total = len(markdown)
    budget = limit
    while budget > 0:
        cut = markdown.rfind("\n", 0, budget + 1)
        head = markdown[: cut if cut > 0 else budget]
        text = head + _closers(head) + note(len(head), total)
        if len(text) <= limit:
            return text
        budget -= len(text) - limit
    return note(0, total)[:limit]


def _closers(head: str) -> str:
    """Markdown that closes what ``head`` leaves open: a code fence, ``<details>`` blocks."""
    closing = ""
    fence: str | None = None
    for line in head.split("\n"):
        stripped = line.lstrip()
        for mark in ("```", "~~~"):
            if stripped.startswith(mark):
                if fence is None:
                    fence = mark
                elif fence == mark:
                    fence = None
                break
    if fence is not None:
        closing += f"\n{fence}"
    open_details = head.count("<details") - head.count("</details>")
    closing += "\n</details>" * max(open_details, 0)
    return closing
