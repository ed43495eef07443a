"""Django admin for rewards: the ledger is read-only here (corrections are new transactions,
posted by the services); reward policies too (a new version is created through the API)."""

from django.contrib import admin

from rewards.models import LedgerAccount, LedgerEntry, LedgerTransaction, RewardPolicy


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ("account", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "lab", "expert", "balance", "created_at")
    list_filter = ("kind",)
    search_fields = ("lab__name", "expert__pseudonym")


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "amount", "reference", "lab", "project", "expert")
    list_filter = ("kind",)
    search_fields = ("reference", "memo")
    date_hierarchy = "created_at"
    inlines = [LedgerEntryInline]


@admin.register(RewardPolicy)
class RewardPolicyAdmin(ReadOnlyAdmin):
    list_display = ("project", "version", "base_rate", "effective_from", "created_at")
    search_fields = ("project__name",)
