"""The webhook delivery log (attempts) stays append-only with the one exception the audit log has:
a consumer's erasure may redact what a request or answer recorded (``request_body``,
``response_body``, ``error``), never which delivery or when. The function is core's 0004."""

from django.db import migrations

REDACTABLE = """
DROP TRIGGER IF EXISTS merchants_webhookdeliveryattempt_append_only ON merchants_webhookdeliveryattempt;
CREATE TRIGGER merchants_webhookdeliveryattempt_append_only
BEFORE UPDATE OR DELETE ON merchants_webhookdeliveryattempt
FOR EACH ROW EXECUTE FUNCTION bnpl_refuse_change_but_redaction('request_body', 'response_body', 'error');
"""
STRICT = """
DROP TRIGGER IF EXISTS merchants_webhookdeliveryattempt_append_only ON merchants_webhookdeliveryattempt;
CREATE TRIGGER merchants_webhookdeliveryattempt_append_only
BEFORE UPDATE OR DELETE ON merchants_webhookdeliveryattempt
FOR EACH ROW EXECUTE FUNCTION bnpl_refuse_change();
"""


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REDACTABLE, params=None)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(STRICT, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0006_api_key_hash_secret_fingerprint"),
        ("core", "0004_personal_data_redaction"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
