"""What the queue's answers look like: an assignment as the expert sees it, a stored label. Both
transports (annotate/api_queue.py, annotate/queue/fast_path.py) render with these functions, so
their answers are the same bytes; the serializers in annotate/api_queue.py document the shapes."""

from __future__ import annotations

from annotate.labels import LETTERS
from annotate.models import Assignment
from annotate.rendering import prompt_html, render_markdown


def assignment_output(assignment: Assignment) -> dict:
    project, item = assignment.project, assignment.item
    return {
        "id": str(assignment.pk),
        "item": str(item.uid),
        "project": {
            "id": str(project.pk),
            "name": project.name,
            "guidelines_url": f"/api/v1/queue/projects/{project.pk}/guidelines",
        },
        "prompt": item.prompt,
        "prompt_html": prompt_html(item.prompt),
        "responses": [
            {
                "label": LETTERS[position],
                "text": item.responses[index]["text"],
                "html": render_markdown(item.responses[index]["text"]),
            }
            for position, index in enumerate(assignment.shown_order)
        ],
        "label_schema": project.label_schema,
        "status": assignment.status,
        "leased_at": iso(assignment.leased_at),
        "expires_at": iso(assignment.expires_at),
        "lease_seconds": project.lease_seconds,
    }


def label_output(*, assignment: Assignment, label) -> dict:
    return {
        "id": str(label.pk),
        "assignment": str(label.assignment_id),
        "client_id": label.client_id,
        "created_at": iso(label.created_at),
    }


def iso(value) -> str:
    # DRF's DateTimeField format: ISO 8601, "Z" for UTC.
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
