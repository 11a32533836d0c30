"""Training on a Dask cluster: the same procedure as ``decisioning.training.train`` (folds,
early stopping, calibration, metrics, artifact), with each booster fitted by ``xgboost.dask`` on a
Parquet data set that the workers read themselves, one file a partition.

What stays in the driver: the labels (one byte a row: the folds and the metrics need them), the
out-of-fold scores, and one partition at a time while the data fingerprint is hashed. The features
stay in the workers' memory for the whole run (read once, persisted).

The workers read the files with pyarrow and convert them with ``Table.numeric``, the single-process
loader's own conversion, so a column is refused for the same reason under either engine. No pandas
in this module (``xgboost.dask`` imports it for its dataframe inputs; ours are arrays).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xgboost

from decisioning.training import (
    FeatureSpec,
    Table,
    TrainingDataError,
    blocks_fingerprint,
    check_columns,
    checked_labels,
)

if TYPE_CHECKING:
    import dask.array
    from distributed import Client

LOCAL_WORKERS = 2
LOCAL_THREADS_PER_WORKER = 1


@contextmanager
def dask_client(scheduler_address: str = "") -> Iterator[Client]:
    """A client of the cluster at ``scheduler_address`` (``tcp://host:8786``), or, without one, of a
    local cluster of worker processes listening on 127.0.0.1 only, without dashboards, closed on exit."""
    from distributed import Client, LocalCluster

    if scheduler_address:
        with Client(scheduler_address) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=LOCAL_WORKERS,
            threads_per_worker=LOCAL_THREADS_PER_WORKER,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def parquet_files(path: str | Path) -> list[Path]:
    """The data set's files in a fixed order: the file itself, or every ``*.parquet`` under the
    folder (partition folders such as ``snapshot=…/`` included), sorted by path. Files whose name
    starts with ``_`` or ``.`` (``_SUCCESS``, ``_metadata``) are not data."""
    path = Path(path)
    if path.is_file():
        files = [path] if path.suffix.lower() == ".parquet" else []
    elif path.is_dir():
        files = sorted(
            file
            for file in path.rglob("*.parquet")
            if file.is_file() and not any(part.startswith(("_", ".")) for part in file.relative_to(path).parts)
        )
    else:
        raise TrainingDataError(f"Training data not found: {path}.", code="data_missing")
    if not files:
        raise TrainingDataError(
            f"No Parquet files in {path}: the dask engine reads a .parquet file or a folder of them.",
            code="data_unsupported",
        )
    return files


def parquet_parts(path: str | Path, spec: FeatureSpec) -> list[tuple[Path, int]]:
    """Each file of the data set with its row count, read from the footers in the driver, once every
    file is known to hold the spec's label and features (a refusal names the file)."""
    import pyarrow.parquet as pa_parquet

    parts = []
    for file in parquet_files(path):
        metadata = pa_parquet.read_metadata(file)
        check_columns(metadata.schema.to_arrow_schema().names, spec, where=str(file))
        parts.append((file, metadata.num_rows))
    return parts


@dataclass(frozen=True)
class DaskDataset:
    """The spec's features as a dask array (one chunk per file, in the workers' memory) beside the
    labels and fingerprint the training procedure reads in the driver."""

    features: dask.array.Array  # float32, rows x spec features, NaN for missing
    label_column: dask.array.Array  # float32, the label as read
    labels: np.ndarray  # int8, collected in the driver
    fingerprint: str
    path: str

    @property
    def row_count(self) -> int:
        return int(self.labels.shape[0])


def load_parquet_dataset(*, client: Client, path: str | Path, spec: FeatureSpec) -> DaskDataset:
    """Check every file's columns from its footer here, read the files in the workers, and keep them
    there. Refusals are the single-process loader's (``training.validate``): missing label or
    feature, non-numeric column, label not 0/1 or of one class only."""
    import dask
    import dask.array as da

    parts = [(file, rows) for file, rows in parquet_parts(path, spec) if rows > 0]
    if not parts:
        raise TrainingDataError(f"{path} has no rows.", code="data_empty")
    files, row_counts = [file for file, _ in parts], [rows for _, rows in parts]
    columns = [*spec.feature_names, spec.label]
    reads = [dask.delayed(_read_part, pure=True)(str(file), columns) for file in files]
    width = len(spec.feature_names)
    sized = list(zip(reads, row_counts, strict=True))
    features = da.concatenate([da.from_delayed(read[0], shape=(rows, width), dtype=np.float32) for read, rows in sized])
    label_column = da.concatenate([da.from_delayed(read[1], shape=(rows,), dtype=np.float32) for read, rows in sized])
    features, label_column = client.persist([features, label_column])
    labels = checked_labels(np.asarray(client.compute(label_column).result()), spec)
    fingerprint = blocks_fingerprint(
        (client.compute(block).result() for block in features.blocks),
        labels,
        column_count=len(spec.feature_names),
    )
    return DaskDataset(
        features=features, label_column=label_column, labels=labels, fingerprint=fingerprint, path=str(path)
    )


def _read_part(file: str, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """In a worker: one file as (features, label), converted exactly as ``training.validate`` does."""
    import pyarrow.parquet as pa_parquet

    arrow_table = pa_parquet.read_table(file, columns=columns)
    table = Table(
        path=file,
        columns={name: arrow_table.column(name) for name in arrow_table.column_names},
        row_count=arrow_table.num_rows,
    )
    *feature_names, label = columns
    features = np.empty((table.row_count, len(feature_names)), dtype=np.float32)
    for index, name in enumerate(feature_names):
        features[:, index] = table.numeric(name)
    return features, table.numeric(label)


@dataclass(frozen=True)
class DaskEngine:
    """``training.BoosterEngine`` on a Dask cluster: each booster is fitted by ``xgboost.dask.train``
    on a ``DaskDMatrix`` of the selected rows, every worker training on the partitions it holds.
    A selection of rows is taken chunk by chunk, so the rows stay on the workers that read them."""

    client: Client
    dataset: DaskDataset
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
        import xgboost.dask

        # Each worker uses its own thread count: the local engine's "nthread" would oversubscribe.
        cluster_parameters = {key: value for key, value in booster_parameters.items() if key != "nthread"}
        evals = [] if stop_rows is None else [(self._matrix(np.sort(stop_rows)), "validation")]
        output = xgboost.dask.train(
            self.client,
            cluster_parameters,
            self._matrix(None if rows is None else np.sort(rows)),
            num_boost_round=rounds,
            evals=evals,
            early_stopping_rounds=early_stopping_rounds,
            verbose_eval=False,
        )
        booster: xgboost.Booster = output["booster"]
        return booster

    def predict(self, booster: xgboost.Booster, *, rows: np.ndarray, rounds: int) -> np.ndarray:
        import xgboost.dask

        order = np.argsort(rows, kind="stable")
        predictions = xgboost.dask.predict(self.client, booster, self._matrix(rows[order]), iteration_range=(0, rounds))
        scores = np.empty(rows.shape[0], dtype=np.float64)
        scores[order] = np.asarray(self.client.compute(predictions).result(), dtype=np.float64)
        return scores

    def _matrix(self, sorted_rows: np.ndarray | None) -> Any:
        import xgboost.dask

        features, labels = self.dataset.features, self.dataset.label_column
        if sorted_rows is not None:
            features, labels = _rows_of_each_chunk(features, sorted_rows), _rows_of_each_chunk(labels, sorted_rows)
        return xgboost.dask.DaskDMatrix(self.client, features, labels, feature_names=self.feature_names, missing=np.nan)


def _rows_of_each_chunk(array: dask.array.Array, sorted_rows: np.ndarray) -> dask.array.Array:
    """The rows selected chunk by chunk, so each chunk of the result is computed where its source
    chunk lives (dask's own fancy indexing regroups rows into chunks of the source's size, which
    moves them between workers)."""
    import dask.array as da

    edges = np.cumsum((0, *array.chunks[0]))
    pieces = []
    for number in range(len(array.chunks[0])):
        start, stop = np.searchsorted(sorted_rows, edges[number : number + 2])
        if stop > start:
            pieces.append(array.blocks[number][sorted_rows[start:stop] - edges[number]])
    return da.concatenate(pieces)
