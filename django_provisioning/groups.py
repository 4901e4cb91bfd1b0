"""IdP groups: link rows of one connection, mapped onto local groups by the adapter.

Every IdP group is one :class:`~django_provisioning.models.ExternalGroup` of one connection,
whichever door names it: a SAML group value or a SCIM ``externalId`` is matched against the
row's ``external_id`` first, then against its ``display_name``, within the connection (Entra's
SAML group claim carries the objectId its SCIM client sends as ``externalId``). A new row gets
its local group from the adapter's ``get_or_create_local_group`` hook (by default an
``auth.Group`` named ``"<slug>: <name>"``, or the existing group ``group_mapping`` names), and
a local group just created is attached to the connection's tenant. Memberships go through
:mod:`.grants`: a door only removes what a door granted.

Locks, after the link row and the user of a sign-in (the core's order): new link rows are
inserted in name order, then the link rows whose memberships change are locked in id order,
then grant rows are written. The /Groups functions lock the one link row they change, then
its grant rows; they never lock a user. See ``docs/architecture.rst``, "Concurrency". The
/Groups writes themselves are in :mod:`.group_writes` (re-exported here).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from . import counters, grants
from .group_rows import LIMIT, link, match, touch
from .group_writes import (
    add_group_members,
    change_group,
    create_group,
    delete_group,
    remove_group_members,
    replace_group_members,
    update_group,
)
from .models import AuditEvent, Connection, ExternalGroup, ExternalIdentity

__all__ = [
    "add_group_members",
    "change_group",
    "create_group",
    "delete_group",
    "remove_group_members",
    "replace_group_members",
    "sync_groups",
    "update_group",
]


def _ensure(connection: Connection, values: list[str], source: str) -> dict[str, ExternalGroup]:
    """The link rows for SAML group *values*, inserting the missing ones (race-safe: of two
    sign-ins naming a new IdP group, the second waits on the unique index, then reads the
    first's row)."""
    found = match(connection, values)
    missing = sorted(v for v in values if v not in found)
    if not missing:
        return found
    # A SAML value is the IdP's id for the group (Entra) or its name (most others): both.
    mine = {v: uuid.uuid4() for v in missing}
    ExternalGroup.objects.bulk_create(
        [
            ExternalGroup(connection=connection, external_id=v, display_name=v, scim_id=mine[v])
            for v in missing
        ],
        ignore_conflicts=True,
    )
    rows = match(connection, missing)
    # bulk_create sends no post_save: the rows this transaction inserted are counted here.
    counters.add(connection.pk, groups=sum(row.scim_id == mine.get(v) for v, row in rows.items()))
    for value, row in rows.items():
        if row.scim_id == mine.get(value) and not link(row, source):
            row.delete()  # ours, in this transaction: no one else has seen it
            continue
        found[value] = row
    return found


def sync_groups(identity: ExternalIdentity, group_values: Iterable[str], *, source: str) -> None:
    """Make the door-granted memberships of *identity*'s user in its connection's IdP groups
    exactly the groups *group_values* name (SAML group claim values, already filtered by the
    door to those the connection syncs).

    Memberships the product granted are never removed. A fixed number of queries, whatever
    the number of groups, once the groups exist. The caller holds the link row and user locks
    (:func:`~django_provisioning.provisioning.sync_user_groups` takes them).
    """
    connection = identity.connection
    user = identity.user
    values = list(dict.fromkeys(v for v in group_values if v and len(v) <= LIMIT))
    wanted = {row.pk: row for row in _ensure(connection, values, source).values()}
    held = {
        row.pk: row
        for row in ExternalGroup.objects.filter(
            connection=connection, grants__user_id=user.pk
        ).select_related("group")
    }
    grant_ids = sorted(set(wanted) - set(held))
    revoke_ids = sorted(set(held) - set(wanted))
    if not grant_ids and not revoke_ids:
        return
    # The link rows whose memberships change, locked in id order (the lock order).
    list(
        ExternalGroup.objects.select_for_update()
        .filter(pk__in=grant_ids + revoke_ids)
        .order_by("pk")
        .values_list("pk")
    )
    changes = grants.apply(
        connection,
        [(wanted[pk], user.pk) for pk in grant_ids],
        [(held[pk], user.pk) for pk in revoke_ids],
        source=source,
    )
    if not changes:
        return  # only memberships the product granted: nothing recorded, nothing to say
    touch(sorted({eg.pk for eg, _u in changes.granted + changes.revoked}))
    AuditEvent.objects.create(
        connection=connection,
        source=source,
        action="groups",
        user=user,
        target=str(identity.scim_id),
        detail={
            "added": sorted(eg.display_name for eg, _u in changes.granted),
            "removed": sorted(eg.display_name for eg, _u in changes.revoked),
        },
    )
    grants.notify(connection, changes, source)
