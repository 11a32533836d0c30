"""Routes of the consumer app API (mounted at /api/consumer/v1/ by bnpl.urls)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bnpl.core.views import api_not_found
from consumers.app_api import apis
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
    re_path(r"^.*$", api_not_found, name="not-found"),
]
