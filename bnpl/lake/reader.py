"""Reading the lake back the way a careful reader should: through the manifests. A file counts only
when a manifest lists it, and its bytes are checked against the manifest's sha256.

Append tables are the union of every batch manifest of their stream; snapshot tables are read from
the latest snapshot manifest (or a named one).
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.core.files.storage import Storage

from bnpl.core.errors import StateError
from bnpl.lake import tables
from bnpl.lake.storage import lake_storage, list_keys, read_bytes


class LakeIntegrityError(StateError):
    """A file listed in a manifest is missing or its bytes do not match the manifest's checksum."""

    default_code = "lake_integrity"


def manifests(*, stream: str, storage: Storage | None = None) -> list[dict[str, Any]]:
    """Every manifest of a stream, oldest batch first (batch names sort in order)."""
    storage = storage or lake_storage()
    keys = [key for key in list_keys(storage=storage, prefix=f"_manifests/{stream}") if key.endswith(".json")]
    return [json.loads(read_bytes(storage=storage, key=key)) for key in keys]


def latest_snapshot(*, storage: Storage | None = None) -> dict[str, Any] | None:
    documents = manifests(stream="snapshots", storage=storage)
    return documents[-1] if documents else None


def table_files(*, table: str, storage: Storage | None = None, snapshot: str | None = None) -> list[dict[str, Any]]:
    """The files of ``table`` that manifests vouch for."""
    spec = tables.BY_NAME[table]
    if spec.kind == tables.APPEND:
        documents = manifests(stream=spec.stream, storage=storage)
    else:
        documents = manifests(stream="snapshots", storage=storage)
        documents = [doc for doc in documents if doc["batch"] == snapshot] if snapshot else documents[-1:]
    return [entry for document in documents for entry in document["files"] if entry["table"] == table]


def read_file(*, entry: dict[str, Any], storage: Storage | None = None) -> pa.Table:
    data = read_bytes(storage=storage or lake_storage(), key=entry["key"])
    if hashlib.sha256(data).hexdigest() != entry["sha256"] or len(data) != entry["bytes"]:
        raise LakeIntegrityError(f"{entry['key']} does not match its manifest.")
    return pq.read_table(io.BytesIO(data))


def read_table(*, table: str, storage: Storage | None = None, snapshot: str | None = None) -> pa.Table:
    """The whole table as manifests list it, every file checked (for modest tables: the loan tape,
    tests; query engines read big ones in place)."""
    spec = tables.BY_NAME[table]
    parts = [
        read_file(entry=entry, storage=storage)
        for entry in table_files(table=table, storage=storage, snapshot=snapshot)
    ]
    return pa.concat_tables(parts) if parts else spec.schema.empty_table()
