"""Personal data out of the append-only audit log.

1. The append-only triggers learn one exception: a *redaction*. With the transaction-local setting
   ``bnpl.redaction`` on (``bnpl.core.services.redaction_allowed``, used by a consumer's erasure), an
   UPDATE may change the columns the trigger names as redactable -- the recorded values -- and
   nothing else; a DELETE is always refused.
2. Rows written before consumers were named by public id only are redacted once: a consumer
   actor's label was their email or phone, and checkout session rows carried the contact details
   the merchant sent. This is an operator action (it runs with ``manage.py migrate``), recorded as
   an ``audit_log.redacted`` row of its own; the application itself still never rewrites the log.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION bnpl_refuse_change_but_redaction() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND current_setting('bnpl.redaction', true) = 'on'
       AND (to_jsonb(NEW) - TG_ARGV) = (to_jsonb(OLD) - TG_ARGV) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql;
"""
REDACTABLE_TRIGGER = """
DROP TRIGGER IF EXISTS core_auditlogentry_append_only ON core_auditlogentry;
CREATE TRIGGER core_auditlogentry_append_only
BEFORE UPDATE OR DELETE ON core_auditlogentry
FOR EACH ROW EXECUTE FUNCTION bnpl_refuse_change_but_redaction('actor_label', 'before', 'after');
"""
STRICT_TRIGGER = """
DROP TRIGGER IF EXISTS core_auditlogentry_append_only ON core_auditlogentry;
CREATE TRIGGER core_auditlogentry_append_only
BEFORE UPDATE OR DELETE ON core_auditlogentry
FOR EACH ROW EXECUTE FUNCTION bnpl_refuse_change();
"""
CONTACT_FIELDS = ("customer_email", "customer_phone")


def _without_contact(value):  # type: ignore[no-untyped-def]
    if not isinstance(value, dict):
        return value
    return {key: item for key, item in value.items() if key not in CONTACT_FIELDS}


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:
        schema_editor.execute(FUNCTION, params=None)
        schema_editor.execute(REDACTABLE_TRIGGER, params=None)
        schema_editor.execute("SELECT set_config('bnpl.redaction', 'on', true)", params=None)
    AuditLogEntry = apps.get_model("core", "AuditLogEntry")
    Event = apps.get_model("core", "Event")
    audit_rows = AuditLogEntry.objects.filter(actor_kind="consumer").exclude(actor_label="Consumer").update(
        actor_label="Consumer"
    )
    for entry in AuditLogEntry.objects.filter(object_type="checkout.checkoutsession").iterator():
        before, after = _without_contact(entry.before), _without_contact(entry.after)
        if (before, after) != (entry.before, entry.after):
            AuditLogEntry.objects.filter(pk=entry.pk).update(before=before, after=after)
            audit_rows += 1
    events = 0
    for event in Event.objects.filter(object_type="checkout.checkoutsession").iterator():
        data = _without_contact(event.data)
        if data != event.data:
            Event.objects.filter(pk=event.pk).update(data=data)
            events += 1
    if postgresql:
        schema_editor.execute("SELECT set_config('bnpl.redaction', 'off', true)", params=None)
    if audit_rows or events:
        from bnpl.core import clock

        AuditLogEntry.objects.create(
            created_at=clock.now(),
            actor_kind="operator",
            actor_identifier="manage.py migrate",
            actor_label="core.0004_personal_data_redaction",
            action="audit_log.redacted",
            object_type="core.auditlogentry",
            object_id="*",
            after={
                "audit_rows": audit_rows,
                "events": events,
                "why": "consumer contact details out of the audit log: actors by public id, no session contacts",
            },
        )


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(STRICT_TRIGGER, params=None)


class Migration(migrations.Migration):
    dependencies = [("core", "0003_clock_permission")]
    operations = [migrations.RunPython(forwards, backwards)]
