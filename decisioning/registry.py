"""The model registry: trained versions, their status (candidate, champion, challenger, retired),
promotion and rollback, and loading the champion for scoring.

Invariants: at most one champion and one challenger per model name (database constraints); every
status change is audited and emits an internal event; the champion is only ever scored from an
artifact whose sha256 matches the one recorded at registration (otherwise loading fails closed).

XGBoost, and the scikit-learn, SciPy and pandas it loads with it, are imported where a model is
loaded, scored or trained, not when the project starts: they were half of every process's start
(~1.2 s of CPU), and most processes (a collections worker, a management command) never score. The
web's master imports them before it forks (``model_library_import``), so its workers share them.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max

from bnpl.core import clock
from bnpl.core.context import Actor
from bnpl.core.errors import ApplicationError, ConflictError, NotFoundError, StateError
from bnpl.core.services import change_record
from decisioning.models import ModelVersion
from decisioning.training import Calibration, FeatureSpec, TrainedModel, TrainingDataError

if TYPE_CHECKING:
    import xgboost

ARTIFACT_FOLDER = "models"


class ModelUnavailableError(ApplicationError):
    """No usable model: none promoted, or its artifact is missing or does not match its sha256.
    Callers fail closed (decline or fall back to rules), never score with something unverified."""

    status_code = 503
    error_type = "api_error"
    default_code = "model_unavailable"


def model_version_data(model_version: ModelVersion) -> dict[str, Any]:
    """The internal representation written to audit rows and events."""
    return {
        "id": model_version.public_id,
        "name": model_version.name,
        "version": model_version.version,
        "status": model_version.status,
        "artifact_path": model_version.artifact_path,
        "artifact_sha256": model_version.artifact_sha256,
        "training_fingerprint": model_version.training_fingerprint,
        "auc": model_version.metrics.get("auc"),
        "promoted_at": model_version.promoted_at.isoformat() if model_version.promoted_at else None,
    }


def artifact_name(*, name: str, version: int) -> str:
    return f"{ARTIFACT_FOLDER}/{name}/v{version}.ubj"


def register_model(*, name: str, trained: TrainedModel, actor: Actor | None = None) -> ModelVersion:
    """Store the artifact, then record the version as a candidate. The artifact is written before
    the transaction (storage may be S3: no outside call inside it) and removed again if the row
    cannot be written (a concurrent registration took the version number)."""
    version = (ModelVersion.objects.filter(name=name).aggregate(latest=Max("version"))["latest"] or 0) + 1
    stored_name = default_storage.save(artifact_name(name=name, version=version), ContentFile(trained.booster_bytes))
    try:
        with transaction.atomic():
            model_version = ModelVersion.objects.create(
                name=name,
                version=version,
                status=ModelVersion.Status.CANDIDATE,
                artifact_path=stored_name,
                artifact_sha256=trained.sha256,
                feature_spec=trained.spec.as_dict(),
                metrics={**trained.metrics, "parameters": trained.parameters},
                training_fingerprint=trained.fingerprint,
                score_distribution=trained.score_distribution,
                cutoff_probability=trained.spec.cutoff_probability,
                trained_at=clock.now(),
            )
            change_record(
                action="model_version.registered",
                instance=model_version,
                data=model_version_data(model_version),
                actor=actor,
            )
    except IntegrityError:
        default_storage.delete(stored_name)
        raise ConflictError(
            f"Version {version} of '{name}' was registered concurrently; train again.", code="model_version_taken"
        ) from None
    return model_version


def _locked_versions(name: str) -> dict[int, ModelVersion]:
    """Every version of the name, locked in id order (a fixed order, so promotions never deadlock)."""
    return {row.pk: row for row in ModelVersion.objects.select_for_update().filter(name=name).order_by("id")}


def _holder(versions: dict[int, ModelVersion], status: str) -> ModelVersion | None:
    return next((row for row in versions.values() if row.status == status), None)


def _set_status(
    model_version: ModelVersion, *, status: str, action: str, actor: Actor | None, **changes: Any
) -> ModelVersion:
    before = model_version_data(model_version)
    model_version.status = status
    for field_name, value in changes.items():
        setattr(model_version, field_name, value)
    model_version.save(update_fields=["status", *changes])
    change_record(
        action=action, instance=model_version, data=model_version_data(model_version), before=before, actor=actor
    )
    return model_version


def model_promote(*, model_version: ModelVersion, to: str, actor: Actor | None = None) -> ModelVersion:
    """Make the version champion or challenger. The one holding that slot is retired first; a new
    champion remembers the champion it displaced, which is what ``model_rollback`` brings back."""
    if to not in (ModelVersion.Status.CHAMPION, ModelVersion.Status.CHALLENGER):
        raise StateError(f"Promote to champion or challenger, not '{to}'.", code="invalid_promotion", param="to")
    with transaction.atomic():
        versions = _locked_versions(model_version.name)
        target = versions[model_version.pk]
        if target.status == to:
            raise StateError(f"{target} is already {to}.", code="already_in_status")
        if target.status == ModelVersion.Status.CHAMPION:
            raise StateError(
                f"{target} is the champion: promote another version or roll back instead.", code="is_champion"
            )
        previous = _holder(versions, to)
        if previous is not None:
            _set_status(previous, status=ModelVersion.Status.RETIRED, action="model_version.retired", actor=actor)
        changes: dict[str, Any] = {"promoted_at": clock.now()}
        if to == ModelVersion.Status.CHAMPION:
            changes["replaced_champion"] = previous
        _set_status(target, status=to, action="model_version.promoted", actor=actor, **changes)
    model_version.refresh_from_db()
    return model_version


def model_rollback(*, name: str, actor: Actor | None = None) -> ModelVersion:
    """Retire the champion and re-promote the champion it displaced. Returns the new champion."""
    with transaction.atomic():
        versions = _locked_versions(name)
        champion = _holder(versions, ModelVersion.Status.CHAMPION)
        if champion is None:
            raise StateError(f"'{name}' has no champion to roll back.", code="no_champion", param="name")
        if champion.replaced_champion_id is None:
            raise StateError(
                f"{champion} did not replace another champion: nothing to roll back to.", code="no_previous_champion"
            )
        previous = versions[champion.replaced_champion_id]
        _set_status(champion, status=ModelVersion.Status.RETIRED, action="model_version.retired", actor=actor)
        _set_status(
            previous,
            status=ModelVersion.Status.CHAMPION,
            action="model_version.rolled_back",
            actor=actor,
            promoted_at=clock.now(),
        )
    return previous


def model_retire(*, model_version: ModelVersion, actor: Actor | None = None) -> ModelVersion:
    """Retire a candidate or challenger. The champion is never retired alone (that would leave no
    model): promote another version or roll back."""
    with transaction.atomic():
        target = _locked_versions(model_version.name)[model_version.pk]
        if target.status == ModelVersion.Status.RETIRED:
            raise StateError(f"{target} is already retired.", code="already_in_status")
        if target.status == ModelVersion.Status.CHAMPION:
            raise StateError(
                f"{target} is the champion: promote another version or roll back instead.", code="is_champion"
            )
        _set_status(target, status=ModelVersion.Status.RETIRED, action="model_version.retired", actor=actor)
    model_version.refresh_from_db()
    return model_version


def model_version_get(*, public_id: str) -> ModelVersion:
    try:
        return ModelVersion.objects.get(public_id=public_id)
    except ModelVersion.DoesNotExist:
        raise NotFoundError(f"No model version {public_id}.", param="public_id") from None


# --- Scoring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scorer:
    """A verified booster with its calibration and spec. ``probability`` takes one applicant's
    features by name (missing ones as NaN) and returns the calibrated probability of default."""

    model_version_id: str
    name: str
    version: int
    spec: FeatureSpec
    booster: xgboost.Booster
    calibration: Calibration
    cutoff_probability: float

    def row(self, features: dict[str, float | None]) -> np.ndarray:
        values = [features.get(name) for name in self.spec.feature_names]
        return np.array([[np.nan if value is None else value for value in values]], dtype=np.float32)

    def probabilities(self, matrix: np.ndarray) -> np.ndarray:
        raw = self.booster.inplace_predict(np.asarray(matrix, dtype=np.float32), validate_features=False)
        return self.calibration.apply(np.asarray(raw))

    def row_probability(self, row: np.ndarray) -> float:
        """``probabilities`` of one row (``row``'s), as a float: what a decision scores."""
        return float(self.calibration.apply(predict_one(self.booster, row)))

    def probability(self, features: dict[str, float | None]) -> float:
        return self.row_probability(self.row(features))


# What ``Booster.inplace_predict(row, validate_features=False)`` asks of XGBoost's C library for one
# row of a model's own features: the transformed prediction over every tree, NaN as missing.
_PREDICT_VALUE = json.dumps(
    {
        "type": 0,
        "training": False,
        "iteration_begin": 0,
        "iteration_end": 0,
        "missing": float("nan"),
        "strict_shape": False,
        "cache_id": 0,
    }
).encode()


def predict_one(booster: xgboost.Booster, row: np.ndarray) -> float:
    """The booster's prediction for one row (a C-contiguous float32 array of shape (1, features)),
    through the C function ``inplace_predict`` calls (``XGBoosterPredictFromDense``), with the same
    arguments, so the same float (``tests/decisioning/test_registry.py`` holds them equal).

    Why not ``inplace_predict`` itself: around its C call it checks for a dozen kinds of data
    frame, defines a class and builds two numpy arrays from the result, which in a decision, where
    the interpreter's and the library's memory has gone cold during the database round trips,
    cost as much again as the prediction (``docs/performance.md``, "decide(), fourth pass")."""
    if row.dtype != np.float32 or row.ndim != 2 or row.shape[0] != 1 or not row.flags.c_contiguous:
        raise ValueError("one C-contiguous float32 row, shape (1, features)")
    from xgboost import core

    interface = json.dumps(
        {"data": [row.ctypes.data, False], "strides": None, "typestr": "<f4", "shape": list(row.shape), "version": 3}
    ).encode()
    predictions = ctypes.POINTER(ctypes.c_float)()
    shape = ctypes.POINTER(core.c_bst_ulong)()
    dims = core.c_bst_ulong()
    core._check_call(
        core._LIB.XGBoosterPredictFromDense(
            booster.handle,
            interface,
            _PREDICT_VALUE,
            None,
            ctypes.byref(shape),
            ctypes.byref(dims),
            ctypes.byref(predictions),
        )
    )
    if dims.value != 1 or shape[0] != 1:  # a model with more than one output is not a credit score
        raise ValueError(f"expected one prediction, got an array of {dims.value} dimensions")
    return float(predictions[0])


def model_library_import() -> None:
    """Import XGBoost now: gunicorn's master calls this before it forks (gunicorn.conf.py), so that
    every worker, recycled ones too, loads its model with the library already in shared memory."""
    import xgboost  # noqa: F401


def load_champion(*, name: str) -> Scorer:
    champion = ModelVersion.objects.filter(name=name, status=ModelVersion.Status.CHAMPION).first()
    if champion is None:
        raise ModelUnavailableError(f"'{name}' has no champion model.", code="no_champion")
    return load_scorer(model_version=champion)


def load_scorer(*, model_version: ModelVersion) -> Scorer:
    """Read the artifact, check its sha256, load it. Any failure raises ModelUnavailableError."""
    try:
        with default_storage.open(model_version.artifact_path, "rb") as artifact:
            content = artifact.read()
    except Exception as error:  # noqa: BLE001 - any storage failure (S3 403/5xx, network): fail closed
        raise ModelUnavailableError(
            f"The artifact of {model_version} ({model_version.artifact_path}) cannot be read: {error}.",
            code="model_artifact_missing",
        ) from None
    digest = hashlib.sha256(content).hexdigest()
    if digest != model_version.artifact_sha256:
        raise ModelUnavailableError(
            f"The artifact of {model_version} does not match its recorded sha256 "
            f"(expected {model_version.artifact_sha256}, found {digest}); refusing to score with it.",
            code="model_artifact_corrupt",
        )
    import xgboost

    try:
        booster = xgboost.Booster()
        booster.load_model(bytearray(content))
        calibration = Calibration.from_dict(json.loads(booster.attr("bnpl_calibration") or "null"))
        # The column order comes from the artifact itself (covered by its sha256), and must agree
        # with the registry row and the booster's own feature names: scrambled columns never score.
        spec = FeatureSpec.from_dict(json.loads(booster.attr("bnpl_feature_spec") or "null"))
        row_spec = FeatureSpec.from_dict(model_version.feature_spec)
        if spec.feature_names != row_spec.feature_names or list(booster.feature_names or []) != spec.feature_names:
            raise ValueError("the feature spec in the registry does not match the artifact's features")
    except (xgboost.core.XGBoostError, TrainingDataError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise ModelUnavailableError(
            f"The artifact of {model_version} cannot be loaded: {error}.", code="model_artifact_corrupt"
        ) from None
    booster.set_param({"nthread": 1})
    return Scorer(
        model_version_id=model_version.public_id,
        name=model_version.name,
        version=model_version.version,
        spec=spec,
        booster=booster,
        calibration=calibration,
        cutoff_probability=model_version.cutoff_probability,
    )
