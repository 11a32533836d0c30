"""Notifications: each message goes out once, after the change it reports commits (none when it
rolls back), at the right moment on the project clock, as an email with a text and an HTML part
(amounts in their currency) and as a text message to a phone on file, as the consumer's
preferences allow. The outbox listener queues a Celery task (run eagerly here, the real code path
otherwise); the sweep catches whatever the listener missed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from celery import current_app
from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import CheckoutSession
from bnpl.checkout.step_up import checkout_card_add
from bnpl.collections import reminders
from bnpl.collections import services as collections
from bnpl.collections import tasks as collection_tasks
from bnpl.core.models import Event
from bnpl.core.services import clock_advance
from bnpl.notifications import EmailAndSmsSender, services
from bnpl.notifications import tasks as notification_tasks
from bnpl.notifications.messages import render
from bnpl.notifications.models import Notification
from consumers.models import Consumer, SandboxMessage
from merchants import onboarding
from merchants.models import Membership
from tests.bnpl.checkout.factories import TEST_CARD, make_authorized_order, make_checkout_session, product_for
from tests.consumers.factories import make_verified_consumer
from tests.helpers import wait_until
from tests.merchants.factories import Tenant, make_member, make_tenant

pytestmark = pytest.mark.django_db

INSUFFICIENT_FUNDS = "4000 0000 0000 9995"


@pytest.fixture
def eager() -> Iterator[None]:
    """The task the outbox listener queues runs in the test's thread, as a worker would run it."""
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    try:
        yield
    finally:
        current_app.conf.task_always_eager = previous


@pytest.fixture
def committed(eager: None, django_capture_on_commit_callbacks: Any) -> Any:
    """``with committed():`` runs what the block's transactions do after commit (the outbox listener
    and the sends it leads to)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _messages(destination: str, **filters: Any) -> list[SandboxMessage]:
    return list(SandboxMessage.objects.filter(destination=destination, **filters).order_by("id"))


def _subjects(destination: str) -> list[str]:
    return [message.subject for message in _messages(destination)]


def _with_phone(consumer: Consumer, phone: str = "+14155552671", **preferences: bool) -> Consumer:
    Consumer.objects.filter(pk=consumer.pk).update(phone=phone, **preferences)
    consumer.refresh_from_db()
    return consumer


def _all_events_again() -> int:
    return services.notifications_send_for_events(event_ids=Event.objects.values_list("pk", flat=True))


# --- Purchase confirmed -----------------------------------------------------------------------------


def test_a_confirmed_purchase_sends_its_schedule_once_by_email_and_text(tenant: Tenant, committed: Any) -> None:
    consumer = _with_phone(make_verified_consumer())

    with committed():
        plan = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000, consumer=consumer).plan

    email = _messages(consumer.email or "")
    assert [message.subject for message in email] == ["Your Merchant A purchase of $100.00 is confirmed"]
    dates = [f"{row.due_date:%a, %-d %b %Y}" for row in plan.installments.order_by("sequence")]
    for part in (email[0].body, email[0].html):
        assert "$100.00" in part and "You paid" in part and "$25.00" in part and "Merchant A" in part
        assert all(date in part for date in dates)
        assert "Still to pay" in part and "$75.00" in part
    assert email[0].html.lstrip().startswith("<!doctype html>") and "<table" in email[0].html
    assert "<" not in email[0].body  # the text part is text
    assert [(message.channel, message.body) for message in _messages("+14155552671")] == [
        ("sms", "Merchant A: your $100.00 purchase is confirmed. Your payment schedule is in your account.")
    ]
    assert (
        Notification.objects.filter(kind="purchase_confirmed", object_id=plan.public_id, channels="email,sms").count()
        == 1
    )

    with committed():
        assert _all_events_again() == 0  # a retried task, a second worker: nothing more

    assert SandboxMessage.objects.count() == 2


def test_a_rolled_back_purchase_sends_nothing(tenant: Tenant, committed: Any) -> None:
    consumer = make_verified_consumer()

    with committed(), pytest.raises(RuntimeError), transaction.atomic():
        make_authorized_order(merchant=tenant.merchant, livemode=False, consumer=consumer)
        raise RuntimeError("the request failed after the order was written")

    assert not SandboxMessage.objects.exists()
    assert not Notification.objects.exists()


def test_the_listener_sends_nothing_before_commit(tenant: Tenant, eager: None) -> None:
    consumer = make_verified_consumer()

    make_authorized_order(
        merchant=tenant.merchant, livemode=False, consumer=consumer
    )  # the test's transaction stays open

    assert not SandboxMessage.objects.exists() and not Notification.objects.exists()


# --- Receipts, reminders, failed payments ------------------------------------------------------------


def test_each_payment_collected_gets_one_receipt_and_the_first_payment_none_of_its_own(
    tenant: Tenant, committed: Any
) -> None:
    with committed():
        plan = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000).plan
    email = plan.consumer.email or ""
    clock_advance(by=dt.timedelta(days=14))

    with committed():
        collections.collections_run()
        collections.collections_run()

    receipts = _messages(email, subject__startswith="Receipt")
    assert [message.subject for message in receipts] == ["Receipt: $25.00 paid to your Merchant A plan"]
    charge = plan.charges.exclude(idempotency_key__contains=":first_payment:").get()
    for part in (receipts[0].body, receipts[0].html):
        assert "$25.00" in part and charge.public_id in part and "ending 4242" in part and "$50.00" in part
        assert "4242 4242" not in part and "424242" not in part  # never the card number
    with committed():
        assert _all_events_again() == 0
    assert len(_messages(email, subject__startswith="Receipt")) == 1


def test_a_reminder_comes_in_the_window_before_the_due_date_once_on_the_project_clock(
    tenant: Tenant, committed: Any
) -> None:
    consumer = _with_phone(make_verified_consumer())
    with committed():
        plan = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000, consumer=consumer).plan
    due = plan.installments.get(sequence=2).due_date  # 14 days after the purchase
    assert settings.REMINDER_DAYS_BEFORE == 3

    clock_advance(by=dt.timedelta(days=10))  # 4 days before: not yet
    with committed():
        assert reminders.reminders_send_upcoming() == 0
    clock_advance(by=dt.timedelta(days=1))  # 3 days before
    with committed():
        assert reminders.reminders_send_upcoming() == 1
    clock_advance(by=dt.timedelta(hours=1))  # the hourly beat runs again
    with committed():
        assert reminders.reminders_send_upcoming() == 0

    subject = f"$25.00 due {due:%-d %b} for your Merchant A purchase"
    email = _messages(consumer.email or "", subject=subject)
    assert len(email) == 1
    for part in (email[0].body, email[0].html):
        assert "$25.00" in part and f"{due:%A, %-d %B %Y}" in part and "Merchant A" in part
    texts = [message.body for message in _messages("+14155552671") if "due on" in message.body]
    assert texts == [f"Merchant A: your payment of $25.00 is due on {due:%-d %B}. We will charge your card on file."]


def test_the_reminder_run_is_on_the_beat_schedule() -> None:
    entries = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if str(entry["task"]).endswith("reminders_send_upcoming")
    ]
    assert entries == [{"task": "bnpl.collections.tasks.reminders_send_upcoming", "schedule": dt.timedelta(hours=1)}]
    assert collection_tasks.reminders_send_upcoming.name == entries[0]["task"]
    sweeps = [
        entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if str(entry["task"]).endswith("notifications_sweep")
    ]
    assert [entry["task"] for entry in sweeps] == [notification_tasks.notifications_sweep.name]


def test_reminders_follow_the_consumers_preferences_and_records_still_arrive(tenant: Tenant, committed: Any) -> None:
    consumer = _with_phone(make_verified_consumer(), notify_by_email=False, notify_by_sms=False)
    with committed():
        make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000, consumer=consumer)
    clock_advance(by=dt.timedelta(days=11))

    with committed():
        assert reminders.reminders_send_upcoming() == 1  # recorded once, on no channel

    assert _subjects(consumer.email or "") == [
        "Your Merchant A purchase of $100.00 is confirmed"
    ]  # a record, not a reminder
    assert _messages("+14155552671") == []  # texts were declined, and there is an email for the records


def test_texts_only_when_the_consumer_accepts_them(tenant: Tenant, committed: Any) -> None:
    consumer = _with_phone(make_verified_consumer(), notify_by_sms=False)
    with committed():
        make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000, consumer=consumer)
    clock_advance(by=dt.timedelta(days=11))
    with committed():
        reminders.reminders_send_upcoming()

    assert len(_messages(consumer.email or "")) == 2  # the confirmation and the reminder
    assert _messages("+14155552671") == []


def test_a_failed_payment_notice_has_both_parts_and_says_when_we_try_again(tenant: Tenant, committed: Any) -> None:
    with committed():
        plan = make_authorized_order(
            merchant=tenant.merchant, livemode=False, amount=10_000, kind="pay_in_30", card=INSUFFICIENT_FUNDS
        ).plan
    clock_advance(by=dt.timedelta(days=30))

    with committed():
        collections.collections_run()
        collections.collections_run()

    notices = _messages(plan.consumer.email or "", subject__startswith="We could not take")
    assert [message.subject for message in notices] == ["We could not take your $100.00 payment to Merchant A"]
    retry = f"{plan.installments.get().due_date + dt.timedelta(days=1):%A, %-d %B %Y}"
    for part in (notices[0].body, notices[0].html):
        assert (
            "$100.00" in part
            and "insufficient funds" in part
            and f"try again on {retry}" in part.replace("<strong>", "").replace("</strong>", "")
        )


# --- Refunds and declines ---------------------------------------------------------------------------


def test_a_refund_is_told_once_with_what_it_changes(tenant: Tenant, committed: Any) -> None:
    with committed():
        order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000)
        checkout_orders.order_capture(order=order, amount=10_000)
    email = order.consumer.email or ""

    with committed():
        refund = checkout_orders.order_refund(order=order, amount=4_000)

    refunds = _messages(email, subject__contains="refunded")
    assert [message.subject for message in refunds] == ["Merchant A refunded $40.00"]
    for part in (refunds[0].body, refunds[0].html):
        assert "$40.00" in part and "comes off the payments you still had to make" in part
    assert Notification.objects.filter(kind="refund", object_id=refund.public_id).count() == 1
    with committed():
        assert _all_events_again() == 0
    assert len(_messages(email, subject__contains="refunded")) == 1


def test_a_decline_sends_the_adverse_action_notice_with_its_reasons(tenant: Tenant, committed: Any) -> None:
    consumer = make_verified_consumer()
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=300_000)
    card = checkout_card_add(
        session=session, consumer=consumer, number=TEST_CARD, exp_month=12, exp_year=2035, cvc="123"
    )

    with committed():
        result = checkout_confirmation.checkout_confirm(
            session=session, consumer=consumer, product=product_for(tenant.merchant, False), payment_method=card
        )

    assert result.order is None
    assert CheckoutSession.objects.get(pk=session.pk).status == CheckoutSession.Status.DECLINED
    notices = _messages(consumer.email or "")
    assert [message.subject for message in notices] == ["About your pay-later application at Merchant A"]
    for part in (notices[0].body, notices[0].html):
        assert "This purchase would take you over your spending limit." in part
        assert "$3,000.00" in part and "within 60 days" in part and "Equal Credit Opportunity Act" in part


# --- Merchants' onboarding ---------------------------------------------------------------------------


def _submitted(tenant: Tenant) -> Any:
    profile = onboarding.business_profile_ensure(merchant=tenant.merchant)
    onboarding.business_profile_update(
        profile=profile,
        legal_name="Merchant A & Sons LLC",
        registration_number="C1234567",
        tax_number="12-3456789",
        address_line1="1 Market St",
        city="San Francisco",
        postal_code="94105",
        country="US",
        category="apparel",
    )
    onboarding.bank_account_add(
        merchant=tenant.merchant, holder_name="Merchant A", routing_number="110000000", account_number="000123456789"
    )
    owner = Membership.objects.filter(merchant=tenant.merchant).first()
    onboarding.document_upload(
        merchant=tenant.merchant,
        kind="registration",
        uploaded=SimpleUploadedFile("registration.pdf", b"%PDF-1.4 certificate", content_type="application/pdf"),
        uploaded_by=owner.user if owner else None,
    )
    return onboarding.application_submit(profile=profile)


def test_the_merchants_team_hears_of_its_application_submitted_and_decided(tenant: Tenant, committed: Any) -> None:
    owner = make_member(merchant=tenant.merchant, role=Membership.Role.OWNER)
    admin = make_member(merchant=tenant.merchant, role=Membership.Role.ADMIN)
    analyst = make_member(merchant=tenant.merchant, role=Membership.Role.ANALYST)

    with committed():
        profile = _submitted(tenant)
    with committed():
        onboarding.application_request_information(profile=profile, note="Send a <b>bank letter</b>.")
    with committed():
        profile = onboarding.application_submit(profile=profile)
    with committed():
        onboarding.application_reject(profile=profile, note="Not a category we serve.")
    with committed():
        assert _all_events_again() == 0

    expected = [
        "We received Merchant A's application",
        "We need a little more about your business",
        "We received Merchant A's application",
        "We could not approve your application",
    ]
    for user in (owner, admin):
        assert _subjects(user.email) == expected
    assert _subjects(analyst.email) == []
    asked = _messages(owner.email)[1]
    assert "Send a <b>bank letter</b>." in asked.body  # the text part says it as written
    assert "Send a &lt;b&gt;bank letter&lt;/b&gt;." in asked.html  # the HTML part never runs it
    assert "/merchant/onboarding" in asked.body and "/merchant/onboarding" in asked.html


def test_an_approved_application_is_emailed(tenant: Tenant, committed: Any) -> None:
    owner = make_member(merchant=tenant.merchant, role=Membership.Role.OWNER)
    with committed():
        profile = _submitted(tenant)
    with committed():
        onboarding.application_approve(profile=profile)

    approved = _messages(owner.email)[-1]
    assert approved.subject == "Your application is approved: you can take live payments"
    assert "Live mode is open" in approved.body and "Live mode is open" in approved.html


# --- The sweep and the email backend ------------------------------------------------------------------


def test_the_sweep_sends_what_the_listener_missed_once_and_never_the_history(
    tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    make_authorized_order(merchant=tenant.merchant, livemode=False)  # before the sweep's first run: history
    assert services.notifications_sweep() == 0
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False).plan  # no listener ran for it

    assert services.notifications_sweep() == 0  # not settled yet: a transaction might still commit below it
    clock_advance(by=dt.timedelta(minutes=6))
    with django_capture_on_commit_callbacks(execute=True):
        read = services.notifications_sweep()
        again = services.notifications_sweep()

    assert read > 0 and again == 0
    assert _subjects(plan.consumer.email or "") == ["Your Merchant A purchase of $100.00 is confirmed"]
    assert SandboxMessage.objects.count() == 1


def test_the_email_sender_sends_a_text_part_and_an_html_alternative() -> None:
    message = render(
        "payment_reminder",
        subject="$25.00 due 19 Dec",
        sms="",
        context={"merchant_name": "Merchant A", "amount": "$25.00", "due_on": "Saturday, 19 December 2026"},
    )

    EmailAndSmsSender().send(
        channel="email", destination="ada@example.com", subject=message.subject, body=message.text, html=message.html
    )

    [sent] = mail.outbox
    assert sent.subject == "$25.00 due 19 Dec" and sent.to == ["ada@example.com"]
    assert "$25.00" in sent.body and "Saturday, 19 December 2026" in sent.body
    [(html, mimetype)] = sent.alternatives  # type: ignore[attr-defined]
    assert mimetype == "text/html" and "$25.00" in str(html)


# --- The sandbox inbox ---------------------------------------------------------------------------------


def test_the_sandbox_inbox_shows_an_email_rendered_in_a_sandboxed_frame_with_its_text(
    tenant: Tenant, committed: Any, client: Client
) -> None:
    consumer = make_verified_consumer()
    with committed():
        make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000, consumer=consumer)

    content = client.get("/sandbox/inbox", {"to": consumer.email or ""}).content.decode()

    assert '<iframe class="inbox-frame" sandbox=""' in content
    assert 'title="Email: Your Merchant A purchase of $100.00 is confirmed"' in content
    assert 'srcdoc="&lt;!doctype html&gt;' in content  # the email, escaped into the attribute
    assert "<details><summary>Text version</summary>" in content and "Your purchase is confirmed" in content
    assert "<strong>Your Merchant A purchase of $100.00 is confirmed</strong>" in content


# --- Through a real worker -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_the_confirmation_the_listener_queued_after_commit(celery_worker: None) -> None:
    tenant = make_tenant(name="Merchant A")
    consumer = make_verified_consumer()

    plan = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000, consumer=consumer).plan

    assert wait_until(lambda: SandboxMessage.objects.filter(destination=consumer.email).exists(), timeout=30.0), (
        "never sent"
    )
    assert wait_until(lambda: Notification.objects.filter(object_id=plan.public_id).exists(), timeout=30.0)
    assert _subjects(consumer.email or "") == ["Your Merchant A purchase of $100.00 is confirmed"]


def test_history_written_muted_tells_nobody_now_or_later(tenant: Tenant, committed: Any) -> None:
    # A demo seed of past activity: the purchase and its reminder happened; nobody is mailed today.
    consumer = make_verified_consumer()
    with services.muted():
        with committed():
            make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000, consumer=consumer)
        clock_advance(by=dt.timedelta(days=11))
        with committed():
            assert reminders.reminders_send_upcoming() == 1

    assert not SandboxMessage.objects.exists()
    with committed():
        assert reminders.reminders_send_upcoming() == 0  # recorded as sent: never sent later either
    assert not SandboxMessage.objects.exists()
