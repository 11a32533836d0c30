"""Django's admin app with the operators' site as ``admin.site`` (listed in INSTALLED_APPS in place
of ``django.contrib.admin``; its own module, since an apps module may declare one default config)."""

from django.contrib.admin.apps import AdminConfig


class OperatorAdminConfig(AdminConfig):
    """Every ``admin.site.register`` lands on the operators' site: a second factor before any page."""

    default_site = "bnpl.accounts.admin_site.OperatorAdminSite"
