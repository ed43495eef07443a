from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from rlhf_platform.accounts.models import ApiKey, Lab, LabMembership, User


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
