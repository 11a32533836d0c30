"""Signed webhook delivery, fed by the outbox.

Three steps, each safe to run concurrently with itself and to repeat:

1. **Fan-out** turns merchant-visible events into ``WebhookDelivery`` rows, one per enabled endpoint
   of the event's merchant and mode that asked for the type. The unique (endpoint, event) pair makes
   it idempotent. It runs from the outbox listener (after commit, on a worker) and from a periodic
   sweep over the events after a persisted watermark, so an event is never missed when the broker
   was down.
2. **Sending** claims up to ``CLAIM_BATCH`` due deliveries at once (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL), sends each outside any transaction, then records its attempt and next state. A claim
   lasts ``CLAIM_DURATION``: a worker killed mid-send leaves a claim that expires, and its deliveries
   are sent again. Delivery is at-least-once; receivers dedupe by event id.
3. **Retrying** follows ``RETRY_DELAYS`` until ``RETRY_WINDOW`` after the first attempt, then gives up.

``verify_signature`` is what a merchant's server runs; it uses the standard library only, so it can
be copied as is (docs/webhooks.md).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import http.cookiejar
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from celery import Task, current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet
from kombu.exceptions import OperationalError as BrokerUnreachableError

from bnpl.core import clock, metrics
from bnpl.core.compiled import MARKERS, MOMENT_MARKERS, AnyOf, CompiledSelect, CompiledSelectByIds, CompiledUpdate
from bnpl.core.errors import StateError
from bnpl.core.event_types import EVENT_TYPES, merchant_visible_types, register
from bnpl.core.ids import generate_public_id
from bnpl.core.inserts import insert_many, update_sql
from bnpl.core.models import Event
from bnpl.core.net import NonPublicPeerError, PublicOnlyAdapter, non_public_target
from bnpl.core.services import audit_log_record, change_record
from bnpl.core.task_messages import PreparedTask
from bnpl.tenancy.selectors import scoped_queryset
from merchants.models import Merchant, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookFanOutWatermark
from merchants.representations import event_data, webhook_endpoint_data

logger = logging.getLogger(__name__)

TEST_EVENT_TYPE = "webhook_endpoint.test"
register(
    TEST_EVENT_TYPE,
    "A test event, sent on request to one endpoint only (whatever the event types it asked for).",
)

SIGNATURE_HEADER = "Bnpl-Signature"
USER_AGENT = "BNPL-Webhooks/1"
REQUEST_TIMEOUT_SECONDS = 10  # to connect, and between bytes of the answer
RESPONSE_BODY_LIMIT = 2048  # bytes of the receiver's answer kept in the attempt log
DEFAULT_TOLERANCE_SECONDS = 300  # how old a signature's timestamp a receiver should accept

# A claim outlives the longest send (connect + answer, each bounded by the timeout) with room to spare.
CLAIM_DURATION = dt.timedelta(minutes=2)
# Deliveries one claim covers, sent one after another: few enough that a batch of receivers each
# taking the whole timeout to connect and then to answer still finishes inside the claim.
CLAIM_BATCH = int(CLAIM_DURATION.total_seconds() // (2 * REQUEST_TIMEOUT_SECONDS))
RETRY_WINDOW = dt.timedelta(days=3)  # from the first attempt; then the delivery gives up
# Wait after the 1st, 2nd, … failed attempt; the last repeats. The last retry is moved earlier to
# fall exactly at the end of the window.
RETRY_DELAYS: tuple[dt.timedelta, ...] = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=10),
    dt.timedelta(hours=14),
)
SEND_BATCH_LIMIT = 100  # deliveries one send run handles before it yields the worker
SWEEP_BATCH_SIZE = 1000  # events one sweep run reads
# The sweep's watermark passes an event only once it is this old: a transaction that took an event
# id earlier may commit later, and must not fall behind the watermark unseen.
SWEEP_SETTLE_PERIOD = dt.timedelta(minutes=5)

# The Celery tasks this module queues, by name: they are merchants.tasks' (which imports this module,
# so this one never imports it; MerchantsConfig.ready imports it, which registers them).
FAN_OUT_TASK = "merchants.tasks.webhook_events_fan_out"
SEND_TASK = "merchants.tasks.webhook_deliveries_send"


# --- Signing ----------------------------------------------------------------------------------


def _signature(*, payload: bytes, secret: str, timestamp: str) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + payload, hashlib.sha256).hexdigest()


def signature_header(*, payload: bytes, secret: str, timestamp: int) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "{t}.{payload}")>``."""
    return f"t={timestamp},v1={_signature(payload=payload, secret=secret, timestamp=str(timestamp))}"


def verify_signature(
    *,
    payload: bytes,
    header: str,
    secret: str,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when ``header`` (the ``Bnpl-Signature`` value) signs exactly ``payload`` (the raw request
    body, before any JSON parsing) with ``secret``, and its timestamp is within ``tolerance_seconds``
    of ``now`` (unix seconds; the wall clock by default), so a captured request cannot be replayed
    later. Several ``v1=`` values may appear; one matching is enough. Standard library only."""
    timestamp = ""
    signatures: list[bytes] = []
    for item in header.split(","):
        key, separator, value = item.strip().partition("=")
        if not separator:
            continue
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value.encode())
    if not (timestamp.isascii() and timestamp.isdigit()) or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_seconds:
        return False
    expected = _signature(payload=payload, secret=secret, timestamp=timestamp).encode()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


# --- The payload ------------------------------------------------------------------------------


def event_payload(event: Event) -> dict[str, Any]:
    """The event as the API shows it (``GET /api/v1/events/{id}``): one shape for both."""
    return event_data(event)


def event_payload_bytes(event: Event) -> bytes:
    return json.dumps(event_payload(event), ensure_ascii=False, separators=(",", ":")).encode()


# --- Fan-out ----------------------------------------------------------------------------------


def _endpoint_wants(endpoint: WebhookEndpoint, event: Event) -> bool:
    if event.created_at < endpoint.created_at:
        return False  # an endpoint hears about what happens after it exists, not the backlog
    if event.type == TEST_EVENT_TYPE:
        return endpoint.public_id == event.object_id  # a test goes to the endpoint tested, and only there
    return "*" in endpoint.enabled_events or event.type in endpoint.enabled_events


# The fan-out's reads, compiled once per process (``bnpl.core.compiled``; the claim's below): a worker
# runs one fan-out per committed request that wrote an event, and Django compiling its statements each
# time was about half of its Python.
_FAN_OUT_EVENTS: CompiledSelect[Event] = CompiledSelect(
    lambda ids, types: Event.objects.filter(
        AnyOf(F("pk"), ids), AnyOf(F("type"), types), merchant__isnull=False
    ).order_by("pk"),  # the types are a parameter: the catalogue is read at each call, as registered then
    arity=2,
)
_ENABLED_ENDPOINTS: CompiledSelectByIds[WebhookEndpoint] = CompiledSelectByIds(
    lambda match: WebhookEndpoint.objects.filter(
        match, status=WebhookEndpoint.Status.ENABLED, deleted_at__isnull=True
    ).order_by("pk"),
    field="merchant",
)
_PENDING_OF_EVENTS: CompiledSelectByIds[WebhookDelivery] = CompiledSelectByIds(
    lambda match: WebhookDelivery.objects.filter(match, status=WebhookDelivery.Status.PENDING).order_by("pk"),
    field="event",
)
_DELIVERIES_TO_SEND: CompiledSelectByIds[WebhookDelivery] = CompiledSelectByIds(
    lambda match: WebhookDelivery.objects.select_related("endpoint", "event").filter(match)
)
_DELIVERY_LOCK: CompiledSelect[WebhookDelivery] = CompiledSelect(
    lambda pk: WebhookDelivery.objects.select_for_update().filter(pk=pk)
)


def _fan_out_events(event_ids: list[int]) -> list[Event]:
    """These events, those of a merchant and of a type merchants see, in the order written."""
    if connection.vendor == "postgresql":
        return _FAN_OUT_EVENTS.rows(event_ids, merchant_visible_types())
    return list(
        Event.objects.filter(pk__in=event_ids, merchant__isnull=False, type__in=merchant_visible_types()).order_by("pk")
    )


def deliveries_create_for_events(*, event_ids: Iterable[int]) -> list[int]:
    """Create the pending deliveries that ``event_ids`` owe, due now. Idempotent: a delivery that
    already exists is left as it is. Returns the ids of these events' pending deliveries."""
    events = _fan_out_events(list(event_ids))  # deliveries are numbered in the order the events were written
    if not events:
        return []
    endpoints: dict[tuple[int | None, bool], list[WebhookEndpoint]] = {}
    for endpoint in _ENABLED_ENDPOINTS.rows({event.merchant_id for event in events}):
        endpoints.setdefault((endpoint.merchant_id, endpoint.livemode), []).append(endpoint)
    now = clock.now()
    deliveries = [
        WebhookDelivery(
            public_id=generate_public_id(WebhookDelivery.PUBLIC_ID_PREFIX),
            merchant_id=endpoint.merchant_id,  # the event's merchant: endpoints are grouped by it
            livemode=endpoint.livemode,
            endpoint=endpoint,
            event=event,
            next_attempt_at=now,
        )
        for event in events
        for endpoint in endpoints.get((event.merchant_id, event.livemode), [])
        if _endpoint_wants(endpoint, event)
    ]
    WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    return _PENDING_OF_EVENTS.pks([event.pk for event in events])


def events_sweep(*, batch_size: int = SWEEP_BATCH_SIZE) -> int:
    """Fan out the events after the watermark (the listener's safety net) and move the watermark
    past those old enough to have settled. Returns how many events it read."""
    settled_before = clock.now() - SWEEP_SETTLE_PERIOD
    with transaction.atomic():
        watermark, _ = WebhookFanOutWatermark.objects.select_for_update().get_or_create(
            pk=WebhookFanOutWatermark.SINGLETON_ID
        )
        events = list(
            Event.objects.filter(pk__gt=watermark.last_event_id)
            .order_by("pk")
            .values_list("pk", "created_at")[:batch_size]
        )
        deliveries_create_for_events(event_ids=[pk for pk, _ in events])
        settled = [pk for pk, _ in _settled_prefix(events, settled_before=settled_before)]
        if settled:
            watermark.last_event_id = settled[-1]
            watermark.updated_at = clock.now()
            watermark.save(update_fields=["last_event_id", "updated_at"])
    return len(events)


def _settled_prefix(
    events: Sequence[tuple[int, dt.datetime]], *, settled_before: dt.datetime
) -> list[tuple[int, dt.datetime]]:
    prefix = []
    for pk, created_at in events:
        if created_at > settled_before:
            break
        prefix.append((pk, created_at))
    return prefix


def may_want(event_type: str) -> bool:
    """Whether events of this type may ever go out as webhooks (merchant-visible ones, and any type
    not in the catalogue, to be safe): the outbox hands the others to no listener."""
    declared = EVENT_TYPES.get(event_type)
    return declared is None or declared.merchant_visible


# Whether a merchant has an enabled endpoint in a mode, asked for every event a transaction writes:
# answered from this process's memory, read again once it is ENDPOINT_MEMO_SECONDS old. This process
# learns of a new or re-enabled endpoint at once (``endpoint_enabled``), others within that time;
# until then their events wait for the sweep. A disabled or deleted endpoint is forgotten at once
# (``endpoints_forget``); elsewhere it costs a message for nothing, at worst, until the memory ages.
ENDPOINT_MEMO_SECONDS = 0.5
_ENDPOINT_MEMO_LIMIT = 10_000
_endpoint_modes: dict[int, tuple[float, frozenset[bool]]] = {}  # merchant id -> (read at, modes)


def endpoints_may_want(merchant_id: int | None, livemode: bool) -> bool:
    """Whether the merchant had an enabled endpoint in this mode (at most ``ENDPOINT_MEMO_SECONDS``
    ago): the listener's ``wants_owner``, so an event no endpoint could want costs no message."""
    if merchant_id is None:
        return False
    now = time.time()
    remembered = _endpoint_modes.get(merchant_id)
    if remembered is None or not remembered[0] <= now < remembered[0] + ENDPOINT_MEMO_SECONDS:
        modes = frozenset(
            WebhookEndpoint.objects.filter(
                merchant_id=merchant_id, status=WebhookEndpoint.Status.ENABLED, deleted_at__isnull=True
            )
            .values_list("livemode", flat=True)
            .distinct()
        )
        if len(_endpoint_modes) >= _ENDPOINT_MEMO_LIMIT:
            _endpoint_modes.clear()
        remembered = _endpoint_modes[merchant_id] = (now, modes)
    return livemode in remembered[1]


def endpoint_enabled(endpoint: WebhookEndpoint) -> None:
    """An endpoint was made or switched on: this process hands its merchant's events in its mode to
    the worker from now on (if the change rolls back, a few messages go for nothing)."""
    remembered = _endpoint_modes.get(endpoint.merchant_id)
    if remembered is not None:
        _endpoint_modes[endpoint.merchant_id] = (remembered[0], remembered[1] | {endpoint.livemode})


def endpoints_forget(merchant_id: int) -> None:
    """An endpoint of the merchant was switched off, deleted or edited: read them again, now and
    after the change commits."""
    _endpoint_modes.pop(merchant_id, None)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _endpoint_modes.pop(merchant_id, None))


def endpoints_memo_clear() -> None:
    """Forget every merchant's endpoints (tests start afresh)."""
    _endpoint_modes.clear()


def _task(name: str) -> Task:  # type: ignore[type-arg]
    """One of ``merchants.tasks``' tasks, found in Celery's registry when it is queued."""
    return current_app.tasks[name]


# The fan-out is queued after nearly every committed request: from a message prepared once per
# process (bnpl.core.task_messages), not built by Celery per call.
fan_out_task = PreparedTask(FAN_OUT_TASK)


def on_events_committed(event_ids: list[int]) -> None:
    """Outbox listener, called after the transaction that wrote ``event_ids`` committed: hand them to
    a worker. It hears only of merchant-visible events of merchants with an enabled endpoint in the
    event's mode (``may_want``, ``endpoints_may_want``). If the broker cannot be reached the request
    still succeeds; the sweep catches up."""
    try:
        fan_out_task.send((event_ids,))
    except BrokerUnreachableError:
        logger.warning("webhook fan-out of events %s not queued (broker unreachable); the sweep will", event_ids)


# --- Sending ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    token: str


@dataclass(frozen=True)
class Answer:
    """What came back from one HTTP request (or why nothing did)."""

    status: int | None
    body: str
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def next_attempt_time(
    *, first_attempt_at: dt.datetime, attempted_at: dt.datetime, attempt_count: int
) -> dt.datetime | None:
    """When to try again after failed attempt number ``attempt_count`` made at ``attempted_at``, or
    ``None`` to give up (the attempt was made at or after the end of the retry window)."""
    deadline = first_attempt_at + RETRY_WINDOW
    if attempted_at >= deadline:
        return None
    delay = RETRY_DELAYS[min(attempt_count, len(RETRY_DELAYS)) - 1]
    return min(attempted_at + delay, deadline)


def deliveries_abandon_for_deleted_endpoints() -> int:
    """A deleted endpoint receives nothing more: its pending deliveries give up."""
    return WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, endpoint__deleted_at__isnull=False
    ).update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None, claim_token="", updated_at=clock.now())


# The claim, compiled once per process, batch size (the LIMIT is the statement's shape) and kind (of
# given deliveries -- a fan-out's, a replay's -- the ids one array parameter, or of any due): PostgreSQL.
_CLAIM_MARK = CompiledUpdate(
    lambda ids, token, until, now: (
        WebhookDelivery.objects.filter(AnyOf(F("pk"), ids)),
        {"claim_token": token, "next_attempt_at": until, "updated_at": now},
    ),
    markers=(MARKERS[0], "claim-token-marker", *MOMENT_MARKERS[:2]),
)


def _claimable(queryset: QuerySet[WebhookDelivery], now: dt.datetime) -> QuerySet[WebhookDelivery]:
    """Of ``queryset``, the pending deliveries due by ``now`` of enabled endpoints, locked unless
    another sender holds them, most overdue first."""
    return (
        queryset.select_for_update(skip_locked=True, of=("self",))
        .filter(
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
            endpoint__status=WebhookEndpoint.Status.ENABLED,
            endpoint__deleted_at__isnull=True,
        )
        .order_by("next_attempt_at", "pk")
    )


@functools.cache
def _claim_statement(limit: int, *, among_given: bool) -> CompiledSelect[WebhookDelivery]:
    if among_given:
        return CompiledSelect(
            lambda ids, now: _claimable(WebhookDelivery.objects.filter(AnyOf(F("pk"), ids)), now).only("pk")[:limit],
            markers=(MARKERS[0], MOMENT_MARKERS[0]),
        )
    return CompiledSelect(
        lambda now: _claimable(WebhookDelivery.objects.all(), now).only("pk")[:limit], markers=(MOMENT_MARKERS[0],)
    )


def deliveries_claim(*, delivery_ids: Sequence[int] | None = None, limit: int = CLAIM_BATCH) -> list[Claim]:
    """Claim up to ``limit`` of the most overdue pending deliveries of enabled endpoints (among
    ``delivery_ids`` if given), in that order: rows another sender holds are skipped, and the claim
    moves ``next_attempt_at`` to its expiry, so a sender that dies leaves them due again once the claim
    runs out. One claim (one token) covers the batch, in four round trips whatever its size; on
    PostgreSQL in statements compiled once per process (a worker claims once per fan-out)."""
    now = clock.now()
    compiled = connection.vendor == "postgresql"
    with transaction.atomic():
        if compiled:
            given = delivery_ids is not None
            values = (list(delivery_ids or ()), now) if given else (now,)
            sql, params = _claim_statement(limit, among_given=given).statement(*values)
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                claimed = [row[0] for row in cursor.fetchall()]
        else:
            candidates = _claimable(WebhookDelivery.objects.all(), now)
            if delivery_ids is not None:
                candidates = candidates.filter(pk__in=list(delivery_ids))
            claimed = list(candidates.values_list("pk", flat=True)[:limit])
        if not claimed:
            return []
        token = uuid.uuid4().hex
        if compiled:
            _CLAIM_MARK.run(claimed, token, now + CLAIM_DURATION, now)
        else:
            WebhookDelivery.objects.filter(pk__in=claimed).update(
                claim_token=token, next_attempt_at=now + CLAIM_DURATION, updated_at=now
            )
    return [Claim(delivery_id=pk, token=token) for pk in claimed]


def plain_error(exception: Exception) -> str:
    """Why a request got no answer, in the words a merchant reads in the delivery log (the
    exception's text is for our logs, not theirs)."""
    text = str(exception).lower()
    cause = getattr(exception.args[0], "reason", None) if exception.args else None  # urllib3's, under requests'
    if isinstance(cause, NonPublicPeerError):
        return "Not sent: the host name resolved to an address that is not public when connecting"
    if isinstance(exception, requests.Timeout):
        during = " while connecting" if isinstance(exception, requests.ConnectTimeout) else ""
        return f"Timed out after {REQUEST_TIMEOUT_SECONDS:g} s{during}"
    if isinstance(exception, requests.exceptions.SSLError):
        return "Could not connect securely: your endpoint's TLS certificate was not accepted"
    if isinstance(exception, requests.ConnectionError):
        if "refused" in text:
            return "Could not connect: connection refused"
        if any(
            words in text
            for words in (
                "name or service not known",
                "nodename nor servname",
                "failed to resolve",
                "getaddrinfo",
                "no address associated",
                "name resolution",
            )
        ):
            return "Could not connect: the host name does not resolve"
        if "reset" in text:
            return "The connection was reset before your endpoint answered"
        if "aborted" in text or "disconnected" in text:
            return "Your endpoint closed the connection without answering"
        if "unreachable" in text:
            return "Could not connect: the network is unreachable"
        return "Could not connect to your endpoint"
    if isinstance(
        exception,
        requests.exceptions.InvalidURL | requests.exceptions.MissingSchema | requests.exceptions.InvalidSchema,
    ):
        return "Not sent: the endpoint URL is not valid"
    if isinstance(exception, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return "Your endpoint's answer could not be read"
    return "The request failed before your endpoint answered"


_sessions = threading.local()


class _Session(requests.Session):
    """A sender's session. It keeps no cookies, so nothing one receiver sets is ever sent with
    another's deliveries, and reads no ``.netrc`` (no credential of this host goes to a merchant).
    The proxy variables (``HTTPS_PROXY``, ``NO_PROXY``…: an egress proxy, docs/webhooks.md) are
    honoured as requests honours them, but read once per process for each receiver's origin rather
    than scanned on every request (a fifth of a sender's CPU), and the CA bundle variables once."""

    def __init__(self, *, public_only: bool) -> None:
        super().__init__()
        if public_only:  # live mode's receivers, and test mode's unless private targets are allowed
            for scheme in ("https://", "http://"):
                self.mount(scheme, PublicOnlyAdapter())
        self.trust_env = False  # the environment is read here instead
        self.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        parts = urlsplit(url)
        proxies = {**dict(_environ_proxies(f"{parts.scheme}://{parts.netloc}")), **(proxies or {})}
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


@functools.lru_cache(maxsize=4096)
def _environ_proxies(origin: str) -> tuple[tuple[str, str], ...]:
    return tuple(requests.utils.get_environ_proxies(origin).items())


def _session(*, public_only: bool) -> requests.Session:
    """This thread's HTTP session, kept between deliveries so that its connections to receivers are
    reused (HTTP keep-alive): no new connection, nor for HTTPS a new TLS handshake, per delivery.
    ``public_only``: the one whose connections must reach public addresses."""
    name = "public_only" if public_only else "any"
    session: requests.Session | None = getattr(_sessions, name, None)
    if session is None:
        session = _Session(public_only=public_only)
        setattr(_sessions, name, session)
    return session


def _post(*, url: str, body: bytes, headers: dict[str, str], public_only: bool) -> Answer:
    """One POST, never retried here. Only the start of the answer is read."""
    started = time.monotonic()
    status: int | None = None
    received = b""
    error = ""
    try:
        with _session(public_only=public_only).post(
            url, data=body, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS, allow_redirects=False, stream=True
        ) as response:
            status = response.status_code
            for chunk in response.iter_content(chunk_size=RESPONSE_BODY_LIMIT):
                received += chunk
                if len(received) >= RESPONSE_BODY_LIMIT:
                    break
    except (requests.RequestException, ValueError) as exception:
        error = plain_error(exception)
    duration_ms = round((time.monotonic() - started) * 1000)
    text = received[:RESPONSE_BODY_LIMIT].decode("utf-8", errors="replace")
    return Answer(status=status, body=text, error=error, duration_ms=duration_ms)


@dataclass(frozen=True)
class _Sent:
    """One request made for a claimed delivery, waiting to be recorded."""

    claim: Claim
    attempted_at: dt.datetime
    headers: dict[str, str]
    body: str
    answer: Answer


def delivery_send(*, claim: Claim, delivery: WebhookDelivery | None = None) -> WebhookDelivery | None:
    """Send a claimed delivery (no transaction is open while the request is in flight), then record
    it; None if the delivery was erased meanwhile (its merchant's data). ``delivery``: the claimed
    row with its endpoint and event, when the caller read it already."""
    if delivery is None:
        delivery = WebhookDelivery.objects.select_related("endpoint", "event").get(pk=claim.delivery_id)
    return _attempt_record(_send(claim, delivery))


def _send(claim: Claim, delivery: WebhookDelivery) -> _Sent:
    body = event_payload_bytes(delivery.event)
    # The receiver checks the timestamp against its own wall clock, so it is the real time, not the
    # sandbox clock (which an operator may have moved forward).
    timestamp = int(clock.real_now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header(payload=body, secret=delivery.endpoint.secret, timestamp=timestamp),
    }
    attempted_at = clock.now()
    must_be_public = delivery.livemode or not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS
    refusal = non_public_target(delivery.endpoint.url) if must_be_public else None
    if refusal:
        answer = Answer(status=None, body="", error=f"Not sent: {refusal}", duration_ms=0)
    else:
        answer = _post(url=delivery.endpoint.url, body=body, headers=headers, public_only=must_be_public)
    return _Sent(claim=claim, attempted_at=attempted_at, headers=headers, body=body.decode(), answer=answer)


# What a recorded attempt changes on its delivery.
_RECORDED = (
    "attempt_count",
    "last_attempt_at",
    "first_attempt_at",
    "claim_token",
    "status",
    "succeeded_at",
    "next_attempt_at",
    "updated_at",
)


def _attempt_record(sent: _Sent) -> WebhookDelivery | None:
    """Log the attempt, and move the delivery's state if this attempt still holds its claim (a
    replay, or a sender that took over an expired claim, owns the state instead). Each attempt is
    recorded as soon as it is answered, so a worker killed mid-batch leaves at most the one in
    flight unrecorded (sent again once its claim expires: delivery is at-least-once). The INSERT
    and the UPDATE are compiled once per process (``bnpl.core.inserts``)."""
    answer = sent.answer
    with transaction.atomic():
        delivery = _DELIVERY_LOCK.first(sent.claim.delivery_id)
        if delivery is None:
            return None
        attempt = WebhookDeliveryAttempt(
            delivery=delivery,
            attempted_at=sent.attempted_at,
            request_headers=sent.headers,
            request_body=sent.body,
            response_status=answer.status,
            response_body=answer.body,
            error=answer.error,
            duration_ms=answer.duration_ms,
        )
        delivery.attempt_count += 1
        delivery.last_attempt_at = sent.attempted_at
        delivery.updated_at = clock.now()
        if delivery.first_attempt_at is None:
            delivery.first_attempt_at = sent.attempted_at
        if delivery.claim_token == sent.claim.token:
            delivery.claim_token = ""
            if answer.succeeded:
                delivery.status = WebhookDelivery.Status.SUCCEEDED
                delivery.succeeded_at = delivery.updated_at
                delivery.next_attempt_at = None
            else:
                delivery.next_attempt_at = next_attempt_time(
                    first_attempt_at=delivery.first_attempt_at,
                    attempted_at=sent.attempted_at,
                    attempt_count=delivery.attempt_count,
                )
                if delivery.next_attempt_at is None:
                    delivery.status = WebhookDelivery.Status.FAILED
        insert_many([attempt])
        with connection.cursor() as cursor:
            cursor.execute(*update_sql(delivery, _RECORDED))
    metrics.webhook_attempts.labels(result="succeeded" if answer.succeeded else "failed").inc()
    if delivery.status == WebhookDelivery.Status.FAILED:
        metrics.webhook_deliveries_abandoned.inc()
    return delivery


def deliveries_send_due(*, delivery_ids: Sequence[int] | None = None, limit: int = SEND_BATCH_LIMIT) -> int:
    """Send due deliveries (only ``delivery_ids`` if given), claimed ``CLAIM_BATCH`` at a time and sent
    one after another, at most ``limit``. Returns how many were sent. The periodic run (no
    ``delivery_ids``) also closes the deliveries of deleted endpoints."""
    if delivery_ids is None:
        deliveries_abandon_for_deleted_endpoints()
    sent = 0
    while sent < limit:
        wanted = min(CLAIM_BATCH, limit - sent)
        claims = deliveries_claim(delivery_ids=delivery_ids, limit=wanted)
        if not claims:
            break
        claimed = {delivery.pk: delivery for delivery in _DELIVERIES_TO_SEND.rows([c.delivery_id for c in claims])}
        for claim in claims:
            if claim.delivery_id in claimed:  # else erased since its claim (its merchant's data, say)
                delivery_send(claim=claim, delivery=claimed[claim.delivery_id])
                sent += 1
        if len(claims) < wanted:  # nothing more was due and free when the claim was made
            break
    return sent


def _enqueue_send(delivery_ids: list[int]) -> None:
    try:
        _task(SEND_TASK).apply_async(kwargs={"delivery_ids": delivery_ids}, retry=False)
    except BrokerUnreachableError:
        logger.warning("webhook send of %s not queued (broker unreachable); the periodic run will", delivery_ids)


# --- Reads and writes for the API and the admin ------------------------------------------------


def webhook_delivery_list(
    *, merchant: Merchant, livemode: bool, endpoint: WebhookEndpoint
) -> QuerySet[WebhookDelivery]:
    return (
        scoped_queryset(WebhookDelivery, merchant=merchant, livemode=livemode)
        .filter(endpoint=endpoint)
        .select_related("endpoint", "event")
    )


def _delivery_state(delivery: WebhookDelivery) -> dict[str, object]:
    return {
        "status": delivery.status,
        "attempt_count": delivery.attempt_count,
        "next_attempt_at": delivery.next_attempt_at.isoformat() if delivery.next_attempt_at else None,
    }


def webhook_delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send the delivery again now, whatever its state; its attempts stay in the log. The retry
    window still runs from the first attempt: a replay after it closed is a single attempt."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",)).select_related("endpoint").get(pk=delivery.pk)
        )
        if delivery.endpoint.deleted_at is not None:
            raise StateError("The endpoint of this delivery was deleted.", code="webhook_endpoint_deleted")
        before = _delivery_state(delivery)
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.next_attempt_at = clock.now()
        delivery.claim_token = ""
        delivery.save(update_fields=["status", "next_attempt_at", "claim_token"])
        audit_log_record(
            action="webhook_delivery.replayed",
            instance=delivery,
            merchant=delivery.merchant,
            before=before,
            after=_delivery_state(delivery),
        )
        delivery_ids = [delivery.pk]
        transaction.on_commit(lambda: _enqueue_send(delivery_ids))
    return delivery


def webhook_endpoint_test(*, endpoint: WebhookEndpoint) -> Event:
    """Emit a ``webhook_endpoint.test`` event, delivered to this endpoint only."""
    if endpoint.status != WebhookEndpoint.Status.ENABLED:
        raise StateError("A disabled endpoint receives nothing: enable it first.", code="webhook_endpoint_disabled")
    with transaction.atomic():
        return change_record(
            action=TEST_EVENT_TYPE,
            instance=endpoint,
            data=webhook_endpoint_data(endpoint),
        )
