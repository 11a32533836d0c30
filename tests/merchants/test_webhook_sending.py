"""Sending: a due delivery is claimed, POSTed signed to a real local HTTP receiver outside any
transaction, and recorded; failures are retried on the backoff schedule for three days from the
first attempt, then the delivery gives up. A claim that outlives its worker is sent again."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import threading
from collections.abc import Iterator

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction

from bnpl.core.models import Event
from merchants import services, webhooks
from merchants.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from tests.conftest import ApiClient
from tests.helpers import verified_client
from tests.merchants.conftest import WebhookReceiver
from tests.merchants.factories import Tenant, make_member

START = dt.datetime(2030, 1, 15, 9, 0, tzinfo=dt.UTC)
MINUTE, HOUR = dt.timedelta(minutes=1), dt.timedelta(hours=1)

# When each attempt is made, from the first, when every attempt fails and each is made on time.
SCHEDULE = [
    dt.timedelta(0),
    1 * MINUTE,
    6 * MINUTE,
    36 * MINUTE,
    2 * HOUR + 36 * MINUTE,
    7 * HOUR + 36 * MINUTE,
    17 * HOUR + 36 * MINUTE,
    27 * HOUR + 36 * MINUTE,
    41 * HOUR + 36 * MINUTE,
    55 * HOUR + 36 * MINUTE,
    69 * HOUR + 36 * MINUTE,
    72 * HOUR,  # the 14 h wait is cut short: the last retry falls exactly three days after the first attempt
]


@pytest.fixture
def frozen() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def _endpoint_for(
    receiver: WebhookReceiver, tenant: Tenant, *, events: list[str] | None = None, url: str | None = None
) -> WebhookEndpoint:
    endpoint = services.webhook_endpoint_create(
        merchant=tenant.merchant, livemode=False, url=url or receiver.url, enabled_events=events or ["*"]
    )
    receiver.secret = endpoint.secret
    return endpoint


def _delivery_for(endpoint: WebhookEndpoint) -> WebhookDelivery:
    """The delivery of the endpoint's own ``webhook_endpoint.created`` event (it asked for "*")."""
    event = Event.objects.get(type="webhook_endpoint.created", object_id=endpoint.public_id)
    webhooks.deliveries_create_for_events(event_ids=[event.pk])
    return WebhookDelivery.objects.get(endpoint=endpoint, event=event)


def _state(delivery: WebhookDelivery) -> tuple[str, int, dt.datetime | None]:
    delivery.refresh_from_db()
    return delivery.status, delivery.attempt_count, delivery.next_attempt_at


def test_a_due_delivery_is_posted_signed_with_the_event_as_the_api_shows_it(
    frozen: time_machine.Traveller, tenant: Tenant, api: ApiClient, receiver: WebhookReceiver
) -> None:
    delivery = _delivery_for(_endpoint_for(receiver, tenant))

    assert webhooks.deliveries_send_due() == 1

    [received] = receiver.received
    assert received.path == "/bnpl/webhooks"
    assert received.signature_valid is True
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["User-Agent"] == "BNPL-Webhooks/1"
    signature = received.headers["Bnpl-Signature"]
    assert re.fullmatch(rf"t={int(START.timestamp())},v1=[0-9a-f]{{64}}", signature)
    assert json.loads(received.body) == api.get(f"/api/v1/events/{delivery.event.public_id}").json()
    assert json.loads(received.body)["type"] == "webhook_endpoint.created"

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.attempt_count == 1
    assert delivery.first_attempt_at == delivery.last_attempt_at == delivery.succeeded_at == START
    assert delivery.next_attempt_at is None
    assert delivery.claim_token == ""
    [attempt] = delivery.attempts.all()
    assert attempt.attempted_at == START
    assert attempt.request_headers == {
        "Content-Type": "application/json",
        "User-Agent": "BNPL-Webhooks/1",
        "Bnpl-Signature": signature,
    }
    assert attempt.request_body.encode() == received.body
    assert attempt.response_status == 200
    assert attempt.response_body == "ok"
    assert attempt.error == ""
    assert 0 <= attempt.duration_ms < 10_000

    assert webhooks.deliveries_send_due() == 0  # nothing more is due
    assert receiver.count() == 1


def test_a_failed_delivery_is_retried_on_the_backoff_schedule(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    receiver.statuses = [500] * len(SCHEDULE)
    delivery = _delivery_for(_endpoint_for(receiver, tenant))

    for number, offset in enumerate(SCHEDULE[:-1], start=1):
        frozen.move_to(START + offset - dt.timedelta(seconds=1))
        if number > 1:
            assert webhooks.deliveries_send_due() == 0, f"attempt {number} went out early"
        frozen.move_to(START + offset)

        assert webhooks.deliveries_send_due() == 1

        assert _state(delivery) == (WebhookDelivery.Status.PENDING, number, START + SCHEDULE[number])
        assert delivery.first_attempt_at == START
        assert delivery.last_attempt_at == START + offset
    assert receiver.count() == len(SCHEDULE) - 1
    assert [attempt.response_status for attempt in delivery.attempts.all()] == [500] * (len(SCHEDULE) - 1)


def test_a_delivery_gives_up_after_its_attempt_three_days_after_the_first(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    receiver.statuses = [503] * 50
    delivery = _delivery_for(_endpoint_for(receiver, tenant))
    for offset in SCHEDULE:
        frozen.move_to(START + offset)
        assert webhooks.deliveries_send_due() == 1

    assert _state(delivery) == (WebhookDelivery.Status.FAILED, 12, None)
    assert delivery.last_attempt_at == START + 72 * HOUR
    assert delivery.succeeded_at is None
    frozen.move_to(START + dt.timedelta(days=30))
    assert webhooks.deliveries_send_due() == 0
    assert receiver.count() == 12
    assert WebhookDeliveryAttempt.objects.filter(delivery=delivery).count() == 12


def test_late_attempts_wait_from_when_they_were_made_but_never_past_the_window(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    receiver.statuses = [500, 500, 500]
    delivery = _delivery_for(_endpoint_for(receiver, tenant))
    webhooks.deliveries_send_due()

    frozen.move_to(START + 10 * MINUTE)  # the worker was late for the 1-minute retry
    webhooks.deliveries_send_due()
    assert _state(delivery) == (WebhookDelivery.Status.PENDING, 2, START + 15 * MINUTE)

    frozen.move_to(START + 71 * HOUR + 50 * MINUTE)  # very late: the next wait is cut at the window's end
    webhooks.deliveries_send_due()
    assert _state(delivery) == (WebhookDelivery.Status.PENDING, 3, START + 72 * HOUR)

    frozen.move_to(START + 72 * HOUR)
    webhooks.deliveries_send_due()
    assert _state(delivery) == (WebhookDelivery.Status.SUCCEEDED, 4, None)


def test_the_backoff_helper_matches_the_schedule() -> None:
    attempted_at = START
    for count, offset in enumerate(SCHEDULE[1:], start=1):
        attempted_at = webhooks.next_attempt_time(  # type: ignore[assignment]
            first_attempt_at=START, attempted_at=attempted_at, attempt_count=count
        )
        assert attempted_at == START + offset
    assert webhooks.next_attempt_time(first_attempt_at=START, attempted_at=START + 72 * HOUR, attempt_count=12) is None


@pytest.mark.parametrize("status", [199, 300, 302, 400, 404, 410, 500])
def test_anything_but_a_2xx_is_a_failure_and_redirects_are_not_followed(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver, status: int
) -> None:
    receiver.statuses = [status]
    delivery = _delivery_for(_endpoint_for(receiver, tenant))

    webhooks.deliveries_send_due()

    assert _state(delivery) == (WebhookDelivery.Status.PENDING, 1, START + MINUTE)
    assert delivery.attempts.get().response_status == status
    assert receiver.count() == 1


def test_an_error_answer_reads_as_plain_words_in_the_delivery_log(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    receiver.statuses = [500]
    delivery = _delivery_for(_endpoint_for(receiver, tenant))
    webhooks.deliveries_send_due()

    assert delivery.attempts.get().outcome == "Your endpoint answered 500 Internal Server Error"
    page = verified_client(make_member(merchant=tenant.merchant)).get(
        f"/merchant/developers/deliveries/{delivery.public_id}"
    )
    assert "Your endpoint answered 500 Internal Server Error." in page.content.decode()


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_a_success(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver, status: int
) -> None:
    receiver.statuses = [status]
    delivery = _delivery_for(_endpoint_for(receiver, tenant))

    webhooks.deliveries_send_due()

    assert _state(delivery) == (WebhookDelivery.Status.SUCCEEDED, 1, None)


def test_a_refused_connection_is_logged_as_an_error_and_retried(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    delivery = _delivery_for(_endpoint_for(receiver, tenant, url=f"http://127.0.0.1:{port}/hooks"))

    webhooks.deliveries_send_due()

    assert _state(delivery) == (WebhookDelivery.Status.PENDING, 1, START + MINUTE)
    attempt = delivery.attempts.get()
    assert attempt.response_status is None
    assert attempt.response_body == ""
    assert attempt.error == "Could not connect: connection refused"  # plain words, not the exception's text
    assert attempt.outcome == "Could not connect: connection refused"
    assert receiver.count() == 0


def test_a_receiver_that_does_not_answer_in_time_is_a_timeout(
    frozen: time_machine.Traveller,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webhooks, "REQUEST_TIMEOUT_SECONDS", 0.2)
    with socket.socket() as silent:  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hooks"
        endpoint = services.webhook_endpoint_create(
            merchant=tenant.merchant, livemode=False, url=url, enabled_events=["*"]
        )
        delivery = _delivery_for(endpoint)

        webhooks.deliveries_send_due()

    assert _state(delivery) == (WebhookDelivery.Status.PENDING, 1, START + MINUTE)
    attempt = delivery.attempts.get()
    assert attempt.response_status is None
    assert attempt.error == "Timed out after 0.2 s"
    assert attempt.outcome == "Timed out after 0.2 s"


def test_only_the_first_2_kb_of_the_answer_are_kept(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    receiver.answer_body = "é".encode() + b"x" * 5000
    delivery = _delivery_for(_endpoint_for(receiver, tenant))

    webhooks.deliveries_send_due()

    assert delivery.attempts.get().response_body == "é" + "x" * 2046


def test_a_claim_abandoned_by_a_dead_worker_is_sent_again_once_it_expires(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    delivery = _delivery_for(_endpoint_for(receiver, tenant))
    [dead] = webhooks.deliveries_claim()  # a worker claims it, then is killed before sending
    assert dead.delivery_id == delivery.pk
    assert _state(delivery) == (WebhookDelivery.Status.PENDING, 0, START + 2 * MINUTE)

    frozen.move_to(START + 2 * MINUTE - dt.timedelta(seconds=1))
    assert webhooks.deliveries_send_due() == 0
    assert receiver.count() == 0

    frozen.move_to(START + 2 * MINUTE)
    assert webhooks.deliveries_send_due() == 1
    assert _state(delivery) == (WebhookDelivery.Status.SUCCEEDED, 1, None)
    assert receiver.count() == 1


def test_a_worker_that_lost_its_claim_logs_its_attempt_but_does_not_move_the_state(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    delivery = _delivery_for(_endpoint_for(receiver, tenant))
    [slow] = webhooks.deliveries_claim()
    frozen.move_to(START + 3 * MINUTE)  # its claim expired; another worker takes over and succeeds
    webhooks.deliveries_send_due()
    receiver.statuses = [500]

    webhooks.delivery_send(claim=slow)  # the slow worker finally sends, and fails

    assert _state(delivery) == (WebhookDelivery.Status.SUCCEEDED, 2, None)
    assert [attempt.response_status for attempt in delivery.attempts.all()] == [500, 200]
    assert receiver.count() == 2


def test_deliveries_of_a_disabled_endpoint_wait_until_it_is_enabled_again(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    endpoint = _endpoint_for(receiver, tenant)
    delivery = _delivery_for(endpoint)
    services.webhook_endpoint_update(endpoint=endpoint, status=WebhookEndpoint.Status.DISABLED)

    assert webhooks.deliveries_send_due() == 0
    assert _state(delivery) == (WebhookDelivery.Status.PENDING, 0, START)
    assert receiver.count() == 0

    services.webhook_endpoint_update(endpoint=endpoint, status=WebhookEndpoint.Status.ENABLED)
    assert webhooks.deliveries_send_due() == 1
    assert _state(delivery) == (WebhookDelivery.Status.SUCCEEDED, 1, None)


def test_deliveries_of_a_deleted_endpoint_give_up_unsent(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    endpoint = _endpoint_for(receiver, tenant)
    delivery = _delivery_for(endpoint)
    services.webhook_endpoint_delete(endpoint=endpoint)

    assert webhooks.deliveries_send_due(delivery_ids=[delivery.pk]) == 0
    assert _state(delivery) == (WebhookDelivery.Status.PENDING, 0, START)  # only the periodic run closes them
    assert webhooks.deliveries_send_due() == 0

    assert _state(delivery) == (WebhookDelivery.Status.FAILED, 0, None)
    assert not delivery.attempts.exists()
    assert receiver.count() == 0


def test_a_send_run_stops_at_its_limit(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    first = _delivery_for(_endpoint_for(receiver, tenant))
    frozen.shift(dt.timedelta(seconds=1))
    _delivery_for(_endpoint_for(receiver, tenant))  # owed to both endpoints: two more deliveries
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
    assert pending.count() == 3

    assert webhooks.deliveries_send_due(limit=1) == 1
    assert _state(first)[0] == WebhookDelivery.Status.SUCCEEDED  # the most overdue goes first
    assert pending.count() == 2
    assert webhooks.deliveries_send_due(limit=1) == 1
    assert pending.count() == 1
    assert receiver.count() == 2


def test_attempts_are_append_only_through_the_model(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    from bnpl.core.models import AppendOnlyError

    delivery = _delivery_for(_endpoint_for(receiver, tenant))
    webhooks.deliveries_send_due()
    attempt = delivery.attempts.get()

    attempt.response_status = 500
    with pytest.raises(AppendOnlyError):
        attempt.save()
    with pytest.raises(AppendOnlyError):
        attempt.delete()
    assert delivery.attempts.get().response_status == 200


@pytest.mark.postgres
def test_postgresql_itself_refuses_updates_and_deletes_of_attempts(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    delivery = _delivery_for(_endpoint_for(receiver, tenant))
    webhooks.deliveries_send_due()
    attempt = delivery.attempts.get()
    for statement in (
        "UPDATE merchants_webhookdeliveryattempt SET response_status = 500 WHERE id = %s",
        "DELETE FROM merchants_webhookdeliveryattempt WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [attempt.pk])
    assert delivery.attempts.get().response_status == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_skip_the_delivery_another_has_locked(tenant: Tenant, receiver: WebhookReceiver) -> None:
    first = _delivery_for(_endpoint_for(receiver, tenant))
    _delivery_for(_endpoint_for(receiver, tenant))
    most_overdue = first.next_attempt_at - MINUTE  # type: ignore[operator]
    WebhookDelivery.objects.filter(pk=first.pk).update(next_attempt_at=most_overdue)
    locked, release = threading.Event(), threading.Event()

    def hold_the_first() -> None:
        try:
            with transaction.atomic():
                WebhookDelivery.objects.select_for_update().get(pk=first.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_first)
    holder.start()
    try:
        assert locked.wait(10)
        claims = webhooks.deliveries_claim(limit=1)
    finally:
        release.set()
        holder.join()

    [claim] = claims
    assert claim.delivery_id != first.pk  # not blocked: it took the next one
    assert WebhookDelivery.objects.get(pk=claim.delivery_id).claim_token == claim.token
    assert _state(first) == (WebhookDelivery.Status.PENDING, 0, most_overdue)
    assert first.claim_token == ""


def test_one_claim_covers_a_batch_so_each_delivery_costs_its_send_and_its_record_alone(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deliveries of a fan-out are claimed together: the claim and the read of the claimed rows
    cost the same for one delivery or six, and each delivery then costs only its attempt's record."""
    from django.test.utils import CaptureQueriesContext

    from bnpl.core import clock

    # The process reads the sandbox clock's offset again after CACHE_SECONDS of real time; on a slow
    # machine six sends take longer than that, and the count would depend on the machine.
    monkeypatch.setattr(clock, "CACHE_SECONDS", 3600.0)

    endpoint = _endpoint_for(receiver, tenant)
    for number in range(webhooks.CLAIM_BATCH + 1):
        services.webhook_endpoint_update(endpoint=endpoint, description=f"v{number}")
    events = Event.objects.filter(object_id=endpoint.public_id).values_list("pk", flat=True)
    delivery_ids = webhooks.deliveries_create_for_events(event_ids=events)
    assert len(delivery_ids) == webhooks.CLAIM_BATCH + 2  # created, then each update
    # The first send reads what the process then keeps (the clock's offset): not counted.
    assert webhooks.deliveries_send_due(delivery_ids=delivery_ids[:1]) == 1

    with CaptureQueriesContext(connection) as queries:
        assert webhooks.deliveries_send_due(delivery_ids=delivery_ids[1:2]) == 1
    one = len(queries)
    with CaptureQueriesContext(connection) as queries:
        assert webhooks.deliveries_send_due(delivery_ids=delivery_ids[2:]) == webhooks.CLAIM_BATCH
    batch = len(queries)
    per_record = 5  # savepoint, the row locked, the attempt inserted, the delivery updated, release
    # One claim (savepoint, SELECT … FOR UPDATE SKIP LOCKED, UPDATE, release: 4) and one read of the
    # claimed rows (1), then each delivery's record. A claim that got all it asked for is followed by
    # another (3 when it finds nothing); one that got fewer ends the run.
    assert one == 4 + 1 + per_record
    assert batch == 4 + 1 + webhooks.CLAIM_BATCH * per_record + 3
    assert receiver.count() == webhooks.CLAIM_BATCH + 2


def test_deliveries_reuse_the_connection_and_never_carry_a_cookie(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    """A receiver that keeps connections open gets the next deliveries on the same one; a cookie a
    receiver sets is never sent back, to it or to anyone else."""
    receiver.keep_alive()
    receiver.answer_headers = {"Set-Cookie": "session=abc; Path=/"}
    endpoint = _endpoint_for(receiver, tenant)
    for number in range(2):
        services.webhook_endpoint_update(endpoint=endpoint, description=f"v{number}")
    events = Event.objects.filter(object_id=endpoint.public_id).values_list("pk", flat=True)
    delivery_ids = webhooks.deliveries_create_for_events(event_ids=events)

    for delivery_id in delivery_ids:  # one send run each, as separate fan-outs would
        assert webhooks.deliveries_send_due(delivery_ids=[delivery_id]) == 1

    assert len(receiver.received) == 3 and all(received.signature_valid for received in receiver.received)
    assert len({received.client for received in receiver.received}) == 1  # one connection for the three
    assert not any("Cookie" in received.headers for received in receiver.received)
    assert not webhooks._session(public_only=False).cookies


@pytest.fixture
def fresh_proxy_environment() -> Iterator[None]:
    webhooks._environ_proxies.cache_clear()
    yield
    webhooks._environ_proxies.cache_clear()


@pytest.mark.usefixtures("frozen", "fresh_proxy_environment")
def test_deliveries_go_through_the_egress_proxy_the_environment_names(
    tenant: Tenant, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's egress proxy (docs/webhooks.md) is honoured as requests honours HTTP_PROXY: here
    the receiver stands in for the proxy, and gets the request for the merchant's own URL."""
    monkeypatch.setenv("HTTP_PROXY", receiver.url.rsplit("/", 2)[0])
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    delivery = _delivery_for(_endpoint_for(receiver, tenant, url="http://merchant.invalid/hooks/bnpl"))

    assert webhooks.deliveries_send_due() == 1

    assert [received.path for received in receiver.received] == ["http://merchant.invalid/hooks/bnpl"]
    assert _state(delivery) == (WebhookDelivery.Status.SUCCEEDED, 1, None)


@pytest.mark.usefixtures("frozen", "fresh_proxy_environment")
def test_no_proxy_sends_straight_to_the_receiver(
    tenant: Tenant, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    delivery = _delivery_for(_endpoint_for(receiver, tenant))

    assert webhooks.deliveries_send_due() == 1

    assert [received.path for received in receiver.received] == ["/bnpl/webhooks"]
    assert _state(delivery) == (WebhookDelivery.Status.SUCCEEDED, 1, None)


@pytest.mark.postgres
def test_a_fan_out_compiles_no_statement_once_its_process_has_made_one(
    frozen: time_machine.Traveller, tenant: Tenant, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker runs a fan-out for every committed request that wrote an event: reading the events,
    the endpoints, the deliveries made, claiming and reading them and locking each to record its
    attempt are statements compiled once per process, not by Django at each call (which was about
    half of a fan-out's Python)."""
    from django.db.models.sql.compiler import SQLCompiler, SQLUpdateCompiler

    from merchants.tasks import webhook_events_fan_out
    from tests.helpers import compilations

    endpoint = _endpoint_for(receiver, tenant)
    services.webhook_endpoint_update(endpoint=endpoint, description="first")
    services.webhook_endpoint_update(endpoint=endpoint, description="second")
    first, second = Event.objects.filter(object_id=endpoint.public_id).order_by("-pk").values_list("pk", flat=True)[:2]
    assert webhook_events_fan_out(event_ids=[second]) == 1  # the process's first: compiles them

    selects, updates = compilations(monkeypatch, SQLCompiler), compilations(monkeypatch, SQLUpdateCompiler)
    assert webhook_events_fan_out(event_ids=[first]) == 1

    assert (selects, updates) == ([], [])
    assert receiver.count() == 2 and all(arrival.signature_valid for arrival in receiver.received)
