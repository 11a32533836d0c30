"""The model in the decision: the champion is loaded once per process and swapped atomically when
another version becomes champion; a challenger scores the same row in shadow (stored, never acted
on); reasons come from the model's own per-feature contributions (``pred_contribs``)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace

import numpy as np
from django.conf import settings

from decisioning.models import ModelVersion
from decisioning.registry import ModelUnavailableError, Scorer, load_scorer

MAX_REASONS = 4  # Regulation B practice: the principal reasons, usually no more than four
THIN_FILE_REASON = ("insufficient_credit_history", "We could not find enough credit history to assess this purchase.")
UNVERIFIED_INCOME_REASON = ("income_unverified", "We could not verify your income.")
INCOME_FEATURES = {"MonthlyIncome", "DebtRatio"}
# A principal reason must carry real weight: at least this share of the largest risk-raising
# contribution (tiny contributions are not "the factors the model actually weighed").
MIN_REASON_SHARE = 0.1

_lock = threading.Lock()
_loaded: dict[str, tuple[int, Scorer]] = {}  # status -> (version pk, scorer), replaced whole on change


@dataclass(frozen=True)
class ModelReason:
    code: str
    text: str
    contribution: float  # raw-margin contribution (log-odds) this feature added to the risk


@dataclass(frozen=True)
class ModelScore:
    model_version_pk: int
    model_version_id: str
    probability: float
    cutoff_probability: float
    reasons: tuple[ModelReason, ...]  # the features that raised the risk most, strongest first


def _current(status: str) -> Scorer | None:
    """The registry's scorer for ``status`` (champion or challenger), reloaded only when the version
    changed. One indexed query per call decides; the artifact is read once per version."""
    version_pk = (
        ModelVersion.objects.filter(name=settings.CREDIT_MODEL_NAME, status=status).values_list("pk", flat=True).first()
    )
    return scorer_for(status, version_pk)


def scorer_for(status: str, version_pk: int | None) -> Scorer | None:
    """The scorer of the version that holds ``status`` now (``version_pk``, read by the caller from
    the registry: a decision reads it with the rest of its inputs). The artifact is loaded the first
    time a version is asked for and kept until another version takes the status."""
    if version_pk is None:
        with _lock:
            _loaded.pop(status, None)
        return None
    cached = _loaded.get(status)
    if cached is not None and cached[0] == version_pk:
        return cached[1]
    scorer = load_scorer(model_version=ModelVersion.objects.get(pk=version_pk))
    with _lock:
        _loaded[status] = (version_pk, scorer)  # atomic swap: readers see the old pair or the new one
    return scorer


def _version_pk(scorer: Scorer) -> int:
    for pk, loaded in list(_loaded.values()):
        if loaded is scorer:
            return pk
    return ModelVersion.objects.values_list("pk", flat=True).get(public_id=scorer.model_version_id)


def champion() -> Scorer | None:
    return _current(ModelVersion.Status.CHAMPION)


def challenger() -> Scorer | None:
    return _current(ModelVersion.Status.CHALLENGER)


def reasons_for(scorer: Scorer, row: np.ndarray) -> tuple[ModelReason, ...]:
    """The features whose contributions raised this applicant's risk most. A feature the bureau
    knew nothing about is reported as a thin file, not as the behaviour it stands for."""
    import xgboost

    matrix = xgboost.DMatrix(row, missing=np.nan, feature_names=scorer.spec.feature_names, nthread=1)
    contributions = scorer.booster.predict(matrix, pred_contribs=True)[0][:-1]
    order = np.argsort(-contributions)
    strongest = float(contributions[order[0]]) if len(order) else 0.0
    reasons: list[ModelReason] = []
    seen: set[str] = set()
    for index in order:
        contribution = float(contributions[index])
        if contribution <= 0 or contribution < MIN_REASON_SHARE * strongest or len(reasons) == MAX_REASONS:
            break
        feature = scorer.spec.features[int(index)]
        if math.isnan(float(row[0][index])):
            code, text = UNVERIFIED_INCOME_REASON if feature.name in INCOME_FEATURES else THIN_FILE_REASON
        else:
            code, text = feature.name, feature.reason
        if code not in seen:
            seen.add(code)
            reasons.append(ModelReason(code=code, text=text, contribution=round(contribution, 6)))
    return tuple(reasons)


def score(
    scorer: Scorer, features: dict[str, float | None], *, with_reasons: bool, cutoff: float | None = None
) -> ModelScore:
    """``cutoff`` overrides the version's own (a product may be stricter or looser)."""
    row = scorer.row(features)
    probability = scorer.row_probability(row)
    return ModelScore(
        model_version_pk=_version_pk(scorer),
        model_version_id=scorer.model_version_id,
        probability=probability,
        cutoff_probability=scorer.cutoff_probability if cutoff is None else cutoff,
        reasons=reasons_for(scorer, row) if with_reasons else (),
    )


def explain(scorer: Scorer, features: dict[str, float | None], scored: ModelScore) -> ModelScore:
    """``scored`` with its principal reasons added (the model is not run again)."""
    return replace(scored, reasons=reasons_for(scorer, scorer.row(features)))


def warm() -> list[str]:
    """Load the versions in service now and score once with each, so that a new process's first
    decision does not read the artifact, nor pay XGBoost's first prediction (a web worker calls
    this before taking requests: gunicorn.conf.py). Answers the statuses it loaded; a failure
    (no champion yet, storage down) raises, and the caller logs it: the first decision then loads
    the model itself, failing closed as it always does."""
    warmed: list[str] = []
    for status in (ModelVersion.Status.CHAMPION, ModelVersion.Status.CHALLENGER):
        scorer = _current(status)
        if scorer is not None:
            scorer.row_probability(scorer.row({}))
            warmed.append(status)
    return warmed


def forget_loaded() -> None:
    with _lock:
        _loaded.clear()


__all__ = [
    "ModelScore",
    "ModelUnavailableError",
    "challenger",
    "champion",
    "forget_loaded",
    "score",
    "scorer_for",
    "warm",
]
