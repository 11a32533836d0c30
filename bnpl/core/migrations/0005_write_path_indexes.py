"""Fewer index entries on every state change (issue 16): each one writes an audit row and an
event, and each index on their tables is a write (and its WAL) every time. On PostgreSQL Django
makes a LIKE-pattern (``varchar_pattern_ops``) index beside each indexed text column; nothing
searches these columns by pattern (an admin ``icontains`` cannot use one), so the four on the audit
log's action and object id and the event's public id and type go. The event's index by merchant
alone goes too: its (merchant, livemode, -created_at) index leads with the merchant. Every drop is
instant; nothing is rebuilt."""

import django.db.models.deletion
from django.db import migrations, models

# (index, table, column): the names Django gave them.
PATTERN_INDEXES = (
    ("core_auditlogentry_action_5e022b5e_like", "core_auditlogentry", "action"),
    ("core_auditlogentry_object_id_9ef09f87_like", "core_auditlogentry", "object_id"),
    ("core_event_public_id_661bed3d_like", "core_event", "public_id"),
    ("core_event_type_5f348554_like", "core_event", "type"),
)


def drop_pattern_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for index, _, _ in PATTERN_INDEXES:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{index}"')


def restore_pattern_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for index, table, column in PATTERN_INDEXES:
            schema_editor.execute(
                f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ("{column}" varchar_pattern_ops)'
            )


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0004_personal_data_redaction'),
        ('merchants', '0009_document_removed_at'),
    ]

    operations = [
        migrations.RunPython(drop_pattern_indexes, restore_pattern_indexes, elidable=False),
        migrations.AlterField(
            model_name='event',
            name='merchant',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='events', to='merchants.merchant'),
        ),
    ]
