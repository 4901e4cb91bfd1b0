"""The example SaaS's tenants: organizations, each with its identity provider, and members.

How a product relates its tenant model to connections (docs/connections.rst, "Tenants"): the
``Connection`` model is django-provisioning's own; the product's ``Organization`` points at it.
A connection created in the database is pointed at by ``Organization.connection``; a connection
declared in settings names its organization by slug instead (its ``"tenant"`` key). The adapter
(:mod:`demo.adapter`) resolves both and writes a :class:`Membership` for every user a
connection creates or links.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from django_provisioning.declared import declared_tenants
from django_provisioning.models import Connection


class Organization(models.Model):
    """A customer of the example SaaS."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    # Its connection, when created in the database; a connection declared in settings names
    # its organization by slug instead (its "tenant" key), so this stays empty for it.
    connection = models.OneToOneField(
        Connection,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="organization",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def connection_slug(self) -> str | None:
        """The slug of its connection: in the database, or declared in settings for it."""
        if self.connection is not None:
            return self.connection.slug
        declared = [slug for slug, org in declared_tenants().items() if org == self.slug]
        return declared[0] if declared else None


class Membership(models.Model):
    """A person in an organization (written by the adapter, or by the product itself)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="demo_one_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization}"
