"""Fetching what a console page is about: the lab by slug (the person's own labs only), then
its project or batch through the lab API's selectors. Anything of another lab is 404."""

from __future__ import annotations

from annotate.models import Batch, Project
from annotate.selectors import access_batch_for_lab, access_project_for_lab
from rlhf_platform.accounts.models import Lab, User
from rlhf_platform.accounts.selectors import access_lab_for_user, lab_is_owner
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import raise_as_http


def console_lab(user: User, slug: str, *, owner_only: bool = False) -> Lab:
    try:
        return access_lab_for_user(user=user, slug=slug, owner_only=owner_only)
    except ApplicationError as exc:
        raise_as_http(exc)


def console_project(user: User, slug: str, project_id) -> tuple[Lab, Project]:
    lab = console_lab(user, slug)
    try:
        return lab, access_project_for_lab(lab=lab, project_id=project_id)
    except ApplicationError as exc:
        raise_as_http(exc)


def console_batch(user: User, slug: str, project_id, batch_id) -> tuple[Lab, Project, Batch]:
    lab, project = console_project(user, slug, project_id)
    try:
        batch = access_batch_for_lab(lab=lab, batch_id=batch_id)
    except ApplicationError as exc:
        raise_as_http(exc)
    if batch.project_id != project.pk:
        raise_as_http(ApplicationError("Batch not found.", code="not_found", status_code=404))
    return lab, project, batch


def lab_context(user: User, lab: Lab) -> dict:
    """What every console page's header needs."""
    return {"lab": lab, "is_owner": lab_is_owner(user=user, lab=lab)}
