"""Collections on a database of its own, for the PostgreSQL restart test:
``python -m tests.bnpl.ops.collections_process seed N`` or ``... report``, with DATABASE_URL naming a
database on the test's private cluster (tests/bnpl/ops/instances.py).

* ``seed N`` migrates the database, makes a merchant with N financed plans (twelve monthly payments
  each), moves the sandbox clock two months on, and prints ``{"due": 2N}``.
* ``report`` prints what the test checks, read through the ORM: ``due``, ``processing`` (attempts
  still in flight), ``paid`` (installments paid by collections), ``charged`` (installments with a
  successful gateway charge), ``charged_twice`` (those with more than one) and ``ledger`` (the
  last line of ``ledger_verify``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from io import StringIO


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bnpl.settings.test")
    import django

    django.setup()

    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    from bnpl.collections import services

    if sys.argv[1] == "seed":
        from bnpl.core.services import clock_advance
        from tests.bnpl.checkout.factories import make_authorized_order
        from tests.merchants.factories import make_tenant

        call_command("migrate", verbosity=0, interactive=False)
        merchant = make_tenant(name="Restart merchant").merchant
        for _ in range(int(sys.argv[2])):
            make_authorized_order(merchant=merchant, livemode=False, amount=60_000, kind="financing", count=12)
        clock_advance(by=dt.timedelta(days=62))
        answer: dict[str, object] = {"due": services.due_installments().count()}
    else:
        from django.db.models import Count

        from bnpl.collections.models import CollectionAttempt
        from bnpl.payments.models import SandboxGatewayCharge
        from bnpl.plans.models import Installment

        successes = (
            SandboxGatewayCharge.objects.filter(kind="charge", succeeded=True, idempotency_key__startswith="collect:")
            .values("idempotency_key")
            .annotate(n=Count("pk"))
        )
        per_installment: dict[str, int] = {}
        for row in successes:  # one key per attempt: "collect:<installment>:<attempt>"
            installment = row["idempotency_key"].rsplit(":", 1)[0]
            per_installment[installment] = per_installment.get(installment, 0) + row["n"]
        out = StringIO()
        call_command("ledger_verify", stdout=out)
        answer = {
            "due": services.due_installments().count(),
            "processing": CollectionAttempt.objects.filter(status=CollectionAttempt.Status.PROCESSING).count(),
            "paid": Installment.objects.filter(status="paid", collection_attempts__isnull=False).distinct().count(),
            "charged": len(per_installment),
            "charged_twice": sorted(key for key, n in per_installment.items() if n > 1),
            "ledger": out.getvalue().strip().splitlines()[-1],
        }
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
