"""A plan's rows shown without DRF's per-field lookups (``plain_writer``) are shown exactly as DRF
shows them, and a serializer that is not plain is refused rather than shown differently."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bnpl.plans.models import Installment, Plan
from bnpl.plans.representations import (
    DisclosureRepresentation,
    InstallmentRepresentation,
    PlanRepresentation,
    plain_writer,
    plan_data,
    plan_data_writer,
)
from tests.bnpl.checkout.factories import make_authorized_order
from tests.merchants.factories import Tenant


def _financing_plan(tenant: Tenant) -> Plan:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=60_000, kind="financing", count=6)
    return order.plan


@pytest.mark.django_db
def test_plain_writer_shows_each_installment_as_drf_does(tenant: Tenant) -> None:
    plan = _financing_plan(tenant)
    rows = list(plan.installments.order_by("sequence"))
    rows[0].paid_amount, rows[0].status = rows[0].amount, Installment.Status.PAID
    rows[1].held_since = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)  # on hold
    rows[2].paid_amount, rows[2].status = 1, Installment.Status.SCHEDULED  # part paid
    rows[3].status = Installment.Status.CANCELED

    write = plain_writer(InstallmentRepresentation())

    shown = [write(row) for row in rows]
    assert shown == [dict(InstallmentRepresentation(row).data) for row in rows]
    assert [row["status"] for row in shown][:4] == ["paid", "scheduled", "scheduled", "canceled"]
    assert shown[1]["on_hold"] is True and shown[0]["due_date"] == rows[0].due_date.isoformat()


@pytest.mark.django_db
def test_the_batch_writer_shows_a_plan_as_plan_data_each_time(tenant: Tenant) -> None:
    plan = _financing_plan(tenant)
    other = _financing_plan(tenant)
    write = plan_data_writer()

    assert write(plan, list(plan.installments.all())) == plan_data(plan)
    assert write(other, list(other.installments.all())) == plan_data(other)  # the product shown once
    rows = list(plan.installments.order_by("sequence"))
    rows[1].paid_amount, rows[1].status = rows[1].amount, Installment.Status.PAID
    plan.status = "paid"  # what a payment may change, shown anew; the rest as first shown
    again = write(plan, rows)
    assert again["status"] == "paid" and again["installments"][1]["status"] == "paid"
    assert again == dict(PlanRepresentation(plan, context={"installments": rows}).data)


def test_a_serializer_that_is_not_plain_is_refused() -> None:
    with pytest.raises(TypeError, match=r"PlanRepresentation\.object is not a plain field"):
        plain_writer(PlanRepresentation())


@pytest.mark.django_db
def test_the_batch_writer_shows_anew_only_the_rows_a_payment_changed(tenant: Tenant) -> None:
    plan = _financing_plan(tenant)
    rows = list(plan.installments.order_by("sequence"))
    write = plan_data_writer()
    before = write(plan, rows)

    rows[0].paid_amount, rows[0].status = rows[0].amount, Installment.Status.PAID
    rows[1].paid_amount = 100  # part paid
    after = write(plan, rows, changed=[rows[0], rows[1]])

    assert after == dict(PlanRepresentation(plan, context={"installments": rows}).data)
    assert [row["status"] for row in after["installments"][:2]] == ["paid", "scheduled"]
    assert after["installments"][1]["paid_amount"] == 100 and after["paid_amount"] == rows[0].amount + 100
    assert before["installments"][0]["status"] == "scheduled"  # what was shown before stays as it was
    # the rows the payment left alone are shown as they were (the same objects, not rendered again)
    assert all(after["installments"][index] is before["installments"][index] for index in range(2, len(rows)))
    assert after["installments"][0] is not before["installments"][0]


def _text(data: object) -> str:
    return json.dumps(data)  # key order and types included: what an audit row or event stores


@pytest.mark.django_db
def test_the_batch_writer_renders_byte_for_byte_as_drf(tenant: Tenant) -> None:
    """The writer reads fields itself and copies ints and bools DRF would show unchanged: its text
    is DRF's, key order and types included (an int field holding a bool is still shown as an int)."""
    plan, other = _financing_plan(tenant), _financing_plan(tenant)
    rows = list(plan.installments.order_by("sequence"))
    rows[0].paid_amount, rows[0].status = rows[0].amount, Installment.Status.PAID
    rows[1].held_since = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    rows[2].fee_amount = True  # shown by DRF as int(True): 1, not true
    figures = ("apr", "financed_amount", "finance_charge_amount", "total_of_payments_amount")
    unknown = {f"disclosed_{figure}": None for figure in figures}
    Plan.objects.filter(pk=other.pk).update(**unknown)  # an old plan: its disclosure shown as null
    other = Plan.objects.select_related("product", "order").get(pk=other.pk)
    write = plan_data_writer()

    for shown, drf in (
        (write(plan, rows), PlanRepresentation(plan, context={"installments": rows}).data),
        (write(other, list(other.installments.all())), plan_data(other)),
        (write(plan, rows, changed=rows[:1]), PlanRepresentation(plan, context={"installments": rows}).data),
    ):
        assert _text(shown) == _text(dict(drf))
    assert _text(write(plan, rows)).count('"fee_amount": 1,') == 1 and plan_data(other)["disclosure"] is None


@pytest.mark.django_db
def test_the_batch_writer_shows_the_disclosure_without_drfs_nested_serializer(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disclosure is a serializer of plain fields: the writer shows it with its ``plain_writer``
    (the same dict: ``test_the_batch_writer_renders_byte_for_byte_as_drf``), not DRF's loop."""
    plan = _financing_plan(tenant)
    rows = list(plan.installments.order_by("sequence"))
    expected = dict(PlanRepresentation(plan, context={"installments": rows}).data)["disclosure"]
    nested = []

    def counted(self: DisclosureRepresentation, instance: object) -> object:
        nested.append(instance)
        raise AssertionError("shown by DRF's nested serializer")

    monkeypatch.setattr(DisclosureRepresentation, "to_representation", counted)

    shown = plan_data_writer()(plan, rows)

    assert (shown["disclosure"], nested) == (expected, [])
    assert expected is not None and expected["annual_percentage_rate"]
