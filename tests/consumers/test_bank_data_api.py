"""Bank data through the partner API: the consumer's consent (recorded, expired, revoked), the
transaction stream (JSON batches and JSON lines, idempotent per transaction id, all or nothing),
the monthly cash-flow totals kept incrementally from it (always equal to a full recompute with
``decisioning.cashflow.monthly_totals``), the features decisions read (``cash_flow_for``), and
tenancy: a merchant sees and touches only its own consumers."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.db import transaction

from bnpl.core import clock
from bnpl.core.models import IdempotencyKey
from bnpl.core.services import clock_advance
from bnpl.tenancy.services import merchant_consumer_ensure
from consumers.models import Consumer, MerchantConsumer
from decisioning import bank_data
from decisioning.cashflow import CashFlowFeatures, MonthTotals, Transaction, merge_months, monthly_totals
from decisioning.models import BankDataConsent, BankTransaction, CashFlowMonth
from tests.conftest import ApiClient
from tests.consumers.factories import make_merchant_consumer
from tests.helpers import row_counts
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

FROZEN = dt.datetime(2026, 3, 20, 12, 0, tzinfo=dt.UTC)
IDEMPOTENCY_TABLE = IdempotencyKey._meta.label_lower


def _txn(
    id: str, booked_on: str, amount: int, category: str = "other", balance_after: int | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": id, "account_id": "acc_checking", "booked_on": booked_on, "amount": amount}
    body["currency"] = extra.pop("currency", "USD")
    body["category"] = category
    if balance_after is not None:
        body["balance_after"] = balance_after
    return {**body, **extra}


# Three months of a consumer's checking account (USD): pay, spending, a loan repayment, a transfer,
# an NSF fee, an overdraft (balance crossing below zero) and its fee.
HISTORY = [
    _txn("t01", "2026-01-02", 300_000, "income", 350_000),
    _txn("t02", "2026-01-10", -120_000, "other", 230_000),
    _txn("t03", "2026-01-15", -30_000, "debt_payment", 200_000),
    _txn("t04", "2026-01-20", -50_000, "transfer", 150_000),
    _txn("t05", "2026-02-02", 300_000, "income", 450_000),
    _txn("t06", "2026-02-05", -3_500, "nsf_fee", 446_500),
    _txn("t07", "2026-02-10", -460_000, "other", -13_500),
    _txn("t08", "2026-02-11", -3_500, "overdraft_fee", -17_000),
    _txn("t09", "2026-03-02", 240_000, "income", 223_000),
    _txn("t10", "2026-03-05", -20_000, "other", description="Groceries (accepted, never stored)"),
]


@pytest.fixture(autouse=True)
def traveller() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(FROZEN, tick=False) as frozen:
        yield frozen


# --- Helpers ---------------------------------------------------------------------------------------


def _consent(link: MerchantConsumer) -> BankDataConsent | None:
    return bank_data.consent_for_link(link=link)


def _features(link: MerchantConsumer, *, livemode: bool = False, currency: str = "USD") -> CashFlowFeatures | None:
    """The cash-flow features a decision at the link's own merchant reads."""
    return bank_data.cash_flow_for(
        consumer=link.consumer, livemode=livemode, currency=currency, merchant=link.merchant
    ).features


def _path(link: MerchantConsumer | str, action: str = "") -> str:
    public_id = link if isinstance(link, str) else link.public_id
    return f"/api/v1/consumers/{public_id}{action}"


def _send(api: ApiClient, link: MerchantConsumer, transactions: list[dict[str, Any]]) -> Any:
    """POST a JSON batch (each call with a new idempotency key, as a partner resending would)."""
    return api.post(_path(link, "/bank-transactions"), {"transactions": transactions})


def _send_lines(api: ApiClient, link: MerchantConsumer, body: str, content_type: str = "application/x-ndjson") -> Any:
    """POST a JSON-lines body (ApiClient always sends application/json, so use its Django client)."""
    headers = {"Authorization": f"Bearer {api.token}", "Idempotency-Key": str(uuid.uuid4())}
    return api.client.post(_path(link, "/bank-transactions"), body, content_type=content_type, headers=headers)


def _as_lines(transactions: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(txn) + "\n" for txn in transactions)


def _record_consent(api: ApiClient, link: MerchantConsumer, **fields: Any) -> Any:
    body = {"reference": "consent_8812", "granted_at": (FROZEN - dt.timedelta(hours=1)).isoformat(), **fields}
    return api.post(_path(link, "/bank-data-consent"), body)


def _expected_months(transactions: list[dict[str, Any]]) -> dict[tuple[str, dt.date], MonthTotals]:
    """The monthly totals of the payloads (first copy of each id), computed from scratch."""
    first: dict[str, dict[str, Any]] = {}
    for txn in transactions:
        first.setdefault(txn["id"], txn)
    return monthly_totals(
        [
            Transaction(
                booked_on=dt.date.fromisoformat(txn["booked_on"]),
                amount=txn["amount"],
                currency=txn["currency"].upper(),
                category=txn["category"],
                balance_after=txn.get("balance_after"),
            )
            for txn in first.values()
        ]
    )


def _recomputed_months(consumer: Consumer, livemode: bool = False) -> dict[tuple[str, dt.date], MonthTotals]:
    """The monthly totals of every transaction kept for the consumer, computed from scratch."""
    return monthly_totals(
        [
            Transaction(
                booked_on=row.booked_on,
                amount=row.amount,
                currency=row.currency,
                category=row.category,
                balance_after=row.balance_after,
            )
            for row in BankTransaction.objects.filter(consumer=consumer, livemode=livemode)
        ]
    )


def _stored_months(consumer: Consumer, livemode: bool = False) -> dict[tuple[str, dt.date], MonthTotals]:
    """The CashFlowMonth rows of every consent, added up per currency and month, as MonthTotals."""
    by_currency: dict[str, list[MonthTotals]] = {}
    for (_, currency, _), totals in _stored_months_per_consent(consumer, livemode).items():
        by_currency.setdefault(currency, []).append(totals)
    return {
        (currency, totals.month): totals for currency, months in by_currency.items() for totals in merge_months(months)
    }


def _stored_months_per_consent(
    consumer: Consumer, livemode: bool = False
) -> dict[tuple[str, str, dt.date], MonthTotals]:
    """The CashFlowMonth rows, keyed by consent, currency and month, as MonthTotals."""
    return {
        (row.consent.public_id, row.currency, row.month): MonthTotals(
            month=row.month,
            inflow=row.inflow_amount,
            outflow=row.outflow_amount,
            income=row.income_amount,
            debt_payments=row.debt_payment_amount,
            nsf=row.nsf_count,
            overdrafts=row.overdraft_count,
            transactions=row.transaction_count,
            balance_sum=row.balance_sum,
            balance_count=row.balance_count,
        )
        for row in CashFlowMonth.objects.filter(consumer=consumer, livemode=livemode).select_related("consent")
    }


def _changes(before: dict[str, int]) -> dict[str, int]:
    after = row_counts()
    return {table: after[table] - before[table] for table in after if after[table] != before[table]}


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error: dict[str, Any] = response.json()["error"]
    return error


# --- A JSON batch ----------------------------------------------------------------------------------


def test_a_json_batch_is_kept_and_added_to_the_monthly_totals(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)

    response = _send(api, link, HISTORY)

    assert response.status_code == 201, response.content
    assert response.json() == {
        "object": "bank_transaction_batch",
        "consumer": link.public_id,
        "received": 10,
        "created": 10,
        "duplicates": 0,
    }
    kept = BankTransaction.objects.get(external_id="t07")
    consent = _consent(link)
    assert (kept.source.merchant, kept.livemode, kept.consumer_id, kept.consent) == (
        tenant.merchant,
        False,
        link.consumer_id,
        consent,
    )
    assert (kept.account_id, kept.booked_on, kept.amount, kept.currency, kept.balance_after, kept.category) == (
        "acc_checking",
        dt.date(2026, 2, 10),
        -460_000,
        "USD",
        -13_500,
        "other",
    )
    stored = _stored_months(link.consumer)
    assert stored == _expected_months(HISTORY)
    # By hand, February: 300,000 in; 3,500 + 460,000 + 3,500 out; one NSF fee; an overdraft (t07,
    # 446,500 -> -13,500) and an overdraft fee; balances 450,000 + 446,500 - 13,500 - 17,000.
    assert stored[("USD", dt.date(2026, 2, 1))] == MonthTotals(
        month=dt.date(2026, 2, 1),
        inflow=300_000,
        outflow=467_000,
        income=300_000,
        nsf=1,
        overdrafts=2,
        transactions=4,
        balance_sum=866_000,
        balance_count=4,
    )


def test_resending_a_batch_creates_nothing_and_reports_duplicates(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    assert _send(api, link, HISTORY).status_code == 201

    response = _send(api, link, HISTORY)

    assert response.status_code == 201, response.content
    assert response.json()["received"] == 10
    assert (response.json()["created"], response.json()["duplicates"]) == (0, 10)
    assert BankTransaction.objects.count() == 10
    assert _stored_months(link.consumer) == _expected_months(HISTORY)  # not counted twice


def test_a_batch_mixing_new_and_known_ids_keeps_only_the_new_ones(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    assert _send(api, link, HISTORY[:6]).status_code == 201
    changed_copy = {**HISTORY[0], "amount": 999_999}  # a known id sent again: the first copy stands

    response = _send(api, link, [changed_copy, *HISTORY[4:]])

    assert response.status_code == 201, response.content
    assert (response.json()["received"], response.json()["created"], response.json()["duplicates"]) == (7, 4, 3)
    assert set(BankTransaction.objects.values_list("external_id", flat=True)) == {txn["id"] for txn in HISTORY}
    assert BankTransaction.objects.get(external_id="t01").amount == 300_000
    assert _stored_months(link.consumer) == _expected_months(HISTORY)


def test_a_repeated_id_within_one_batch_is_kept_once(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    first, second = _txn("dup", "2026-03-01", 5_000), _txn("dup", "2026-03-02", 7_000)

    response = _send(api, link, [first, second])

    assert response.status_code == 201, response.content
    assert (response.json()["created"], response.json()["duplicates"]) == (1, 1)
    assert BankTransaction.objects.get().amount == 5_000
    assert _stored_months(link.consumer) == _expected_months([first])


# --- JSON lines ------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/x-ndjson", "application/jsonl"])
def test_json_lines_give_the_same_result_as_a_json_batch(tenant: Tenant, content_type: str) -> None:
    api = ApiClient(tenant.test_key)
    by_lines = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    by_batch = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    body = _as_lines(HISTORY[:5]) + "\n   \n" + _as_lines(HISTORY[5:])  # blank lines are skipped

    response = _send_lines(api, by_lines, body, content_type)

    assert response.status_code == 201, response.content
    assert response.json() == {
        "object": "bank_transaction_batch",
        "consumer": by_lines.public_id,
        "received": 10,
        "created": 10,
        "duplicates": 0,
    }
    assert _send(api, by_batch, HISTORY).status_code == 201
    assert _stored_months(by_lines.consumer) == _stored_months(by_batch.consumer) == _expected_months(HISTORY)
    assert BankTransaction.objects.filter(consumer=by_lines.consumer).count() == 10


def test_json_lines_resent_are_duplicates(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    assert _send_lines(api, link, _as_lines(HISTORY)).status_code == 201

    response = _send_lines(api, link, _as_lines(HISTORY))

    assert response.status_code == 201, response.content
    assert (response.json()["created"], response.json()["duplicates"]) == (0, 10)
    assert _stored_months(link.consumer) == _expected_months(HISTORY)


def test_a_bad_json_line_is_refused_naming_the_line_and_nothing_is_written(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    body = _as_lines(HISTORY[:2]) + '{"id": "t03", "amount": \n' + _as_lines(HISTORY[3:])
    before = row_counts()

    error = _error(_send_lines(api, link, body), 400)

    assert error["code"] == "body_invalid"
    assert "Line 3 " in error["message"], error
    assert _changes(before) == {}


def test_a_json_line_that_is_not_a_transaction_is_refused_by_position(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    body = _as_lines(HISTORY[:2]) + "[1, 2]\n"
    before = row_counts()

    error = _error(_send_lines(api, link, body), 400)

    assert _changes(before) == {}
    assert error["param"] == "transactions[2]", error


# --- Consent -----------------------------------------------------------------------------------------


def test_without_consent_transactions_are_refused_until_consent_is_recorded(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False, consent=False)
    before = row_counts()

    error = _error(_send(api, link, HISTORY), 409)

    assert error["code"] == "consent_required"
    assert _changes(before) == {IDEMPOTENCY_TABLE: 1}  # the 409 is kept for replay; nothing else
    assert not BankTransaction.objects.exists()
    assert not CashFlowMonth.objects.exists()

    recorded = _record_consent(api, link)

    assert recorded.status_code == 201, recorded.content
    consent = _consent(link)
    assert consent is not None
    assert recorded.json() == {
        "id": consent.public_id,
        "object": "bank_data_consent",
        "consumer": link.public_id,
        "reference": "consent_8812",
        "granted_at": "2026-03-20T11:00:00Z",
        "expires_at": None,
        "revoked_at": None,
        "revoked_by": None,
        "status": "active",
        "scope": "source",
    }
    assert consent.public_id.startswith("bdc_")
    assert (consent.source.merchant, consent.livemode, consent.consumer) == (tenant.merchant, False, link.consumer)
    response = _send(api, link, HISTORY)
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 10
    assert _stored_months(link.consumer) == _expected_months(HISTORY)


def test_after_the_consent_expires_transactions_are_refused(tenant: Tenant, traveller: time_machine.Traveller) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False, consent=False)
    expires_at = FROZEN + dt.timedelta(days=1)
    assert _record_consent(api, link, expires_at=expires_at.isoformat()).status_code == 201
    assert _send(api, link, HISTORY[:4]).status_code == 201

    traveller.shift(dt.timedelta(days=1, seconds=1))
    error = _error(_send(api, link, HISTORY[4:]), 409)

    assert error["code"] == "consent_required"
    assert BankTransaction.objects.count() == 4
    assert _stored_months(link.consumer) == _expected_months(HISTORY[:4])
    detail = api.get(_path(link)).json()
    assert detail["bank_data"]["consent"]["status"] == "expired"
    assert detail["bank_data"]["consent"]["expires_at"] == "2026-03-21T12:00:00Z"


def test_renewing_an_expired_consent_lets_transactions_in_again(
    tenant: Tenant, traveller: time_machine.Traveller
) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False, consent=False)
    assert _record_consent(api, link, expires_at=(FROZEN + dt.timedelta(days=1)).isoformat()).status_code == 201
    traveller.shift(dt.timedelta(days=2))

    renewed = _record_consent(api, link, reference="consent_9000", granted_at=FROZEN.isoformat())

    assert renewed.status_code == 201, renewed.content
    assert (renewed.json()["status"], renewed.json()["expires_at"]) == ("active", None)
    assert BankDataConsent.objects.count() == 1  # one per source, consumer and mode, renewed in place
    assert _send(api, link, HISTORY).status_code == 201


def test_a_consent_granted_in_the_future_is_refused(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False, consent=False)
    before = row_counts()

    error = _error(_record_consent(api, link, granted_at=(FROZEN + dt.timedelta(hours=1)).isoformat()), 400)

    assert error["param"] == "granted_at"
    assert _changes(before) == {}
    assert _error(_send(api, link, HISTORY), 409)["code"] == "consent_required"


def test_a_consent_expiring_before_now_is_refused(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False, consent=False)

    error = _error(_record_consent(api, link, expires_at=(FROZEN - dt.timedelta(minutes=1)).isoformat()), 400)

    assert error["param"] == "expires_at"
    assert not BankDataConsent.objects.exists()


# --- Bad transactions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"amount": 0}, "amount"),
        ({"category": "income", "amount": -5_000}, "amount"),
        ({"category": "debt_payment", "amount": 5_000}, "amount"),
        ({"category": "nsf_fee", "amount": 3_500}, "amount"),
        ({"category": "overdraft_fee", "amount": 3_500}, "amount"),
        ({"booked_on": "2026-03-21"}, "booked_on"),  # tomorrow (UTC)
        # Refused by the input serializer rather than the service: named the same way.
        ({"booked_on": "2026-02-30"}, "booked_on"),
        ({"category": "salary"}, "category"),
        ({"currency": "XYZ"}, "currency"),
        ({"merchant_name": "Grocer"}, "merchant_name"),  # an unknown field, refused by name
    ],
)
def test_a_bad_transaction_refuses_the_whole_batch_naming_it(
    tenant: Tenant, change: dict[str, Any], param: str
) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    assert _send(api, link, HISTORY[:3]).status_code == 201
    months_before = _stored_months(link.consumer)
    batch = [*HISTORY[3:5], {**HISTORY[5], **change}, *HISTORY[6:]]  # the bad one is at index 2
    before = row_counts()

    error = _error(_send(api, link, batch), 400)

    assert _changes(before) == {}
    assert _stored_months(link.consumer) == months_before
    assert error["param"] == f"transactions[2].{param}", error


def test_a_transaction_booked_today_is_accepted(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)

    response = _send(api, link, [_txn("today", "2026-03-20", -1_000)])  # FROZEN's UTC date

    assert response.status_code == 201, response.content
    assert BankTransaction.objects.get().booked_on == dt.date(2026, 3, 20)


def test_a_lowercase_currency_is_accepted_as_upper_case(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)

    response = _send(api, link, [_txn("eur1", "2026-03-01", 10_000, currency="eur")])

    assert response.status_code == 201, response.content
    assert BankTransaction.objects.get().currency == "EUR"
    assert set(_stored_months(link.consumer)) == {("EUR", dt.date(2026, 3, 1))}


def test_more_than_1000_transactions_are_refused_and_1000_are_accepted(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    many = [_txn(f"m{index:04d}", "2026-03-01", 100 + index) for index in range(1001)]
    before = row_counts()

    error = _error(_send(api, link, many), 400)

    assert error["param"] == "transactions"
    assert _changes(before) == {}

    response = _send(api, link, many[:1000])

    assert response.status_code == 201, response.content
    assert response.json()["created"] == 1000
    assert _stored_months(link.consumer) == _expected_months(many[:1000])


def test_an_empty_batch_is_refused(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)

    assert _error(_send(api, link, []), 400)["param"] == "transactions"
    assert _error(_send_lines(api, link, "\n\n"), 400)["param"] == "transactions"


# --- Revoking ----------------------------------------------------------------------------------------


def test_revoking_deletes_only_this_merchants_transactions_and_rebuilds_the_totals(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    api, other_api = ApiClient(tenant.test_key), ApiClient(other_tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    other_link = merchant_consumer_ensure(merchant=other_tenant.merchant, livemode=False, consumer=link.consumer)
    assert _record_consent(other_api, other_link).status_code == 201
    # The other merchant sends some of the same ids (its own, unrelated) and a month of its own.
    theirs = [{**txn, "amount": txn["amount"] * 2} for txn in HISTORY[4:8]]
    theirs.append(_txn("x01", "2025-12-15", 50_000, "income", 50_000))
    assert _send(api, link, HISTORY).json()["created"] == 10
    assert _send(other_api, other_link, theirs).json()["created"] == 5
    assert _stored_months(link.consumer) == _recomputed_months(link.consumer)

    response = api.post(_path(link, "/bank-data-consent/revoke"))

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "revoked"
    assert response.json()["revoked_at"] == "2026-03-20T12:00:00Z"
    assert not BankTransaction.objects.filter(source__merchant=tenant.merchant).exists()
    assert BankTransaction.objects.filter(source__merchant=other_tenant.merchant).count() == 5
    assert not CashFlowMonth.objects.filter(source__merchant=tenant.merchant).exists()
    assert response.json()["revoked_by"] == "source"
    assert _stored_months(link.consumer) == _expected_months(theirs)
    assert api.get(_path(link)).json()["bank_data"]["transactions"] == 0
    assert other_api.get(_path(other_link)).json()["bank_data"]["transactions"] == 5

    again = _error(api.post(_path(link, "/bank-data-consent/revoke")), 409)

    assert again["code"] == "no_consent"
    assert _error(_send(api, link, HISTORY), 409)["code"] == "consent_required"


def test_revoking_without_any_consent_is_refused(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False, consent=False)

    assert _error(api.post(_path(link, "/bank-data-consent/revoke")), 409)["code"] == "no_consent"


def test_revoking_refuses_parameters_by_name(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)

    error = _error(api.post(_path(link, "/bank-data-consent/revoke"), {"reason": "asked"}), 400)

    assert error["param"] == "reason"
    assert BankDataConsent.objects.get().revoked_at is None


# --- Reading consumers and tenancy ----------------------------------------------------------------------


def test_another_merchants_consumer_is_not_found_on_every_endpoint(tenant: Tenant, other_tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    theirs = make_merchant_consumer(merchant=other_tenant.merchant, livemode=False)
    live_own = make_merchant_consumer(merchant=tenant.merchant, livemode=True)  # the other mode
    before = row_counts()

    for link in (theirs, live_own):
        assert _error(api.get(_path(link)), 404)["code"] == "resource_missing"
        _error(_record_consent(api, link), 404)
        _error(api.post(_path(link, "/bank-data-consent/revoke")), 404)
        _error(_send(api, link, HISTORY), 404)
        _error(_send_lines(api, link, _as_lines(HISTORY)), 404)

    assert _changes(before) == {}
    consent = _consent(theirs)
    assert consent is not None and consent.revoked_at is None


def test_the_list_shows_only_the_merchants_own_consumers(tenant: Tenant, other_tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    own = [make_merchant_consumer(merchant=tenant.merchant, livemode=False) for _ in range(2)]
    make_merchant_consumer(merchant=other_tenant.merchant, livemode=False)
    make_merchant_consumer(merchant=tenant.merchant, livemode=True)

    response = api.get("/api/v1/consumers")

    assert response.status_code == 200, response.content
    listed = response.json()["results"]
    assert {item["id"] for item in listed} == {link.public_id for link in own}
    assert all(item["object"] == "consumer" and item["livemode"] is False for item in listed)


def test_the_detail_shows_the_consent_and_the_transactions_kept(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    consent = _consent(link)
    assert consent is not None
    assert _send(api, link, HISTORY).status_code == 201

    response = api.get(_path(link))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": link.public_id,
        "object": "consumer",
        "livemode": False,
        "bank_data": {
            "consent": {
                "id": consent.public_id,
                "object": "bank_data_consent",
                "consumer": link.public_id,
                "reference": f"consent-{link.public_id}",
                "granted_at": "2026-03-19T12:00:00Z",
                "expires_at": None,
                "revoked_at": None,
                "revoked_by": None,
                "status": "active",
                "scope": "source",
            },
            "transactions": 10,
            "latest_booked_on": "2026-03-05",
        },
        "created_at": "2026-03-20T12:00:00Z",
    }


def test_the_detail_of_a_consumer_without_bank_data(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False, consent=False)

    bank = api.get(_path(link)).json()["bank_data"]

    assert bank == {"consent": None, "transactions": 0, "latest_booked_on": None}


# --- Incremental totals and the features decisions read ----------------------------------------------


def test_incremental_totals_equal_a_full_recompute_after_several_batches(tenant: Tenant, other_tenant: Tenant) -> None:
    api, other_api = ApiClient(tenant.test_key), ApiClient(other_tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    other_link = merchant_consumer_ensure(merchant=other_tenant.merchant, livemode=False, consumer=link.consumer)
    assert _record_consent(other_api, other_link).status_code == 201
    euros = [_txn("e1", "2026-02-03", 80_000, "income", 90_000, currency="EUR"), _txn("e2", "2026-02-04", -1_000)]
    # Out of month order, overlapping, resent, split across requests, formats and sources.
    assert _send(api, link, [HISTORY[9], HISTORY[0], HISTORY[5]]).status_code == 201
    assert _send_lines(api, link, _as_lines(HISTORY[3:7])).status_code == 201
    assert _send(other_api, other_link, [*euros, HISTORY[1], HISTORY[8]]).status_code == 201
    assert _send(api, link, HISTORY).status_code == 201
    assert _send(api, link, HISTORY[6:]).status_code == 201

    stored = _stored_months_per_consent(link.consumer)

    assert _stored_months(link.consumer) == _recomputed_months(link.consumer)
    assert BankTransaction.objects.filter(consumer=link.consumer).count() == 14  # 10 + 4 from the other source
    with transaction.atomic():
        for consent in BankDataConsent.objects.filter(consumer=link.consumer):
            bank_data._rebuild_months(consent=consent)
    assert _stored_months_per_consent(link.consumer) == stored
    # Each source's totals are its own: the other merchant's months hold only what it sent.
    other_consent = _consent(other_link)
    assert other_consent is not None
    assert {
        (currency, month): totals
        for (consent, currency, month), totals in stored.items()
        if consent == other_consent.public_id
    } == _expected_months([*euros, HISTORY[1], HISTORY[8]])


def test_live_and_test_mode_totals_are_kept_apart(tenant: Tenant) -> None:
    test_link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    live_link = merchant_consumer_ensure(merchant=tenant.merchant, livemode=True, consumer=test_link.consumer)
    live_api = ApiClient(tenant.live_key)
    assert _record_consent(live_api, live_link).status_code == 201
    assert _send(ApiClient(tenant.test_key), test_link, HISTORY).status_code == 201

    assert _send(live_api, live_link, HISTORY[:4]).json()["created"] == 4  # the same ids, another mode

    assert _stored_months(test_link.consumer, livemode=False) == _expected_months(HISTORY)
    assert _stored_months(test_link.consumer, livemode=True) == _expected_months(HISTORY[:4])


def test_cash_flow_for_reflects_the_ingested_transactions(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    assert _features(link, livemode=False, currency="USD") is None
    assert _send(api, link, HISTORY).status_code == 201

    features = _features(link, livemode=False, currency="USD")

    assert features is not None
    assert features.months_observed == 3  # January to March 2026
    assert features.monthly_income == 280_000  # (300,000 + 300,000 + 240,000) / 3
    assert features.nsf_overdraft_events == 3  # February: the NSF fee, the overdraft and its fee
    assert features.debt_to_income == 0.0357  # 30,000 / 840,000
    # nets: Jan 300,000 - 150,000; Feb 300,000 - 467,000; Mar 240,000 - 20,000 -> 203,000 / 3
    assert features.free_cash_flow == 67_666
    assert _features(link, livemode=False, currency="EUR") is None
    assert _features(link, livemode=True, currency="USD") is None


def test_cash_flow_for_ignores_stale_data(tenant: Tenant, traveller: time_machine.Traveller) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    assert _send(api, link, HISTORY).status_code == 201

    traveller.move_to(dt.datetime(2026, 5, 31, 23, 0, tzinfo=dt.UTC))  # March is two months back: fresh
    assert _features(link, livemode=False, currency="USD") is not None
    traveller.move_to(dt.datetime(2026, 6, 1, 1, 0, tzinfo=dt.UTC))  # three months back: stale
    assert _features(link, livemode=False, currency="USD") is None


def test_data_shared_under_an_expired_consent_is_deleted_and_stops_counting(tenant: Tenant) -> None:
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False, consent=False)
    bank_data.consent_record(
        link=link,
        reference="short",
        granted_at=clock.now() - dt.timedelta(days=1),
        expires_at=clock.now() + dt.timedelta(days=2),
    )
    bank_data.transactions_ingest(
        link=link,
        transactions=[bank_data.IncomingTransaction("t1", "acc", clock.today(), 300_000, "USD", "income")],
    )
    assert _features(link, livemode=False, currency="USD") is not None

    clock_advance(by=dt.timedelta(days=3))
    assert bank_data.consents_expire() == 1
    assert bank_data.consents_expire() == 0  # nothing left to clear

    assert not BankTransaction.objects.filter(consumer=link.consumer).exists()
    assert _features(link, livemode=False, currency="USD") is None


# --- Whose consent: the merchant's record covers its own decisions; the consumer decides the rest ----


def test_renewing_a_current_consent_keeps_the_scope_the_consumer_chose(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    consent = _consent(link)
    assert consent is not None
    bank_data.consent_scope_set(consent=consent, scope="all_decisions")

    renewed = _record_consent(api, link, reference="consent_renewed")

    assert renewed.status_code == 201, renewed.content
    assert (renewed.json()["scope"], renewed.json()["reference"]) == ("all_decisions", "consent_renewed")
    assert api.get(_path(link)).json()["bank_data"]["consent"]["scope"] == "all_decisions"


def test_a_consent_recorded_again_after_expiry_covers_the_merchants_own_decisions_only(
    tenant: Tenant, traveller: time_machine.Traveller
) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False, consent=False)
    assert _record_consent(api, link, expires_at=(FROZEN + dt.timedelta(days=1)).isoformat()).status_code == 201
    consent = _consent(link)
    assert consent is not None
    bank_data.consent_scope_set(consent=consent, scope="all_decisions")
    traveller.shift(dt.timedelta(days=2))

    renewed = _record_consent(api, link, granted_at=(FROZEN + dt.timedelta(days=2)).isoformat())

    assert renewed.status_code == 201, renewed.content
    assert (renewed.json()["status"], renewed.json()["scope"]) == ("active", "source")


def test_a_merchant_may_record_again_a_consent_it_revoked_itself(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    assert api.post(_path(link, "/bank-data-consent/revoke")).json()["revoked_by"] == "source"

    again = _record_consent(api, link)

    assert again.status_code == 201, again.content
    assert (again.json()["status"], again.json()["revoked_by"], again.json()["scope"]) == ("active", None, "source")


def test_expiry_is_evented_to_the_source_merchant(tenant: Tenant, traveller: time_machine.Traveller) -> None:
    api = ApiClient(tenant.test_key)
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False, consent=False)
    assert _record_consent(api, link, expires_at=(FROZEN + dt.timedelta(days=1)).isoformat()).status_code == 201
    assert _send(api, link, HISTORY[:3]).status_code == 201
    traveller.shift(dt.timedelta(days=2))

    assert bank_data.consents_expire() == 1

    listed = api.get("/api/v1/events", {"type": "bank_data_consent.expired"}).json()["results"]
    assert [
        (event["data"]["object"]["consumer"], event["data"]["object"]["transactions_deleted"]) for event in listed
    ] == [(link.public_id, 3)]
    assert not CashFlowMonth.objects.exists()
