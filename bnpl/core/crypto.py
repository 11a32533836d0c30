"""Encryption of personal data at rest (Fernet: AES-128-CBC + HMAC-SHA256, from ``cryptography``).

Keys come from ``FIELD_ENCRYPTION_KEYS`` (comma-separated Fernet keys, newest first, so keys can be
rotated: new writes use the first, reads try each; ``manage.py rotate_encryption_keys`` re-encrypts
every value under the first, after which the old keys can be dropped). Production requires them;
the demo and the tests derive one from SECRET_KEY when unset. Rotating SECRET_KEY never touches
them, so personal data stays readable (see bnpl/core/keys.py).
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@cache
def _fernet() -> MultiFernet:
    keys = [key.strip() for key in settings.FIELD_ENCRYPTION_KEYS if key.strip()]
    if not keys:
        derived = hashlib.sha256(f"bnpl-field-encryption:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def forget_keys() -> None:
    """Read FIELD_ENCRYPTION_KEYS again (after the settings changed: tests, a rotation command)."""
    _fernet.cache_clear()


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedTextField]]:
    """Every (model, field) stored encrypted, for rotation."""
    from django.apps import apps

    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]


def reencrypt_all(*, batch_size: int = 500) -> int:
    """Re-encrypt every encrypted value under the newest key (``MultiFernet.rotate`` on the stored
    token: the plain value never leaves this function); returns how many values were rewritten.
    Reads in primary-key order, a batch at a time, each batch in its own transaction: safe to
    interrupt and to run again (a value already under the newest key just gets a fresh token)."""
    from django.db import connection, transaction

    fernet = _fernet()
    quote = connection.ops.quote_name
    rewritten = 0
    for model, field in encrypted_fields():
        table = quote(model._meta.db_table)
        column = quote(field.column)
        pk = quote(model._meta.pk.column)  # type: ignore[union-attr]
        # Names come from the models (quoted), never from input; values are parameters.
        select = (
            f"SELECT {pk}, {column} FROM {table} "  # noqa: S608  # nosec B608  # model names
            f"WHERE {pk} > %s AND {column} IS NOT NULL ORDER BY {pk} LIMIT %s"
        )
        update = f"UPDATE {table} SET {column} = %s WHERE {pk} = %s"  # noqa: S608  # nosec B608  # model names
        last = 0
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(select, [last, batch_size])
                rows = cursor.fetchall()
                for row_pk, token in rows:
                    cursor.execute(update, [fernet.rotate(token.encode()).decode(), row_pk])
            rewritten += len(rows)
            if len(rows) < batch_size:
                break
            last = rows[-1][0]
    return rewritten


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise ValueError("cannot decrypt: wrong key or corrupted value") from error


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """A text column stored encrypted; Python sees the plain value. Not searchable by design."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return None if value is None else decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return None if value is None else encrypt(str(value))
