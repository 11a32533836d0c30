"""Cards and gateway customers get a mode (issue 13: one gateway served both modes, so a test
checkout could charge a real card).

How existing rows get their mode, honestly, from what the database knows:

* A card that ever paid in live mode (a ``Charge`` with ``livemode``) is live, even if it also paid
  in test mode: it was taken for real money once, so it must never serve test mode again.
* A card that paid in test mode only is a test card.
* A card never charged: a sandbox card is a test card (the sandbox takes only the documented test
  numbers); a Stripe card is live, because the one key it was saved with cannot be seen from here
  and the safe mistake is to keep a possibly real card out of test mode (at worst, a test card
  marked live is refused by the live gateway and the shopper adds it again in a test checkout).
* A gateway customer is live when the consumer has a live card with that gateway, or no card with
  it at all (the same uncertainty, the same safe side); test otherwise.
* Each consumer keeps one default card per mode: the current default if it is in that mode, else
  the newest card of that mode (so collections of each mode have a card to charge).
* Stripe webhook events received before have no mode (null).

The modes become required, with their constraints, in the next migration: PostgreSQL cannot alter
a table in the transaction that just updated its rows.
"""

from django.db import migrations, models


def _assign_modes(apps, schema_editor):  # type: ignore[no-untyped-def]
    PaymentMethod = apps.get_model("payments", "PaymentMethod")
    Charge = apps.get_model("payments", "Charge")
    GatewayCustomer = apps.get_model("payments", "GatewayCustomer")

    paid_live = Charge.objects.filter(livemode=True).values("payment_method_id")
    PaymentMethod.objects.filter(pk__in=paid_live).update(livemode=True)
    charged = Charge.objects.values("payment_method_id")
    PaymentMethod.objects.filter(livemode__isnull=True, gateway="stripe").exclude(pk__in=charged).update(livemode=True)
    PaymentMethod.objects.filter(livemode__isnull=True).update(livemode=False)

    for customer in GatewayCustomer.objects.all().iterator():
        cards = PaymentMethod.objects.filter(consumer__public_id=customer.holder, gateway=customer.gateway)
        customer.livemode = cards.filter(livemode=True).exists() or not cards.exists()
        customer.save(update_fields=["livemode"])

    modes = PaymentMethod.objects.order_by().values_list("consumer_id", "livemode").distinct()
    for consumer_id, livemode in list(modes):
        cards = PaymentMethod.objects.filter(consumer_id=consumer_id, livemode=livemode).order_by("-created_at", "-pk")
        keep = cards.filter(is_default=True).first() or cards.first()
        cards.filter(is_default=True).exclude(pk=keep.pk).update(is_default=False)
        cards.filter(pk=keep.pk).update(is_default=True)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0005_stripe"),
    ]

    operations = [
        migrations.AddField(
            model_name="paymentmethod",
            name="livemode",
            field=models.BooleanField(null=True),
        ),
        migrations.AddField(
            model_name="gatewaycustomer",
            name="livemode",
            field=models.BooleanField(null=True),
        ),
        migrations.AddField(
            model_name="stripewebhookevent",
            name="livemode",
            field=models.BooleanField(null=True),
        ),
        migrations.RunPython(_assign_modes, migrations.RunPython.noop),
    ]
