"""The example SaaS's adapter: each connection belongs to an organization.

Set in ``settings.DJANGO_PROVISIONING["ADAPTER"]``. It resolves a connection's organization
(declared connections by their ``"tenant"`` key, database ones by ``Organization.connection``),
makes every user a connection creates or links a member of it, and lets a connection link only
an account of its own organization or of none.
"""

from __future__ import annotations

from typing import Any

from django_provisioning.adapter import DefaultAdapter
from django_provisioning.models import Connection

from .models import Membership, Organization


class OrganizationAdapter(DefaultAdapter):
    """Connections belong to organizations; what they provision joins the organization."""

    def get_tenant(self, connection: Connection) -> Organization | None:
        lookup = connection.declared_tenant
        if lookup is not None:
            return Organization.objects.filter(slug=lookup).first()
        return Organization.objects.filter(connection=connection).first()

    def get_user_tenant(self, user: Any) -> Organization | None:
        membership = Membership.objects.filter(user=user).select_related("organization").first()
        return membership.organization if membership is not None else None

    def can_link_user(self, connection: Connection, user: Any, email: str) -> bool:
        if not super().can_link_user(connection, user, email):
            return False
        # A person in several organizations is linked by none of their identity providers:
        # one organization's would take over (and could deactivate) an account others share.
        return Membership.objects.filter(user=user).count() < 2

    def attach_user_to_tenant(
        self, user: Any, tenant: Organization, connection: Connection, *, created: bool
    ) -> None:
        if created:
            # A user created in this transaction is nobody's member yet: one INSERT.
            Membership.objects.create(user=user, organization=tenant)
            return
        # get_or_create: a user linked again (after a SCIM DELETE) is already a member.
        Membership.objects.get_or_create(user=user, organization=tenant)
