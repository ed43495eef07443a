"""The inbox page (``/inbox/``): a person's notifications, newest first, unread marked, each
with its link (opening an unread one marks it read); one or all can be marked read. Anyone's own
only: another person's notification answers 404."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from rlhf_platform.accounts.inbox import (
    INBOX_KEEP,
    inbox_for,
    notification_mark_read,
    notifications_mark_all_read,
    unread_count,
)
from rlhf_platform.accounts.roles import Action as A
from rlhf_platform.core.exceptions import ApplicationError
from rlhf_platform.core.web import action_required

INBOX_PAGE_SIZE = 50


@action_required(A.ACCOUNT_SELF)
def inbox(request):
    page = Paginator(inbox_for(user=request.user), INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "unread": unread_count(user=request.user), "keep": INBOX_KEEP}
    return render(request, "accounts/inbox.html", context)


@require_POST
@action_required(A.ACCOUNT_SELF)
def inbox_mark_read(request, notification_id):
    try:
        notification_mark_read(user=request.user, notification_id=notification_id)
    except ApplicationError as exc:
        raise Http404(str(exc)) from exc
    return redirect(_back(request))


@require_POST
@action_required(A.ACCOUNT_SELF)
def inbox_open(request, notification_id):
    """Open an unread notification: marked read, then on to its page."""
    try:
        notification = notification_mark_read(user=request.user, notification_id=notification_id)
    except ApplicationError as exc:
        raise Http404(str(exc)) from exc
    link = notification.link
    if not link or not url_has_allowed_host_and_scheme(link, allowed_hosts={request.get_host()}):
        return redirect(_back(request))
    return redirect(link)


@require_POST
@action_required(A.ACCOUNT_SELF)
def inbox_mark_all_read(request):
    count = notifications_mark_all_read(user=request.user)
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked read.")
    return redirect(_back(request))


def _back(request) -> str:
    page = request.POST.get("page", "")
    return reverse("inbox") + (f"?page={page}" if page.isdigit() else "")
