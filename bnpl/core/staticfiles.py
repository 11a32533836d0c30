"""Django's static files app, told what the platform never serves, so that ``collectstatic`` (the
image's build step) neither copies nor compresses it: drf-spectacular-sidecar ships Redoc beside
Swagger UI, and the three API docs pages are Swagger UI (``SpectacularSwaggerView``). Redoc's bundle
was about a third of the build's brotli work and of the compressed files in the image."""

from __future__ import annotations

from django.contrib.staticfiles.apps import StaticFilesConfig as DjangoStaticFilesConfig


class StaticFilesConfig(DjangoStaticFilesConfig):
    ignore_patterns = [*DjangoStaticFilesConfig.ignore_patterns, "drf_spectacular_sidecar/redoc/*"]
