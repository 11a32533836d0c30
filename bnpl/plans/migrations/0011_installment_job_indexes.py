"""The indexes the periodic jobs read installments through (issue 19's scale curve found the
collections claim reading every installment ever made, once per batch of 50: a collections day
grew faster than the platform). Partial, so paid and canceled installments stay out of them:
``installment_due``, scheduled with a collection date (collections' claim, in its order), and
``installment_open_by_due``, scheduled by due date (lateness every 30 minutes, reminders).

Built ``CONCURRENTLY`` on PostgreSQL, so writes to the installments go on while it builds (this
migration is not atomic); elsewhere (the demo's SQLite) as usual."""

from django.db import migrations, models

INDEXES = [
    models.Index(
        fields=["collect_on", "id"],
        name="installment_due",
        condition=models.Q(status="scheduled", collect_on__isnull=False),
    ),
    models.Index(fields=["due_date"], name="installment_open_by_due", condition=models.Q(status="scheduled")),
]


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    concurrently = {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
    for index in INDEXES:
        schema_editor.add_index(apps.get_model("plans", "Installment"), index, **concurrently)


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    concurrently = {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
    for index in INDEXES:
        schema_editor.remove_index(apps.get_model("plans", "Installment"), index, **concurrently)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("plans", "0010_plan_disclosure_as_bought")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create, drop)],
            state_operations=[migrations.AddIndex(model_name="installment", index=index) for index in INDEXES],
        )
    ]
