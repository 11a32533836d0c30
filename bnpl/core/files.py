"""What an uploaded file is, by its content: never by the name or the Content-Type the client sent.

A file named ``logo.png`` and sent as ``image/png`` can hold HTML with a script; stored and served as
what the client said, it would run in our origin. Every upload is typed here by its first bytes (its
"magic number") against the types its caller accepts, and stored and served as that type.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import IO

# Content type -> (offset, bytes) pairs that must all match. Only types an upload may be.
SIGNATURES: dict[str, tuple[tuple[int, bytes], ...]] = {
    "application/pdf": ((0, b"%PDF-"),),
    "image/png": ((0, b"\x89PNG\r\n\x1a\n"),),
    "image/jpeg": ((0, b"\xff\xd8\xff"),),
    "image/webp": ((0, b"RIFF"), (8, b"WEBP")),
}
EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
_HEAD_BYTES = 16


def sniffed_content_type(file: IO[bytes], *, accepted: Collection[str]) -> str | None:
    """The type among ``accepted`` whose signature ``file`` starts with, or None. Reads the first
    bytes and rewinds, so the file is saved whole afterwards."""
    unknown = set(accepted) - set(SIGNATURES)
    if unknown:
        raise ValueError(f"no signature for {sorted(unknown)}")
    file.seek(0)
    head = file.read(_HEAD_BYTES)
    file.seek(0)
    for content_type in accepted:
        if all(head[offset : offset + len(magic)] == magic for offset, magic in SIGNATURES[content_type]):
            return content_type
    return None
