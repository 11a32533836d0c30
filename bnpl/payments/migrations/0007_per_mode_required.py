"""Every card and gateway customer now has a mode (0006 gave existing rows theirs): required from
here, with one gateway customer per gateway, mode and consumer, and one default card per consumer
and mode."""

from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0006_per_mode_cards_and_customers"),
    ]

    operations = [
        migrations.AlterField(
            model_name="paymentmethod",
            name="livemode",
            field=models.BooleanField(),
        ),
        migrations.AlterField(
            model_name="gatewaycustomer",
            name="livemode",
            field=models.BooleanField(),
        ),
        migrations.RemoveConstraint(
            model_name="gatewaycustomer",
            name="gateway_customer_once",
        ),
        migrations.AddConstraint(
            model_name="gatewaycustomer",
            constraint=models.UniqueConstraint(
                fields=("gateway", "livemode", "holder"), name="gateway_customer_once_per_mode"
            ),
        ),
        migrations.AddConstraint(
            model_name="paymentmethod",
            constraint=models.UniqueConstraint(
                condition=Q(is_default=True),
                fields=("consumer", "livemode"),
                name="payment_method_one_default_per_mode",
            ),
        ),
    ]
