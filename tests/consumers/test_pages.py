"""The consumer pages as a browser uses them: sign in or up with a code, the portal, sign-out, the
sandbox inbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.http import HttpResponse
from django.test import Client

from bnpl.core import clock
from bnpl.core.models import AuditLogEntry, Event
from consumers.models import Consumer, OneTimeCode, SandboxMessage
from consumers.selectors import PENDING_IDENTIFIER_KEY, SESSION_KEY
from tests.consumers.conftest import another_code, latest_code
from tests.consumers.factories import make_consumer
from tests.helpers import row_counts

pytestmark = pytest.mark.django_db

SIGN_IN = "/account/sign-in"
VERIFY = "/account/verify"
RESEND = "/account/resend"
SIGN_OUT = "/account/sign-out"
PORTAL = "/account/"
PROFILE = "/account/profile"
INBOX = "/sandbox/inbox"

Post = Callable[..., HttpResponse]


@pytest.fixture
def post(django_capture_on_commit_callbacks: Any) -> Post:
    """POST through the test client and run what the request left for after commit (code delivery):
    the test database transaction never commits by itself."""

    def send(client: Client, path: str, data: dict[str, str] | None = None) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, data or {})

    return send


@pytest.fixture
def sign_in(post: Post) -> Callable[[Client, str], HttpResponse]:
    """The whole flow: ask for a code, read it from the sandbox inbox, enter it. Returns the last response."""

    def run(client: Client, identifier: str) -> HttpResponse:
        assert post(client, SIGN_IN, {"identifier": identifier}).status_code == 302
        address = client.session[PENDING_IDENTIFIER_KEY]
        return post(client, VERIFY, {"code": latest_code(address)})

    return run


def is_signed_in(client: Client) -> bool:
    return client.get(PORTAL).status_code == 200


# --- Signed out -------------------------------------------------------------------------------


def test_the_portal_redirects_to_sign_in_when_signed_out(client: Client) -> None:
    response = client.get(PORTAL)

    assert response.status_code == 302
    assert response["Location"] == "/account/sign-in?next=/account/"


def test_the_sign_in_page_asks_for_an_email_or_a_mobile_number(client: Client) -> None:
    response = client.get(SIGN_IN)

    assert response.status_code == 200
    content = response.content.decode()
    assert "<h1>Sign in or sign up</h1>" in content
    assert '<label for="id_identifier">Email or mobile number</label>' in content


def test_verify_without_a_pending_sign_in_goes_back_to_sign_in(client: Client) -> None:
    response = client.get(VERIFY)

    assert response.status_code == 302
    assert response["Location"] == SIGN_IN


def test_resend_without_a_pending_sign_in_goes_back_to_sign_in_and_sends_nothing(client: Client, post: Post) -> None:
    before = row_counts()

    response = post(client, RESEND)

    assert response.status_code == 302
    assert response["Location"] == SIGN_IN
    assert row_counts() == before


# --- The sign-in flow -------------------------------------------------------------------------


def test_signing_up_through_the_pages_lands_on_the_portal_showing_the_email(client: Client, post: Post) -> None:
    asked = post(client, SIGN_IN, {"identifier": " Ada@Example.com "})

    assert asked.status_code == 302
    assert asked["Location"] == VERIFY
    verify_page = client.get(VERIFY)
    assert verify_page.status_code == 200
    assert "We sent a 6-digit code to <strong>ada@example.com</strong>." in verify_page.content.decode()

    verified = post(client, VERIFY, {"code": latest_code("ada@example.com")})

    assert verified.status_code == 302
    assert verified["Location"] == PORTAL
    consumer = Consumer.objects.get()
    assert consumer.email == "ada@example.com"
    assert client.session[SESSION_KEY] == consumer.public_id
    assert PENDING_IDENTIFIER_KEY not in client.session
    assert client.get(PORTAL).status_code == 200
    profile = client.get(PROFILE)
    assert profile.status_code == 200
    content = profile.content.decode()
    assert f"<code>{consumer.public_id}</code>" in content
    assert '<td>ada@example.com <span class="badge active">verified</span></td>' in content
    request_id = verified["X-Request-Id"]
    assert list(Event.objects.order_by("id").values_list("type", "request_id")) == [
        ("consumer.created", request_id),
        ("consumer.signed_in", request_id),
    ]
    assert list(AuditLogEntry.objects.order_by("id").values_list("action", "actor_identifier", "request_id")) == [
        ("consumer.created", consumer.public_id, request_id),
        ("consumer.signed_in", consumer.public_id, request_id),
    ]


def test_signing_in_with_a_phone_number_shows_the_phone_on_the_portal(client: Client, sign_in: Any) -> None:
    response = sign_in(client, "(415) 555-2671")

    assert response["Location"] == PORTAL
    content = client.get(PROFILE).content.decode()
    assert '<td>+14155552671 <span class="badge active">verified</span></td>' in content
    assert Consumer.objects.get().phone == "+14155552671"


def test_an_existing_consumer_signs_in_to_their_own_account(client: Client, sign_in: Any) -> None:
    existing = make_consumer(email="ada@example.com")

    sign_in(client, "ADA@example.com")

    assert Consumer.objects.get() == existing
    assert client.session[SESSION_KEY] == existing.public_id
    assert f"<code>{existing.public_id}</code>" in client.get(PROFILE).content.decode()


def test_the_session_key_changes_at_sign_in_so_a_planted_session_is_useless(
    client: Client, post: Post, settings: Any
) -> None:
    post(client, SIGN_IN, {"identifier": "ada@example.com"})
    planted_key = client.session.session_key

    post(client, VERIFY, {"code": latest_code("ada@example.com")})

    signed_in_key = client.session.session_key
    assert signed_in_key != planted_key
    assert not Session.objects.filter(session_key=planted_key).exists()
    attacker = Client()
    attacker.cookies[settings.SESSION_COOKIE_NAME] = str(planted_key)
    assert attacker.get(PORTAL).status_code == 302
    assert is_signed_in(client)


# --- Errors render on the page ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("not a phone", "&#x27;not a phone&#x27; is not a valid phone number."),
        ("ada@", "&#x27;ada@&#x27; is not a valid email address."),
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("1" * 300, "Ensure this value has at most 254 characters (it has 300)."),
    ],
)
def test_an_invalid_identifier_renders_the_error_with_status_400(
    client: Client, post: Post, identifier: str, message: str
) -> None:
    before = row_counts()

    response = post(client, SIGN_IN, {"identifier": identifier})

    assert response.status_code == 400
    content = response.content.decode()
    assert f'<ul class="errorlist" id="identifier-error" role="alert"><li>{message}</li></ul>' in content
    assert 'aria-invalid="true"' in content
    assert PENDING_IDENTIFIER_KEY not in client.session
    assert row_counts() == before


def test_a_wrong_code_renders_the_remaining_attempts_with_status_400(client: Client, post: Post) -> None:
    post(client, SIGN_IN, {"identifier": "ada@example.com"})
    before = row_counts()

    response = post(client, VERIFY, {"code": another_code(latest_code("ada@example.com"))})

    assert response.status_code == 400
    assert "<li>That code is not right. 4 attempts left.</li>" in response.content.decode()
    assert OneTimeCode.objects.get().attempts == 1
    assert row_counts() == before
    assert SESSION_KEY not in client.session
    assert not is_signed_in(client)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("12ab", "Ensure this value has at least 6 characters (it has 4)."),
        ("1234567", "Ensure this value has at most 6 characters (it has 7)."),
        ("", "This field is required."),
        ("12ab56", "Enter the 6-digit code we sent you."),
    ],
)
def test_a_malformed_code_renders_the_error_with_status_400_and_costs_no_attempt(
    client: Client, post: Post, code: str, message: str
) -> None:
    post(client, SIGN_IN, {"identifier": "ada@example.com"})
    before = row_counts()

    response = post(client, VERIFY, {"code": code})

    assert response.status_code == 400
    assert f'<ul class="errorlist" id="code-error" role="alert"><li>{message}</li></ul>' in response.content.decode()
    assert OneTimeCode.objects.get().attempts == 0
    assert row_counts() == before


def test_an_expired_code_renders_the_error_with_status_400(client: Client, post: Post) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        post(client, SIGN_IN, {"identifier": "ada@example.com"})

    with time_machine.travel(start + dt.timedelta(minutes=11), tick=False):
        response = post(client, VERIFY, {"code": latest_code("ada@example.com")})

    assert response.status_code == 400
    assert "<li>This code has expired. Ask for a new code.</li>" in response.content.decode()
    assert not Consumer.objects.exists()


def test_a_blocked_consumer_sees_the_account_is_closed(client: Client, post: Post) -> None:
    blocked = make_consumer(email="ada@example.com")
    Consumer.objects.filter(pk=blocked.pk).update(status=Consumer.Status.BLOCKED)
    post(client, SIGN_IN, {"identifier": "ada@example.com"})

    response = post(client, VERIFY, {"code": latest_code("ada@example.com")})

    assert response.status_code == 400
    assert "<li>This account is closed. Contact support.</li>" in response.content.decode()
    assert SESSION_KEY not in client.session
    assert not Event.objects.filter(type="consumer.signed_in").exists()


def test_blocking_a_signed_in_consumer_ends_their_access(client: Client, sign_in: Any) -> None:
    sign_in(client, "ada@example.com")

    Consumer.objects.update(status=Consumer.Status.BLOCKED)

    response = client.get(PORTAL)
    assert response.status_code == 302
    assert response["Location"] == "/account/sign-in?next=/account/"


# --- Resend -----------------------------------------------------------------------------------


def test_the_resend_button_shows_the_throttle_message_then_sends_a_new_code(client: Client, post: Post) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        post(client, SIGN_IN, {"identifier": "ada@example.com"})
        first = latest_code("ada@example.com")

    with time_machine.travel(start + dt.timedelta(seconds=20.5), tick=False):
        too_soon = post(client, RESEND)
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        resent = post(client, RESEND)
        resent_page = client.get(VERIFY).content.decode()
        second = latest_code("ada@example.com")
        verified = post(client, VERIFY, {"code": second})

    # Refused by a rate limit: 429, the verify page with the message, and when to retry.
    assert (too_soon.status_code, too_soon["Retry-After"]) == (429, "40")
    assert '<li class="error">A code was just sent. You can ask for another in 40 seconds.</li>' in (
        too_soon.content.decode()
    )
    assert (resent.status_code, resent["Location"]) == (302, VERIFY)
    assert '<li class="success">A new code is on its way.</li>' in resent_page
    assert "A code was just sent" not in resent_page
    assert first != second  # two fresh random codes (one chance in a million of a clash)
    assert SandboxMessage.objects.count() == 2
    assert verified["Location"] == PORTAL


def test_a_throttled_resend_writes_nothing(client: Client, post: Post) -> None:
    post(client, SIGN_IN, {"identifier": "ada@example.com"})
    before = row_counts()

    post(client, RESEND)

    assert row_counts() == before
    assert OneTimeCode.objects.get().invalidated_at is None


def test_asking_again_on_the_sign_in_page_too_soon_shows_the_throttle_message(client: Client, post: Post) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        post(client, SIGN_IN, {"identifier": "ada@example.com"})
    before = row_counts()

    with time_machine.travel(start + dt.timedelta(seconds=50.5), tick=False):
        response = post(client, SIGN_IN, {"identifier": "ada@example.com"})

    assert (response.status_code, response["Retry-After"]) == (429, "10")
    assert "<li>A code was just sent. You can ask for another in 10 seconds.</li>" in response.content.decode()
    assert row_counts() == before


def test_coming_back_within_the_resend_window_offers_the_code_already_sent(client: Client, post: Post) -> None:
    # Issue 17 item 4: no dead end. Back on the sign-in page (the back button, or "use a different
    # email" and then the same one) while the first code still works, the page offers to enter it.
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        post(client, SIGN_IN, {"identifier": "Ada@Example.com"})
        first = latest_code("ada@example.com")

    with time_machine.travel(start + dt.timedelta(seconds=20.5), tick=False):
        back = client.get(SIGN_IN).content.decode()
        again = post(client, SIGN_IN, {"identifier": "ada@example.com"})
        entered = client.get(VERIFY).content.decode()
        verified = post(client, VERIFY, {"code": first})

    offer = '<a class="button wide" href="/account/verify" id="enter-code">Enter the code we sent</a>'
    assert offer in back and "<strong>ada@example.com</strong>" in back
    assert again.status_code == 429 and offer in again.content.decode()
    assert "You can ask for a new one in 40 seconds." in again.content.decode()
    assert "<strong>ada@example.com</strong>" in entered
    assert SandboxMessage.objects.count() == 1  # nothing more was sent
    assert verified["Location"] == PORTAL


def test_the_sign_in_page_offers_no_code_to_a_browser_that_asked_for_none(client: Client) -> None:
    assert 'id="enter-code"' not in client.get(SIGN_IN).content.decode()


def test_another_browser_asking_for_the_same_address_neither_waits_nor_replaces_the_first_code(
    client: Client, post: Post
) -> None:
    # Changed on purpose (security review, issue 13 item 5): the resend interval and the code
    # belong to the browser session, so someone else asking for ada's address cannot hold her back.
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        post(client, SIGN_IN, {"identifier": "ada@example.com"})
        first = latest_code("ada@example.com")

    with time_machine.travel(start + dt.timedelta(seconds=50.5), tick=False):
        elsewhere = post(Client(), SIGN_IN, {"identifier": "ada@example.com"})
        verified = post(client, VERIFY, {"code": first})

    assert (elsewhere.status_code, elsewhere["Location"]) == (302, VERIFY)
    assert SandboxMessage.objects.count() == 2
    assert verified["Location"] == PORTAL


# --- Sign-out ---------------------------------------------------------------------------------


def test_sign_out_ends_the_session(client: Client, sign_in: Any) -> None:
    sign_in(client, "ada@example.com")
    signed_in_key = client.session.session_key

    response = client.post(SIGN_OUT)

    assert response.status_code == 302
    assert response["Location"] == SIGN_IN
    assert SESSION_KEY not in client.session
    assert client.session.session_key != signed_in_key
    assert not Session.objects.filter(session_key=signed_in_key).exists()
    assert not is_signed_in(client)


def test_sign_out_refuses_a_get_so_a_link_cannot_sign_anyone_out(client: Client, sign_in: Any) -> None:
    sign_in(client, "ada@example.com")

    response = client.get(SIGN_OUT)

    assert response.status_code == 405
    assert is_signed_in(client)


# --- ?next= -----------------------------------------------------------------------------------


@pytest.mark.parametrize("next_url", ["/account/", "/account/?tab=orders", "http://testserver/account/"])
def test_next_is_honoured_for_a_url_on_this_host(client: Client, sign_in: Any, next_url: str) -> None:
    client.get(SIGN_IN, {"next": next_url})

    response = sign_in(client, "ada@example.com")

    assert response.status_code == 302
    assert response["Location"] == next_url


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example.com/",
        "//evil.example.com/account/",
        "http://evil.example.com/account/",
        "https:evil.example.com",
        "/\\evil.example.com",
        "javascript:alert(1)",
    ],
)
def test_an_external_next_falls_back_to_the_portal(client: Client, sign_in: Any, next_url: str) -> None:
    client.get(SIGN_IN, {"next": next_url})

    response = sign_in(client, "ada@example.com")

    assert response.status_code == 302
    assert response["Location"] == PORTAL


# Regression: the next URL was put in the sign-in query string unencoded, losing the page's own query.
def test_a_signed_out_visit_comes_back_to_the_same_url_after_sign_in(client: Client, sign_in: Any) -> None:
    redirect = client.get("/account/?tab=orders&page=2")
    location = urlsplit(redirect["Location"])
    assert (location.path, parse_qs(location.query)) == (SIGN_IN, {"next": ["/account/?tab=orders&page=2"]})

    client.get(redirect["Location"])
    response = sign_in(client, "ada@example.com")

    assert response["Location"] == "/account/?tab=orders&page=2"


# --- The sandbox inbox ------------------------------------------------------------------------


def test_the_sandbox_inbox_lists_every_message_newest_first(client: Client, post: Post) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False):
        post(client, SIGN_IN, {"identifier": "ada@example.com"})
    with time_machine.travel(start + dt.timedelta(seconds=1), tick=False):
        post(Client(), SIGN_IN, {"identifier": "(415) 555-2671"})

    response = client.get(INBOX)

    assert response.status_code == 200
    content = response.content.decode()
    ada = f"Your verification code is {latest_code('ada@example.com')}. It expires in 10 minutes. Never share it."
    phone = f"Your verification code is {latest_code('+14155552671')}. It expires in 10 minutes. Never share it."
    assert '<td>ada@example.com <span class="badge">email</span></td>' in content
    assert '<td>+14155552671 <span class="badge">sms</span></td>' in content
    assert content.index(phone) < content.index(ada)


def test_the_sandbox_inbox_filters_by_destination(client: Client, post: Post) -> None:
    post(client, SIGN_IN, {"identifier": "ada@example.com"})
    post(Client(), SIGN_IN, {"identifier": "grace@example.com"})
    ada = latest_code("ada@example.com")
    grace = latest_code("grace@example.com")

    response = client.get(INBOX, {"to": " ADA@example.com "})

    content = response.content.decode()
    assert response.status_code == 200
    assert f"Your verification code is {ada}." in content
    assert f"Your verification code is {grace}." not in content
    assert "grace@example.com" not in content
    assert 'value="ADA@example.com"' in content


def test_the_sandbox_inbox_filters_by_phone_number(client: Client, post: Post) -> None:
    post(client, SIGN_IN, {"identifier": "(415) 555-2671"})
    post(Client(), SIGN_IN, {"identifier": "ada@example.com"})

    response = client.get(INBOX, {"to": "+14155552671"})

    content = response.content.decode()
    assert f"Your verification code is {latest_code('+14155552671')}." in content
    assert "ada@example.com" not in content


def test_the_sandbox_inbox_says_when_nothing_was_sent(client: Client, post: Post) -> None:
    post(client, SIGN_IN, {"identifier": "ada@example.com"})

    response = client.get(INBOX, {"to": "nobody@example.com"})

    content = response.content.decode()
    assert '<td colspan="3" class="muted">No messages yet.</td>' in content
    assert "Your verification code is" not in content


def test_the_sandbox_inbox_does_not_exist_outside_the_sandbox(client: Client, post: Post, settings: Any) -> None:
    post(client, SIGN_IN, {"identifier": "ada@example.com"})
    code = latest_code("ada@example.com")
    settings.BNPL_SANDBOX = False

    response = client.get(INBOX)

    assert response.status_code == 404
    assert code not in response.content.decode()


def test_a_nul_byte_in_the_inbox_filter_is_ignored_rather_than_an_error(client: Client, post: Post) -> None:
    post(client, SIGN_IN, {"identifier": "ada@example.com"})

    response = client.get(INBOX, {"to": "ada@example.com\x00"})

    assert response.status_code == 200
    assert f"Your verification code is {latest_code('ada@example.com')}." in response.content.decode()
