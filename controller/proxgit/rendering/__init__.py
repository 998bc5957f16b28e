"""Views over a Plan: terminal text, Markdown for PR comments, stable JSON.

The planner never prints; these functions turn its data into text and do
nothing else.
"""

from proxgit.rendering.jsonview import render_json
from proxgit.rendering.markdown import COMMENT_LIMIT, render_markdown
from proxgit.rendering.text import render_text

__all__ = ["COMMENT_LIMIT", "render_json", "render_markdown", "render_text"]
