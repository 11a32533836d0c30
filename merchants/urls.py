from django.contrib.auth import views as auth_views
from django.urls import path

from merchants.views import account, developers, home, orders, payouts, search, security, settings

app_name = "merchants"

# Pages for signed-out visitors (or, for the logo, anyone: the hosted checkout shows it). Every
# other page goes through ``dashboard_view`` (tests/merchants/test_dashboard_access.py walks them).
# The code step of signing in belongs with them: it answers a user who passed the password only.
PUBLIC_URL_NAMES = {"login", "login-verify", "logout", "signup", "invitation-accept", "branding-logo"}

urlpatterns = [
    path("login", account.MerchantLoginView.as_view(), name="login"),
    path("login/verify", security.login_verify, name="login-verify"),
    path("logout", auth_views.LogoutView.as_view(next_page="merchants:login"), name="logout"),
    path("signup", account.signup, name="signup"),
    path("invitations/<str:token>", account.invitation_accept, name="invitation-accept"),
    path("branding/<str:merchant_id>/logo", account.branding_logo, name="branding-logo"),
    path("", home.home, name="dashboard"),
    path("mode", account.mode_switch, name="mode"),
    # Finding things: the nav's search and what needs the merchant
    path("search", search.search, name="search"),
    path("notifications", search.notifications, name="notifications"),
    # Onboarding
    path("onboarding", account.onboarding_page, name="onboarding"),
    path("onboarding/profile", account.onboarding_profile, name="onboarding-profile"),
    path("onboarding/bank-accounts", account.onboarding_bank_account, name="onboarding-bank-account"),
    path("onboarding/documents", account.onboarding_document, name="onboarding-document"),
    path(
        "onboarding/bank-accounts/<str:account_id>/remove",
        account.onboarding_bank_account_remove,
        name="onboarding-bank-account-remove",
    ),
    path(
        "onboarding/documents/<str:document_id>/remove",
        account.onboarding_document_remove,
        name="onboarding-document-remove",
    ),
    path(
        "onboarding/documents/<str:document_id>",
        account.onboarding_document_download,
        name="onboarding-document-download",
    ),
    path("onboarding/submit", account.onboarding_submit, name="onboarding-submit"),
    # Orders
    path("orders", orders.order_list, name="orders"),
    path("orders/export.csv", orders.order_export, name="orders-export"),
    path("orders/<str:order_id>", orders.order_detail, name="order-detail"),
    path("orders/<str:order_id>/capture", orders.order_capture, name="order-capture"),
    path("orders/<str:order_id>/void", orders.order_void, name="order-void"),
    path("orders/<str:order_id>/refund", orders.order_refund, name="order-refund"),
    # Settlements
    path("settlements", payouts.settlement_list, name="settlements"),
    path("settlements/<str:settlement_id>", payouts.settlement_detail, name="settlement-detail"),
    path("settlements/<str:settlement_id>/report.csv", payouts.settlement_report, name="settlement-report"),
    # Developers
    path("developers", developers.developers, name="developers"),
    path("developers/api-keys", developers.api_key_create, name="api-key-create"),
    path("developers/api-keys/<str:key_id>/revoke", developers.api_key_revoke, name="api-key-revoke"),
    path("developers/api-keys/<str:key_id>/roll", developers.api_key_roll, name="api-key-roll"),
    path("developers/webhooks", developers.webhook_endpoint_create, name="webhook-endpoint-create"),
    path("developers/webhooks/<str:endpoint_id>", developers.webhook_endpoint, name="webhook-endpoint"),
    path(
        "developers/webhooks/<str:endpoint_id>/update",
        developers.webhook_endpoint_update,
        name="webhook-endpoint-update",
    ),
    path(
        "developers/webhooks/<str:endpoint_id>/delete",
        developers.webhook_endpoint_delete,
        name="webhook-endpoint-delete",
    ),
    path(
        "developers/webhooks/<str:endpoint_id>/secret",
        developers.webhook_endpoint_secret,
        name="webhook-endpoint-secret",
    ),
    path("developers/webhooks/<str:endpoint_id>/test", developers.webhook_endpoint_test, name="webhook-endpoint-test"),
    path("developers/deliveries/<str:delivery_id>", developers.webhook_delivery, name="webhook-delivery"),
    path(
        "developers/deliveries/<str:delivery_id>/replay",
        developers.webhook_delivery_replay,
        name="webhook-delivery-replay",
    ),
    # The member's own sign-in: the authenticator app (two-step sign-in)
    path("account/security", security.security, name="security"),
    path("account/security/start", security.security_start, name="security-start"),
    path("account/security/confirm", security.security_confirm, name="security-confirm"),
    path("account/security/remove", security.security_remove, name="security-remove"),
    # Settings and team
    path("settings", settings.settings_page, name="settings"),
    path("settings/products/<str:product_id>", settings.product_settings, name="product-settings"),
    path("settings/branding", settings.branding_update, name="branding-update"),
    path("team", settings.team, name="team"),
    path("team/invitations", settings.invitation_create, name="invitation-create"),
    path("team/invitations/<str:invitation_id>/revoke", settings.invitation_revoke, name="invitation-revoke"),
    path("team/members/<str:membership_id>/role", settings.member_role, name="member-role"),
    path("team/members/<str:membership_id>/remove", settings.member_remove, name="member-remove"),
]
