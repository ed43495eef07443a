from django.contrib import admin

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
