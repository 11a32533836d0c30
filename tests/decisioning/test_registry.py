"""The registry: registration through the command, promotion, rollback, the one-champion
constraint, and loading the champion (failing closed on a missing or tampered artifact)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from bnpl.core.models import AuditLogEntry, Event
from decisioning import registry
from decisioning.models import ModelVersion
from decisioning.training import TrainedModel
from tests.decisioning.conftest import synthetic_columns, write_csv

pytestmark = pytest.mark.django_db
FAST_OPTIONS = {"folds": 3, "rounds": 40}


def _train(path: Path, spec_path: Path, **options: object) -> ModelVersion:
    call_command("train_model", data=str(path), spec=str(spec_path), **FAST_OPTIONS, **options, stdout=io.StringIO())
    return ModelVersion.objects.order_by("-id").first()  # type: ignore[return-value]


def test_train_model_from_csv_and_parquet_registers_versions(
    media_root: Path, csv_path: Path, parquet_path: Path, spec_path: Path
) -> None:
    first = _train(csv_path, spec_path)
    second = _train(parquet_path, spec_path)

    assert (first.name, first.version, first.status) == ("credit", 1, ModelVersion.Status.CANDIDATE)
    assert (second.version, second.artifact_path) == (2, "models/credit/v2.ubj")
    assert first.artifact_path == "models/credit/v1.ubj"
    assert first.training_fingerprint == second.training_fingerprint
    assert first.public_id.startswith("mdl_")
    assert first.metrics["folds"] == 3
    assert 0.7 < first.metrics["auc"] < 1.0
    assert set(first.metrics) >= {"ks", "brier", "calibration_table", "feature_importance_gain", "calibration"}
    assert first.feature_spec["features"][0] == {
        "name": "late_payments",
        "monotone": 1,
        "reason": "You have paid late before.",
    }
    assert sum(first.score_distribution["counts"]) == 3000
    assert (media_root / "models" / "credit" / "v1.ubj").is_file()
    assert AuditLogEntry.objects.filter(action="model_version.registered").count() == 2
    assert Event.objects.filter(type="model_version.registered", object_id=first.public_id).count() == 1


def test_train_model_reports_bad_files_clearly_and_registers_nothing(
    media_root: Path, tmp_path: Path, spec_path: Path
) -> None:
    columns = synthetic_columns()
    del columns["defaulted"]
    path = write_csv(tmp_path / "unlabelled.csv", columns)

    with pytest.raises(CommandError, match="The label column 'defaulted' is not in"):
        _train(path, spec_path)

    assert ModelVersion.objects.count() == 0
    assert not (media_root / "models").exists()


def test_promotion_retires_the_previous_holder_and_rollback_restores_it(
    media_root: Path, trained_model: TrainedModel
) -> None:
    first = registry.register_model(name="credit", trained=trained_model)
    second = registry.register_model(name="credit", trained=trained_model)
    third = registry.register_model(name="credit", trained=trained_model)

    registry.model_promote(model_version=first, to=ModelVersion.Status.CHAMPION)
    registry.model_promote(model_version=second, to=ModelVersion.Status.CHAMPION)
    registry.model_promote(model_version=third, to=ModelVersion.Status.CHALLENGER)
    statuses = dict(ModelVersion.objects.values_list("version", "status"))

    assert statuses == {1: "retired", 2: "champion", 3: "challenger"}
    second.refresh_from_db()
    assert second.replaced_champion == first

    champion = registry.model_rollback(name="credit")

    assert champion.pk == first.pk
    assert dict(ModelVersion.objects.values_list("version", "status")) == {1: "champion", 2: "retired", 3: "challenger"}
    assert list(
        AuditLogEntry.objects.filter(object_id=first.public_id).order_by("id").values_list("action", flat=True)
    ) == [
        "model_version.registered",
        "model_version.promoted",
        "model_version.retired",
        "model_version.rolled_back",
    ]


def test_rollback_without_a_previous_champion_changes_nothing(media_root: Path, trained_model: TrainedModel) -> None:
    only = registry.register_model(name="credit", trained=trained_model)
    registry.model_promote(model_version=only, to=ModelVersion.Status.CHAMPION)
    audit_rows = AuditLogEntry.objects.count()

    with pytest.raises(registry.StateError, match="nothing to roll back to"):
        registry.model_rollback(name="credit")

    only.refresh_from_db()
    assert only.status == ModelVersion.Status.CHAMPION
    assert AuditLogEntry.objects.count() == audit_rows


def test_champion_cannot_be_retired_alone(media_root: Path, trained_model: TrainedModel) -> None:
    champion = registry.register_model(name="credit", trained=trained_model)
    registry.model_promote(model_version=champion, to=ModelVersion.Status.CHAMPION)

    with pytest.raises(registry.StateError, match="is the champion"):
        registry.model_retire(model_version=champion)

    champion.refresh_from_db()
    assert champion.status == ModelVersion.Status.CHAMPION


def test_database_allows_one_champion_and_one_challenger_per_name(
    media_root: Path, trained_model: TrainedModel
) -> None:
    first = registry.register_model(name="credit", trained=trained_model)
    second = registry.register_model(name="credit", trained=trained_model)
    other = registry.register_model(name="limits", trained=trained_model)
    for version in (first, other):
        ModelVersion.objects.filter(pk=version.pk).update(status="champion")

    for status in ("champion", "challenger"):
        ModelVersion.objects.filter(pk=first.pk).update(status=status)
        with pytest.raises(IntegrityError), transaction.atomic():
            ModelVersion.objects.filter(pk=second.pk).update(status=status)

    second.refresh_from_db()
    assert second.status == ModelVersion.Status.CANDIDATE


def test_promote_and_rollback_commands(media_root: Path, trained_model: TrainedModel) -> None:
    first = registry.register_model(name="credit", trained=trained_model)
    second = registry.register_model(name="credit", trained=trained_model)

    call_command("model_promote", first.public_id, to="champion", stdout=io.StringIO())
    call_command("model_promote", second.public_id, to="champion", stdout=io.StringIO())
    call_command("model_rollback", name="credit", stdout=io.StringIO())

    assert dict(ModelVersion.objects.values_list("version", "status")) == {1: "champion", 2: "retired"}
    with pytest.raises(CommandError, match="No model version mdl_nope"):
        call_command("model_promote", "mdl_nope", to="champion")


def test_load_champion_scores_with_the_calibrated_booster(media_root: Path, trained_model: TrainedModel) -> None:
    version = registry.register_model(name="credit", trained=trained_model)
    registry.model_promote(model_version=version, to=ModelVersion.Status.CHAMPION)

    scorer = registry.load_champion(name="credit")
    risky = scorer.probability({"late_payments": 5.0, "income": 1000.0, "open_lines": 3.0})
    safe = scorer.probability({"late_payments": 0.0, "income": 8000.0, "open_lines": 3.0})
    unknown_income = scorer.probability({"late_payments": 0.0, "income": None, "open_lines": 3.0})

    assert scorer.model_version_id == version.public_id
    assert 0.0 <= safe < risky <= 1.0
    assert 0.0 <= unknown_income <= 1.0
    raw = scorer.booster.inplace_predict(np.array([[5.0, 1000.0, 3.0]], dtype=np.float32))
    assert risky == pytest.approx(float(trained_model.calibration.apply(raw)[0]))


def test_one_row_is_scored_exactly_as_inplace_predict_scores_it(media_root: Path, trained_model: TrainedModel) -> None:
    """A decision predicts its one row through the C function ``inplace_predict`` wraps: the same
    float for every row, missing values included; anything but one float32 row is refused."""
    version = registry.register_model(name="credit", trained=trained_model)
    registry.model_promote(model_version=version, to=ModelVersion.Status.CHAMPION)
    scorer = registry.load_champion(name="credit")
    generator = np.random.default_rng(7)
    rows = np.column_stack(
        [generator.integers(0, 8, 500), generator.uniform(500, 12_000, 500), generator.integers(0, 12, 500)]
    ).astype(np.float32)
    rows[generator.random(rows.shape) < 0.2] = np.nan

    for index in range(len(rows)):
        row = rows[index : index + 1].copy()
        expected = scorer.booster.inplace_predict(row, validate_features=False)
        assert registry.predict_one(scorer.booster, row) == float(expected[0])
        assert scorer.row_probability(row) == float(scorer.calibration.apply(expected)[0])
    assert len({registry.predict_one(scorer.booster, rows[index : index + 1].copy()) for index in range(50)}) > 10
    for refused in (rows[:2], rows[:1].astype(np.float64), rows[:1, ::2], rows[0]):
        with pytest.raises(ValueError, match="one C-contiguous float32 row"):
            registry.predict_one(scorer.booster, refused)


def test_load_champion_fails_closed_without_a_champion(media_root: Path) -> None:
    with pytest.raises(registry.ModelUnavailableError) as error:
        registry.load_champion(name="credit")

    assert error.value.code == "no_champion"


def test_load_champion_fails_closed_on_a_missing_artifact(media_root: Path, trained_model: TrainedModel) -> None:
    version = registry.register_model(name="credit", trained=trained_model)
    registry.model_promote(model_version=version, to=ModelVersion.Status.CHAMPION)
    default_storage.delete(version.artifact_path)

    with pytest.raises(registry.ModelUnavailableError, match="cannot be read") as error:
        registry.load_champion(name="credit")

    assert error.value.code == "model_artifact_missing"


def test_load_champion_fails_closed_on_a_tampered_artifact(media_root: Path, trained_model: TrainedModel) -> None:
    version = registry.register_model(name="credit", trained=trained_model)
    registry.model_promote(model_version=version, to=ModelVersion.Status.CHAMPION)
    path = media_root / version.artifact_path
    path.write_bytes(path.read_bytes().replace(b"bnpl_calibration", b"bnpl_calibratiom"))

    with pytest.raises(registry.ModelUnavailableError, match="does not match its recorded sha256") as error:
        registry.load_champion(name="credit")

    assert error.value.code == "model_artifact_corrupt"
