from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse

from rlhf_platform.accounts.login import user_logout
from rlhf_platform.accounts.models import ApiKey, Lab, LabMembership, User
from rlhf_platform.audit.services import audit_record


def admin_login(request, extra_context=None):
    """The admin has no log-in form of its own: people log in on the one log-in page (throttled
    and audited), then come back. A person who is in but not staff is refused, not looped."""
    if request.user.is_authenticated:
        if not admin.site.has_permission(request):
            raise PermissionDenied
        return redirect("admin:index")
    return redirect_to_login(request.GET.get("next") or reverse("admin:index"), reverse("login"))


def admin_logout(request, extra_context=None):
    if request.method == "POST":
        user_logout(request=request, via="admin")
    return redirect("login")


admin.site.login = admin_login
admin.site.logout = admin_logout

# Fields whose change in the admin gives or takes access: each change is audited.
AUDITED_USER_FIELDS = ("is_active", "is_staff", "staff_role", "is_superuser")


def admin_changes_record(*, request, obj, fields: tuple[str, ...], action: str) -> None:
    """Audit what an admin form changed among ``fields`` ({field: [before, after]})."""
    before = type(obj)._default_manager.filter(pk=obj.pk).values(*fields).first() if obj.pk else None
    if before is None:
        return
    changed = {f: [before[f], getattr(obj, f)] for f in fields if before[f] != getattr(obj, f)}
    if changed:
        audit_record(action=action, target=obj, actor=request.user, data={"changes": changed, "via": "admin"})


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "staff_role", "is_active", "date_joined")
    list_filter = ("staff_role", "is_active", "is_superuser")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password", "full_name")}),
        ("Roles", {"fields": ("is_active", "is_staff", "staff_role", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def user_change_password(self, request, id, form_url=""):
        """A password an admin sets is audited (and, like any change, ends that person's
        sessions)."""
        before = User.objects.filter(pk=id).values_list("password", flat=True).first()
        response = super().user_change_password(request, id, form_url)
        user = User.objects.filter(pk=id).first()
        if before is not None and user is not None and user.password != before:
            audit_record(
                action="user.admin_password_set", target=user, actor=request.user, data={"via": "admin"}
            )
        return response

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        if change:
            admin_changes_record(
                request=request, obj=obj, fields=AUDITED_USER_FIELDS, action="user.admin_change"
            )
        super().save_model(request, obj, form, change)
        if not change:
            audit_record(
                action="user.admin_create",
                target=obj,
                actor=request.user,
                data={f: getattr(obj, f) for f in AUDITED_USER_FIELDS},
            )


class LabMembershipInline(admin.TabularInline):
    model = LabMembership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    inlines = [LabMembershipInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Read-only: keys are created and revoked through services (which audit)."""

    list_display = ("name", "lab", "prefix", "scopes", "created_at", "last_used_at", "revoked_at")
    list_filter = ("lab",)
    readonly_fields = [f.name for f in ApiKey._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
