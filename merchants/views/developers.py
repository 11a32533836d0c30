"""Developers: API keys (create, reveal once, revoke, roll) and webhook endpoints (add, reveal the
signing secret, choose events, the delivery log with each request and answer, replay, send a test
event), for the mode the switch shows."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from bnpl.core.errors import ApplicationError
from bnpl.core.event_types import EVENT_TYPES, merchant_visible_types
from merchants import selectors, services, webhooks
from merchants.models import ApiKey, WebhookDelivery, WebhookEndpoint
from merchants.views.base import Dashboard, dashboard_view


class ApiKeyCreateForm(forms.Form):
    kind = forms.ChoiceField(choices=ApiKey.Kind.choices, label="Type")
    name = forms.CharField(max_length=100, required=False, label="Name (optional)")


def _event_choices() -> list[tuple[str, str]]:
    return [("*", "Every event")] + [
        (name, f"{name} — {EVENT_TYPES[name].description}")
        for name in merchant_visible_types()
        if name != webhooks.TEST_EVENT_TYPE
    ]


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(max_length=2048, label="Endpoint URL", assume_scheme="https")
    description = forms.CharField(max_length=500, required=False)
    enabled_events = forms.MultipleChoiceField(
        choices=_event_choices, widget=forms.CheckboxSelectMultiple, label="Events to send", initial=["*"]
    )


class WebhookEndpointUpdateForm(forms.Form):
    enabled_events = forms.MultipleChoiceField(
        choices=_event_choices, widget=forms.CheckboxSelectMultiple, label="Events to send"
    )
    description = forms.CharField(max_length=500, required=False)
    status = forms.ChoiceField(choices=WebhookEndpoint.Status.choices)


def _keys(dashboard: Dashboard) -> list[ApiKey]:
    return [key for key in selectors.api_key_list(merchant=dashboard.merchant) if key.livemode == dashboard.livemode]


def _developers(
    dashboard: Dashboard,
    *,
    revealed_token: str = "",
    key_form: ApiKeyCreateForm | None = None,
    endpoint_form: WebhookEndpointForm | None = None,
    status: int = 200,
) -> HttpResponse:
    return dashboard.render(
        "merchants/developers.html",
        {
            "nav": "developers",
            "api_keys": _keys(dashboard),
            "key_form": key_form or ApiKeyCreateForm(),
            "revealed_token": revealed_token,
            "endpoints": selectors.webhook_endpoint_list(merchant=dashboard.merchant, livemode=dashboard.livemode),
            "endpoint_form": endpoint_form or WebhookEndpointForm(),
        },
        status=status,
    )


@require_GET
@dashboard_view()
def developers(dashboard: Dashboard) -> HttpResponse:
    return _developers(dashboard)


# --- API keys -----------------------------------------------------------------------------------


def _key(dashboard: Dashboard, key_id: str) -> ApiKey:
    """Keys are listed per mode; one of the other mode (or merchant) is not found here."""
    from django.http import Http404

    api_key = selectors.api_key_get(merchant=dashboard.merchant, public_id=key_id)
    if api_key is None or api_key.livemode != dashboard.livemode:
        raise Http404("No such key.")
    return api_key


@require_POST
@dashboard_view(access="write")
def api_key_create(dashboard: Dashboard) -> HttpResponse:
    """The new secret is rendered in this response only (not stored, not put in the session, not
    cached): the merchant copies it now or creates another key."""
    form = ApiKeyCreateForm(dashboard.request.POST)
    if not form.is_valid():
        return _developers(dashboard, key_form=form, status=400)
    try:
        created = services.api_key_create(
            merchant=dashboard.merchant,
            livemode=dashboard.livemode,
            created_by=dashboard.request.user,
            **form.cleaned_data,
        )
    except ApplicationError as error:
        messages.error(dashboard.request, error.message)
        return redirect("merchants:developers")
    return _developers(dashboard, revealed_token=created.token)


@require_POST
@dashboard_view(access="write")
def api_key_revoke(dashboard: Dashboard, key_id: str) -> HttpResponse:
    api_key = services.api_key_revoke(api_key=_key(dashboard, key_id))
    messages.success(dashboard.request, f"Key {api_key.token_hint} revoked.")
    return redirect("merchants:developers")


@require_POST
@dashboard_view(access="write")
def api_key_roll(dashboard: Dashboard, key_id: str) -> HttpResponse:
    """A new key replaces the old one, which stops working at once."""
    try:
        created = services.api_key_roll(api_key=_key(dashboard, key_id), created_by=dashboard.request.user)
    except ApplicationError as error:
        messages.error(dashboard.request, error.message)
        return redirect("merchants:developers")
    return _developers(dashboard, revealed_token=created.token)


# --- Webhook endpoints --------------------------------------------------------------------------


@require_POST
@dashboard_view(access="write")
def webhook_endpoint_create(dashboard: Dashboard) -> HttpResponse:
    form = WebhookEndpointForm(dashboard.request.POST)
    if form.is_valid():
        try:
            endpoint = services.webhook_endpoint_create(
                merchant=dashboard.merchant, livemode=dashboard.livemode, **form.cleaned_data
            )
        except ApplicationError as error:
            form.add_error(error.param if error.param in form.fields else None, error.message)
        else:
            messages.success(dashboard.request, "Endpoint added. Reveal its signing secret to verify deliveries.")
            return redirect("merchants:webhook-endpoint", endpoint_id=endpoint.public_id)
    return _developers(dashboard, endpoint_form=form, status=400)


def _endpoint_page(
    dashboard: Dashboard,
    endpoint: WebhookEndpoint,
    *,
    secret: str = "",
    form: WebhookEndpointUpdateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    deliveries = webhooks.webhook_delivery_list(
        merchant=dashboard.merchant, livemode=dashboard.livemode, endpoint=endpoint
    )[:50]
    return dashboard.render(
        "merchants/webhook_endpoint.html",
        {
            "nav": "developers",
            "endpoint": endpoint,
            "secret": secret,
            "form": form
            or WebhookEndpointUpdateForm(
                initial={
                    "enabled_events": endpoint.enabled_events,
                    "description": endpoint.description,
                    "status": endpoint.status,
                }
            ),
            "deliveries": deliveries,
        },
        status=status,
    )


@require_GET
@dashboard_view()
def webhook_endpoint(dashboard: Dashboard, endpoint_id: str) -> HttpResponse:
    return _endpoint_page(dashboard, dashboard.get(WebhookEndpoint, endpoint_id))


@require_POST
@dashboard_view(access="write")
def webhook_endpoint_update(dashboard: Dashboard, endpoint_id: str) -> HttpResponse:
    endpoint = dashboard.get(WebhookEndpoint, endpoint_id)
    form = WebhookEndpointUpdateForm(dashboard.request.POST)
    if form.is_valid():
        try:
            services.webhook_endpoint_update(endpoint=endpoint, **form.cleaned_data)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(dashboard.request, "Endpoint saved.")
            return redirect("merchants:webhook-endpoint", endpoint_id=endpoint.public_id)
    return _endpoint_page(dashboard, endpoint, form=form, status=400)


@require_POST
@dashboard_view(access="write")
def webhook_endpoint_delete(dashboard: Dashboard, endpoint_id: str) -> HttpResponse:
    services.webhook_endpoint_delete(endpoint=dashboard.get(WebhookEndpoint, endpoint_id))
    messages.success(dashboard.request, "Endpoint deleted: it receives nothing more.")
    return redirect("merchants:developers")


@require_POST
@dashboard_view(access="write")
def webhook_endpoint_secret(dashboard: Dashboard, endpoint_id: str) -> HttpResponse:
    """Show the signing secret in this response (audited); owners and admins only."""
    endpoint = dashboard.get(WebhookEndpoint, endpoint_id)
    return _endpoint_page(dashboard, endpoint, secret=services.webhook_endpoint_secret_reveal(endpoint=endpoint))


@require_POST
@dashboard_view(access="write")
def webhook_endpoint_test(dashboard: Dashboard, endpoint_id: str) -> HttpResponse:
    """Emit a ``webhook_endpoint.test`` event for this endpoint and send its delivery now, through
    the normal signed sender (bounded by its timeout), so the answer shows on the page at once."""
    endpoint = dashboard.get(WebhookEndpoint, endpoint_id)
    try:
        event = webhooks.webhook_endpoint_test(endpoint=endpoint)
    except ApplicationError as error:
        messages.error(dashboard.request, error.message)
        return redirect("merchants:webhook-endpoint", endpoint_id=endpoint.public_id)
    delivery_ids = webhooks.deliveries_create_for_events(event_ids=[event.pk])
    webhooks.deliveries_send_due(delivery_ids=delivery_ids)
    delivery = WebhookDelivery.objects.filter(endpoint=endpoint, event=event).first()
    if delivery is not None and delivery.status == WebhookDelivery.Status.SUCCEEDED:
        messages.success(dashboard.request, "Test event delivered.")
    else:
        messages.error(dashboard.request, "The test event was not accepted: see the delivery log.")
    return redirect("merchants:webhook-endpoint", endpoint_id=endpoint.public_id)


@require_GET
@dashboard_view()
def webhook_delivery(dashboard: Dashboard, delivery_id: str) -> HttpResponse:
    delivery = dashboard.get(WebhookDelivery, delivery_id)
    attempts = [
        {
            "attempt": attempt,
            "request_headers": json.dumps(attempt.request_headers, indent=2),
            "request_body": _pretty(attempt.request_body),
        }
        for attempt in delivery.attempts.all()
    ]
    return dashboard.render(
        "merchants/webhook_delivery.html",
        {"nav": "developers", "delivery": delivery, "attempts": attempts, "endpoint": delivery.endpoint},
    )


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


@require_POST
@dashboard_view(access="write")
def webhook_delivery_replay(dashboard: Dashboard, delivery_id: str) -> HttpResponse:
    delivery = dashboard.get(WebhookDelivery, delivery_id)
    try:
        webhooks.webhook_delivery_replay(delivery=delivery)
    except ApplicationError as error:
        messages.error(dashboard.request, error.message)
    else:
        messages.success(dashboard.request, "Delivery queued to be sent again.")
    return redirect("merchants:webhook-delivery", delivery_id=delivery.public_id)
