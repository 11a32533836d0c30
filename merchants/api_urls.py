"""Partner API routes of the merchants app (mounted under /api/v1/ by bnpl.api.urls)."""

from django.urls import path

from merchants import apis

urlpatterns = [
    path("account", apis.AccountRetrieveApi.as_view(), name="account"),
    path("events", apis.EventListApi.as_view(), name="event-list"),
    path("events/<str:id>", apis.EventRetrieveApi.as_view(), name="event-detail"),
    path("webhook_endpoints", apis.WebhookEndpointListCreateApi.as_view(), name="webhook-endpoint-list"),
    path("webhook_endpoints/<str:id>", apis.WebhookEndpointDetailApi.as_view(), name="webhook-endpoint-detail"),
    path(
        "webhook_endpoints/<str:id>/deliveries",
        apis.WebhookEndpointDeliveryListApi.as_view(),
        name="webhook-endpoint-delivery-list",
    ),
    path("webhook_endpoints/<str:id>/test", apis.WebhookEndpointTestApi.as_view(), name="webhook-endpoint-test"),
    path("webhook_deliveries/<str:id>", apis.WebhookDeliveryRetrieveApi.as_view(), name="webhook-delivery-detail"),
    path("settlements", apis.SettlementListApi.as_view(), name="settlement-list"),
    path("settlements/<str:id>", apis.SettlementDetailApi.as_view(), name="settlement-detail"),
    path("settlements/<str:id>/report.csv", apis.SettlementReportApi.as_view(), name="settlement-report"),
    path("webhook_deliveries/<str:id>/replay", apis.WebhookDeliveryReplayApi.as_view(), name="webhook-delivery-replay"),
]
