"""On PostgreSQL the database itself refuses UPDATE and DELETE on journal entries, postings and
accounts: the ledger stays append-only even for code (or a person with a SQL prompt) that bypasses
the models. Reuses ``bnpl_refuse_change()`` from core's 0002."""

from django.db import migrations

TABLES = ["ledger_journalentry", "ledger_posting", "ledger_account"]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION bnpl_refuse_change();",
            params=None,
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};", params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial"), ("core", "0002_append_only_triggers")]
    operations = [migrations.RunPython(forwards, backwards)]
