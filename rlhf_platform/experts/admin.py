from django.contrib import admin
from django.db import transaction

from rlhf_platform.accounts.admin import admin_changes_record
from rlhf_platform.experts.models import Credential, Domain, ExpertProfile


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("path", "name", "is_active")
    search_fields = ("path", "name")
    readonly_fields = ("path",)


@admin.register(ExpertProfile)
class ExpertProfileAdmin(admin.ModelAdmin):
    list_display = ("pseudonym", "user", "suspended_at", "created_at")
    search_fields = ("pseudonym", "user__email")
    filter_horizontal = ("claimed_domains",)

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        # A platform-wide suspension set or lifted here is audited like one decided on a page.
        if change:
            admin_changes_record(
                request=request, obj=obj, fields=("suspended_at",), action="expert.admin_suspension_change"
            )
        super().save_model(request, obj, form, change)


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    """Read-only: credential states move through the review services, which audit."""

    list_display = ("title", "kind", "domain", "expert", "status", "level", "created_at")
    list_filter = ("status", "kind", "domain")
    search_fields = ("title", "issuer", "expert__user__email")
    readonly_fields = [f.name for f in Credential._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
