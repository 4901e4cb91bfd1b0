"""Setup links: the self-serve portal's way in to one connection (see docs/portal.rst)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .connection import Connection


class SetupLink(models.Model):
    """A link that lets a customer's IT admin set up one connection, without an account.

    Only the SHA-256 checksum of the link's secret is stored (as for SCIM tokens). The first
    browser that opens the link is bound to it: ``browser_hash`` is the checksum of a random
    secret kept in that browser's cookie; any other browser is refused.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="setup_links")
    #: Names the link in the portal's URLs after the first visit; not a secret (the cookie is).
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    token_hash = models.CharField(_("checksum"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    browser_hash = models.CharField(max_length=64, blank=True, editable=False)
    bound_at = models.DateTimeField(_("first opened"), null=True, blank=True, editable=False)
    created_by = models.CharField(_("created by"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("setup link")
        verbose_name_plural = _("setup links")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.connection.slug} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
