"""Training without a database: the spec and table checks, CV metrics, monotonicity, calibration."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from decisioning import training
from tests.decisioning.conftest import FAST, SPEC, synthetic_columns, write_csv, write_parquet


def _spec(**changes: object) -> training.FeatureSpec:
    return training.FeatureSpec.from_dict({**copy.deepcopy(SPEC), **changes})


def test_csv_and_parquet_load_to_the_same_training_data(csv_path: Path, parquet_path: Path) -> None:
    spec = _spec()

    from_csv = training.validate(training.load_table(csv_path), spec)
    from_parquet = training.validate(training.load_table(parquet_path), spec)

    assert from_csv.features.dtype == np.float32
    assert from_csv.features.shape == (3000, 3)
    assert from_csv.fingerprint == from_parquet.fingerprint
    assert from_csv.fingerprint.endswith(" rows=3000 columns=3")
    assert np.isnan(from_csv.features[:, 1]).sum() == np.isnan(synthetic_columns()["income"]).sum()


def test_missing_label_is_refused(tmp_path: Path) -> None:
    columns = synthetic_columns()
    del columns["defaulted"]
    path = write_csv(tmp_path / "no_label.csv", columns)

    with pytest.raises(training.TrainingDataError, match="label column 'defaulted' is not in") as error:
        training.validate(training.load_table(path), _spec())

    assert error.value.code == "label_missing"


def test_missing_feature_column_is_refused(tmp_path: Path) -> None:
    columns = synthetic_columns()
    del columns["income"]
    path = write_parquet(tmp_path / "no_income.parquet", columns)

    with pytest.raises(training.TrainingDataError, match=r"Feature columns missing .*: income") as error:
        training.validate(training.load_table(path), _spec())

    assert error.value.param == "income"


def test_non_numeric_feature_is_refused(tmp_path: Path) -> None:
    columns: dict[str, object] = dict(synthetic_columns())
    columns["open_lines"] = np.array(["many"] * 3000)
    path = write_csv(tmp_path / "text.csv", columns)  # type: ignore[arg-type]

    with pytest.raises(training.TrainingDataError, match="Column 'open_lines' is not numeric") as error:
        training.validate(training.load_table(path), _spec())

    assert error.value.code == "column_not_numeric"


def test_unused_text_column_does_no_harm(tmp_path: Path) -> None:
    columns: dict[str, object] = dict(synthetic_columns())
    columns["note"] = np.array(["free text"] * 3000)
    path = write_csv(tmp_path / "note.csv", columns)  # type: ignore[arg-type]

    dataset = training.validate(training.load_table(path), _spec())

    assert dataset.features.shape == (3000, 3)


def test_one_class_is_refused(tmp_path: Path) -> None:
    columns = synthetic_columns()
    columns["defaulted"] = np.zeros(3000, dtype=np.int64)
    path = write_csv(tmp_path / "one_class.csv", columns)

    with pytest.raises(training.TrainingDataError, match="only one class") as error:
        training.validate(training.load_table(path), _spec())

    assert error.value.code == "label_one_class"


def test_label_must_be_zero_or_one(tmp_path: Path) -> None:
    columns = synthetic_columns()
    columns["defaulted"] = columns["defaulted"] * 2
    path = write_csv(tmp_path / "two.csv", columns)

    with pytest.raises(training.TrainingDataError, match="must be 0 or 1") as error:
        training.validate(training.load_table(path), _spec())

    assert error.value.code == "label_invalid"


@pytest.mark.parametrize(
    ("feature", "protected"),
    [("age", []), ("age", ["age"]), ("Marital_Status", []), ("dependents", ["dependents"])],
)
def test_protected_column_as_feature_is_refused(feature: str, protected: list[str]) -> None:
    features = [*SPEC["features"], {"name": feature, "monotone": 0, "reason": "x"}]

    with pytest.raises(training.TrainingDataError, match=rf"Protected characteristics .*: {feature}") as error:
        training.FeatureSpec.from_dict({**SPEC, "features": features, "protected": protected})

    assert error.value.code == "protected_feature"


def test_spec_needs_reason_text_and_valid_direction() -> None:
    with pytest.raises(training.TrainingDataError, match="needs a 'reason'"):
        _spec(features=[{"name": "income", "monotone": -1}])
    with pytest.raises(training.TrainingDataError, match="'monotone' must be -1, 0 or 1"):
        _spec(features=[{"name": "income", "monotone": 2, "reason": "x"}])


def test_unsupported_file_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loans.xlsx"
    path.write_bytes(b"not a table")

    with pytest.raises(training.TrainingDataError, match="Unsupported file type"):
        training.load_table(path)


def test_cross_validation_reports_out_of_fold_metrics(trained_model: training.TrainedModel) -> None:
    metrics = trained_model.metrics

    assert metrics["folds"] == FAST.folds
    assert metrics["rows"] == 3000
    assert len(metrics["auc_by_fold"]) == 3
    assert 0.7 < metrics["auc"] < 1.0
    assert 0.3 < metrics["ks"] < 1.0
    assert 0.0 < metrics["brier"] < 0.25
    assert [row["count"] for row in metrics["calibration_table"]] == [300] * 10
    assert set(metrics["feature_importance_gain"]) == {"late_payments", "income", "open_lines"}
    assert sum(metrics["feature_importance_gain"].values()) == pytest.approx(1.0, abs=1e-5)
    assert metrics["feature_importance_gain"]["late_payments"] > metrics["feature_importance_gain"]["open_lines"]
    assert sum(trained_model.score_distribution["counts"]) == 3000
    assert len(trained_model.score_distribution["edges"]) == 9
    assert trained_model.booster_bytes[:1] == b"{"  # UBJSON object


def test_monotone_constraints_hold_over_a_grid(trained_model: training.TrainedModel) -> None:
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray(trained_model.booster_bytes))
    late_payments = np.arange(0, 8, 0.25, dtype=np.float32)
    for income in (500.0, 2000.0, 4000.0, 9000.0, np.nan):
        for open_lines in (0.0, 5.0, 14.0):
            grid = np.column_stack(
                [late_payments, np.full_like(late_payments, income), np.full_like(late_payments, open_lines)]
            )

            predictions = booster.inplace_predict(grid)

            assert np.all(np.diff(predictions) >= 0)
    incomes = np.linspace(0, 12000, 49, dtype=np.float32)
    for late in (0.0, 1.0, 3.0):
        grid = np.column_stack([np.full_like(incomes, late), incomes, np.full_like(incomes, 4.0)])
        assert np.all(np.diff(booster.inplace_predict(grid)) <= 0)


def test_calibration_maps_scores_into_unit_interval_monotonically(trained_model: training.TrainedModel) -> None:
    scores = np.linspace(-0.5, 1.5, 2001)

    calibrated = trained_model.calibration.apply(scores)

    assert calibrated.min() >= 0.0
    assert calibrated.max() <= 1.0
    assert np.all(np.diff(calibrated) >= 0)
    assert training.Calibration.from_dict(trained_model.calibration.as_dict()) == trained_model.calibration


def test_default_spec_excludes_protected_and_family_status() -> None:
    spec = training.FeatureSpec.load(training.DEFAULT_SPEC_PATH)

    assert spec.label == "SeriousDlqin2yrs"
    assert "age" not in spec.feature_names
    assert "NumberOfDependents" not in spec.feature_names
    assert {"age", "NumberOfDependents"} <= set(spec.protected)
    assert dict(zip(spec.feature_names, spec.monotone_constraints, strict=True))["MonthlyIncome"] == -1
    assert dict(zip(spec.feature_names, spec.monotone_constraints, strict=True))["NumberOfTimes90DaysLate"] == 1
