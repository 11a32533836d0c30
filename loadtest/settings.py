"""The load test's settings: production's, unchanged but for one thing.

``bnpl.settings.production`` runs first, in full: it refuses to start until every required
variable is set (the runner, loadtest/run.py, supplies real per-run secrets and local parts), and
it switches every sandbox feature off. The one change: test-mode webhooks may reach a private
address, because the merchants' receiver is the runner's, on 127.0.0.1 (a load test sends no
traffic off this machine). Live mode still refuses private targets whatever this says
(``merchants.services._validate_webhook_url`` and ``merchants.webhooks.delivery_send``), and
every merchant of the load test works in test mode.
"""

from bnpl.settings.production import *  # noqa: F403

WEBHOOK_ALLOW_PRIVATE_TARGETS = True
