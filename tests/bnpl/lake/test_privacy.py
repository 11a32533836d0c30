"""No direct identifier leaves the database: consumers with unmistakable names, emails, phone
numbers, national ids and addresses go through checkout (their contact details also in the checkout
session and its events), everything is exported, and every string cell of every exported file, and
every byte of every manifest, is searched for them. Consumers appear under a stable HMAC pseudonym."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout import orders as checkout_orders
from bnpl.checkout import sessions as checkout_sessions
from bnpl.checkout.step_up import checkout_card_add
from bnpl.core.services import clock_advance
from bnpl.lake import export, reader
from bnpl.lake.pseudonym import pseudonymize_text
from bnpl.lake.tables import scrub
from bnpl.lake.tables.events import EMAIL_LIKE, PERSONAL_KEY, PHONE_LIKE, REDACTED, scrubbed_json
from consumers.models import Consumer
from consumers.services import consumer_register, identity_submit
from tests.bnpl.checkout.factories import product_for
from tests.bnpl.lake.conftest import S3Lake
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

PEOPLE = [
    {
        "email": "zebulon.quixote.7731@privacy-probe.example",
        "phone": "+15557310042",
        "legal_name": "Zebulon Quixotic-Marmaduke",
        "address_line1": "4417 Unmistakable Boulevard",
        "city": "Xylophoneville",
        "postal_code": "98731",
        "national_id_last4": "8642",
    },
    {
        "email": "wilhelmina.obscura.2290@privacy-probe.example",
        "phone": "+15559920017",
        "legal_name": "Wilhelmina Obscura-Fernsby",
        "address_line1": "12 Quietly Peculiar Lane",
        "city": "Quaggamire",
        "postal_code": "30591",
        "national_id_last4": "9753",
    },
]


def _shop(tenant: Tenant, person: dict[str, str]) -> Consumer:
    with transaction.atomic():
        consumer = consumer_register(email=person["email"], phone=person["phone"])
    identity_submit(
        consumer=consumer,
        legal_name=person["legal_name"],
        date_of_birth=dt.date(1984, 2, 29),
        address_line1=person["address_line1"],
        city=person["city"],
        postal_code=person["postal_code"],
        country="US",
        national_id_last4=person["national_id_last4"],
    )
    session = checkout_sessions.checkout_session_create(
        merchant=tenant.merchant,
        livemode=False,
        amount=12_000,
        currency="USD",
        line_items=[{"name": f"Gift for {person['legal_name']}", "quantity": 1, "unit_amount": 12_000}],
        return_url="https://shop.example.com/thanks",
        cancel_url="https://shop.example.com/cart",
        merchant_reference=person["email"],
        customer_email=person["email"],
        customer_phone=person["phone"],
    )
    card = checkout_card_add(
        session=session, consumer=consumer, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )
    result = checkout_confirmation.checkout_confirm(
        session=session, consumer=consumer, product=product_for(tenant.merchant, False), payment_method=card
    )
    assert result.order is not None
    checkout_orders.order_capture(order=result.order, amount=12_000)
    checkout_orders.order_refund(order=result.order, amount=1_000, reason=f"{person['legal_name']} changed mind")
    return consumer


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _every_string_cell(table: pa.Table) -> Iterator[str]:
    for column in table.columns:
        for value in column.to_pylist():
            yield from _strings(value)


def test_no_direct_identifier_appears_in_any_exported_file(tenant: Tenant, s3_lake: S3Lake) -> None:
    consumers = [_shop(tenant, person) for person in PEOPLE]
    export.lake_export()
    clock_advance(by=dt.timedelta(hours=1))
    export.lake_export()  # a second snapshot: pseudonyms must not change

    needles = [value.lower() for person in PEOPLE for key, value in person.items() if key != "national_id_last4"]
    needles += [person["phone"].lstrip("+") for person in PEOPLE]
    needles += [consumer.public_id.lower() for consumer in consumers]
    national_ids = {person["national_id_last4"] for person in PEOPLE}
    scanned = 0
    for key in s3_lake.object_keys():
        body = s3_lake.body(key)
        if key.endswith(".json"):
            text = body.decode().lower()
            assert not [needle for needle in needles if needle in text], key
            continue
        table = pa.parquet.read_table(pa.BufferReader(body))  # type: ignore[attr-defined]
        for cell in _every_string_cell(table):
            scanned += 1
            lowered = cell.lower()
            assert not [needle for needle in needles if needle in lowered], (key, cell)
            assert cell not in national_ids, (key, cell)
        assert not [needle for needle in needles if needle.encode() in body.lower()], key  # raw bytes too
    assert scanned > 500  # the scan saw the exports (it cannot pass by reading nothing)

    expected = {
        "psn_" + hmac.new(_key(), consumer.public_id.encode(), hashlib.sha256).hexdigest()[:32]
        for consumer in consumers
    }
    for manifest in reader.manifests(stream="snapshots"):
        keys = set(reader.read_table(table="consumers", snapshot=manifest["batch"])["consumer_key"].to_pylist())
        assert keys == expected  # the same pseudonyms in both snapshots
    plans = reader.read_table(table="plans")["consumer_key"].to_pylist()
    assert set(plans) == expected


def _key() -> bytes:
    from django.conf import settings

    return hmac.new(settings.SECRET_KEY.encode(), b"bnpl.lake.pseudonym", hashlib.sha256).digest()


def test_the_pseudonym_key_setting_changes_every_pseudonym(settings: Any) -> None:
    from bnpl.lake.pseudonym import pseudonym

    default = pseudonym("con_abc")
    settings.LAKE_PSEUDONYM_KEY = "another-key"
    assert pseudonym("con_abc") != default
    assert pseudonym("con_abc") == "psn_" + hmac.new(b"another-key", b"con_abc", hashlib.sha256).hexdigest()[:32]


def test_event_payloads_lose_personal_keys_and_anything_shaped_like_contact_details() -> None:
    payload = {
        "id": "cs_1",
        "customer_email": "a@b.example",
        "email_verified": True,
        "phone": "+15551234567",
        "note": "call +1 555 123 4567 or mail x@y.example",
        "nested": [{"legal_name": "Ann", "city": "Springfield", "amount": 100, "seen_at": "2026-11-28T10:00:00+00:00"}],
        "message": "ask a@b.example, consumer con_Abc123",
    }

    cleaned = scrub(payload)

    assert cleaned["nested"] == [{"amount": 100, "seen_at": "2026-11-28T10:00:00+00:00"}]
    assert set(cleaned) == {"id", "email_verified", "nested", "message"}
    assert "a@b.example" not in cleaned["message"] and "con_Abc123" not in cleaned["message"]
    assert cleaned["message"].startswith("ask [redacted], consumer psn_")


def _plain_scrub(value: Any) -> Any:
    """The rule as first written: a plain walk of the parsed payload (the export scrubs while parsing)."""
    if isinstance(value, dict):
        return {
            key: _plain_scrub(item)
            for key, item in value.items()
            if isinstance(item, bool) or item is None or PERSONAL_KEY.search(key) is None
        }
    if isinstance(value, list):
        return [_plain_scrub(item) for item in value]
    if isinstance(value, str):
        return pseudonymize_text(PHONE_LIKE.sub(REDACTED, EMAIL_LIKE.sub(REDACTED, value)))
    return value


KEYS = st.sampled_from(
    [
        "id",
        "amount",
        "email",
        "customer_email",
        "email_verified",
        "Name",
        "name",
        "surname",
        "reason",
        "reasons",
        "refund_reason",
        "note",
        "line_items",
        "seen_at",
        "evidence",
        "phone",
        "status",
        "ünï",
        "to a@b.example",  # keys holding what a pattern looks for: the value-by-value walk
        "con_Abc123",
        "+1 555 123 4567",
        'quo"te',  # a key shown with an escape
    ]
)
TEXTS = st.one_of(
    st.sampled_from(
        ["a@b.example", "call +1 555 123 4567", "+15551234567", "con_Abc123 paid", "2026-11-28T10:00:00+00:00"]
    ),
    st.text(alphabet=st.sampled_from(list('ab@.+1 5con_"\\\n✓')), max_size=30),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), TEXTS)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=6)),
    max_leaves=25,
)


@hypothesis_settings(suppress_health_check=[HealthCheck.too_slow])  # a shared machine can be slow to draw them
@given(DOCUMENTS)
def test_scrubbing_while_parsing_gives_exactly_the_plain_rule(document: Any) -> None:
    text = json.dumps(document)

    scrubbed = scrubbed_json(text)

    assert scrubbed == json.dumps(
        _plain_scrub(json.loads(text)), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
