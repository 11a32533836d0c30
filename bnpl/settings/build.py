"""Build-only settings: what the image's build runs ``collectstatic`` under (Dockerfile), nothing
else. The production settings refuse to start without the deployment's secrets and parts, which a
build must never hold; collecting static files needs neither. So this module is production's static
files storage (hashed names and a manifest, compressed, as production serves them) on the shared
settings, with a secret key that exists only for this step. Never run a server or a worker with it:
scripts/entrypoint.sh refuses it, and tests/deploy/test_image.py checks it agrees with production.
"""

from .base import *  # noqa: F403
from .base import STORAGES

SECRET_KEY = "build-only-collectstatic-" + "x" * 40  # signs nothing: collectstatic only
DEBUG = False
# This process serves nothing and moves no money, so the start-up check that live mode is served by
# real parts (bnpl.payments, skipped in the sandbox) has nothing to guard: it is skipped here too.
BNPL_SANDBOX = True
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
