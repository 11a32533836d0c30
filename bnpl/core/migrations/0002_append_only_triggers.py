"""On PostgreSQL the database itself refuses UPDATE and DELETE on the audit log: append-only holds
even for code (or a person with a SQL prompt) that bypasses the model."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION bnpl_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql;
"""
TRIGGER = """
CREATE TRIGGER core_auditlogentry_append_only
BEFORE UPDATE OR DELETE ON core_auditlogentry
FOR EACH ROW EXECUTE FUNCTION bnpl_refuse_change();
"""
DROP = "DROP TRIGGER IF EXISTS core_auditlogentry_append_only ON core_auditlogentry;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)
        schema_editor.execute(TRIGGER, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
