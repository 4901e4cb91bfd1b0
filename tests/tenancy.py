"""A multi-tenant product in miniature, for the tenant hooks' tests.

Its tenants are ``auth.Group`` rows named ``tenant:<key>`` and a membership is the user being in
that group: real rows, written in the provisioning transaction, without a model of the test app
(so no migration). A connection created in the database belongs to the tenant named after its
slug, as a product's Organization would point at it; a connection declared in settings names
its tenant by its ``"tenant"`` key (``connection.declared_tenant``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

from django_provisioning.adapter import DefaultAdapter, ProvisioningDenied
from django_provisioning.models import Connection

PREFIX = "tenant:"
ADAPTER = "tests.tenancy.TenantAdapter"


def tenant(key: str) -> Group:
    """The tenant *key* (created if need be)."""
    group, _created = Group.objects.get_or_create(name=PREFIX + key)
    return group


def members(key: str) -> set[str]:
    """The usernames of tenant *key*'s members."""
    group = Group.objects.filter(name=PREFIX + key).first()
    if group is None:
        return set()
    return {user.get_username() for user in group.user_set.all()}


def join(user: Any, key: str) -> None:
    """Make *user* a member of tenant *key* (as the product itself would)."""
    user.groups.add(tenant(key))


class TenantAdapter(DefaultAdapter):
    """Resolves tenants and attaches users; records every attach, and can be told to refuse."""

    #: (username, tenant key, connection slug, created) of each attach_user_to_tenant call.
    attached: list[tuple[str, str, str, bool]] = []
    #: An exception attach_user_to_tenant raises (after writing the membership), if set.
    refuse_with: Exception | None = None
    #: Connection slugs whose tenant is unknown (a connection of no organization).
    orphans: set[str] = set()

    def get_tenant(self, connection: Connection) -> Group | None:
        if connection.slug in self.orphans:
            return None
        key = connection.declared_tenant or connection.slug
        return Group.objects.filter(name=PREFIX + str(key)).first()

    def get_user_tenant(self, user: Any) -> Group | None:
        return user.groups.filter(name__startswith=PREFIX).first()  # type: ignore[no-any-return]

    def attach_user_to_tenant(
        self, user: Any, tenant: Any, connection: Connection, *, created: bool
    ) -> None:
        user.groups.add(tenant)
        type(self).attached.append(
            (user.get_username(), tenant.name.removeprefix(PREFIX), connection.slug, created)
        )
        if self.refuse_with is not None:
            raise self.refuse_with


def reset() -> None:
    TenantAdapter.attached = []
    TenantAdapter.refuse_with = None
    TenantAdapter.orphans = set()


__all__ = ["ADAPTER", "ProvisioningDenied", "TenantAdapter", "join", "members", "reset", "tenant"]
