from django.urls import path

from consumers import checkout_views

app_name = "checkout"

urlpatterns = [
    path("<str:session_id>", checkout_views.checkout_session, name="session"),
    path("<str:session_id>/identity", checkout_views.identity, name="identity"),
    path("<str:session_id>/confirm", checkout_views.confirm, name="confirm"),
    path("<str:session_id>/step-up-code", checkout_views.step_up_code, name="step-up-code"),
    path("<str:session_id>/approved", checkout_views.approved, name="approved"),
    path("<str:session_id>/cancel", checkout_views.cancel, name="cancel"),
]
