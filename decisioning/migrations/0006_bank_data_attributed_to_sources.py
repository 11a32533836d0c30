"""Bank data attributed to its source and consent (issue 13, finding 6).

Every consent, transaction and monthly total now names the source that shared it (a ``DataSource``;
today each is a merchant) and, for totals, the consent it was shared under. Existing rows belong to
the merchant that sent them: each merchant that holds a consent or sent a transaction becomes a
source, its consents and transactions point at it, and the monthly totals are rebuilt per consent
from the transactions kept. A consent recorded so far was the merchant's own assertion, so it now
covers that merchant's decisions only (``scope = source``); consents revoked so far were revoked by
their source (the API was the only way).
"""

import bnpl.core.clock
import django.db.models.deletion
from django.db import migrations, models

from bnpl.core.ids import generate_public_id
from decisioning.cashflow import Transaction, monthly_totals

COLUMNS = {
    "inflow": "inflow_amount",
    "outflow": "outflow_amount",
    "income": "income_amount",
    "debt_payments": "debt_payment_amount",
    "nsf": "nsf_count",
    "overdrafts": "overdraft_count",
    "transactions": "transaction_count",
    "balance_sum": "balance_sum",
    "balance_count": "balance_count",
}


def attribute_to_sources(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # Check foreign keys as rows change, so the table changes after this step find no pending
        # trigger events in the same transaction.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    DataSource = apps.get_model("decisioning", "DataSource")
    BankDataConsent = apps.get_model("decisioning", "BankDataConsent")
    BankTransaction = apps.get_model("decisioning", "BankTransaction")
    CashFlowMonth = apps.get_model("decisioning", "CashFlowMonth")
    sources = {}

    def source_for(merchant_id):
        if merchant_id not in sources:
            sources[merchant_id], _ = DataSource.objects.get_or_create(
                merchant_id=merchant_id, defaults={"kind": "merchant", "public_id": generate_public_id("src")}
            )
        return sources[merchant_id]

    for consent in BankDataConsent.objects.select_related("merchant_consumer"):
        consent.source = source_for(consent.merchant_id)
        consent.consumer_id = consent.merchant_consumer.consumer_id
        consent.revoked_by = "source" if consent.revoked_at is not None else ""
        consent.scope = "source"
        consent.save(update_fields=["source", "consumer", "revoked_by", "scope"])
    for merchant_id in BankTransaction.objects.values_list("merchant_id", flat=True).distinct():
        BankTransaction.objects.filter(merchant_id=merchant_id).update(source=source_for(merchant_id))
    CashFlowMonth.objects.all().delete()
    for consent in BankDataConsent.objects.all():
        shared = [
            Transaction(
                booked_on=row.booked_on,
                amount=row.amount,
                currency=row.currency,
                category=row.category,
                balance_after=row.balance_after,
            )
            for row in BankTransaction.objects.filter(consent=consent)
        ]
        CashFlowMonth.objects.bulk_create(
            CashFlowMonth(
                consumer_id=consent.consumer_id,
                livemode=consent.livemode,
                source_id=consent.source_id,
                consent=consent,
                currency=currency,
                month=month,
                **{column: getattr(totals, field) for field, column in COLUMNS.items()},
            )
            for (currency, month), totals in monthly_totals(shared).items()
        )
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")


class Migration(migrations.Migration):

    dependencies = [
        ("consumers", "0005_reminders"),
        ("decisioning", "0005_bank_data_and_limits"),
        ("merchants", "0005_onboarding_branding_invitations"),
    ]

    operations = [
        migrations.CreateModel(
            name="DataSource",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(db_index=True, default=bnpl.core.clock.now, editable=False)),
                ("updated_at", models.DateTimeField(default=bnpl.core.clock.now, editable=False)),
                ("public_id", models.CharField(editable=False, max_length=40, unique=True)),
                ("kind", models.CharField(choices=[("merchant", "Merchant")], max_length=20)),
                (
                    "merchant",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="data_source",
                        to="merchants.merchant",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("kind", "merchant"), ("merchant__isnull", False)),
                        name="data_source_names_its_sender",
                    )
                ],
            },
        ),
        # New columns, nullable until the data step fills them.
        migrations.AddField(
            model_name="bankdataconsent",
            name="consumer",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="bank_data_consents",
                to="consumers.consumer",
            ),
        ),
        migrations.AddField(
            model_name="bankdataconsent",
            name="source",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="consents", to="decisioning.datasource"
            ),
        ),
        migrations.AddField(
            model_name="bankdataconsent",
            name="revoked_by",
            field=models.CharField(
                blank=True, choices=[("source", "Source"), ("consumer", "Consumer")], default="", max_length=20
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="bankdataconsent",
            name="scope",
            field=models.CharField(
                choices=[("source", "Source"), ("all_decisions", "All Decisions")], default="source", max_length=20
            ),
        ),
        migrations.AddField(
            model_name="bankdataconsent",
            name="scope_changed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="banktransaction",
            name="source",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="decisioning.datasource"
            ),
        ),
        migrations.AddField(
            model_name="cashflowmonth",
            name="consent",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="cash_flow_months",
                to="decisioning.bankdataconsent",
            ),
        ),
        migrations.AddField(
            model_name="cashflowmonth",
            name="source",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="decisioning.datasource"
            ),
        ),
        migrations.RemoveConstraint(model_name="cashflowmonth", name="cash_flow_month_unique"),
        migrations.RunPython(attribute_to_sources, migrations.RunPython.noop),
        # The source replaces the merchant on transactions; uniqueness is per consent.
        migrations.RemoveConstraint(model_name="banktransaction", name="bank_transaction_once_per_source"),
        migrations.RemoveField(model_name="banktransaction", name="merchant"),
        migrations.AlterField(
            model_name="banktransaction",
            name="source",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="decisioning.datasource"
            ),
        ),
        migrations.AddConstraint(
            model_name="banktransaction",
            constraint=models.UniqueConstraint(fields=("consent", "external_id"), name="bank_transaction_once_per_consent"),
        ),
        # Consents belong to the consumer and name their source.
        migrations.RemoveField(model_name="bankdataconsent", name="merchant"),
        migrations.RemoveField(model_name="bankdataconsent", name="merchant_consumer"),
        migrations.AlterField(
            model_name="bankdataconsent",
            name="consumer",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="bank_data_consents", to="consumers.consumer"
            ),
        ),
        migrations.AlterField(
            model_name="bankdataconsent",
            name="source",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="consents", to="decisioning.datasource"
            ),
        ),
        migrations.AlterModelOptions(name="bankdataconsent", options={"ordering": ["-granted_at", "-id"]}),
        migrations.AddConstraint(
            model_name="bankdataconsent",
            constraint=models.UniqueConstraint(
                fields=("source", "livemode", "consumer"), name="bank_data_consent_one_per_source"
            ),
        ),
        migrations.AddConstraint(
            model_name="bankdataconsent",
            constraint=models.CheckConstraint(
                condition=models.Q(("revoked_at__isnull", True), ("revoked_by", ""))
                | models.Q(("revoked_at__isnull", False), ("revoked_by__in", ["source", "consumer"])),
                name="bank_data_consent_revocation_says_by_whom",
            ),
        ),
        # Monthly totals per consent.
        migrations.AlterField(
            model_name="cashflowmonth",
            name="consent",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="cash_flow_months",
                to="decisioning.bankdataconsent",
            ),
        ),
        migrations.AlterField(
            model_name="cashflowmonth",
            name="source",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="decisioning.datasource"
            ),
        ),
        migrations.AddConstraint(
            model_name="cashflowmonth",
            constraint=models.UniqueConstraint(
                fields=("consent", "currency", "month"), name="cash_flow_month_unique_per_consent"
            ),
        ),
        migrations.AddIndex(
            model_name="cashflowmonth",
            index=models.Index(fields=["consumer", "livemode", "currency", "month"], name="decisioning_consume_827e4c_idx"),
        ),
    ]
