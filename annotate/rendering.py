"""Lab text (prompts, responses) as HTML for the labelling and exam pages.

Markdown (CommonMark, tables, strikethrough) by markdown-it-py with raw HTML off; fenced code
highlighted here with Pygments (CSS classes, ``static/css/highlight.css``); math in ``$...$``,
``\\(...\\)``, ``$$...$$`` or ``\\[...\\]`` kept as TeX in ``<span class="math inline">`` /
``<div class="math block">``, which the page typesets with the vendored KaTeX
(``static/js/label.js``). nh3 then keeps only an allow-list of tags, attributes and classes:
whatever a lab puts in its text, the expert's browser gets no script, no event handler, no
``style`` and no link but http(s) and mailto.

Images are not loaded (a lab's image URL would see every expert who opens the item, and the
page's policy allows images from this site only): an image becomes a link to it.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import nh3
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

# Costs stay bounded whatever a lab uploads (a response may hold 200,000 characters). Past
# RENDER_MAX_CHARS a text is shown as plain text; past HIGHLIGHT_BUDGET_CHARS of code in one
# text, further code blocks are shown without colours (Pygments: ~9 ms for 80 lines).
RENDER_MAX_CHARS = 100_000
HIGHLIGHT_BUDGET_CHARS = 40_000
# \(...\) is looked for this far ahead, \[...\] this many lines down: an opener without a
# closer then costs a bounded scan, not one to the end of the text for each opener.
MATH_INLINE_MAX_CHARS = 1_000
MATH_BLOCK_MAX_LINES = 200
CACHE_SIZE = 512

_formatter = HtmlFormatter(nowrap=True)
_highlight_budget = threading.local()
_LANGUAGE = re.compile(r"^[A-Za-z0-9_+#.-]{1,32}$")
_ALIGN = re.compile(r"^text-align:(left|center|right)$")


def _highlight(code: str, lang: str, _attrs: Any) -> str:
    """A fenced block: ``<pre class="highlight" data-lang=...>`` with Pygments' token classes."""
    name = lang.strip().split()[0] if lang and lang.strip() else ""
    body = html.escape(code)
    left = getattr(_highlight_budget, "left", HIGHLIGHT_BUDGET_CHARS)
    if name and _LANGUAGE.match(name) and len(code) <= left:
        _highlight_budget.left = left - len(code)
        try:
            body = highlight(code, get_lexer_by_name(name), _formatter)
        except ClassNotFound:
            pass
    label = f' data-lang="{html.escape(name)}"' if name and _LANGUAGE.match(name) else ""
    return f'<pre class="highlight"{label}><code>{body}</code></pre>\n'


def _lab_text_rules(state) -> None:
    """Headings start at h3 (the page's own h1/h2 stay the outline); a table column's alignment
    becomes a class, not a ``style`` attribute (the policy allows no inline style)."""
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + 2)}"
        elif token.type in ("th_open", "td_open") and token.attrs.get("style"):
            match = _ALIGN.match(str(token.attrs.pop("style")))
            if match:
                token.attrSet("class", f"align-{match.group(1)}")


def _bracket_inline(state, silent: bool) -> bool:
    """``\\(...\\)`` (inline) and ``\\[...\\]`` within a line (display), LaTeX's own delimiters."""
    src, pos = state.src, state.pos
    if not (src.startswith("\\(", pos) or src.startswith("\\[", pos)):
        return False
    display = src[pos + 1] == "["
    closer = "\\]" if display else "\\)"
    end = src.find(closer, pos + 2, pos + 2 + MATH_INLINE_MAX_CHARS)
    if end == -1 or not src[pos + 2 : end].strip():
        return False
    if not silent:
        token = state.push("math_inline_double" if display else "math_inline", "math", 0)
        token.content = src[pos + 2 : end]
        token.markup = src[pos : pos + 2]
    state.pos = end + 2
    return True


def _bracket_block(state, start: int, end: int, silent: bool) -> bool:
    """A display block that starts a line with ``\\[`` and ends a line with ``\\]``."""
    if state.sCount[start] - state.blkIndent >= 4:
        return False
    first = state.src[state.bMarks[start] + state.tShift[start] : state.eMarks[start]]
    if not first.startswith("\\["):
        return False
    lines, line = [first[2:]], start
    while not lines[-1].rstrip().endswith("\\]"):
        line += 1
        if line >= end or line - start > MATH_BLOCK_MAX_LINES:
            return False
        lines.append(state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]])
    if silent:
        return True
    content = "\n".join(lines).rstrip()[:-2]
    if not content.strip():
        return False
    token = state.push("math_block", "math", 0)
    token.block = True
    token.content = content
    token.markup = "\\["
    token.map = [start, line + 1]
    state.line = line + 1
    return True


def _math_inline(self, tokens, idx, options, env) -> str:
    kind = "block" if tokens[idx].type == "math_inline_double" else "inline"
    return f'<span class="math {kind}">{html.escape(tokens[idx].content)}</span>'


def _math_block(self, tokens, idx, options, env) -> str:
    return f'<div class="math block">\n{html.escape(tokens[idx].content.strip())}\n</div>\n'


def _image_as_link(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    src = html.escape(str(token.attrs.get("src", "")))
    return f'<a href="{src}">[image: {html.escape(alt)}]</a>'


_markdown = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight})
    .enable(["table", "strikethrough"])
    # "$5 and $10" stays text: no space inside the dollars, no digit right after the closing one.
    .use(dollarmath_plugin, allow_space=False, allow_digits=False, double_inline=True, allow_labels=False)
)
# LaTeX's own \(...\) and \[...\], which models write as often as dollars; before the escape
# rule, which would otherwise read "\(" as an escaped parenthesis.
_markdown.inline.ruler.before("escape", "math_brackets", _bracket_inline)
_markdown.block.ruler.before(
    "fence", "math_brackets_block", _bracket_block, {"alt": ["paragraph", "blockquote", "list"]}
)
for _rule in ("math_inline", "math_inline_double"):
    _markdown.add_render_rule(_rule, _math_inline)
for _rule in ("math_block", "math_block_eqno", "math_block_label"):
    _markdown.add_render_rule(_rule, _math_block)
_markdown.core.ruler.push("lab_text", _lab_text_rules)
_markdown.add_render_rule("image", _image_as_link)

_TOKEN_CLASSES = {cls for cls in STANDARD_TYPES.values() if cls}
_ALIGN_CLASSES = {"align-left", "align-center", "align-right"}
TAGS = {
    "p", "br", "hr", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "span", "div",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "pre": {"data-lang"}}
CLASSES = {
    "span": _TOKEN_CLASSES | {"math", "inline", "block"},
    "div": {"math", "block"},
    "pre": {"highlight", "plain"},
    "th": _ALIGN_CLASSES,
    "td": _ALIGN_CLASSES,
}


_cache: OrderedDict[str, str] = OrderedDict()
_cache_lock = threading.Lock()


def _render(text: str) -> str:
    if len(text) > RENDER_MAX_CHARS:
        body = f'<pre class="plain">{html.escape(text)}</pre>\n'
    else:
        _highlight_budget.left = HIGHLIGHT_BUDGET_CHARS
        body = _markdown.render(text)
    return nh3.clean(
        body,
        tags=TAGS,
        attributes=ATTRIBUTES,
        allowed_classes=CLASSES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_markdown(text: str) -> str:
    """Sanitised HTML for one lab text. The last ``CACHE_SIZE`` texts are kept: an item is shown
    to several experts, and a long code block takes Pygments some milliseconds."""
    with _cache_lock:
        found = _cache.get(text)
        if found is not None:
            _cache.move_to_end(text)
            return found
    rendered = _render(text)
    with _cache_lock:
        _cache[text] = rendered
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return rendered


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "```json\n" + json.dumps(value, ensure_ascii=False, indent=2) + "\n```"


def _prompt_texts(prompt: Any) -> list[str]:
    if isinstance(prompt, list):
        return [_as_text(m.get("content", "") if isinstance(m, dict) else m) for m in prompt]
    return [_as_text(prompt)]


def prompt_html(prompt: Any) -> str | list[str]:
    """A string prompt as one HTML string; a chat (a list of messages) as one per message."""
    rendered = [render_markdown(text) for text in _prompt_texts(prompt)]
    return rendered if isinstance(prompt, list) else rendered[0]


def item_texts(prompt: Any, responses: Iterable[str]) -> list[str]:
    return [*_prompt_texts(prompt), *responses]


def all_cached(texts: Iterable[str]) -> bool:
    """Whether every text is rendered already (the async queue path renders misses off the loop)."""
    with _cache_lock:
        return all(text in _cache for text in texts)


def warm(texts: Iterable[str]) -> None:
    for text in texts:
        render_markdown(text)


def highlight_css() -> str:
    """The stylesheet for the token classes, ``static/css/highlight.css``: regenerate it with
    ``.venv/bin/python -c "from annotate.rendering import highlight_css; print(highlight_css())"
    > frontend_templates/static/css/highlight.css`` (a test checks it is current)."""
    rules = [
        line for line in _formatter.get_style_defs(".highlight").splitlines() if line.startswith(".highlight")
    ]
    return (
        "/* Pygments' default style (WCAG AA contrast) for code on the labelling page; generated by\n"
        "   annotate.rendering.highlight_css(), do not edit. */\n" + "\n".join(rules)
    )
