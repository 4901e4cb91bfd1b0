from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProvisioningConfig(AppConfig):
    name = "django_provisioning"
    verbose_name = _("Provisioning (SCIM and SAML)")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers system checks (domains' and IdP certificates' too), the session receivers
        # and the SQLite case-fold function.
        from django.db.models.signals import post_migrate

        from . import checks, conf, db, domains, sessions  # noqa: F401
        from .saml import cert_checks  # noqa: F401

        # Declared connections' domains claimed after every migrate (docs/connections.rst).
        post_migrate.connect(domains.sync_declared_domains, sender=self)
