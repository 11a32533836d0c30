from django.contrib.auth import views as auth_views
from django.urls import path

from merchants import views

app_name = "merchants"

urlpatterns = [
    path("login", views.MerchantLoginView.as_view(), name="login"),
    path("logout", auth_views.LogoutView.as_view(next_page="merchants:login"), name="logout"),
    path("", views.dashboard, name="dashboard"),
    path("api-keys", views.api_key_create, name="api-key-create"),
    path("api-keys/<str:key_id>/revoke", views.api_key_revoke, name="api-key-revoke"),
]
