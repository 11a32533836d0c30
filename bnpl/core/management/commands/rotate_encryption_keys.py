"""Re-encrypt personal data at rest under the newest of ``FIELD_ENCRYPTION_KEYS``.

The rotation (docs/operations.md): put a new key first in FIELD_ENCRYPTION_KEYS and keep the old
ones after it; deploy (reads try every key, writes use the new one); run this command; then drop
the old keys. Safe to interrupt and to run again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from bnpl.core.crypto import encrypted_fields, reencrypt_all


class Command(BaseCommand):
    help = "Re-encrypt every encrypted value under the first FIELD_ENCRYPTION_KEYS key."

    def handle(self, *args: Any, **options: Any) -> None:
        fields = ", ".join(f"{model._meta.label}.{field.name}" for model, field in encrypted_fields())
        count = reencrypt_all()
        self.stdout.write(f"Re-encrypted {count} values ({fields}) under the newest key.")
