from django.urls import path

from consumers import account_views, data_sharing_views, device_views, plan_views, views

app_name = "consumers"

urlpatterns = [
    path("sign-in", views.sign_in, name="sign-in"),
    path("verify", views.verify, name="verify"),
    path("resend", views.resend, name="resend"),
    path("sign-out", views.sign_out, name="sign-out"),
    path("", plan_views.overview, name="portal"),
    path("plans/<str:plan_id>", plan_views.plan_detail, name="plan"),
    path("plans/<str:plan_id>/pay", plan_views.plan_pay_now, name="plan-pay"),
    path("plans/<str:plan_id>/pay-early", plan_views.plan_pay_early, name="plan-pay-early"),
    path("plans/<str:plan_id>/pay-off", plan_views.plan_pay_off, name="plan-pay-off"),
    path("plans/<str:plan_id>/move-due-date", plan_views.plan_move_due_date, name="plan-move-due-date"),
    path("plans/<str:plan_id>/hardship", plan_views.plan_hardship, name="plan-hardship"),
    path("plans/<str:plan_id>/disputes", plan_views.plan_dispute, name="plan-dispute"),
    path("plans/<str:plan_id>/agreement.pdf", account_views.agreement_pdf, name="plan-agreement"),
    path("disputes/<str:dispute_id>/withdraw", plan_views.dispute_withdraw, name="dispute-withdraw"),
    path("cards", account_views.cards, name="cards"),
    path("cards/<str:card_id>/default", account_views.card_make_default, name="card-default"),
    path("decisions", account_views.decisions, name="decisions"),
    path("data-sharing", data_sharing_views.data_sharing, name="data-sharing"),
    path(
        "data-sharing/partners/grant", data_sharing_views.data_sharing_partner_grant, name="data-sharing-partner-grant"
    ),
    path("data-sharing/<str:consent_id>/scope", data_sharing_views.data_sharing_scope, name="data-sharing-scope"),
    path("data-sharing/<str:consent_id>/revoke", data_sharing_views.data_sharing_revoke, name="data-sharing-revoke"),
    path("data-sharing/<str:consent_id>/grant", data_sharing_views.data_sharing_grant, name="data-sharing-grant"),
    path("documents", account_views.documents_list, name="documents"),
    path("receipts/<str:charge_id>.pdf", account_views.receipt_pdf, name="receipt"),
    path("preferences", account_views.preferences, name="preferences"),
    path("profile", account_views.profile, name="profile"),
    path("devices", device_views.device_list, name="devices"),
    path("devices/<str:device_id>/revoke", device_views.device_revoke, name="device-revoke"),
]
