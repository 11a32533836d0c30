from django.urls import path

from consumers import views

app_name = "consumers"

urlpatterns = [
    path("sign-in", views.sign_in, name="sign-in"),
    path("verify", views.verify, name="verify"),
    path("resend", views.resend, name="resend"),
    path("sign-out", views.sign_out, name="sign-out"),
    path("", views.portal, name="portal"),
    path("plans/<str:plan_id>/pay", views.plan_pay_now, name="plan-pay"),
]
