"""Project guidelines: Markdown rendered to HTML that is safe to show experts."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

# Raw HTML in the Markdown is not rendered at all; nh3 then removes anything unsafe that
# Markdown itself could produce (javascript: links and the like).
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def guidelines_render(text: str) -> str:
    return nh3.clean(_markdown.render(text or ""), link_rel="noopener noreferrer nofollow")
