from django.urls import path

from consumers import account_views, views

app_name = "consumers"

urlpatterns = [
    path("sign-in", views.sign_in, name="sign-in"),
    path("verify", views.verify, name="verify"),
    path("resend", views.resend, name="resend"),
    path("sign-out", views.sign_out, name="sign-out"),
    path("", account_views.overview, name="portal"),
    path("plans/<str:plan_id>", account_views.plan_detail, name="plan"),
    path("plans/<str:plan_id>/pay", account_views.plan_pay_now, name="plan-pay"),
    path("plans/<str:plan_id>/pay-early", account_views.plan_pay_early, name="plan-pay-early"),
    path("plans/<str:plan_id>/pay-off", account_views.plan_pay_off, name="plan-pay-off"),
    path("plans/<str:plan_id>/move-due-date", account_views.plan_move_due_date, name="plan-move-due-date"),
    path("plans/<str:plan_id>/hardship", account_views.plan_hardship, name="plan-hardship"),
    path("plans/<str:plan_id>/disputes", account_views.plan_dispute, name="plan-dispute"),
    path("plans/<str:plan_id>/agreement.pdf", account_views.agreement_pdf, name="plan-agreement"),
    path("disputes/<str:dispute_id>/withdraw", account_views.dispute_withdraw, name="dispute-withdraw"),
    path("cards", account_views.cards, name="cards"),
    path("cards/<str:card_id>/default", account_views.card_make_default, name="card-default"),
    path("decisions", account_views.decisions, name="decisions"),
    path("data-sharing", account_views.data_sharing, name="data-sharing"),
    path("data-sharing/<str:consent_id>/scope", account_views.data_sharing_scope, name="data-sharing-scope"),
    path("data-sharing/<str:consent_id>/revoke", account_views.data_sharing_revoke, name="data-sharing-revoke"),
    path("data-sharing/<str:consent_id>/grant", account_views.data_sharing_grant, name="data-sharing-grant"),
    path("documents", account_views.documents_list, name="documents"),
    path("receipts/<str:charge_id>.pdf", account_views.receipt_pdf, name="receipt"),
    path("preferences", account_views.preferences, name="preferences"),
    path("profile", account_views.profile, name="profile"),
]
