"""How far a rotation of ``API_KEY_HASH_SECRET`` has come: active keys per hash secret.

Keys move to the new secret one by one, the first time each is used after the rotation; a
fallback secret can be dropped once no active key is left under it (keys still under it then stop
working, and their merchants roll them in the dashboard)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Count

from bnpl.core.keys import api_key_hash_secrets, secret_fingerprint
from merchants.models import ApiKey


class Command(BaseCommand):
    help = "Count active API keys under the current API_KEY_HASH_SECRET and under each fallback."

    def handle(self, *args: Any, **options: Any) -> None:
        secrets = api_key_hash_secrets()
        names = {secret_fingerprint(secret): "current" for secret in secrets[:1]}
        names.update({secret_fingerprint(secret): f"fallback {index}" for index, secret in enumerate(secrets[1:], 1)})
        counts = (
            ApiKey.objects.filter(revoked_at__isnull=True)
            .values("token_hash_secret")
            .annotate(keys=Count("id"))
            .order_by("token_hash_secret")
        )
        for row in counts:
            fingerprint = row["token_hash_secret"]
            name = names.get(fingerprint, "unknown secret (made before fingerprints, or a dropped secret)")
            self.stdout.write(f"{fingerprint or '-':<12}  {name:<20}  {row['keys']} active keys")
