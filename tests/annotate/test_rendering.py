"""Lab text on the labelling page: Markdown with tables, highlighted code and math markers, and
nothing a lab could use to run script in an expert's browser."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings

from annotate import rendering
from annotate.rendering import prompt_html, render_markdown


class _Elements(HTMLParser):
    """Every element and attribute the browser would build from the HTML."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="https://example.org" onclick="alert(1)">x</a>',
        "<iframe src=https://example.org></iframe>",
        "<style>body{display:none}</style>",
        "<div style='position:fixed'>cover</div>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[click](vbscript:msgbox)",
        "![x](javascript:alert(1))",
        "<svg onload=alert(1)>",
        "```html\n<script>alert(1)</script>\n```",
        "`<b onmouseover=alert(1)>`",
        "$<img src=x onerror=alert(1)>$",
        "$$\n</div><script>alert(1)</script>\n$$",
        "\\(</span><img src=x onerror=alert(1)>\\)",
    ],
)
def test_no_script_handler_style_or_dangerous_link_survives(text):
    elements = _Elements(render_markdown(text)).elements
    tags = {tag for tag, _ in elements}
    assert not tags & {"script", "iframe", "style", "img", "svg", "object", "embed"}
    for _tag, attrs in elements:
        assert not [name for name in attrs if name.startswith("on") or name == "style"]
        href = (attrs.get("href") or "").strip().lower()
        assert not href or href.startswith(("http:", "https:", "mailto:"))


def test_raw_html_is_shown_as_text_not_markup():
    html = render_markdown("Use <b>bold</b> here")
    assert "<b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html


def test_links_are_kept_with_a_safe_rel_and_images_become_links():
    html = render_markdown("[docs](https://example.org/a) and ![chart](https://example.org/c.png)")
    assert '<a href="https://example.org/a" rel="noopener noreferrer nofollow">docs</a>' in html
    assert '<a href="https://example.org/c.png" rel="noopener noreferrer nofollow">[image: chart]</a>' in html


def test_a_table_with_aligned_columns_uses_classes():
    html = render_markdown("| Drug | Dose |\n|:--|--:|\n| aspirin | 75 mg |")
    assert "<table>" in html and '<th class="align-left">Drug</th>' in html
    assert '<td class="align-right">75 mg</td>' in html


def test_fenced_code_is_highlighted_with_token_classes():
    html = render_markdown("```python\ndef dose(weight):\n    return 2 * weight\n```")
    assert '<pre class="highlight" data-lang="python"><code>' in html
    assert '<span class="k">def</span>' in html and '<span class="nf">dose</span>' in html


def test_code_in_an_unknown_language_is_escaped_without_colours():
    html = render_markdown("```nosuchlang\na < b && c\n```")
    assert '<pre class="highlight" data-lang="nosuchlang"><code>a &lt; b &amp;&amp; c' in html
    assert "<span" not in html


def test_math_is_marked_for_katex_and_dollar_amounts_are_not():
    html = render_markdown("It costs $5 and $10.\n\nThe rate $k_1 * x_2$ and\n\n$$\n\\frac{a}{b}\n$$")
    assert "$5 and $10." in html
    assert '<span class="math inline">k_1 * x_2</span>' in html  # no <em> from the asterisk
    assert '<div class="math block">\n\\frac{a}{b}\n</div>' in html


def test_latex_brackets_are_math_too():
    html = render_markdown("Inline \\(a_1 * b\\) then\n\n\\[\nq < 1\n\\]")
    assert '<span class="math inline">a_1 * b</span>' in html
    assert '<div class="math block">\nq &lt; 1\n</div>' in html


def test_headings_start_below_the_pages_own():
    assert render_markdown("# Summary\n## Detail").startswith("<h3>Summary</h3>\n<h4>Detail</h4>")


def test_chat_prompts_render_per_message_and_other_content_as_json():
    rendered = prompt_html([{"role": "user", "content": "**Why?**"}, {"role": "tool", "content": {"k": 1}}])
    assert rendered[0] == "<p><strong>Why?</strong></p>\n"
    assert '<pre class="highlight" data-lang="json">' in rendered[1]
    assert prompt_html("plain") == "<p>plain</p>\n"


def test_rendering_is_cached_and_bounded(monkeypatch):
    monkeypatch.setattr(rendering, "CACHE_SIZE", 2)
    rendering._cache.clear()
    calls = []
    real = rendering._markdown.render
    monkeypatch.setattr(rendering._markdown, "render", lambda text: calls.append(text) or real(text))
    render_markdown("one")
    render_markdown("one")
    assert calls == ["one"] and rendering.all_cached(["one"])
    render_markdown("two")
    render_markdown("three")
    assert not rendering.all_cached(["one"]) and rendering.all_cached(["two", "three"])


def test_the_highlight_stylesheet_is_the_one_pygments_generates():
    stylesheet = Path(settings.BASE_DIR) / "frontend_templates" / "static" / "css" / "highlight.css"
    assert stylesheet.read_text().strip() == rendering.highlight_css().strip()


def test_a_text_past_the_limit_is_plain_text():
    text = "**bold** <b>x</b> " * (rendering.RENDER_MAX_CHARS // 18 + 1)
    html = render_markdown(text)
    assert html.startswith('<pre class="plain">**bold** &lt;b&gt;x&lt;/b&gt;')
    assert "<strong>" not in html


def test_code_past_the_highlight_budget_is_shown_without_colours(monkeypatch):
    monkeypatch.setattr(rendering, "HIGHLIGHT_BUDGET_CHARS", 30)
    html = render_markdown("```python\nx = 1\n```\n\n```python\ny = 2222222222222222222222222\n```")
    first, second = html.split("</pre>")[:2]
    assert '<span class="n">x</span>' in first and "<span" not in second


def test_openers_without_closers_cost_a_bounded_scan():
    # Each "\(" looks at most MATH_INLINE_MAX_CHARS ahead (the escape-less text stays text).
    html = render_markdown("\\(" * 20_000)
    assert "math" not in html


def test_the_demo_seed_has_an_answer_with_a_table_code_and_math():
    from rlhf_platform.accounts.management.commands.seed_demo import DEMO_MARKDOWN_ANSWER

    html = render_markdown(DEMO_MARKDOWN_ANSWER)
    assert "<table>" in html and '<pre class="highlight" data-lang="python">' in html
    assert '<span class="math inline">' in html and '<div class="math block">' in html
