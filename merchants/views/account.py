"""Signing in and up, onboarding (business profile, bank account, documents, submission), joining a
team by invitation, and the test/live switch."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.files.storage import storages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bnpl.accounts import two_factor
from bnpl.core.context import Actor, actor_var
from bnpl.core.errors import ApplicationError
from bnpl.core.money import from_decimal, to_decimal
from merchants import onboarding, selectors, services
from merchants.models import BusinessCategory, BusinessProfile, MerchantDocument
from merchants.views.base import (
    CURRENT_MERCHANT_SESSION_KEY,
    LIVEMODE_SESSION_KEY,
    Dashboard,
    dashboard_view,
    second_factor_redirect,
)


class MerchantLoginView(auth_views.LoginView):
    """The password step (locked out after repeated failures, django-axes: a 429 page). A member
    who enrolled an authenticator goes on to the code step; until they pass it, no dashboard page
    answers them (``merchants.views.base.second_factor_redirect``)."""

    template_name = "merchants/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        if two_factor.has_second_factor(form.get_user()):
            return redirect(f"{reverse('merchants:login-verify')}?{urlencode({'next': self.get_success_url()})}")
        return response


class SignupForm(forms.Form):
    business_name = forms.CharField(max_length=200, label="Business name")
    email = forms.EmailField(label="Your work email")
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), min_length=8)
    currency = forms.ChoiceField(choices=[("USD", "USD"), ("EUR", "EUR"), ("GBP", "GBP"), ("CAD", "CAD")])


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """A new merchant: the user, the pending merchant and its draft application, then onboarding."""
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        actor_var.set(Actor(kind="merchant_user", identifier=data["email"], label=data["email"]))
        try:
            membership = onboarding.merchant_signup(
                business_name=data["business_name"],
                email=data["email"],
                password=data["password"],
                currency=data["currency"],
            )
        except ApplicationError as error:
            form.add_error(error.param if error.param in form.fields else None, error.message)
        else:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome! Test mode works now; tell us about your business to go live.")
            return redirect("merchants:onboarding")
    return render(request, "merchants/signup.html", {"form": form}, status=400 if form.errors else 200)


# --- Onboarding ---------------------------------------------------------------------------------


class ProfileForm(forms.Form):
    legal_name = forms.CharField(max_length=200, label="Legal name")
    registration_number = forms.CharField(max_length=50, label="Registration number")
    tax_number = forms.CharField(max_length=50, label="Tax number")
    address_line1 = forms.CharField(max_length=200, label="Address")
    address_line2 = forms.CharField(max_length=200, required=False, label="Address (line 2)")
    city = forms.CharField(max_length=100)
    region = forms.CharField(max_length=100, required=False, label="State or region")
    postal_code = forms.CharField(max_length=20, label="Postal code")
    country = forms.CharField(max_length=2, min_length=2, label="Country (ISO code, e.g. US)")
    website = forms.URLField(required=False, assume_scheme="https")
    category = forms.ChoiceField(choices=[("", "Choose…"), *BusinessCategory.choices])
    expected_monthly_volume = forms.DecimalField(
        min_value=0, max_digits=15, decimal_places=2, label="Expected monthly volume"
    )


class BankAccountForm(forms.Form):
    """A US account (routing and account number) or, elsewhere, an IBAN and the bank's BIC."""

    holder_name = forms.CharField(max_length=200, label="Account holder")
    bank_name = forms.CharField(max_length=200, required=False, label="Bank")
    currency = forms.CharField(max_length=3, initial="USD", label="Currency (ISO code, e.g. USD)")
    routing_number = forms.CharField(max_length=20, required=False, label="Routing number (US, 9 digits)")
    account_number = forms.CharField(
        max_length=40,
        required=False,
        label="Account number (US)",
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    iban = forms.CharField(
        max_length=50,
        required=False,
        label="IBAN (outside the US)",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    bic = forms.CharField(max_length=20, required=False, label="BIC / SWIFT code (with an IBAN)")


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(choices=MerchantDocument.Kind.choices, label="Document type")
    file = forms.FileField(label="File (PDF, PNG or JPEG, up to 10 MB)")


ONBOARDING_STEPS = (
    ("business", "Business"),
    ("bank", "Bank account"),
    ("documents", "Documents"),
    ("review", "Review and submit"),
)


def _steps_done(profile: BusinessProfile, *, has_bank_account: bool, has_document: bool) -> dict[str, bool]:
    return {
        "business": all(getattr(profile, field) for field in onboarding.REQUIRED_PROFILE_FIELDS),
        "bank": has_bank_account,
        "documents": has_document,
        "review": profile.status != BusinessProfile.Status.DRAFT,
    }


def _onboarding_page(
    dashboard: Dashboard,
    *,
    step: str = "",
    profile_form: ProfileForm | None = None,
    bank_form: BankAccountForm | None = None,
    document_form: DocumentForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """One step of the guided flow. A part posted with errors comes back bound (what was typed is
    kept, errors next to the fields); every other part shows what is saved."""
    merchant = dashboard.merchant
    profile = onboarding.business_profile_for(merchant=merchant)
    bank_accounts = list(selectors.bank_account_list(merchant=merchant))
    documents = list(selectors.merchant_document_list(merchant=merchant))
    done = _steps_done(profile, has_bank_account=bool(bank_accounts), has_document=bool(documents))
    if step not in dict(ONBOARDING_STEPS):
        step = next((name for name, _ in ONBOARDING_STEPS if not done[name]), "review")
    initial = {field: getattr(profile, field) for field in onboarding.PROFILE_FIELDS}
    initial["expected_monthly_volume"] = to_decimal(profile.expected_monthly_volume_amount, profile.volume_currency)
    names = [name for name, _ in ONBOARDING_STEPS]
    position = names.index(step)
    return dashboard.render(
        "merchants/onboarding.html",
        {
            "nav": "onboarding",
            "profile": profile,
            "editable": profile.status in onboarding.EDITABLE_STATUSES,
            "removable": profile.status != BusinessProfile.Status.SUBMITTED,
            "missing": onboarding.application_missing(profile=profile),
            "step": step,
            "steps": [
                {"name": name, "label": label, "done": done[name], "number": number}
                for number, (name, label) in enumerate(ONBOARDING_STEPS, start=1)
            ],
            "previous_step": names[position - 1] if position > 0 else "",
            "next_step": names[position + 1] if position + 1 < len(names) else "",
            "profile_form": profile_form or ProfileForm(initial=initial),
            "bank_form": bank_form or BankAccountForm(initial={"currency": merchant.default_currency}),
            "document_form": document_form or DocumentForm(),
            "bank_accounts": bank_accounts,
            "documents": documents,
        },
        status=status,
    )


def _after(step: str) -> HttpResponse:
    """Saved: on to the next step of the guided flow."""
    names = [name for name, _ in ONBOARDING_STEPS]
    return _at(names[min(names.index(step) + 1, len(names) - 1)])


def _at(step: str) -> HttpResponse:
    """Back to ``step`` of the guided flow."""
    return redirect(f"{reverse('merchants:onboarding')}?{urlencode({'step': step})}")


@require_GET
@dashboard_view()
def onboarding_page(dashboard: Dashboard) -> HttpResponse:
    return _onboarding_page(dashboard, step=dashboard.request.GET.get("step", ""))


@require_POST
@dashboard_view(access="write")
def onboarding_profile(dashboard: Dashboard) -> HttpResponse:
    form = ProfileForm(dashboard.request.POST)
    if form.is_valid():
        data = dict(form.cleaned_data)
        profile = onboarding.business_profile_ensure(merchant=dashboard.merchant)
        try:
            data["expected_monthly_volume_amount"] = from_decimal(
                data.pop("expected_monthly_volume"), profile.volume_currency
            )
            data["country"] = data["country"].upper()
            onboarding.business_profile_update(profile=profile, **data)
        except ApplicationError as error:
            _add_error(form, error, aliases={"expected_monthly_volume_amount": "expected_monthly_volume"})
        else:
            messages.success(dashboard.request, "Business details saved.")
            return _after("business")
    return _onboarding_page(dashboard, step="business", profile_form=form, status=400)


def _add_error(form: forms.Form, error: ApplicationError, *, aliases: dict[str, str] | None = None) -> None:
    """Put a service's refusal next to the field it names (or above the form when it names none)."""
    field = (aliases or {}).get(error.param or "", error.param)
    form.add_error(field if field in form.fields else None, error.message)


@require_POST
@dashboard_view(access="write")
def onboarding_bank_account(dashboard: Dashboard) -> HttpResponse:
    form = BankAccountForm(dashboard.request.POST)
    if form.is_valid():
        try:
            onboarding.bank_account_add(merchant=dashboard.merchant, **form.cleaned_data)
        except ApplicationError as error:
            _add_error(form, error)
        else:
            messages.success(dashboard.request, "Bank account added.")
            return _after("bank")
    return _onboarding_page(dashboard, step="bank", bank_form=form, status=400)


@require_POST
@dashboard_view(access="write")
def onboarding_bank_account_remove(dashboard: Dashboard, account_id: str) -> HttpResponse:
    account = selectors.bank_account_get(merchant=dashboard.merchant, public_id=account_id)
    if account is None:
        raise Http404("No such bank account.")
    try:
        onboarding.bank_account_remove(account=account)
    except ApplicationError as error:
        messages.error(dashboard.request, error.message)
    else:
        messages.success(dashboard.request, f"Bank account {account} removed: nothing more is paid out to it.")
    return _at("bank")


@require_POST
@dashboard_view(access="write")
def onboarding_document(dashboard: Dashboard) -> HttpResponse:
    form = DocumentForm(dashboard.request.POST, dashboard.request.FILES)
    if form.is_valid():
        try:
            onboarding.document_upload(
                merchant=dashboard.merchant,
                kind=form.cleaned_data["kind"],
                uploaded=form.cleaned_data["file"],
                uploaded_by=dashboard.request.user,
            )
        except ApplicationError as error:
            _add_error(form, error)
        else:
            messages.success(dashboard.request, "Document uploaded.")
            return _at("documents")
    return _onboarding_page(dashboard, step="documents", document_form=form, status=400)


@require_POST
@dashboard_view(access="write")
def onboarding_document_remove(dashboard: Dashboard, document_id: str) -> HttpResponse:
    document = selectors.merchant_document_get(merchant=dashboard.merchant, public_id=document_id)
    if document is None:
        raise Http404("No such document.")
    try:
        onboarding.document_remove(document=document)
    except ApplicationError as error:
        messages.error(dashboard.request, error.message)
    else:
        messages.success(dashboard.request, f"{document.original_name} removed from your application.")
    return _at("documents")


@require_GET
@dashboard_view()
def onboarding_document_download(dashboard: Dashboard, document_id: str) -> HttpResponseBase:
    document = selectors.merchant_document_get(merchant=dashboard.merchant, public_id=document_id)
    if document is None:
        raise Http404("No such document.")
    response = FileResponse(document.file.open("rb"), content_type=document.content_type)
    response["Content-Disposition"] = f'attachment; filename="{document.public_id}"'
    return response


@require_POST
@dashboard_view(access="write")
def onboarding_submit(dashboard: Dashboard) -> HttpResponse:
    try:
        onboarding.application_submit(profile=onboarding.business_profile_ensure(merchant=dashboard.merchant))
    except ApplicationError as error:
        messages.error(dashboard.request, error.message)
    else:
        messages.success(dashboard.request, "Application submitted. We will email you once it is reviewed.")
    return _at("review")


# --- The test/live switch -----------------------------------------------------------------------


@require_POST
@dashboard_view()
def mode_switch(dashboard: Dashboard) -> HttpResponse:
    """Choose test or live data for every page (a session flag: no data changes, any member may)."""
    livemode = dashboard.request.POST.get("livemode") == "true"
    dashboard.request.session[LIVEMODE_SESSION_KEY] = livemode
    next_url = dashboard.request.POST.get("next", "")
    if not next_url.startswith("/merchant/") or next_url.startswith("//"):
        next_url = "/merchant/"
    return redirect(next_url)


# --- Invitations --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link in an invitation. Signed in with the invited email: join. Otherwise a new person sets
    a password (the account is made for the invited email), or an existing one signs in first."""
    invitation = services.dangerously_invitation_get_by_token(token=token)
    if invitation is None or not invitation.is_open:
        return render(request, "merchants/invitation.html", {"invitation": None}, status=404)
    if request.user.is_authenticated:
        # Joining as the signed-in user needs all of their sign-in: the password alone is not them.
        gate = second_factor_redirect(request, enrolling=True)
        if gate is not None:
            return gate
    existing = get_user_model().objects.filter(email__iexact=invitation.email).first()
    error = ""
    if request.method == "POST":
        user = request.user if request.user.is_authenticated else None
        membership = None
        try:
            if user is None and existing is None:
                membership = services.invitation_accept_new_user(
                    invitation=invitation, password=request.POST.get("password", "")
                )
                user = membership.user
            elif user is not None:
                actor_var.set(Actor(kind="merchant_user", identifier=user.email, label=user.email))
                membership = services.invitation_accept(invitation=invitation, user=user)
        except ApplicationError as application_error:
            error = application_error.message
        else:
            if user is not None and membership is not None:
                if not request.user.is_authenticated:
                    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                request.session[CURRENT_MERCHANT_SESSION_KEY] = membership.merchant.public_id
                messages.success(request, f"You joined {membership.merchant.name} as {membership.role}.")
                return redirect("merchants:dashboard")
    return render(
        request,
        "merchants/invitation.html",
        {"invitation": invitation, "existing": existing, "error": error},
        status=400 if error else 200,
    )


# --- Branding (public: the hosted checkout shows the logo) ----------------------------------------


@require_GET
def branding_logo(request: HttpRequest, merchant_id: str) -> HttpResponseBase:
    branding = selectors.dangerously_merchant_logo_get(merchant_public_id=merchant_id)
    if branding is None or not branding.logo:
        raise Http404("No logo.")
    storage = storages["merchant_files"]
    if not storage.exists(branding.logo.name):
        raise Http404("No logo.")
    response = FileResponse(storage.open(branding.logo.name, "rb"))
    response["Cache-Control"] = "public, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response
