"""What experts will see: a sample item laid out under a label schema, for the schema editor.

The prompt and responses go through the labelling page's own renderer
(:mod:`annotate.rendering`); the judgement fields follow the schema as ``static/js/label.js``
builds them (choices, strength scale, ranking, criteria, rationale). The schema is checked by
the validator the API uses (:func:`annotate.schema.schema_validate`), each error naming its
field.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.safestring import mark_safe

from annotate.models import Item, Project
from annotate.rendering import prompt_html, render_markdown
from annotate.schema import DEFAULT_SCHEMA, SchemaError, schema_normalize, schema_validate

CHOICE_TEXT = {"A": "A is better", "B": "B is better", "tie": "Tie", "both_bad": "Both are bad"}

SAMPLE_PROMPT = "Explain in two sentences why the sky is blue. Use `Rayleigh` once."
SAMPLE_RESPONSES = [
    "Sunlight scatters off air molecules, and shorter (blue) wavelengths scatter far more "
    "strongly: this is **Rayleigh** scattering, proportional to $1/\\lambda^4$.",
    "The sky reflects the ocean, which is blue.",
    "Air molecules scatter blue light more than red light, so blue reaches us from every direction.",
    "Because of the ozone layer's colour.",
]


def _sanitised(html: str):
    # annotate.rendering passed the HTML through nh3's allow-list (no script, no handler, no
    # style, http(s)/mailto links only): it is inserted as it is.
    return mark_safe(html)  # noqa: S308


def schema_text(schema: Any) -> str:
    """A schema as the editor shows it: indented JSON."""
    return json.dumps(schema if schema is not None else DEFAULT_SCHEMA, indent=2, ensure_ascii=False)


def schema_parse(text: str) -> tuple[Any, list[SchemaError]]:
    """The schema a textarea holds and its problems (JSON syntax first, then the validator's)."""
    try:
        schema = json.loads(text or "")
    except ValueError as exc:
        return None, [SchemaError("label_schema", "invalid_json", f"Not valid JSON: {exc}.")]
    return schema, schema_validate(schema)


def _sample_item(project: Project | None, kind: str) -> tuple[Any, list[str], str]:
    if project is not None:
        item = (
            Item.objects.filter(project=project, is_gold=False)
            .order_by("id")
            .only("prompt", "responses")
            .first()
        )
        if item is not None:
            texts = [str(r.get("text", "")) for r in item.responses if isinstance(r, dict)]
            if (kind == "pairwise") == (len(texts) == 2):
                return item.prompt, texts, "the project's first item"
    count = 2 if kind == "pairwise" else 3
    return SAMPLE_PROMPT, SAMPLE_RESPONSES[:count], "a sample item"


def preview_context(*, text: str, project: Project | None = None) -> dict[str, Any]:
    """Everything ``lab/_preview.html`` shows for the schema in ``text``."""
    schema, errors = schema_parse(text)
    if errors:
        return {"errors": errors}
    schema = schema_normalize(schema)
    prompt, texts, source = _sample_item(project, schema["kind"])
    rendered = prompt_html(prompt)
    letters = "ABCDEFGH"
    return {
        "errors": [],
        "schema": schema,
        "source": source,
        "prompt_parts": [
            _sanitised(part) for part in (rendered if isinstance(rendered, list) else [rendered])
        ],
        "responses": [
            {"letter": letters[i], "html": _sanitised(render_markdown(t))} for i, t in enumerate(texts)
        ],
        "choices": [(c, CHOICE_TEXT.get(c, c)) for c in schema.get("choices", [])]
        if schema["kind"] == "pairwise"
        else [],
        "levels": (schema.get("strength") or {}).get("levels", []) if schema["kind"] == "pairwise" else [],
        "ties_allowed": bool((schema.get("ranking") or {}).get("ties_allowed")),
        "criteria": [
            {**c, "values": list(range(int(c.get("min", 1)), int(c.get("max", 5)) + 1))}
            for c in schema.get("criteria", [])
        ],
        "rationale": schema.get("rationale") or {"mode": "off"},
    }
