from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProvisioningConfig(AppConfig):
    name = "django_provisioning"
    verbose_name = _("Provisioning (SCIM and SAML)")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers system checks, the session receivers and the SQLite case-fold function.
        from . import checks, conf, db, sessions  # noqa: F401
