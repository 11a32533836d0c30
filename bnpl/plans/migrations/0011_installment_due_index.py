"""The index collections claims from (issue 19's scale curve found the claim reading every
installment ever made, once per batch of 50: a collections day grew faster than the platform).
Partial: only scheduled installments with a collection date, the few due or coming.

Built ``CONCURRENTLY`` on PostgreSQL, so writes to the installments go on while it builds (this
migration is not atomic); elsewhere (the demo's SQLite) as usual."""

from django.db import migrations, models

INDEX = models.Index(
    fields=["collect_on", "id"],
    name="installment_due",
    condition=models.Q(status="scheduled", collect_on__isnull=False),
)


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    concurrently = {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
    schema_editor.add_index(apps.get_model("plans", "Installment"), INDEX, **concurrently)


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    concurrently = {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
    schema_editor.remove_index(apps.get_model("plans", "Installment"), INDEX, **concurrently)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("plans", "0010_plan_disclosure_as_bought")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create, drop)],
            state_operations=[migrations.AddIndex(model_name="installment", index=INDEX)],
        )
    ]
