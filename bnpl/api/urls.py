"""Partner API v1 routes. Paths name objects by public id (``{id}``)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bnpl.core.views import api_not_found
from merchants import apis as merchant_apis

app_name = "api"

urlpatterns = [
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("account", merchant_apis.AccountRetrieveApi.as_view(), name="account"),
    path("events", merchant_apis.EventListApi.as_view(), name="event-list"),
    path("events/<str:id>", merchant_apis.EventRetrieveApi.as_view(), name="event-detail"),
    path("webhook_endpoints", merchant_apis.WebhookEndpointListCreateApi.as_view(), name="webhook-endpoint-list"),
    path(
        "webhook_endpoints/<str:id>", merchant_apis.WebhookEndpointDetailApi.as_view(), name="webhook-endpoint-detail"
    ),
    re_path(r"^.*$", api_not_found, name="not-found"),  # JSON 404 for unknown API paths, even with DEBUG on
]
