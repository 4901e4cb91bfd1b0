"""The audit trail: what a door did, or refused, to whom."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .connection import Connection


class AuditEvent(models.Model):
    """What a provisioning door did to whom: written in the same transaction as the change."""

    class Source(models.TextChoices):
        SCIM = "scim", "SCIM"
        SAML = "saml", "SAML"
        PORTAL = "portal", "Setup portal"

    connection = models.ForeignKey(
        Connection, on_delete=models.SET_NULL, null=True, related_name="audit_events"
    )
    source = models.CharField(max_length=8, choices=Source.choices)
    action = models.CharField(max_length=32)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    target = models.CharField(_("target"), max_length=255, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.source}:{self.action} {self.target}"
