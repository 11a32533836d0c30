"""Webhook delivery attempts partitioned by month on ``attempted_at`` (issue 19, "big tables
managed"): the attempts log is append-only by trigger, and a month past
``WEBHOOK_DELIVERY_RETENTION`` is dropped whole. Converted in place, as the audit log is in
``core 0006`` (``bnpl.core.partitions.table_partition``): no row copied, the model unchanged.

Going back leaves the table partitioned: every earlier release reads and writes it as before."""

from django.db import migrations


def partition(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    from bnpl.core.partitions import table_partition

    table_partition("merchants_webhookdeliveryattempt", "attempted_at")


class Migration(migrations.Migration):
    atomic = False  # the index is built CONCURRENTLY; the swap is its own transaction

    dependencies = [("merchants", "0009_document_removed_at"), ("core", "0006_audit_log_partitions")]

    operations = [migrations.RunPython(partition, migrations.RunPython.noop, elidable=False)]
