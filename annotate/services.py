"""Every change of state in annotate: projects here; batches in ``annotate.ingest``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from annotate.models import Item, Label, Project
from annotate.schema import label_fits_schema, schema_normalize, schema_validate
from rlhf_platform.accounts.models import ApiKey, Lab
from rlhf_platform.audit.services import audit_record
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.experts.models import Domain

# Which status may follow which. Archived is the end.
PROJECT_TRANSITIONS: dict[str, set[str]] = {
    Project.Status.DRAFT: {Project.Status.ACTIVE, Project.Status.ARCHIVED},
    Project.Status.ACTIVE: {Project.Status.PAUSED, Project.Status.ARCHIVED},
    Project.Status.PAUSED: {Project.Status.ACTIVE, Project.Status.ARCHIVED},
    Project.Status.ARCHIVED: set(),
}


def _schema_checked(schema: Any) -> dict[str, Any]:
    errors = schema_validate(schema)
    if errors:
        raise ValidationError({e.field: [ValidationError(e.message, code=e.code)] for e in errors})
    return schema_normalize(schema)


def _overlap_checked(project: Project) -> None:
    # The database's check would refuse it too, but naming its constraint, not the field.
    if project.max_overlap < project.overlap:
        raise ApplicationError(
            f"max_overlap ({project.max_overlap}) must be at least the overlap k ({project.overlap}).",
            code="invalid",
            field="max_overlap",
        )


def _domain_open(domain: Domain) -> Domain:
    if not domain.is_active:
        raise ApplicationError("This domain is closed.", code="inactive", field="domain")
    return domain


@transaction.atomic
def project_create(
    *,
    lab: Lab,
    name: str,
    domain: Domain,
    label_schema: dict[str, Any],
    api_key: ApiKey | None = None,
    actor: Any = None,
    **fields: Any,
) -> Project:
    """Create a project (draft unless ``status`` says active). ``api_key`` or ``actor`` (a lab
    member in the console) is who the audit row names."""
    status = fields.pop("status", Project.Status.DRAFT)
    if status not in (Project.Status.DRAFT, Project.Status.ACTIVE):
        raise ApplicationError("A new project is draft or active.", code="invalid_choice", field="status")
    fields.setdefault("max_overlap", max(fields.get("overlap", 3) + 2, 5))
    project = Project(
        lab=lab,
        name=name,
        domain=_domain_open(domain),
        label_schema=_schema_checked(label_schema),
        status=status,
        **fields,
    )
    _overlap_checked(project)
    project.full_clean()
    project.save()
    audit_record(
        action="project.create",
        target=project,
        api_key=api_key,
        actor=actor,
        data={"name": name, "lab": str(lab.pk)},
    )
    return project


@transaction.atomic
def project_update(
    *, project: Project, api_key: ApiKey | None = None, actor: Any = None, **changes: Any
) -> Project:
    """Change a project's settings, status or label schema.

    - status moves only as ``PROJECT_TRANSITIONS`` allows;
    - the overlap ``k`` is fixed once items exist (their slots were made for it);
    - the schema's kind is fixed once items exist, and a new schema is refused when a label
      already collected would be invalid under it; an accepted change bumps ``schema_version``.
    """
    project = Project.objects.select_for_update().get(pk=project.pk)
    has_items = Item.objects.filter(project=project).exists()
    changed: dict[str, Any] = {}

    if "status" in changes and changes["status"] != project.status:
        target = changes.pop("status")
        if target not in PROJECT_TRANSITIONS[project.status]:
            raise ApplicationError(
                f"The project is {project.status}; it cannot become {target}.",
                code="invalid_transition",
                field="status",
                status_code=409,
            )
        project.status = target
        changed["status"] = target
    changes.pop("status", None)

    if "domain" in changes:
        domain = changes.pop("domain")
        if domain.pk != project.domain_id:
            project.domain = _domain_open(domain)
            changed["domain"] = domain.path

    if "overlap" in changes and changes["overlap"] != project.overlap:
        if has_items:
            raise ApplicationError(
                "The overlap cannot change once items exist; use max_overlap for more labels on hard items.",
                code="overlap_locked",
                field="overlap",
                status_code=409,
            )
        if "max_overlap" not in changes and project.max_overlap < changes["overlap"]:
            changes["max_overlap"] = changes["overlap"]

    if "label_schema" in changes:
        schema = _schema_checked(changes.pop("label_schema"))
        if schema != project.label_schema:
            if has_items and schema["kind"] != project.label_schema["kind"]:
                raise ApplicationError(
                    "The schema's kind cannot change once items exist.",
                    code="schema_in_use",
                    field="label_schema.kind",
                    status_code=409,
                )
            broken = 0
            example = ""
            for label in (
                Label.objects.filter(project=project)
                .only("choice", "strength", "ranking", "criteria", "rationale")
                .iterator(chunk_size=2000)
            ):
                problems = label_fits_schema(schema, label)
                if problems:
                    broken += 1
                    example = example or problems[0]
            if broken:
                raise ApplicationError(
                    f"{broken} label(s) already collected would be invalid under this schema ({example}).",
                    code="schema_in_use",
                    field="label_schema",
                    status_code=409,
                )
            project.label_schema = schema
            project.schema_version += 1
            changed["schema_version"] = project.schema_version

    for field, value in changes.items():
        if getattr(project, field) != value:
            setattr(project, field, value)
            changed[field] = value

    if changed:
        _overlap_checked(project)
        project.full_clean()
        project.save()
        audit_record(action="project.update", target=project, api_key=api_key, actor=actor, data=changed)
    return project
