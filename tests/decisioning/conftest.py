from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pa_parquet
import pytest

from decisioning import registry, training
from decisioning.models import ModelVersion

PRODUCTION_SPEC: dict[str, Any] = json.loads(
    (Path(training.__file__).parent / "specs" / "give_me_some_credit.json").read_text()
)
FAST = training.TrainingParameters(folds=3, rounds=40, early_stopping_rounds=10, threads=2)
SPEC: dict[str, Any] = {
    "label": "defaulted",
    "protected": ["age"],
    "comment": "synthetic",
    "features": [
        {"name": "late_payments", "monotone": 1, "reason": "You have paid late before."},
        {"name": "income", "monotone": -1, "reason": "Your income is low."},
        {"name": "open_lines", "monotone": 0, "reason": "The number of your open credit lines."},
    ],
}


def synthetic_columns(rows: int = 3000, seed: int = 7) -> dict[str, np.ndarray]:
    """Defaults rise with late payments and fall with income; open lines are noise; age is present
    (and must never be used)."""
    generator = np.random.default_rng(seed)
    late_payments = generator.poisson(0.6, rows).astype(np.float64)
    income = generator.lognormal(8.0, 0.5, rows)
    open_lines = generator.integers(0, 15, rows).astype(np.float64)
    age = generator.integers(18, 90, rows).astype(np.float64)
    margin = -2.5 + 1.2 * late_payments - 0.0004 * (income - 3000) + generator.normal(0, 0.5, rows)
    defaulted = (generator.random(rows) < 1 / (1 + np.exp(-margin))).astype(np.int64)
    income[generator.random(rows) < 0.05] = np.nan
    return {
        "defaulted": defaulted,
        "late_payments": late_payments,
        "income": income,
        "open_lines": open_lines,
        "age": age,
    }


def write_csv(path: Path, columns: dict[str, Any]) -> Path:
    names = list(columns)
    lines = [",".join(names)]
    for index in range(len(next(iter(columns.values())))):
        cells = []
        for name in names:
            value = columns[name][index]
            cells.append("" if isinstance(value, float) and np.isnan(value) else str(value))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_parquet(path: Path, columns: dict[str, Any]) -> Path:
    pa_parquet.write_table(pa.table({name: pa.array(values) for name, values in columns.items()}), path)
    return path


@pytest.fixture
def spec_path(tmp_path: Path) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    return path


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "loans.csv", synthetic_columns())


@pytest.fixture
def parquet_path(tmp_path: Path) -> Path:
    return write_parquet(tmp_path / "loans.parquet", synthetic_columns())


@pytest.fixture(scope="session")
def trained_model() -> training.TrainedModel:
    spec = training.FeatureSpec.from_dict(SPEC)
    columns = synthetic_columns()
    table = training.Table(
        path="memory", columns={name: pa.chunked_array([values]) for name, values in columns.items()}, row_count=3000
    )
    return training.train(training.validate(table, spec), spec, FAST)


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    return tmp_path / "media"


@pytest.fixture(scope="session")
def credit_model() -> training.TrainedModel:
    """A small model on the production feature names, from synthetic borrowers whose risk rises
    with lateness, utilization and debt and falls with income."""
    rng = np.random.default_rng(11)
    rows = 4000
    columns: dict[str, np.ndarray] = {
        "RevolvingUtilizationOfUnsecuredLines": rng.beta(0.6, 1.2, rows),
        "NumberOfTime30-59DaysPastDueNotWorse": rng.poisson(0.3, rows).astype(float),
        "NumberOfTime60-89DaysPastDueNotWorse": rng.poisson(0.1, rows).astype(float),
        "NumberOfTimes90DaysLate": rng.poisson(0.1, rows).astype(float),
        "DebtRatio": rng.gamma(2.0, 0.18, rows),
        "MonthlyIncome": rng.lognormal(np.log(5400), 0.5, rows),
        "NumberOfOpenCreditLinesAndLoans": rng.poisson(8, rows).astype(float),
        "NumberRealEstateLoansOrLines": rng.poisson(1, rows).astype(float),
    }
    margin = (
        -3.2
        + 2.0 * columns["RevolvingUtilizationOfUnsecuredLines"]
        + 0.9 * columns["NumberOfTime30-59DaysPastDueNotWorse"]
        + 1.2 * columns["NumberOfTime60-89DaysPastDueNotWorse"]
        + 1.5 * columns["NumberOfTimes90DaysLate"]
        + 0.8 * columns["DebtRatio"]
        - 0.00015 * (columns["MonthlyIncome"] - 5400)
    )
    columns["SeriousDlqin2yrs"] = (rng.random(rows) < 1 / (1 + np.exp(-margin))).astype(np.int64)
    spec = training.FeatureSpec.from_dict(PRODUCTION_SPEC)
    table = training.Table(
        path="memory", columns={k: pa.chunked_array([v]) for k, v in columns.items()}, row_count=rows
    )
    return training.train(
        training.validate(table, spec),
        spec,
        training.TrainingParameters(folds=3, rounds=60, early_stopping_rounds=10, threads=2),
    )


@pytest.fixture
def champion(settings: Any, tmp_path: Path, credit_model: training.TrainedModel) -> ModelVersion:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    version = registry.register_model(name="credit", trained=credit_model)
    return registry.model_promote(model_version=version, to=ModelVersion.Status.CHAMPION)
