"""Group membership that a connection manages: a set operation on the user's groups table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group

from .models import AuditEvent, ExternalGroup, ExternalIdentity


def sync_groups(identity: ExternalIdentity, group_names: Iterable[str], *, source: str) -> None:
    """Make the user's membership in this connection's groups exactly *group_names*.

    Groups the product assigned by other means (not linked to this connection) are untouched.
    A fixed number of queries, whatever the number of groups. The caller holds the locks
    (:func:`~django_provisioning.provisioning.sync_user_groups` takes them).
    """
    connection = identity.connection
    user = identity.user
    wanted = {name for name in group_names if name}
    linked = {
        eg.display_name: eg
        for eg in ExternalGroup.objects.filter(connection=connection).select_related("group")
    }
    missing = wanted - set(linked)
    if missing:
        existing = {g.name: g for g in Group.objects.filter(name__in=missing)}
        new_groups = [Group(name=n) for n in sorted(missing - set(existing))]
        Group.objects.bulk_create(new_groups)
        existing.update({g.name: g for g in Group.objects.filter(name__in=missing)})
        new_links = [
            ExternalGroup(connection=connection, group=existing[n], display_name=n)
            for n in sorted(missing)
        ]
        ExternalGroup.objects.bulk_create(new_links, ignore_conflicts=True)
        linked = {
            eg.display_name: eg
            for eg in ExternalGroup.objects.filter(connection=connection).select_related("group")
        }
    through, user_col, group_col = groups_through(type(user))
    current = set(
        through.objects.filter(
            **{user_col: user.pk, f"{group_col}__in": [eg.group_id for eg in linked.values()]}
        ).values_list(group_col, flat=True)
    )
    target = {linked[n].group_id for n in wanted if n in linked}
    if current - target:
        through.objects.filter(**{user_col: user.pk, f"{group_col}__in": current - target}).delete()
    if target - current:
        through.objects.bulk_create(
            [through(**{user_col: user.pk, group_col: g}) for g in target - current],
            ignore_conflicts=True,
        )
    if current != target:
        AuditEvent.objects.create(
            connection=connection,
            source=source,
            action="groups",
            user=user,
            target=str(identity.scim_id),
            detail={"groups": sorted(n for n in wanted if n in linked)},
        )


def groups_through(user_model: Any) -> tuple[Any, str, str]:
    """The user model's groups table and its two column names (user, group).

    The user column is ``user_id`` for ``auth.User`` but ``<modelname>_id`` for a custom
    user model, so it is read from the many-to-many field, never assumed.
    """
    field = user_model._meta.get_field("groups")
    return (
        field.remote_field.through,
        f"{field.m2m_field_name()}_id",
        f"{field.m2m_reverse_field_name()}_id",
    )
