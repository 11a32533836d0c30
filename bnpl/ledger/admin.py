"""Read-only views of the ledger: accounts with their balances, journal entries with their postings,
postings. Nothing here writes: corrections are new entries, posted by a service."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet, Sum
from django.http import HttpRequest

from bnpl.core.admin import ReadOnlyAdmin, ReadOnlyInline
from bnpl.ledger.models import Account, JournalEntry, Posting


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "code", "currency", "livemode", "merchant", "consumer", "balance", "created_at"]
    list_filter = ["code", "currency", "livemode"]
    search_fields = ["merchant__public_id", "merchant__name", "consumer__public_id", "consumer__email"]
    list_select_related = ["merchant", "consumer"]
    ordering = ["code", "currency", "id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        return super().get_queryset(request).annotate(balance_amount=Sum("postings__amount"))

    @admin.display(description="balance (minor units, debit +)", ordering="balance_amount")
    def balance(self, account: Account) -> int:
        return getattr(account, "balance_amount", None) or 0


class PostingInline(ReadOnlyInline):
    model = Posting
    fields = ["account", "amount", "currency"]
    readonly_fields = ["account", "amount", "currency"]
    ordering = ["id"]


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "public_id", "entry_type", "currency", "livemode", "merchant", "reference_id"]
    list_filter = ["entry_type", "currency", "livemode"]
    search_fields = ["public_id", "reference_id", "idempotency_key", "merchant__public_id"]
    list_select_related = ["merchant"]
    ordering = ["-created_at", "-id"]
    date_hierarchy = "created_at"
    inlines = [PostingInline]


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdmin):
    list_display = ["id", "entry", "account", "amount", "currency"]
    list_filter = ["currency", "account__code", "account__livemode"]
    search_fields = ["entry__public_id", "entry__reference_id"]
    list_select_related = ["entry", "account"]
    ordering = ["-id"]
