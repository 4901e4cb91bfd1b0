"""Pending proofs of domain ownership: the DNS TXT record a connection was asked to publish."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .connection import Connection


class DomainClaim(models.Model):
    """A connection's claim to a domain, proven once a TXT record carries ``token``.

    Created by :func:`django_provisioning.domains.domain_challenge` (one per connection and
    domain; asking again returns the same token). ``verified_at`` is set when
    :func:`~django_provisioning.domains.verify_domain` finds the record and the domain becomes
    a :class:`~django_provisioning.models.VerifiedDomain` of the connection.
    """

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="domain_proofs"
    )
    domain = models.CharField(_("domain"), max_length=253)
    token = models.CharField(_("token"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("domain claim")
        verbose_name_plural = _("domain claims")
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "domain"], name="dp_domain_claim_unique")
        ]

    def __str__(self) -> str:
        return f"{self.domain} ({self.connection_id})"
