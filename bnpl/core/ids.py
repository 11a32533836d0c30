"""Opaque, prefixed public ids (``mer_…``, ``evt_…``): sequential database ids never leave the server.

A public id is a short type prefix, an underscore and 24 characters of base62 from the operating
system's random source (about 143 bits), so ids cannot be guessed or enumerated.
"""

from __future__ import annotations

import re
import secrets
import string

ALPHABET = string.digits + string.ascii_letters
RANDOM_LENGTH = 24
_RANDOM_RANGE = len(ALPHABET) ** RANDOM_LENGTH
PREFIX_PATTERN = re.compile(r"^[a-z]{2,8}$")


def generate_public_id(prefix: str) -> str:
    if not PREFIX_PATTERN.match(prefix):
        raise ValueError(f"invalid public id prefix: {prefix!r}")
    return f"{prefix}_{random_base62(RANDOM_LENGTH)}"


def random_base62(length: int) -> str:
    """``length`` characters of ``ALPHABET``, each uniform and independent: one draw from the
    operating system's random source for all of them (not one per character), written in base 62."""
    number = secrets.randbelow(_RANDOM_RANGE if length == RANDOM_LENGTH else len(ALPHABET) ** length)
    characters = []
    for _ in range(length):
        number, digit = divmod(number, len(ALPHABET))
        characters.append(ALPHABET[digit])
    return "".join(characters)


def is_public_id(value: str, prefix: str) -> bool:
    head, sep, tail = value.partition("_")
    return head == prefix and sep == "_" and len(tail) == RANDOM_LENGTH and all(c in ALPHABET for c in tail)


_WELL_FORMED = re.compile(r"^[a-z]{2,8}_[A-Za-z0-9]{1,40}$")


def is_well_formed(value: str) -> bool:
    """Cheap shape check before a lookup: malformed input (NUL bytes, megabytes) never reaches SQL."""
    return len(value) <= 49 and bool(_WELL_FORMED.match(value))
