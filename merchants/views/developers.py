"""Developers: API keys (create, reveal once, revoke, roll) and webhook endpoints (add, reveal the
signing secret, choose events, the delivery log with each request and answer, replay, send a test
event), for the mode the switch shows."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.forms.utils import flatatt
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST

from bnpl.core.errors import ApplicationError
from bnpl.core.event_types import merchant_visible_types
from merchants import integration, selectors, services, webhooks
from merchants.models import ApiKey, WebhookDelivery, WebhookEndpoint
from merchants.views.base import Dashboard, dashboard_view


class ApiKeyCreateForm(forms.Form):
    kind = forms.ChoiceField(choices=ApiKey.Kind.choices, label="Type")
    name = forms.CharField(max_length=100, required=False, label="Name (optional)")


# The event picker's groups, by the object an event is about, in the order a merchant thinks of them.
EVENT_GROUPS = {
    "checkout_session": "Checkout sessions",
    "order": "Orders",
    "plan": "Payment plans",
    "dispute": "Disputes and returns",
    "settlement": "Settlements and payouts",
    "merchant_consumer": "Customers",
    "bank_data_consent": "Bank data",
    "bank_transactions": "Bank data",
    "payment_product": "Account",
    "merchant": "Account",
    "branding": "Account",
    "membership": "Team",
    "api_key": "Developers",
    "webhook_endpoint": "Developers",
}


def event_label(name: str) -> str:
    """``plan.payment_succeeded`` -> "Payment succeeded (plan.payment_succeeded)"."""
    action = name.partition(".")[2].replace("_", " ")
    return f"{action[:1].upper()}{action[1:]} ({name})"


def _event_choices() -> list[tuple[str, Any]]:
    """ "Every event", then the event types grouped by their object (a Django option group each:
    the checkbox list renders one labelled sub-list per group)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for name in merchant_visible_types():
        if name == webhooks.TEST_EVENT_TYPE:
            continue
        group = EVENT_GROUPS.get(name.partition(".")[0], "Other")
        groups.setdefault(group, []).append((name, event_label(name)))
    ordered = sorted(groups, key=lambda group: [*dict.fromkeys(EVENT_GROUPS.values()), "Other"].index(group))
    return [("*", "Every event"), *((group, groups[group]) for group in ordered)]


class GroupedCheckboxes(forms.CheckboxSelectMultiple):
    """Checkboxes in one fieldset per option group, its legend naming the group (Django's own
    rendering labels a group with a <label> that labels nothing)."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        context = self.get_context(name, value, attrs)

        def boxes(options: list[dict[str, Any]]) -> str:
            return format_html_join(
                "",
                '<label for="{}"><input type="checkbox" name="{}" value="{}"{}> {}</label>',
                (
                    (option["attrs"]["id"], option["name"], option["value"], flatatt(option["attrs"]), option["label"])
                    for option in options
                ),
            )

        parts = [
            format_html('<fieldset class="event-group"><legend>{}</legend>{}</fieldset>', group, boxes(options))
            if group
            else format_html('<div class="event-all">{}</div>', boxes(options))
            for group, options, _index in context["widget"]["optgroups"]
        ]
        inner = mark_safe("".join(parts))  # noqa: S308  # nosec B308 B703  # each part is built by format_html
        return format_html(
            '<div id="{}" class="event-groups">{}</div>', context["widget"]["attrs"].get("id", ""), inner
        )


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(max_length=2048, label="Endpoint URL", assume_scheme="https")
    description = forms.CharField(max_length=500, required=False)
    enabled_events = forms.MultipleChoiceField(
        choices=_event_choices, widget=GroupedCheckboxes, label="Events to send", initial=["*"]
    )


class WebhookEndpointUpdateForm(forms.Form):
    enabled_events = forms.MultipleChoiceField(choices=_event_choices, widget=GroupedCheckboxes, label="Events to send")
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
            "integration_checklist": integration.integration_checklist(merchant=dashboard.merchant),
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


def _key_label(api_key: ApiKey) -> str:
    token = api_key.publishable_token if api_key.kind == ApiKey.Kind.PUBLISHABLE else api_key.token_hint
    return f"{api_key.get_kind_display().lower()} key {token}" + (f" ({api_key.name})" if api_key.name else "")


@require_POST
@dashboard_view(access="write")
def api_key_revoke(dashboard: Dashboard, key_id: str) -> HttpResponse:
    """Two steps: without a confirmation nothing changes and the page asks; with it, the key stops
    working at once."""
    api_key = _key(dashboard, key_id)
    if (
        asking := dashboard.confirm_first(
            nav="developers",
            title="Revoke this key?",
            text=f"The {_key_label(api_key)} stops working at once: every request made with it is refused. "
            "This cannot be undone.",
            button="Yes, revoke the key",
            cancel=reverse("merchants:developers"),
        )
    ) is not None:
        return asking
    api_key = services.api_key_revoke(api_key=api_key)
    messages.success(dashboard.request, f"Key {api_key.token_hint} revoked.")
    return redirect("merchants:developers")


@require_POST
@dashboard_view(access="write")
def api_key_roll(dashboard: Dashboard, key_id: str) -> HttpResponse:
    """A new key replaces the old one, which stops working at once (after a confirmation step)."""
    api_key = _key(dashboard, key_id)
    if (
        asking := dashboard.confirm_first(
            nav="developers",
            title="Roll this key?",
            text=f"A new key replaces the {_key_label(api_key)}, which stops working at once: update your "
            "integration with the new key straight away.",
            button="Yes, roll the key",
            cancel=reverse("merchants:developers"),
        )
    ) is not None:
        return asking
    try:
        created = services.api_key_roll(api_key=api_key, created_by=dashboard.request.user)
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
    endpoint = dashboard.get(WebhookEndpoint, endpoint_id)
    if (
        asking := dashboard.confirm_first(
            nav="developers",
            title="Delete this endpoint?",
            text=f"{endpoint.url} receives no more events, and deliveries still waiting to be sent to it are "
            "dropped. This cannot be undone.",
            button="Yes, delete the endpoint",
            cancel=reverse("merchants:webhook-endpoint", args=[endpoint.public_id]),
            spent=reverse("merchants:developers"),
        )
    ) is not None:
        return asking
    services.webhook_endpoint_delete(endpoint=endpoint)
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
        attempt = delivery.attempts.first() if delivery is not None else None
        outcome = f" {attempt.outcome}." if attempt is not None else ""
        messages.error(dashboard.request, f"The test event was not accepted.{outcome} See the delivery log.")
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
