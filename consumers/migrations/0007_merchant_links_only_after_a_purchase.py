"""A merchant knows a consumer (``cus_…``) only once they confirmed a purchase there (issue 13,
finding 6). Links made before because a signed-in shopper merely opened a checkout are deleted:
those with no order at that merchant in that mode. Bank data such a merchant sent stays attributed to
it (``decisioning`` 0006) and feeds only its own decisions; the consumer sees and may revoke its
consent in their account, and a later purchase there makes a new link that finds it again.
"""

from django.db import migrations
from django.db.models import Exists, OuterRef


def forget_links_without_a_purchase(apps, schema_editor):
    MerchantConsumer = apps.get_model("consumers", "MerchantConsumer")
    Order = apps.get_model("checkout", "Order")
    bought = Order.objects.filter(
        merchant_id=OuterRef("merchant_id"), livemode=OuterRef("livemode"), consumer_id=OuterRef("consumer_id")
    )
    MerchantConsumer.objects.filter(~Exists(bought)).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("checkout", "0005_disputes_and_pauses"),
        ("consumers", "0006_one_time_code_bound_to_requester"),
        ("decisioning", "0006_bank_data_attributed_to_sources"),  # consents no longer point at links
    ]

    operations = [
        migrations.RunPython(forget_links_without_a_purchase, migrations.RunPython.noop),
    ]
