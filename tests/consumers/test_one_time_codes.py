"""One-time codes: asking for one (normalisation, delivery after commit, throttles) and verifying it
(sign-up, sign-in, wrong attempts, lockout, expiry, single use, blocked accounts)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import time_machine
from django.db import OperationalError, connection

from bnpl.core import clock
from bnpl.core.errors import ApplicationError, InvalidRequestError, PermissionDeniedError, RateLimitError
from bnpl.core.models import AuditLogEntry, Event
from consumers.models import Consumer, OneTimeCode, SandboxMessage
from consumers.services import Destination, one_time_code_request, one_time_code_verify, one_time_codes_purge
from tests.consumers.conftest import SHOPPER, another_code, latest_code
from tests.consumers.factories import make_consumer
from tests.helpers import row_counts

pytestmark = pytest.mark.django_db

RequestCode = Callable[[str], str]


def consumer_events() -> list[tuple[str, str]]:
    return list(Event.objects.filter(object_type="consumers.consumer").order_by("id").values_list("type", "object_id"))


def expected_data(consumer: Consumer, *, email_verified: bool, phone_verified: bool) -> dict[str, object]:
    return {
        "id": consumer.public_id,
        "object": "consumer",
        "status": "active",
        "email_verified": email_verified,
        "phone_verified": phone_verified,
        "notify_by_email": True,
        "notify_by_sms": True,
        "created_at": consumer.created_at.isoformat(),
    }


# --- Asking for a code ------------------------------------------------------------------------


def test_an_email_address_gets_a_code_that_is_kept_only_as_a_hash(request_code: RequestCode) -> None:
    start = clock.real_now()

    with time_machine.travel(start, tick=False):
        code = request_code("  Ada@Example.COM ")

    one_time_code = OneTimeCode.objects.get()
    assert one_time_code.channel == "email"
    assert one_time_code.destination == "ada@example.com"
    assert one_time_code.created_at == start
    assert one_time_code.expires_at == start + dt.timedelta(minutes=10)
    assert one_time_code.attempts == 0
    assert one_time_code.consumed_at is None
    assert one_time_code.invalidated_at is None
    assert len(one_time_code.code_hash) == 64
    assert code not in one_time_code.code_hash
    message = SandboxMessage.objects.get()
    assert (message.channel, message.destination, message.subject) == (
        "email",
        "ada@example.com",
        "Your verification code",
    )
    assert message.body == f"Your verification code is {code}. It expires in 10 minutes. Never share it."


def test_the_service_returns_the_normalised_destination(db: None, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        destination = one_time_code_request(identifier="Ada@Example.COM", requester=SHOPPER)

    assert destination == Destination(channel="email", address="ada@example.com")


@pytest.mark.parametrize("identifier", ["(415) 555-2671", "415.555.2671", "+1 415 555 2671", "  +14155552671  "])
def test_a_phone_number_is_normalised_to_e164_and_texted(request_code: RequestCode, identifier: str) -> None:
    code = request_code(identifier)

    one_time_code = OneTimeCode.objects.get()
    assert (one_time_code.channel, one_time_code.destination) == ("sms", "+14155552671")
    message = SandboxMessage.objects.get()
    assert (message.channel, message.destination) == ("sms", "+14155552671")
    assert message.body == f"Your verification code is {code}. It expires in 10 minutes. Never share it."


def test_the_code_is_delivered_only_after_the_transaction_commits(
    db: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        one_time_code_request(identifier="ada@example.com", requester=SHOPPER)

    assert len(callbacks) == 1
    assert not SandboxMessage.objects.exists()
    callbacks[0]()
    assert SandboxMessage.objects.get().destination == "ada@example.com"


@pytest.mark.parametrize(
    ("identifier", "code", "message"),
    [
        ("", "identifier_invalid", "Enter an email address or a mobile number."),
        ("   ", "identifier_invalid", "Enter an email address or a mobile number."),
        ("1" * 300, "identifier_invalid", "Enter an email address or a mobile number."),
        ("a" * 290 + "@example.com", "identifier_invalid", "Enter an email address or a mobile number."),
        ("not an email or a phone", "phone_invalid", "'not an email or a phone' is not a valid phone number."),
        ("12345", "phone_invalid", "'12345' is not a valid phone number."),
        ("+1 555 000", "phone_invalid", "'+1 555 000' is not a valid phone number."),
        ("ada@", "email_invalid", "'ada@' is not a valid email address."),
        ("ada@@example.com", "email_invalid", "'ada@@example.com' is not a valid email address."),
    ],
)
def test_an_invalid_identifier_is_refused_and_nothing_is_sent(
    db: None, django_capture_on_commit_callbacks: Any, identifier: str, code: str, message: str
) -> None:
    before = row_counts()

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(InvalidRequestError) as raised:
        one_time_code_request(identifier=identifier, requester=SHOPPER)

    assert (raised.value.code, raised.value.param, raised.value.message) == (code, "identifier", message)
    assert callbacks == []
    assert row_counts() == before


def test_asking_again_within_the_resend_interval_is_refused_and_sends_nothing(
    request_code: RequestCode, django_capture_on_commit_callbacks: Any
) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        first = request_code("ada@example.com")
    before = row_counts()

    with (
        time_machine.travel(start + dt.timedelta(seconds=20.5), tick=False),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RateLimitError) as raised,
    ):
        one_time_code_request(identifier="ADA@example.com", requester=SHOPPER)

    assert raised.value.status_code == 429
    assert (raised.value.code, raised.value.param) == ("code_resend_too_soon", "identifier")
    assert raised.value.message == "A code was just sent. You can ask for another in 40 seconds."
    assert callbacks == []
    assert row_counts() == before
    assert OneTimeCode.objects.get().invalidated_at is None  # the first code still stands
    assert latest_code("ada@example.com") == first


def test_a_code_just_used_to_sign_in_does_not_hold_back_the_next_one(request_code: RequestCode) -> None:
    """Signing in and, seconds later, a step-up at the checkout: the code used proves the owner is
    there, so the next one is sent at once; while that one is unused the interval applies again."""
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        signed_in_with = request_code("ada@example.com")
        one_time_code_verify(identifier="ada@example.com", code=signed_in_with, requester=SHOPPER)
    with time_machine.travel(start + dt.timedelta(seconds=5), tick=False):
        step_up = request_code("ada@example.com")
        with pytest.raises(RateLimitError) as raised:
            one_time_code_request(identifier="ada@example.com", requester=SHOPPER)

    assert step_up != signed_in_with and raised.value.code == "code_resend_too_soon"
    assert SandboxMessage.objects.count() == 2


def test_after_the_resend_interval_a_new_code_replaces_the_earlier_one(request_code: RequestCode) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        first = request_code("ada@example.com")
    later = start + dt.timedelta(seconds=61)

    with time_machine.travel(later, tick=False):
        second = request_code("ada@example.com")
        with pytest.raises(InvalidRequestError) as raised:
            one_time_code_verify(identifier="ada@example.com", code=first, requester=SHOPPER)
        assert raised.value.code == "code_incorrect"
        consumer = one_time_code_verify(identifier="ada@example.com", code=second, requester=SHOPPER)

    assert first != second  # two fresh random codes (one chance in a million of a clash)
    earlier, newer = OneTimeCode.objects.order_by("created_at")
    assert (earlier.invalidated_at, earlier.consumed_at) == (later, None)
    assert (newer.invalidated_at, newer.consumed_at, newer.attempts) == (None, later, 1)
    assert consumer.email == "ada@example.com"
    assert SandboxMessage.objects.count() == 2


def test_only_five_codes_an_hour_are_sent_to_one_address_from_one_client(
    request_code: RequestCode, django_capture_on_commit_callbacks: Any
) -> None:
    start = clock.real_now()
    for minute in range(5):
        with time_machine.travel(start + dt.timedelta(seconds=61 * minute), tick=False):
            request_code("ada@example.com")
    before = row_counts()

    with (
        time_machine.travel(start + dt.timedelta(seconds=61 * 5), tick=False),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RateLimitError) as raised,
    ):
        one_time_code_request(identifier="ada@example.com", requester=SHOPPER)

    assert (raised.value.code, raised.value.param) == ("code_hourly_limit", "identifier")
    # The window opened with the first code, 5 minutes 5 seconds ago.
    assert raised.value.message == "Too many codes were sent to this address in the last hour. Try again in 55 minutes."
    assert raised.value.retry_after == 3600 - 61 * 5
    assert callbacks == []
    assert row_counts() == before
    assert OneTimeCode.objects.filter(invalidated_at__isnull=True).count() == 1  # the fifth still stands


def test_the_hourly_limit_is_per_address_and_lifts_when_the_hour_has_passed(request_code: RequestCode) -> None:
    start = clock.real_now()
    for minute in range(5):
        with time_machine.travel(start + dt.timedelta(seconds=61 * minute), tick=False):
            request_code("ada@example.com")

    with time_machine.travel(start + dt.timedelta(seconds=61 * 5), tick=False):
        request_code("grace@example.com")
    with time_machine.travel(start + dt.timedelta(hours=1, seconds=1), tick=False):
        code = request_code("ada@example.com")
        consumer = one_time_code_verify(identifier="ada@example.com", code=code, requester=SHOPPER)

    assert consumer.email == "ada@example.com"
    assert OneTimeCode.objects.filter(destination="ada@example.com").count() == 6
    assert OneTimeCode.objects.filter(destination="grace@example.com").count() == 1


# --- Verifying a code -------------------------------------------------------------------------


def test_the_right_code_signs_up_a_new_consumer(request_code: RequestCode) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        code = request_code("ada@example.com")
        consumer = one_time_code_verify(identifier="Ada@Example.com", code=f" {code} ", requester=SHOPPER)

    consumer.refresh_from_db()
    assert Consumer.objects.get() == consumer
    assert consumer.public_id.startswith("con_")
    assert (consumer.email, consumer.phone, consumer.status) == ("ada@example.com", None, "active")
    assert (consumer.email_verified_at, consumer.phone_verified_at) == (start, None)
    assert consumer.last_sign_in_at == start
    assert OneTimeCode.objects.get().consumed_at == start
    data = expected_data(consumer, email_verified=True, phone_verified=False)
    events = Event.objects.order_by("id")
    assert [
        (event.type, event.object_type, event.object_id, event.merchant_id, event.livemode, event.data)
        for event in events
    ] == [
        ("consumer.created", "consumers.consumer", consumer.public_id, None, False, data),
        ("consumer.signed_in", "consumers.consumer", consumer.public_id, None, False, data),
    ]
    audit = AuditLogEntry.objects.order_by("id").values_list(
        "action", "actor_kind", "actor_identifier", "actor_label", "object_type", "object_id", "before", "after"
    )
    assert list(audit) == [
        (
            "consumer.created",
            "consumer",
            consumer.public_id,
            "Consumer",
            "consumers.consumer",
            consumer.public_id,
            None,
            data,
        ),
        (
            "consumer.signed_in",
            "consumer",
            consumer.public_id,
            "Consumer",
            "consumers.consumer",
            consumer.public_id,
            None,
            data,
        ),
    ]


def test_a_phone_number_signs_up_with_the_phone_verified(request_code: RequestCode) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        code = request_code("(415) 555-2671")
        consumer = one_time_code_verify(identifier="415.555.2671", code=code, requester=SHOPPER)

    consumer.refresh_from_db()
    assert (consumer.email, consumer.phone) == (None, "+14155552671")
    assert (consumer.email_verified_at, consumer.phone_verified_at, consumer.last_sign_in_at) == (None, start, start)
    data = expected_data(consumer, email_verified=False, phone_verified=True)
    assert list(Event.objects.order_by("id").values_list("type", "data")) == [
        ("consumer.created", data),
        ("consumer.signed_in", data),
    ]


def test_the_right_code_signs_in_an_existing_consumer_without_creating_another(request_code: RequestCode) -> None:
    existing = make_consumer(email="ada@example.com")
    start = clock.real_now() + dt.timedelta(minutes=5)
    assert existing.email_verified_at is None

    with time_machine.travel(start, tick=False):
        code = request_code("ADA@example.com")
        consumer = one_time_code_verify(identifier="ada@example.com", code=code, requester=SHOPPER)

    consumer.refresh_from_db()
    assert Consumer.objects.get() == consumer
    assert consumer.pk == existing.pk
    assert (consumer.email_verified_at, consumer.last_sign_in_at) == (start, start)
    assert consumer.created_at == existing.created_at
    assert consumer_events() == [
        ("consumer.created", existing.public_id),
        ("consumer.signed_in", existing.public_id),
    ]
    assert AuditLogEntry.objects.filter(action="consumer.signed_in", object_id=existing.public_id).count() == 1


def test_a_second_sign_in_keeps_the_first_verification_time(request_code: RequestCode) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        one_time_code_verify(identifier="ada@example.com", code=request_code("ada@example.com"), requester=SHOPPER)
    later = start + dt.timedelta(minutes=2)

    with time_machine.travel(later, tick=False):
        consumer = one_time_code_verify(
            identifier="ada@example.com", code=request_code("ada@example.com"), requester=SHOPPER
        )

    consumer.refresh_from_db()
    assert (consumer.email_verified_at, consumer.last_sign_in_at) == (start, later)
    assert [event_type for event_type, _ in consumer_events()] == [
        "consumer.created",
        "consumer.signed_in",
        "consumer.signed_in",
    ]


def test_a_wrong_code_is_counted_and_says_how_many_attempts_remain(request_code: RequestCode) -> None:
    code = request_code("ada@example.com")
    wrong = another_code(code)
    before = row_counts()
    messages = []

    for _ in range(4):
        with pytest.raises(InvalidRequestError) as raised:
            one_time_code_verify(identifier="ada@example.com", code=wrong, requester=SHOPPER)
        assert (raised.value.code, raised.value.param) == ("code_incorrect", "code")
        messages.append(raised.value.message)

    assert messages == [
        "That code is not right. 4 attempts left.",
        "That code is not right. 3 attempts left.",
        "That code is not right. 2 attempts left.",
        "That code is not right. 1 attempt left.",
    ]
    one_time_code = OneTimeCode.objects.get()
    assert (one_time_code.attempts, one_time_code.consumed_at, one_time_code.invalidated_at) == (4, None, None)
    assert row_counts() == before  # no consumer, no event, no audit row


def test_the_right_code_still_works_after_four_wrong_attempts(request_code: RequestCode) -> None:
    code = request_code("ada@example.com")
    for _ in range(4):
        with pytest.raises(InvalidRequestError):
            one_time_code_verify(identifier="ada@example.com", code=another_code(code), requester=SHOPPER)

    consumer = one_time_code_verify(identifier="ada@example.com", code=code, requester=SHOPPER)

    assert consumer.email == "ada@example.com"
    assert OneTimeCode.objects.get().attempts == 4


def test_the_fifth_wrong_attempt_burns_the_code_and_then_even_the_right_code_fails(request_code: RequestCode) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        code = request_code("ada@example.com")
        for _ in range(4):
            with pytest.raises(InvalidRequestError):
                one_time_code_verify(identifier="ada@example.com", code=another_code(code), requester=SHOPPER)
    before = row_counts()

    with time_machine.travel(start + dt.timedelta(seconds=30), tick=False):
        with pytest.raises(InvalidRequestError) as fifth:
            one_time_code_verify(identifier="ada@example.com", code=another_code(code), requester=SHOPPER)
        with pytest.raises(InvalidRequestError) as right:
            one_time_code_verify(identifier="ada@example.com", code=code, requester=SHOPPER)

    assert (fifth.value.code, fifth.value.param) == ("code_attempts_exceeded", "code")
    assert fifth.value.message == "Too many wrong attempts. Ask for a new code."
    # The burnt code keeps saying why it no longer works.
    assert (right.value.code, right.value.param) == ("code_attempts_exceeded", "code")
    assert right.value.message == "Too many wrong attempts. Ask for a new code."
    one_time_code = OneTimeCode.objects.get()
    assert one_time_code.attempts == 5
    assert one_time_code.invalidated_at == start + dt.timedelta(seconds=30)
    assert one_time_code.consumed_at is None
    assert row_counts() == before


def test_after_a_lockout_a_new_code_can_be_requested_and_works(request_code: RequestCode) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        code = request_code("ada@example.com")
        for _ in range(5):
            with pytest.raises(InvalidRequestError):
                one_time_code_verify(identifier="ada@example.com", code=another_code(code), requester=SHOPPER)

    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        consumer = one_time_code_verify(
            identifier="ada@example.com", code=request_code("ada@example.com"), requester=SHOPPER
        )

    assert consumer.email == "ada@example.com"


def test_a_code_still_works_one_second_before_it_expires(request_code: RequestCode) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        code = request_code("ada@example.com")

    with time_machine.travel(start + dt.timedelta(minutes=10) - dt.timedelta(seconds=1), tick=False):
        consumer = one_time_code_verify(identifier="ada@example.com", code=code, requester=SHOPPER)

    assert consumer.email == "ada@example.com"


def test_an_expired_code_is_refused_and_invalidated(request_code: RequestCode) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        code = request_code("ada@example.com")
    before = row_counts()
    expiry = start + dt.timedelta(minutes=10)

    with time_machine.travel(expiry, tick=False), pytest.raises(InvalidRequestError) as raised:
        one_time_code_verify(identifier="ada@example.com", code=code, requester=SHOPPER)

    assert (raised.value.code, raised.value.param) == ("code_expired", "code")
    assert raised.value.message == "This code has expired. Ask for a new code."
    one_time_code = OneTimeCode.objects.get()
    assert (one_time_code.invalidated_at, one_time_code.consumed_at, one_time_code.attempts) == (expiry, None, 0)
    assert row_counts() == before


def test_an_expired_code_is_refused_however_late(request_code: RequestCode) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        code = request_code("ada@example.com")

    with time_machine.travel(start + dt.timedelta(hours=3), tick=False), pytest.raises(InvalidRequestError) as raised:
        one_time_code_verify(identifier="ada@example.com", code=code, requester=SHOPPER)

    assert raised.value.code == "code_expired"
    assert not Consumer.objects.exists()


def test_verifying_without_asking_for_a_code_is_refused(db: None) -> None:
    before = row_counts()

    with pytest.raises(InvalidRequestError) as raised:
        one_time_code_verify(identifier="ada@example.com", code="123456", requester=SHOPPER)

    assert (raised.value.code, raised.value.param) == ("code_not_requested", "code")
    assert raised.value.message == "No code is waiting for this address. Ask for a new code."
    assert row_counts() == before


def test_a_code_sent_to_another_address_does_not_verify_this_one(request_code: RequestCode) -> None:
    code = request_code("grace@example.com")
    before = row_counts()

    with pytest.raises(InvalidRequestError) as raised:
        one_time_code_verify(identifier="ada@example.com", code=code, requester=SHOPPER)

    assert raised.value.code == "code_not_requested"
    assert row_counts() == before
    assert OneTimeCode.objects.get().attempts == 0


@pytest.mark.parametrize("malformed", ["12ab", "1234567", "12345", "", "      ", "12 456", "12345a", "-12345"])
def test_a_malformed_code_is_refused_without_counting_an_attempt(request_code: RequestCode, malformed: str) -> None:
    request_code("ada@example.com")
    before = row_counts()

    with pytest.raises(InvalidRequestError) as raised:
        one_time_code_verify(identifier="ada@example.com", code=malformed, requester=SHOPPER)

    assert (raised.value.code, raised.value.param) == ("code_malformed", "code")
    assert raised.value.message == "Enter the 6-digit code we sent you."
    assert OneTimeCode.objects.get().attempts == 0
    assert row_counts() == before


# Regression: str.isdigit() accepts Arabic-Indic, superscript and fullwidth digits; the code check
# takes ASCII digits only, so these are malformed and do not burn an attempt.
@pytest.mark.parametrize(
    "malformed",
    [
        "\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic digits
        "\u00b2" * 6,  # superscript two
        "\uff11\uff12\uff13\uff14\uff15\uff16",  # fullwidth digits
    ],
)
def test_non_ascii_digits_are_malformed_and_do_not_burn_an_attempt(request_code: RequestCode, malformed: str) -> None:
    request_code("ada@example.com")

    with pytest.raises(InvalidRequestError) as raised:
        one_time_code_verify(identifier="ada@example.com", code=malformed, requester=SHOPPER)

    assert raised.value.code == "code_malformed"
    assert OneTimeCode.objects.get().attempts == 0


def test_an_invalid_identifier_is_refused_when_verifying(db: None) -> None:
    before = row_counts()

    with pytest.raises(InvalidRequestError) as raised:
        one_time_code_verify(identifier="not an email or a phone", code="123456", requester=SHOPPER)

    assert (raised.value.code, raised.value.param) == ("phone_invalid", "identifier")
    assert row_counts() == before


def test_a_code_works_only_once(request_code: RequestCode) -> None:
    code = request_code("ada@example.com")
    consumer = one_time_code_verify(identifier="ada@example.com", code=code, requester=SHOPPER)
    before = row_counts()

    with pytest.raises(InvalidRequestError) as raised:
        one_time_code_verify(identifier="ada@example.com", code=code, requester=SHOPPER)

    assert raised.value.code == "code_not_requested"
    assert row_counts() == before
    assert consumer_events() == [("consumer.created", consumer.public_id), ("consumer.signed_in", consumer.public_id)]


def test_a_blocked_consumer_cannot_sign_in_and_the_code_is_not_used_up(request_code: RequestCode) -> None:
    blocked = make_consumer(email="ada@example.com")
    Consumer.objects.filter(pk=blocked.pk).update(status=Consumer.Status.BLOCKED)
    code = request_code("ada@example.com")
    before = row_counts()

    with pytest.raises(PermissionDeniedError) as raised:
        one_time_code_verify(identifier="ada@example.com", code=code, requester=SHOPPER)

    assert raised.value.status_code == 403
    assert (raised.value.code, raised.value.message) == ("consumer_blocked", "This account is closed. Contact support.")
    blocked.refresh_from_db()
    assert (blocked.status, blocked.last_sign_in_at, blocked.email_verified_at) == ("blocked", None, None)
    assert OneTimeCode.objects.get().consumed_at is None
    assert consumer_events() == [("consumer.created", blocked.public_id)]
    assert row_counts() == before


def test_codes_a_day_past_expiry_are_purged(request_code: RequestCode) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        request_code("ada@example.com")
    with time_machine.travel(start + dt.timedelta(hours=2), tick=False):
        request_code("grace@example.com")

    with time_machine.travel(start + dt.timedelta(days=1, minutes=10), tick=False):
        assert one_time_codes_purge() == 0
    with time_machine.travel(start + dt.timedelta(days=1, minutes=11), tick=False):
        assert one_time_codes_purge() == 1

    assert list(OneTimeCode.objects.values_list("destination", flat=True)) == ["grace@example.com"]


# --- Concurrency (PostgreSQL: SQLite serialises every writer) -----------------------------------


def _in_parallel(count: int, call: Callable[[], Any]) -> list[Any]:
    """Run ``call`` in ``count`` threads released at once; each gives its result or its error."""
    barrier = threading.Barrier(count)

    def run(_: int) -> Any:
        barrier.wait()
        try:
            return call()
        except (ApplicationError, OperationalError) as error:  # a deadlock is reported, not raised
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


# Regression: the throttle once locked only existing code rows, so parallel first requests all
# passed it and each sent a code. The limits are now counted atomically in the cache
# (bnpl.core.ratelimit): exactly one of the parallel requests from one browser gets a code.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_requests_for_one_address_send_exactly_one_code() -> None:
    addresses = [f"shopper{round_number}@example.com" for round_number in range(5)]
    outcomes = {}

    for address in addresses:
        results = _in_parallel(10, lambda address=address: one_time_code_request(identifier=address, requester=SHOPPER))  # type: ignore[misc]
        outcomes[address] = sorted(
            "sent" if isinstance(result, Destination) else getattr(result, "code", type(result).__name__)
            for result in results
        )

    assert outcomes == dict.fromkeys(addresses, ["code_resend_too_soon"] * 9 + ["sent"])
    assert {address: OneTimeCode.objects.filter(destination=address).count() for address in addresses} == dict.fromkeys(
        addresses, 1
    )
    assert SandboxMessage.objects.count() == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_verifications_of_one_code_sign_up_exactly_one_consumer() -> None:
    one_time_code_request(identifier="ada@example.com", requester=SHOPPER)  # autocommit: delivered at once
    code = latest_code("ada@example.com")

    results = _in_parallel(10, lambda: one_time_code_verify(identifier="ada@example.com", code=code, requester=SHOPPER))

    signed_in = [result for result in results if isinstance(result, Consumer)]
    refused = [result for result in results if isinstance(result, ApplicationError)]
    assert len(signed_in) == 1
    assert {error.code for error in refused} == {"code_not_requested"}
    assert len(refused) == 9
    assert Consumer.objects.count() == 1
    assert [event_type for event_type, _ in consumer_events()] == ["consumer.created", "consumer.signed_in"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_attempts_never_exceed_the_limit(settings: Any) -> None:
    settings.ONE_TIME_CODE_FAILED_VERIFY_PER_CLIENT_PER_DAY = 100  # the per-code limit is tested here
    one_time_code_request(identifier="ada@example.com", requester=SHOPPER)
    wrong = another_code(latest_code("ada@example.com"))

    results = _in_parallel(
        12, lambda: one_time_code_verify(identifier="ada@example.com", code=wrong, requester=SHOPPER)
    )

    codes = sorted(error.code for error in results)
    assert codes == ["code_attempts_exceeded"] * 8 + ["code_incorrect"] * 4
    one_time_code = OneTimeCode.objects.get()
    assert one_time_code.attempts == 5
    assert one_time_code.invalidated_at is not None
