from django.contrib import admin
from django.urls import include, path, re_path

from bnpl.core import metrics_views
from bnpl.core import views as core_views
from bnpl.payments import stripe_webhooks
from consumers import messaging
from consumers import views as consumer_views

# Each area's branded page (bnpl.core.views), JSON on API paths; with DEBUG off, as in the demo.
handler400 = "bnpl.core.views.handler400"
handler403 = "bnpl.core.views.handler403"
handler404 = "bnpl.core.views.handler404"
handler500 = "bnpl.core.views.handler500"

admin.site.site_header = "BNPL operations"
admin.site.site_title = "BNPL operations"

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", metrics_views.metrics_view, name="metrics"),
    path("api/v1/", include("bnpl.api.urls")),
    path("api/consumer/v1/", include("consumers.app_api.urls")),
    path("api/partners/v1/", include("partners.api_urls")),
    path("ops/api/v1/", include("decisioning.ops_urls")),
    path("messaging/v1/placement", messaging.placement_view, name="messaging-placement"),
    path("webhooks/stripe", stripe_webhooks.stripe_webhook, name="stripe-webhook"),
    path("merchant/", include("merchants.urls")),
    path("account/", include("consumers.urls")),
    re_path(r"^portal/(?P<rest>.*)$", consumer_views.moved_to_account),  # the portal's first address
    path("checkout/", include("consumers.checkout_urls")),
    path("sandbox/inbox", consumer_views.sandbox_inbox, name="sandbox-inbox"),
    path("admin/", admin.site.urls),
]
