"""Partner API routes of the consumers app: consumers as the merchant knows them, and the bank
data sent for them (mounted under /api/v1/ by bnpl.api.urls)."""

from django.urls import path

from consumers import apis

urlpatterns = [
    path("consumers", apis.MerchantConsumerListApi.as_view(), name="consumer-list"),
    path("consumers/<str:id>", apis.MerchantConsumerDetailApi.as_view(), name="consumer-detail"),
    path("consumers/<str:id>/bank-data-consent", apis.BankDataConsentApi.as_view(), name="consumer-bank-data-consent"),
    path(
        "consumers/<str:id>/bank-data-consent/revoke",
        apis.BankDataConsentRevokeApi.as_view(),
        name="consumer-bank-data-consent-revoke",
    ),
    path("consumers/<str:id>/bank-transactions", apis.BankTransactionsApi.as_view(), name="consumer-bank-transactions"),
]
