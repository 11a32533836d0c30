"""The index the every-minute pending-charge sweep (``charges_settle_pending``) reads: pending
charges only, a few at any time, instead of every charge ever made. Built ``CONCURRENTLY`` on
PostgreSQL (this migration is not atomic); elsewhere (the demo's SQLite) as usual."""

from django.db import migrations, models

INDEX = models.Index(fields=["created_at"], name="charge_pending", condition=models.Q(status="pending"))


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    concurrently = {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
    schema_editor.add_index(apps.get_model("payments", "Charge"), INDEX, **concurrently)


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    concurrently = {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
    schema_editor.remove_index(apps.get_model("payments", "Charge"), INDEX, **concurrently)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("payments", "0009_balance_applications")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create, drop)],
            state_operations=[migrations.AddIndex(model_name="charge", index=INDEX)],
        )
    ]
