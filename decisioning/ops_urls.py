"""The operators' API (mounted at /ops/api/v1/): credit decisions with their reasons."""

from django.urls import path

from decisioning import apis

app_name = "ops"

urlpatterns = [
    path("credit-decisions", apis.CreditDecisionListApi.as_view(), name="credit-decision-list"),
    path("credit-decisions/<str:id>", apis.CreditDecisionDetailApi.as_view(), name="credit-decision-detail"),
]
