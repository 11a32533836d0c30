"""Relaying the outbox to the cloud's event bus: Amazon EventBridge or Kinesis, through boto3.

Off unless ``EVENT_BUS_RELAY`` names one (``"eventbridge"`` or ``"kinesis"``). It is one more
consumer of the outbox, built as the lake's events export is (bnpl/lake/export.py), and shares its
machinery: a ``LakeWatermark`` row (stream ``event_bus``) holds the relay's position and lease, and
events are only relayed below the *settled horizon* (no transaction can still commit a lower id).

**Once per event.** Events are read in id order above the position and sent in chunks; the position
moves past a chunk, in a transaction that checks the lease, only after every entry of the chunk was
accepted by the bus. A chunk whose put fails (wholly, or for some entries after retries) is not
committed, and the run stops: the next run resends from the first event not committed. So a failure
or a crash *before* the put returns sends nothing twice, and nothing is skipped. The one at-least-once
edge: a crash between the put's success and the commit (or a partial failure that never recovers)
resends that one chunk (at most 10 events on EventBridge, 500 on Kinesis). Neither EventBridge nor Kinesis
takes an idempotency key, so every message carries the event's own id (``evt_…``: ``detail.id`` on
EventBridge, ``id`` in a Kinesis record) for consumers to drop the duplicate.

**In order per object.** A chunk holds at most one event per object (``object_type:object_id``), and
the next chunk is sent only once the previous one was wholly accepted, so an object's events reach
the bus one after the other in id order -- entries retried inside a chunk cannot overtake another
event of their object. Kinesis keeps that order to its readers: the partition key is the object,
so an object's records land on one shard in the order they were put. EventBridge keeps no order
to its targets: a target that needs one orders by ``detail.sequence`` (the outbox id, increasing).

**What is sent.** The event as the lake stores it: personal and free-text keys dropped and consumer
ids pseudonymized (bnpl.lake.tables.events.scrub), never the raw payload.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from bnpl.core import clock
from bnpl.core.context import Actor
from bnpl.core.errors import StateError
from bnpl.core.models import Event
from bnpl.core.services import audit_log_record
from bnpl.lake.export import LeaseLostError, StreamReport, _claim, _release, settled_horizon
from bnpl.lake.models import LakeWatermark
from bnpl.lake.tables.events import scrub

logger = logging.getLogger(__name__)

STREAM = "event_bus"
EVENTBRIDGE = "eventbridge"
KINESIS = "kinesis"
ACTOR = Actor(kind="system", identifier="event_bus_relay", label="Event bus relay")
# What one put may carry (the services' limits, with room for the request's own envelope).
EVENTBRIDGE_MAX_ENTRIES = 10
EVENTBRIDGE_MAX_BYTES = 250 * 1024
KINESIS_MAX_ENTRIES = 500
KINESIS_MAX_RECORD_BYTES = 1024 * 1024 - 256
KINESIS_MAX_BYTES = 5 * 1024 * 1024 - 64 * 1024


class EventBusError(StateError):
    """The bus did not accept a chunk: nothing past it is committed; the next run resends it."""

    default_code = "event_bus_put_failed"


def message(event: Event) -> dict[str, Any]:
    """The event as the bus carries it: its id (the de-duplication key), its place in the outbox
    (``sequence``, increasing), and its payload scrubbed as the lake scrubs it."""
    return {
        "id": event.public_id,
        "sequence": event.pk,
        "type": event.type,
        "created": event.created_at.isoformat(),
        "livemode": event.livemode,
        "merchant": event.merchant.public_id if event.merchant is not None else None,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "data": scrub(event.data),
    }


def _encoded(event: Event) -> str:
    return json.dumps(message(event), ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def object_key(event: Event) -> str:
    return f"{event.object_type}:{event.object_id}"


class Sink(Protocol):
    """One bus: how its entries are built and put; ``put`` returns the entries it refused. An
    interface (EventBridgeSink, KinesisSink), not a bus of its own."""

    max_entries: int
    max_bytes: int
    max_entry_bytes: int

    def entry(self, event: Event) -> tuple[dict[str, Any], int]: ...

    def put(self, entries: list[dict[str, Any]]) -> list[int]: ...


class EventBridgeSink(Sink):
    max_entries = EVENTBRIDGE_MAX_ENTRIES
    max_bytes = EVENTBRIDGE_MAX_BYTES
    max_entry_bytes = EVENTBRIDGE_MAX_BYTES

    def __init__(self, client: Any, *, bus: str, source: str) -> None:
        self.client, self.bus, self.source = client, bus, source

    def entry(self, event: Event) -> tuple[dict[str, Any], int]:
        detail = _encoded(event)
        entry = {
            "Time": event.created_at,
            "Source": self.source,
            "DetailType": event.type,
            "Detail": detail,
            "EventBusName": self.bus,
        }
        # As EventBridge counts an entry's size (its strings, plus 14 bytes for the time).
        size = 14 + sum(len(str(entry[name]).encode()) for name in ("Source", "DetailType", "Detail"))
        return entry, size

    def put(self, entries: list[dict[str, Any]]) -> list[int]:
        answer = self.client.put_events(Entries=entries)
        return [index for index, result in enumerate(answer.get("Entries", [])) if result.get("ErrorCode")]


class KinesisSink(Sink):
    max_entries = KINESIS_MAX_ENTRIES
    max_bytes = KINESIS_MAX_BYTES
    max_entry_bytes = KINESIS_MAX_RECORD_BYTES

    def __init__(self, client: Any, *, stream: str) -> None:
        self.client, self.stream = client, stream

    def entry(self, event: Event) -> tuple[dict[str, Any], int]:
        key = object_key(event)
        data = _encoded(event).encode()
        return {"Data": data, "PartitionKey": key}, len(data) + len(key.encode())

    def put(self, entries: list[dict[str, Any]]) -> list[int]:
        answer = self.client.put_records(StreamName=self.stream, Records=entries)
        return [index for index, result in enumerate(answer.get("Records", [])) if result.get("ErrorCode")]


def _client(service: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]  # the service is one of two literals, checked by the caller
        endpoint_url=settings.EVENT_BUS_ENDPOINT_URL or None,
        region_name=settings.EVENT_BUS_REGION_NAME or None,
    )


def configured_sink(client: Any | None = None) -> Sink | None:
    """The sink the settings name, None when the relay is off. ``client``: a boto3 client of the
    right service to use instead of one built from the settings."""
    kind = settings.EVENT_BUS_RELAY
    if not kind:
        return None
    if kind == EVENTBRIDGE:
        if not settings.EVENT_BUS_NAME:
            raise ImproperlyConfigured("EVENT_BUS_NAME: required when EVENT_BUS_RELAY is eventbridge.")
        return EventBridgeSink(
            client or _client("events"), bus=settings.EVENT_BUS_NAME, source=settings.EVENT_BUS_SOURCE
        )
    if kind == KINESIS:
        if not settings.EVENT_BUS_STREAM_NAME:
            raise ImproperlyConfigured("EVENT_BUS_STREAM_NAME: required when EVENT_BUS_RELAY is kinesis.")
        return KinesisSink(client or _client("kinesis"), stream=settings.EVENT_BUS_STREAM_NAME)
    raise ImproperlyConfigured(f"EVENT_BUS_RELAY: {kind!r} is not one of '', 'eventbridge', 'kinesis'.")


def chunks(events: Sequence[Event], sink: Sink) -> list[list[tuple[Event, dict[str, Any]]]]:
    """Events in id order cut into puts: each within the sink's limits and holding at most one
    event per object, so an object's next event always waits for the put before it."""
    result: list[list[tuple[Event, dict[str, Any]]]] = []
    current: list[tuple[Event, dict[str, Any]]] = []
    objects: set[str] = set()
    size = 0
    for event in events:
        entry, entry_size = sink.entry(event)
        if entry_size > sink.max_entry_bytes:
            raise EventBusError(f"Event {event.public_id} is {entry_size} bytes, over what the bus takes in one entry.")
        key = object_key(event)
        if current and (key in objects or len(current) >= sink.max_entries or size + entry_size > sink.max_bytes):
            result.append(current)
            current, objects, size = [], set(), 0
        current.append((event, entry))
        objects.add(key)
        size += entry_size
    if current:
        result.append(current)
    return result


def _put_chunk(sink: Sink, chunk: list[tuple[Event, dict[str, Any]]], *, sleep: Callable[[float], None]) -> None:
    """Put every entry of the chunk, retrying the refused ones (alone: the accepted are not resent)."""
    waiting = [entry for _, entry in chunk]
    attempts = settings.EVENT_BUS_PUT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            refused = sink.put(waiting)
        except (BotoCoreError, ClientError) as error:
            if attempt == attempts:
                raise EventBusError(f"The event bus refused a put: {error}") from error
            refused = list(range(len(waiting)))
        waiting = [waiting[index] for index in refused]
        if not waiting:
            return
        if attempt < attempts:
            sleep(min(0.1 * 2**attempt, 5.0))
    raise EventBusError(f"The event bus refused {len(waiting)} of {len(chunk)} entries after {attempts} attempts.")


def _advance(*, token: str, upper: int) -> None:
    now = clock.now()
    updated = LakeWatermark.objects.filter(stream=STREAM, lease_token=token).update(
        position=upper,
        leased_until=now + dt.timedelta(seconds=settings.LAKE_LEASE_SECONDS),
        updated_at=now,
    )
    if not updated:
        raise LeaseLostError(f"Another relay took over the {STREAM} stream.")


def relay_events(
    *,
    client: Any | None = None,
    take_over: bool = False,
    max_chunks: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> StreamReport:
    """Relay every settled event past the position to the configured bus, chunk by chunk, and
    return what was done (``skipped`` says why nothing was: off, held by another relay, waiting for
    older transactions). Raises EventBusError when a put fails: the position stays before it."""
    report = StreamReport(stream=STREAM)
    sink = configured_sink(client)
    if sink is None:
        report.skipped = "off (EVENT_BUS_RELAY is empty)"
        return report
    token = _claim(STREAM, take_over=take_over)
    if token is None:
        report.skipped = "another relay holds the stream"
        return report
    start = LakeWatermark.objects.get(stream=STREAM).position
    position = start
    try:
        horizon = settled_horizon(stream=STREAM, model=Event)
        if horizon is None:
            report.skipped = "waiting for older transactions to end"
            return report
        while position < horizon and (max_chunks is None or len(report.batches) < max_chunks):
            events = list(
                Event.objects.filter(pk__gt=position, pk__lte=horizon)
                .select_related("merchant")
                .order_by("pk")[: settings.EVENT_BUS_READ_EVENTS]
            )
            if not events:
                _advance(token=token, upper=horizon)
                position = horizon
                break
            for chunk in chunks(events, sink):
                if max_chunks is not None and len(report.batches) >= max_chunks:
                    break
                _put_chunk(sink, chunk, sleep=sleep)
                upper = chunk[-1][0].pk
                _advance(token=token, upper=upper)
                position = upper
                report.batches.append(f"{chunk[0][0].pk}-{upper}")
                report.rows += len(chunk)
        return report
    finally:
        _release(STREAM, token)
        if position != start:
            with transaction.atomic():
                audit_log_record(
                    action="event_bus.relayed",
                    instance=LakeWatermark.objects.get(stream=STREAM),
                    before={"position": start},
                    after={"position": position, "events": report.rows, "bus": settings.EVENT_BUS_RELAY},
                    actor=ACTOR,
                )
            logger.info(
                "event bus relay: %s event(s) to %s, position %s -> %s",
                report.rows,
                settings.EVENT_BUS_RELAY,
                start,
                position,
            )
