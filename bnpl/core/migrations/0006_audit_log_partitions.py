"""The audit log partitioned by month on ``created_at`` (issue 19, "big tables managed"), so that a
month past its legal retention is dropped whole instead of deleted row by row, which the
append-only trigger refuses on purpose.

No row is copied: the table as it is becomes the first partition (``core_auditlogentry_legacy``);
what takes time on a large table (the new key's index, the partition bound's check) is built
without blocking writers, and the swap is a short transaction of catalogue changes
(``bnpl.core.partitions.table_partition``, whose docstring argues each step). The model is
unchanged: Django still reads and writes ``core_auditlogentry`` by ``id``.

Going back leaves the table partitioned: every earlier release reads and writes it as before."""

from django.db import migrations


def partition(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    from bnpl.core.partitions import table_partition

    table_partition("core_auditlogentry", "created_at")


class Migration(migrations.Migration):
    atomic = False  # the index is built CONCURRENTLY; the swap is its own transaction

    dependencies = [("core", "0005_write_path_indexes")]

    operations = [migrations.RunPython(partition, migrations.RunPython.noop, elidable=False)]
