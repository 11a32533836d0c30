"""Where the lake lives: ``storages["lake"]`` (settings ``STORAGES["lake"]``): django-storages' S3
backend when ``LAKE_S3_BUCKET`` is set, a local folder otherwise.

Both overwrite in place (a batch redone writes the same keys) and both make an object visible whole
or not at all: an S3 PUT (or a completed multipart upload) is atomic, and the local backend writes
beside the final name and renames.
"""

from __future__ import annotations

import os
import tempfile
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages


class LakeFileSystemStorage(FileSystemStorage):
    """A local folder that overwrites atomically: written to a hidden temporary file in the target
    directory (readers skip names starting with a dot), flushed to disk, then renamed over the name."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_overwrite", True)
        super().__init__(**kwargs)

    def _save(self, name: str, content: File) -> str:  # type: ignore[type-arg]
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".incoming-")
        try:
            with os.fdopen(descriptor, "wb") as target:
                for chunk in content.chunks():
                    target.write(chunk if isinstance(chunk, bytes) else chunk.encode())
                target.flush()
                os.fsync(target.fileno())
            os.replace(temporary, full_path)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise
        return name.replace("\\", "/")


def lake_storage() -> Storage:
    return storages["lake"]


def put(*, storage: Storage, key: str, source: IO[bytes]) -> None:
    """Write ``source`` at exactly ``key`` (never renamed: both backends overwrite)."""
    saved = storage.save(key, File(source, name=os.path.basename(key)))
    if saved != key:
        raise RuntimeError(f"the lake storage saved {key} as {saved}: configure it to overwrite")


def read_bytes(*, storage: Storage, key: str) -> bytes:
    with storage.open(key, "rb") as source:
        return bytes(source.read())


def list_keys(*, storage: Storage, prefix: str) -> list[str]:
    """Every key under ``prefix`` (a folder, without the trailing slash), sorted, hidden names left out."""
    keys: list[str] = []
    pending = [prefix.rstrip("/")]
    while pending:
        folder = pending.pop()
        try:
            directories, files = storage.listdir(folder)
        except FileNotFoundError:
            continue
        keys += [f"{folder}/{name}" for name in files if not name.startswith(".")]
        pending += [f"{folder}/{name}" for name in directories if not name.startswith(".")]
    return sorted(keys)
