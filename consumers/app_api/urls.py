"""Routes of the consumer app API (mounted at /api/consumer/v1/ by bnpl.urls)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bnpl.core.views import api_not_found
from consumers.app_api import account_apis, apis, plan_apis
from consumers.app_api.schema import SCHEMA_SETTINGS

app_name = "consumer-api"

urlpatterns = [
    path("schema", SpectacularAPIView.as_view(custom_settings=SCHEMA_SETTINGS), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="consumer-api:schema"), name="docs"),
    path("auth/codes", apis.SignInCodeRequestApi.as_view(), name="sign-in-code"),
    path("auth/sign-in", apis.SignInApi.as_view(), name="sign-in"),
    path("auth/refresh", apis.TokenRefreshApi.as_view(), name="token-refresh"),
    path("auth/sign-out", apis.SignOutApi.as_view(), name="sign-out"),
    path("auth/sign-out-everywhere", apis.SignOutEverywhereApi.as_view(), name="sign-out-everywhere"),
    path("device", apis.CurrentDeviceApi.as_view(), name="device-current"),
    path("device/verification-code", apis.DeviceVerificationCodeApi.as_view(), name="device-verification-code"),
    path("device/verify", apis.DeviceVerifyApi.as_view(), name="device-verify"),
    path("devices", apis.DeviceListApi.as_view(), name="device-list"),
    path("devices/<str:id>", apis.DeviceDetailApi.as_view(), name="device-detail"),
    path("devices/<str:id>/approve", apis.DeviceApproveApi.as_view(), name="device-approve"),
    path("devices/<str:id>/deny", apis.DeviceDenyApi.as_view(), name="device-deny"),
    path("devices/<str:id>/revoke", apis.DeviceRevokeApi.as_view(), name="device-revoke"),
    path("profile", plan_apis.ProfileApi.as_view(), name="profile"),
    path("preferences", account_apis.PreferencesApi.as_view(), name="preferences"),
    path("plans", plan_apis.PlanListApi.as_view(), name="plan-list"),
    path("plans/<str:id>", plan_apis.PlanDetailApi.as_view(), name="plan-detail"),
    path("plans/<str:id>/pay-now", plan_apis.PlanPayNowApi.as_view(), name="plan-pay-now"),
    path("plans/<str:id>/pay-early", plan_apis.PlanPayEarlyApi.as_view(), name="plan-pay-early"),
    path("plans/<str:id>/pay-off", plan_apis.PlanPayOffApi.as_view(), name="plan-pay-off"),
    path("plans/<str:id>/move-due-date", plan_apis.PlanMoveDueDateApi.as_view(), name="plan-move-due-date"),
    path("plans/<str:id>/agreement", plan_apis.PlanAgreementApi.as_view(), name="plan-agreement"),
    path("plans/<str:id>/hardship-requests", plan_apis.PlanHardshipApi.as_view(), name="plan-hardship"),
    path("plans/<str:id>/disputes", plan_apis.PlanDisputeOpenApi.as_view(), name="plan-dispute-open"),
    path("disputes", plan_apis.DisputeListApi.as_view(), name="dispute-list"),
    path("disputes/<str:id>", plan_apis.DisputeDetailApi.as_view(), name="dispute-detail"),
    path("disputes/<str:id>/withdraw", plan_apis.DisputeWithdrawApi.as_view(), name="dispute-withdraw"),
    path("cards", account_apis.CardListApi.as_view(), name="card-list"),
    path("cards/setup", account_apis.CardSetupApi.as_view(), name="card-setup"),
    path("cards/<str:id>", account_apis.CardDetailApi.as_view(), name="card-detail"),
    path("cards/<str:id>/default", account_apis.CardMakeDefaultApi.as_view(), name="card-default"),
    path("decisions", account_apis.DecisionListApi.as_view(), name="decision-list"),
    path("decisions/<str:id>", account_apis.DecisionDetailApi.as_view(), name="decision-detail"),
    path("receipts", account_apis.ReceiptListApi.as_view(), name="receipt-list"),
    path("receipts/<str:id>", account_apis.ReceiptDetailApi.as_view(), name="receipt-detail"),
    path("receipts/<str:id>/pdf", account_apis.ReceiptPdfApi.as_view(), name="receipt-pdf"),
    path("bank-data-consents", account_apis.ConsentListApi.as_view(), name="consent-list"),
    path(
        "bank-data-consents/partner-grants",
        account_apis.PartnerConsentGrantApi.as_view(),
        name="consent-partner-grant",
    ),
    path("bank-data-consents/<str:id>", account_apis.ConsentDetailApi.as_view(), name="consent-detail"),
    path("bank-data-consents/<str:id>/scope", account_apis.ConsentScopeApi.as_view(), name="consent-scope"),
    path("bank-data-consents/<str:id>/revoke", account_apis.ConsentRevokeApi.as_view(), name="consent-revoke"),
    path("bank-data-consents/<str:id>/grant", account_apis.ConsentGrantApi.as_view(), name="consent-grant"),
    re_path(r"^.*$", api_not_found, name="not-found"),
]
