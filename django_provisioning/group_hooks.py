"""The adapter's group hooks: IdP groups (``ExternalGroup`` rows) onto local groups.

A mixin of :class:`~django_provisioning.adapter.DefaultAdapter`, kept apart so the adapter module
stays about users. Defaults: ``auth.Group``, named per connection, memberships in the user
model's groups table (:mod:`.local_groups`). Override them together to map onto the product's
own model (and relate that model to ``ExternalGroup`` on your side).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import models

from . import local_groups

if TYPE_CHECKING:
    from .models import Connection, ExternalGroup

__all__ = ["GroupHooks"]

logger = logging.getLogger("django_provisioning")


class GroupHooks:
    """The group hooks of the adapter (see docs/adapter.rst, "Groups")."""

    # IdP groups are ExternalGroup rows of one connection (see django_provisioning.groups);
    # these hooks map them onto local groups. Defaults: auth.Group, named per connection,
    # memberships in the user model's groups table. Override all of them together to map
    # onto the product's own model (and relate that model to ExternalGroup on its side).

    def local_groups_for(self, connection: Connection) -> models.QuerySet[Any]:
        """The local groups *connection* may link its IdP groups to.

        The core refuses to link an IdP group to any other. The default: every ``auth.Group``
        except those created for another connection's IdP groups.
        """
        return local_groups.mappable_groups(connection)

    def get_or_create_local_group(
        self, connection: Connection, external_group: ExternalGroup
    ) -> tuple[Any, bool]:
        """The local group for a new IdP group: ``(group, created)``, or ``(None, False)`` to
        leave the IdP group unsynced.

        Explicit only: when ``group_mapping`` maps the IdP group (by id, then name) onto a
        local group's name, that existing group; when it names none, nothing (a warning is
        logged, never a group of that global name created). Otherwise a new group of the
        connection's own, named by :meth:`local_group_name`.
        """
        target = local_groups.mapped_name(connection, external_group)
        if target is not None:
            group = self.local_groups_for(connection).filter(name=target).first()
            if group is None:
                logger.warning(
                    "Connection %r maps IdP group %r onto local group %r, which does not "
                    "exist (or belongs to another connection): not synced",
                    connection.slug,
                    external_group.display_name,
                    target,
                )
            return group, False
        return local_groups.create_group(
            self.local_group_name(connection, external_group),
            local_groups.namespaced_name(
                connection, external_group.display_name, salt=str(external_group.scim_id)
            ),
        ), True

    def local_group_name(self, connection: Connection, external_group: ExternalGroup) -> str:
        """The name of the local group created for an IdP group: ``"<slug>: <displayName>"``
        (cut to 150 characters with a hash suffix when longer)."""
        return local_groups.namespaced_name(connection, external_group.display_name)

    def rename_local_group(self, connection: Connection, external_group: ExternalGroup) -> None:
        """The IdP group was renamed: rename the local group, if it was created for it."""
        if external_group.owns_group and external_group.group is not None:
            local_groups.rename_group(
                external_group.group,
                self.local_group_name(connection, external_group),
                local_groups.namespaced_name(
                    connection, external_group.display_name, salt=str(external_group.scim_id)
                ),
            )

    def delete_local_group(self, connection: Connection, external_group: ExternalGroup) -> None:
        """The IdP group is gone: delete the local group if it was created for it (a group
        mapped explicitly stays; the core has removed the memberships its doors granted)."""
        if external_group.owns_group and external_group.group is not None:
            external_group.group.delete()

    def local_memberships(
        self, connection: Connection, pairs: Sequence[local_groups.Pair]
    ) -> set[tuple[Any, Any]]:
        """Which (external group, user pk) *pairs* are local memberships already, as
        ``(external group pk, user pk)``. One set operation, whatever the number of pairs."""
        found = local_groups.memberships(pairs)
        return {(eg.pk, user_pk) for eg, user_pk in pairs if (eg.group_id, user_pk) in found}

    def add_local_memberships(
        self, connection: Connection, pairs: Sequence[local_groups.Pair]
    ) -> None:
        """Add each user to the local group of the external group paired with it."""
        local_groups.add_memberships(pairs)

    def remove_local_memberships(
        self, connection: Connection, pairs: Sequence[local_groups.Pair]
    ) -> None:
        """Remove each user from the local group of the external group paired with it."""
        local_groups.remove_memberships(pairs)
