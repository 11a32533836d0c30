"""The loan tape as training data: the matured plans of the latest snapshot, in the shape
``decisioning.training`` expects (the Give Me Some Credit spec's feature names, and its label
``SeriousDlqin2yrs`` = the tape's ``bad``: 90+ days past due or charged off)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from django.core.files.storage import Storage

from bnpl.lake import reader
from bnpl.lake.tables import MODEL_FEATURE_COLUMNS
from decisioning.training import Table, TrainingDataError

LABEL = "SeriousDlqin2yrs"
DEFAULT_MIN_ROWS = 200


def loan_tape_table(*, min_rows: int = DEFAULT_MIN_ROWS, storage: Storage | None = None) -> Table:
    snapshot = reader.latest_snapshot(storage=storage)
    if snapshot is None:
        raise TrainingDataError(
            "The lake has no loan tape yet: run `manage.py lake_export` (or wait for the hourly export).",
            code="lake_empty",
        )
    tape = reader.read_table(table="loan_tape", storage=storage, snapshot=snapshot["batch"])
    matured = tape.filter(pc.and_(pc.equal(tape["matured"], True), pc.is_valid(tape["bad"])))
    where = f"lake:loan_tape/snapshot={snapshot['batch']}"
    if matured.num_rows < min_rows:
        raise TrainingDataError(
            f"Only {matured.num_rows} matured plans in the loan tape ({where}, {tape.num_rows} plans in all); "
            f"training needs at least {min_rows}. Wait for more plans to mature, or lower --min-rows.",
            code="too_few_matured",
        )
    columns = {source: matured[column].cast(pa.float64()) for column, source in MODEL_FEATURE_COLUMNS.items()}
    columns[LABEL] = matured["bad"].cast(pa.int8())
    columns["plan_id"] = matured["plan_id"]
    return Table(path=where, columns=columns, row_count=matured.num_rows)
