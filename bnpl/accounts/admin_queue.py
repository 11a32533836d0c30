"""What is waiting for the operators, counted for the admin index: merchant applications to review,
credit referrals in the review queue, disputes an operator decides, open hardship requests. Each
line links to its admin list filtered to those rows, and shows only to operators who may see it."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Model, Q
from django.http import HttpRequest
from django.urls import reverse

from bnpl.checkout.models import Dispute
from bnpl.collections.models import HardshipRequest
from decisioning.models import CreditDecision
from merchants.models import BusinessProfile


@dataclass(frozen=True)
class Waiting:
    key: str
    label: str
    count: int
    url: str


# key, what it is, the model, the rows waiting, the list's filter for them.
QUEUES: list[tuple[str, str, type[Model], Q, str]] = [
    (
        "applications",
        "Merchant applications to review",
        BusinessProfile,
        Q(status=BusinessProfile.Status.SUBMITTED),
        "status__exact=submitted",
    ),
    (
        "referrals",
        "Credit referrals in the review queue",
        CreditDecision,
        Q(outcome=CreditDecision.Outcome.REFERRED, review_status=""),
        "review=waiting",
    ),
    (
        "disputes",
        "Escalated disputes to decide",
        Dispute,
        Q(status=Dispute.Status.UNDER_REVIEW),
        "status__exact=under_review",
    ),
    (
        "hardship",
        "Hardship requests",
        HardshipRequest,
        Q(status=HardshipRequest.Status.OPEN),
        "status__exact=open",
    ),
]


def waiting_for_operators(request: HttpRequest) -> list[Waiting]:
    """One count per queue the signed-in operator may view (one query each)."""
    waiting = []
    for key, label, model, rows, query in QUEUES:
        opts = model._meta
        if not request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
            continue
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        waiting.append(
            Waiting(key=key, label=label, count=model._default_manager.filter(rows).count(), url=f"{url}?{query}")
        )
    return waiting
