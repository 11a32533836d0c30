"""What a consumer can do about their plans themselves (the portal calls these): move one due date,
and ask for hardship help. Each is audited and evented. (Choosing the card collections charge is
``bnpl.payments.services.payment_method_make_default``, the one way a card becomes a default.)

Also the one place a plan's collections pause and resume (a hardship request). A return or a
dispute holds only its share of the plan instead (``bnpl.checkout.dispute_holds``)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from bnpl.collections.models import HardshipRequest
from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.services import change_record
from bnpl.plans.models import Installment, Plan
from bnpl.plans.representations import plan_data
from bnpl.servicing.locks import plan_lock

MAX_DUE_DATE_MOVE = dt.timedelta(days=14)


def installment_move_due_date(*, plan: Plan, sequence: int, due_date: dt.date) -> Installment:
    """Move one upcoming installment's due date up to 14 days later, once per plan."""
    with transaction.atomic():
        plan = plan_lock(plan_id=plan.pk)
        if plan.due_date_moved:
            raise StateError("You have already moved a due date on this plan.", code="due_date_already_moved")
        installment = plan.installments.filter(
            sequence=sequence, status=Installment.Status.SCHEDULED, fee_for__isnull=True
        ).first()
        if installment is None or installment.due_date <= clock.today():
            raise InvalidRequestError("Choose an upcoming payment.", param="installment")
        if not installment.due_date < due_date <= installment.due_date + MAX_DUE_DATE_MOVE:
            raise InvalidRequestError("Choose a date up to 14 days after the current one.", param="due_date")
        before = plan_data(plan)
        installment.due_date = installment.collect_on = due_date
        installment.save(update_fields=["due_date", "collect_on", "updated_at"])
        plan.due_date_moved = True
        plan.save(update_fields=["due_date_moved", "updated_at"])
        change_record(action="plan.due_date_moved", instance=plan, before=before, data=plan_data(plan))
    return installment


def hardship_request(*, plan: Plan, reason: str) -> HardshipRequest:
    """Ask for help: collections and late fees on the plan pause until an operator decides."""
    if not reason.strip():
        raise InvalidRequestError("Tell us briefly what has happened.", param="reason")
    with transaction.atomic():
        plan = plan_lock(plan_id=plan.pk)
        if plan.status != Plan.Status.ACTIVE or plan.standing == Plan.Standing.CHARGED_OFF:
            raise StateError("This plan has nothing left to collect.", code="plan_not_active")
        if plan.hardship_requests.filter(status=HardshipRequest.Status.OPEN).exists():
            raise StateError("We already have your request and will be in touch.", code="hardship_already_open")
        request = HardshipRequest.objects.create(plan=plan, reason=reason.strip()[:2000])
        before = plan_data(plan)
        plan_pause(plan)
        change_record(action="plan.hardship_requested", instance=plan, before=before, data=plan_data(plan))
    return request


def hardship_decide(*, request: HardshipRequest, grant: bool, note: str) -> HardshipRequest:
    """An operator settles a request: granted keeps collections paused for the agreed arrangement;
    declined resumes them (what fell due meanwhile is collected from today)."""
    if not note.strip():
        raise InvalidRequestError("Write a note saying why.", param="decision_note")
    with transaction.atomic():
        request = HardshipRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != HardshipRequest.Status.OPEN:
            raise StateError("This request was already decided.", code="hardship_decided")
        plan = plan_lock(plan_id=request.plan_id)
        before = plan_data(plan)
        request.status = HardshipRequest.Status.GRANTED if grant else HardshipRequest.Status.DECLINED
        request.decision_note, request.decided_at = note.strip(), clock.now()
        request.save()
        if not grant:
            plan_resume_if_clear(plan)
        change_record(action=f"plan.hardship_{request.status}", instance=plan, before=before, data=plan_data(plan))
    return request


def plan_pause(plan: Plan) -> None:
    """Pause collections and late fees on ``plan`` (locked by the caller, inside its transaction)."""
    if not plan.collections_paused:
        plan.collections_paused, plan.paused_since = True, clock.today()
        plan.save(update_fields=["collections_paused", "paused_since", "updated_at"])


def plan_resume_if_clear(plan: Plan) -> bool:
    """Resume collections on ``plan`` (locked by the caller) unless a hardship request still holds
    it (open or granted). What fell due during the pause is collected from today; due dates do not
    move. Returns whether it resumed. (A return or dispute never pauses a plan: it holds its share,
    see ``bnpl.checkout.disputes``.)"""
    held_by_hardship = plan.hardship_requests.filter(
        status__in=[HardshipRequest.Status.OPEN, HardshipRequest.Status.GRANTED]
    ).exists()
    if not plan.collections_paused or held_by_hardship:
        return False
    today = clock.today()
    plan.installments.filter(status=Installment.Status.SCHEDULED, collect_on__lt=today).update(
        collect_on=today, updated_at=clock.now()
    )
    plan.collections_paused, plan.paused_since = False, None
    plan.save(update_fields=["collections_paused", "paused_since", "updated_at"])
    return True
