"""Partner API routes of the merchants app (mounted under /api/v1/ by bnpl.api.urls)."""

from django.urls import path

from merchants import apis

urlpatterns = [
    path("account", apis.AccountRetrieveApi.as_view(), name="account"),
    path("events", apis.EventListApi.as_view(), name="event-list"),
    path("events/<str:id>", apis.EventRetrieveApi.as_view(), name="event-detail"),
    path("webhook_endpoints", apis.WebhookEndpointListCreateApi.as_view(), name="webhook-endpoint-list"),
    path("webhook_endpoints/<str:id>", apis.WebhookEndpointDetailApi.as_view(), name="webhook-endpoint-detail"),
]
