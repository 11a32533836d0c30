"""The data-partner API's routes (``/api/partners/v1/``); consumers are named by their ``con_…`` id."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bnpl.core.views import api_not_found
from partners import apis
from partners.schema import SCHEMA_SETTINGS

app_name = "partners-api"

urlpatterns = [
    path("schema", SpectacularAPIView.as_view(custom_settings=SCHEMA_SETTINGS), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="partners-api:schema"), name="docs"),
    path("consents", apis.PartnerConsentListApi.as_view(), name="consent-list"),
    path("consumers/<str:id>/consent", apis.PartnerConsumerConsentApi.as_view(), name="consumer-consent"),
    path(
        "consumers/<str:id>/bank-transactions",
        apis.PartnerBankTransactionsApi.as_view(),
        name="consumer-bank-transactions",
    ),
    re_path(r"^.*$", api_not_found, name="not-found"),
]
