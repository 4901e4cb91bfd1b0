from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProvisioningConfig(AppConfig):
    name = "django_provisioning"
    verbose_name = _("Provisioning (SCIM and SAML)")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers system checks (domains' and IdP certificates' too), the session and counter
        # receivers and the SQLite case-fold function.
        from django.db.models.signals import post_migrate

        from . import checks, conf, counters, db, domains, sessions, user_indexes  # noqa: F401
        from .saml import cert_checks, schemas  # noqa: F401

        # python3-saml's XML schemas compiled once per thread (docs/saml.rst, "Performance").
        schemas.install()

        # Declared connections' domains claimed after every migrate (docs/connections.rst).
        post_migrate.connect(domains.sync_declared_domains, sender=self)
