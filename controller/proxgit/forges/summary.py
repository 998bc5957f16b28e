"""The GitHub Actions job summary: the plan on the run's page, in full.

A PR comment has a length limit and a fork PR's token may not be allowed to
comment at all; the job summary (``$GITHUB_STEP_SUMMARY``) takes up to 1 MiB
and needs no permission, so the full plan is always one click away.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from proxgit.errors import ForgeError
from proxgit.forges.comment import STEP_SUMMARY_LIMIT, truncate_markdown


def write_step_summary(markdown: str, env: Mapping[str, str] = os.environ) -> bool:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY``; False when not on GitHub Actions.

    The summary limit counts bytes; text beyond it is cut at a line boundary
    with a note pointing at the job log.
    """
    path = env.get("GITHUB_STEP_SUMMARY", "").strip()
    if not path:
        return False
    limit = STEP_SUMMARY_LIMIT - 2  # the blank line appended after the text
    text = markdown
    budget = len(markdown)
    while len(text.encode("utf-8")) > limit:
        # Shrink the character budget in proportion to the bytes still over.
        budget = budget * limit // len(text.encode("utf-8")) - 1
        text = truncate_markdown(
            markdown,
            budget,
            note=lambda shown, total: (
                f"\n\n---\n:warning: **Truncated** to fit the job summary ({shown:,} of "
                f"{total:,} characters shown); the full output is in the job log.\n"
            ),
        )
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")
            handle.write("\n")
    except OSError as err:
        raise ForgeError(
            f"cannot write the job summary {path} (GITHUB_STEP_SUMMARY): {err}"
        ) from err
    return True
