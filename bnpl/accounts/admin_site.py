"""The operators' admin site: Django's admin behind a password (locked out after repeated failures,
django-axes) and a second factor (an authenticator code or a backup code, django-otp).

``OperatorAdminSite`` is the project's default admin site (``OperatorAdminConfig``), so every
``admin.site.register`` lands on it: no admin page, including the index, answers a staff user
whose session has not passed the second factor (``bnpl.accounts.two_factor.operator_verified``) —
they are sent to sign in, where the code is asked for beside the password.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.admin import AdminSite, ModelAdmin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.db.models import Model
from django.db.models.base import ModelBase
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django_otp.admin import OTPAdminSite

from bnpl.accounts import two_factor


class OperatorAuthenticationForm(AdminAuthenticationForm):
    """Email, password and the code, on one page. The password is checked first (and counted by
    the lockout); the code only for an active staff user whose password was right."""

    otp_token = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=32,
        help_text="The 6 digits your authenticator app shows, or one of your backup codes.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "none"}
        ),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.get_user()
        if user is None:
            return cleaned
        if not two_factor.has_second_factor(user):
            if two_factor.operator_two_factor_required():
                raise forms.ValidationError(
                    "This operator account has no authenticator yet. Another administrator sets one up with "
                    "`manage.py two_factor_enroll <email>` and hands you its key.",
                    code="no_second_factor",
                )
            return cleaned
        token = cleaned.get("otp_token") or ""
        if not token:
            raise forms.ValidationError("Enter the code from your authenticator app.", code="code_required")
        device = two_factor.second_factor_verify(user=user, token=token)
        if device is None:
            wait = two_factor.second_factor_wait_seconds(user=user)
            raise forms.ValidationError(
                "That code is not right, or was already used."
                + (f" Wait {wait} seconds before the next try." if wait else ""),
                code="invalid_code",
            )
        user.otp_device = device  # type: ignore[attr-defined]  # django-otp marks the session verified at login()
        return cleaned


class OperatorAdminSite(OTPAdminSite):
    """Named "admin" (every ``admin:…`` URL name stays as it was)."""

    login_form = OperatorAuthenticationForm
    login_template = "admin/operator_login.html"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)

    def has_permission(self, request: HttpRequest) -> bool:
        return AdminSite.has_permission(self, request) and two_factor.operator_verified(request)

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        """Every model admin (and its inlines) shows amounts in their currency (``bnpl.core.admin_money``)."""
        from bnpl.core.admin_money import with_amounts_in_currency

        models = [model_or_iterable] if isinstance(model_or_iterable, ModelBase) else list(model_or_iterable)
        for model in models:
            super().register(
                model, with_amounts_in_currency(admin_class or ModelAdmin, cast("type[Model]", model)), **options
            )

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        """Django's index with, above the apps, what is waiting for an operator (counts and links)."""
        from bnpl.accounts.admin_queue import waiting_for_operators

        return super().index(request, {"waiting": waiting_for_operators(request), **(extra_context or {})})
