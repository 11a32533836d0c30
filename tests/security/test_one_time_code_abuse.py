"""Security review, issue 13 item 5 (first part): sign-in abuse with one-time codes.

Codes were limited only per destination, so a stranger who knew a shopper's address could lock
the shopper out: asking for a code replaced the shopper's, used up the shopper's hourly quota, and
wrong guesses burned it. Now a code belongs to the browser session that asked for it, quotas are
counted per (destination, client) as well as per destination, address and platform, and a browser
that signed in before is recognized (consumers.services explains the design and its bounds).

These tests play it through the pages, each browser a test client from its own address."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client

from bnpl.core import clock
from consumers.models import Consumer, SandboxMessage
from consumers.views import DEVICE_COOKIE
from tests.consumers.conftest import another_code, latest_code

pytestmark = pytest.mark.django_db

SIGN_IN = "/account/sign-in"
VERIFY = "/account/verify"
RESEND = "/account/resend"
SIGN_OUT = "/account/sign-out"
PORTAL = "/account/"
VICTIM = "ada@example.com"
VICTIM_ADDRESS = "198.51.100.7"


@pytest.fixture
def start() -> Iterator[dt.datetime]:
    """The clock stands still (each test moves it on purpose)."""
    moment = clock.real_now()
    with time_machine.travel(moment, tick=False):
        yield moment


@pytest.fixture
def post(django_capture_on_commit_callbacks: Any) -> Any:
    """POST and deliver what the request left for after commit (the code)."""

    def send(client: Client, path: str, data: dict[str, str] | None = None) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, data or {})

    return send


def browser(address: str) -> Client:
    return Client(REMOTE_ADDR=address)


def is_signed_in(client: Client) -> bool:
    return bool(client.get(PORTAL).status_code == 200)


def stranger_hammers(post: Any, address: str, *, destination: str = VICTIM) -> tuple[list[int], list[int]]:
    """A stranger at ``address`` asks for codes to ``destination`` from fresh browsers until
    refused, entering wrong codes in each until those are refused too: the status of every request
    and of every guess."""
    requests: list[int] = []
    guesses: list[int] = []
    while True:
        stranger = browser(address)
        asked = post(stranger, SIGN_IN, {"identifier": destination})
        requests.append(asked.status_code)
        if asked.status_code != 302:
            return requests, guesses
        own_code = latest_code(destination)  # the stranger's own code is the newest sent: guess anything else
        for _ in range(5):
            if guesses[-1:] == [429]:
                break
            guesses.append(post(stranger, VERIFY, {"code": another_code(own_code)}).status_code)


def test_a_stranger_at_two_addresses_cannot_lock_the_shopper_out(post: Any, start: dt.datetime) -> None:
    shopper = browser(VICTIM_ADDRESS)
    post(shopper, SIGN_IN, {"identifier": VICTIM})
    shoppers_code = latest_code(VICTIM)

    # A minute later (past any resend interval) a stranger sets to work from two addresses...
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        hammering = [stranger_hammers(post, address) for address in ("203.0.113.1", "203.0.113.2")]
    # ...and a few minutes in, the shopper enters the code she received.
    with time_machine.travel(start + dt.timedelta(minutes=5), tick=False):
        entered = post(shopper, VERIFY, {"code": shoppers_code})

    # Her code was neither replaced nor used up: it signs her in.
    assert (entered.status_code, entered["Location"]) == (302, PORTAL)
    assert is_signed_in(shopper)
    assert Consumer.objects.get().email == VICTIM
    # Each stranger address met its own caps: 5 codes an hour, 10 wrong codes a day for this address.
    for requests, guesses in hammering:
        assert requests == [302] * 5 + [429]
        assert guesses == [400] * 10 + [429]


def test_a_stranger_asking_every_minute_does_not_spend_the_shoppers_quota(post: Any, start: dt.datetime) -> None:
    shopper = browser(VICTIM_ADDRESS)
    post(shopper, SIGN_IN, {"identifier": VICTIM})
    # Once a minute, as often as any resend interval allows, a stranger asks for codes to her
    # address from fresh browsers at two addresses, then guesses at the codes.
    for minute in range(1, 9):
        with time_machine.travel(start + dt.timedelta(seconds=61 * minute), tick=False):
            stranger = browser(f"203.0.113.{minute % 2 + 1}")
            post(stranger, SIGN_IN, {"identifier": VICTIM})
            post(stranger, VERIFY, {"code": another_code(latest_code(VICTIM))})

    sent_before = SandboxMessage.objects.count()
    with time_machine.travel(start + dt.timedelta(seconds=61 * 9), tick=False):
        resent = post(shopper, RESEND)
        sent_to_her = SandboxMessage.objects.count() - sent_before
        entered = post(shopper, VERIFY, {"code": latest_code(VICTIM)})

    assert sent_to_her == 1
    assert (resent.status_code, resent["Location"]) == (302, VERIFY)
    assert (entered.status_code, entered["Location"]) == (302, PORTAL)
    assert sent_before == 9  # hers and the stranger's eight: none of them spent her quota


def test_a_returning_shopper_signs_in_however_many_addresses_a_stranger_uses(post: Any, start: dt.datetime) -> None:
    shopper = browser(VICTIM_ADDRESS)
    post(shopper, SIGN_IN, {"identifier": VICTIM})
    post(shopper, VERIFY, {"code": latest_code(VICTIM)})
    assert DEVICE_COOKIE in shopper.cookies
    shopper.post(SIGN_OUT)

    with time_machine.travel(start + dt.timedelta(minutes=5), tick=False):
        for index in range(10):
            stranger_hammers(post, f"203.0.113.{index + 1}")
        # The destination's own caps are spent: a browser that never signed in to it is refused...
        new_browser = post(browser("192.0.2.80"), SIGN_IN, {"identifier": VICTIM})
        # ...but the shopper's own browser is recognized and signs in.
        asked = post(shopper, SIGN_IN, {"identifier": VICTIM})
        entered = post(shopper, VERIFY, {"code": latest_code(VICTIM)})

    assert new_browser.status_code == 429
    assert (asked.status_code, entered.status_code, entered["Location"]) == (302, 302, PORTAL)
    assert is_signed_in(shopper)


def test_a_forged_device_cookie_is_not_recognized(post: Any, start: dt.datetime, settings: Any) -> None:
    settings.ONE_TIME_CODE_MAX_PER_DESTINATION_PER_HOUR = 1
    post(browser("203.0.113.1"), SIGN_IN, {"identifier": VICTIM})
    forger = browser("203.0.113.2")
    forger.cookies[DEVICE_COOKIE] = "0" * 32  # unsigned

    refused = post(forger, SIGN_IN, {"identifier": VICTIM})

    assert refused.status_code == 429


def test_the_daily_wrong_code_budget_of_a_destination_bites_whatever_the_address(post: Any, start: dt.datetime) -> None:
    # Three addresses spend 10 wrong codes each: the destination's 30 for the day.
    for address in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        _, guesses = stranger_hammers(post, address)
        assert guesses == [400] * 10 + [429]
    # An hour on, the destination may be sent codes again, from a fourth address.
    an_hour_on = start + dt.timedelta(hours=1, seconds=1)
    with time_machine.travel(an_hour_on, tick=False):
        fourth = browser("203.0.113.4")
        asked = post(fourth, SIGN_IN, {"identifier": VICTIM})
        # Even the right code is not compared any more: the 31st guess of the day would be a guess.
        refused = post(fourth, VERIFY, {"code": latest_code(VICTIM)})
    nobody_signed_in = not Consumer.objects.exists()
    with time_machine.travel(start + dt.timedelta(days=1, seconds=1), tick=False):
        fresh = browser("203.0.113.4")
        post(fresh, SIGN_IN, {"identifier": VICTIM})
        next_day = post(fresh, VERIFY, {"code": latest_code(VICTIM)})

    assert asked.status_code == 302
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(86400 - 3601)  # the day opened with the first wrong code
    assert "Too many wrong codes were entered for this address. Try again in 23 hours." in refused.content.decode()
    assert nobody_signed_in
    assert next_day["Location"] == PORTAL


def test_one_address_gets_at_most_ten_wrong_codes_a_day_at_one_destination(post: Any, start: dt.datetime) -> None:
    requests, guesses = stranger_hammers(post, "203.0.113.1")

    with time_machine.travel(start + dt.timedelta(hours=1, seconds=1), tick=False):
        later_requests, later_guesses = stranger_hammers(post, "203.0.113.1")

    assert (requests, guesses) == ([302] * 5 + [429], [400] * 10 + [429])
    # An hour on, new codes come again, but the day's wrong-code budget for this address is spent.
    assert (later_requests, later_guesses) == ([302] * 5 + [429], [429])


def test_codes_asked_for_from_one_address_are_limited_across_destinations(
    post: Any, start: dt.datetime, settings: Any
) -> None:
    settings.ONE_TIME_CODE_MAX_PER_ADDRESS_PER_HOUR = 3
    statuses = [
        post(browser("203.0.113.1"), SIGN_IN, {"identifier": f"shopper{index}@example.com"}).status_code
        for index in range(4)
    ]
    elsewhere = post(browser("203.0.113.2"), SIGN_IN, {"identifier": "shopper9@example.com"})

    refused = post(browser("203.0.113.1"), SIGN_IN, {"identifier": "shopper8@example.com"})
    assert statuses == [302, 302, 302, 429]
    assert refused.status_code == 429
    assert refused["Retry-After"] == "3600"
    assert "Too many codes were asked for from your network. Try again in 60 minutes." in refused.content.decode()
    assert elsewhere.status_code == 302
    assert SandboxMessage.objects.count() == 4


def test_codes_entered_from_one_address_are_limited_across_destinations(
    post: Any, start: dt.datetime, settings: Any
) -> None:
    settings.ONE_TIME_CODE_VERIFY_PER_ADDRESS_PER_HOUR = 3
    statuses = []
    for index in range(4):
        client = browser("203.0.113.1")
        post(client, SIGN_IN, {"identifier": f"shopper{index}@example.com"})
        statuses.append(post(client, VERIFY, {"code": latest_code(f"shopper{index}@example.com")}).status_code)

    assert statuses == [302, 302, 302, 429]
    assert Consumer.objects.count() == 3


def test_the_platform_wide_limit_on_codes_sent_bites_and_lifts_after_the_minute(
    post: Any, start: dt.datetime, settings: Any
) -> None:
    settings.ONE_TIME_CODE_GLOBAL_PER_MINUTE = 3
    statuses = [
        post(browser(f"203.0.113.{index + 1}"), SIGN_IN, {"identifier": f"+1415555267{index}"}).status_code
        for index in range(4)
    ]
    refused = post(browser("203.0.113.9"), SIGN_IN, {"identifier": "shopper@example.com"})
    with time_machine.travel(start + dt.timedelta(seconds=60), tick=False):
        later = post(browser("203.0.113.9"), SIGN_IN, {"identifier": "shopper@example.com"})

    assert statuses == [302, 302, 302, 429]
    assert (refused.status_code, refused["Retry-After"]) == (429, "60")
    assert "We are sending a great many codes just now. Try again in 60 seconds." in refused.content.decode()
    assert SandboxMessage.objects.count() == 4  # three, then one after the minute
    assert later.status_code == 302
