"""Partner API v1. Each app keeps its own routes in an ``api_urls`` module; paths name objects by
public id (``{id}``)."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bnpl.core.views import api_not_found

app_name = "api"

urlpatterns = [
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("", include("merchants.api_urls")),
    path("", include("bnpl.checkout.api_urls")),
    path("", include("consumers.api_urls")),
    re_path(r"^.*$", api_not_found, name="not-found"),  # JSON 404 for unknown API paths, even with DEBUG on
]
