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
its grant rows; they never lock a user. See ``docs/architecture.rst``, "Concurrency".
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import grants, records, signals
from .adapter import get_adapter
from .db import write_transaction
from .exceptions import Conflict, Gone, InvalidData
from .local_groups import BATCH
from .models import AuditEvent, Connection, ExternalGroup, ExternalIdentity

__all__ = [
    "add_group_members",
    "create_group",
    "delete_group",
    "remove_group_members",
    "replace_group_members",
    "sync_groups",
    "update_group",
]

LIMIT = 255  # ExternalGroup.external_id and display_name
#: ``update_group``'s default for ``external_id``: leave it as it is (``None`` clears it).
KEEP: Any = object()
TAKEN = "A group with this displayName or externalId already exists."


def _audit(external_group: ExternalGroup, source: str, action: str, **detail: Any) -> None:
    AuditEvent.objects.create(
        connection=external_group.connection,
        source=source,
        action=action,
        target=str(external_group.scim_id),
        detail={"displayName": external_group.display_name, **detail},
    )


def _match(connection: Connection, values: list[str]) -> dict[str, ExternalGroup]:
    """value -> the link row it names: by ``external_id``, else by ``display_name``."""
    rows = list(
        ExternalGroup.objects.filter(connection=connection)
        .filter(Q(external_id__in=values) | Q(display_name__in=values))
        .select_related("group")
    )
    by_id = {row.external_id: row for row in rows if row.external_id is not None}
    by_name = {row.display_name: row for row in rows}
    found = {}
    for value in values:
        row = by_id.get(value) or by_name.get(value)
        if row is not None:
            row.connection = connection  # the caller's: it may carry settings laid over the row
            found[value] = row
    return found


def _link(external_group: ExternalGroup, source: str) -> bool:
    """Give a new link row its local group (the adapter's hooks); False when the adapter
    leaves the IdP group unsynced. Sends ``group_created`` after commit."""
    adapter = get_adapter()
    connection = external_group.connection
    group, created = adapter.get_or_create_local_group(connection, external_group)
    if group is None:
        return False
    if not created and not adapter.local_groups_for(connection).filter(pk=group.pk).exists():
        raise InvalidData(f"Group {external_group.display_name!r} maps onto a foreign group.")
    if created:
        adapter.attach_group_to_tenant(group, adapter.get_tenant(connection), connection)
    external_group.group = group if isinstance(group, Group) else None
    external_group.owns_group = created
    external_group.save(update_fields=["group", "owns_group"])
    _audit(external_group, source, "group_create", created_local_group=created)
    records.send(
        signals.group_created,
        source,
        connection=connection,
        group=group,
        external_group=external_group,
    )
    return True


def _ensure(connection: Connection, values: list[str], source: str) -> dict[str, ExternalGroup]:
    """The link rows for SAML group *values*, inserting the missing ones (race-safe: of two
    sign-ins naming a new IdP group, the second waits on the unique index, then reads the
    first's row)."""
    found = _match(connection, values)
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
    for value, row in _match(connection, missing).items():
        if row.scim_id == mine.get(value) and not _link(row, source):
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


# ---------------------------------------------------------------------------- /Groups


def _check(display_name: str, external_id: str | None) -> None:
    if not display_name or len(display_name) > LIMIT:
        raise InvalidData(f"displayName: 1 to {LIMIT} characters.")
    if external_id is not None and len(external_id) > LIMIT:
        raise InvalidData(f"externalId: at most {LIMIT} characters.")


def _lock(external_group: ExternalGroup) -> ExternalGroup:
    row = (
        ExternalGroup.objects.select_for_update(of=("self",))
        .select_related("group")
        .filter(pk=external_group.pk)
        .first()
    )
    if row is None:
        raise Gone("This group no longer exists.")
    row.connection = external_group.connection
    return row


@write_transaction
def create_group(
    connection: Connection,
    display_name: str,
    *,
    external_id: str | None = None,
    document: dict[str, Any] | None = None,
    source: str = "scim",
) -> ExternalGroup:
    """Create an IdP group of *connection* (SCIM POST /Groups), or take over the row a SAML
    sign-in made for it (matched by id, then name: one IdP group, one link row).

    A row a SCIM client wrote already (its stored document is never empty) is
    :class:`Conflict`.
    """
    external_id = external_id or None
    _check(display_name, external_id)
    document = document or {"displayName": display_name}
    found = _match(connection, [v for v in (external_id, display_name) if v is not None])
    row = found.get(external_id or "") or found.get(display_name)
    if row is not None:
        if row.document:
            raise Conflict(TAKEN)
        # A row a sign-in made (its id is the SAML value): keep that id unless SCIM sends one.
        return update_group(
            row,
            display_name=display_name,
            external_id=external_id or KEEP,
            document=document,
            source=source,
        )
    row = ExternalGroup(
        connection=connection,
        display_name=display_name,
        external_id=external_id,
        document=document,
    )
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError as exc:
        raise Conflict(TAKEN) from exc
    if not _link(row, source):
        raise InvalidData(
            f"group_mapping maps {display_name!r} onto a local group that does not exist."
        )
    return row


@write_transaction
def update_group(
    external_group: ExternalGroup,
    *,
    display_name: str | None = None,
    external_id: Any = KEEP,
    document: dict[str, Any] | None = None,
    source: str = "scim",
) -> ExternalGroup:
    """Rename a group, change its ``externalId`` (``None`` clears it) or stored document
    (SCIM PUT/PATCH)."""
    row = _lock(external_group)
    renamed = display_name is not None and display_name != row.display_name
    if external_id is not KEEP:
        row.external_id = external_id or None
    _check(display_name or row.display_name, row.external_id)
    row.display_name = display_name or row.display_name
    if document is not None:
        row.document = document
    row.updated_at = timezone.now()
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError as exc:
        raise Conflict(TAKEN) from exc
    if renamed:
        get_adapter().rename_local_group(row.connection, row)
    _audit(row, source, "group_update", renamed=renamed)
    records.send(
        signals.group_updated,
        source,
        connection=row.connection,
        group=row.group,
        external_group=row,
    )
    return row


@write_transaction
def delete_group(external_group: ExternalGroup, *, source: str = "scim") -> None:
    """The IdP group is gone: its door-granted memberships go, then its local group if it
    was created for it (a group mapped explicitly, e.g. the product's "staff", stays)."""
    row = _lock(external_group)
    connection = row.connection
    if not row.owns_group:
        members = sorted(grants.granted_users(row))
        changes = grants.apply(connection, [], [(row, u) for u in members], source=source)
        grants.notify(connection, changes, source)
    _audit(row, source, "group_delete")
    group = row.group
    get_adapter().delete_local_group(connection, row)  # its own group's deletion takes the row
    row.delete()  # leaves *row* an unsaved copy, as the signal's receivers get it
    records.send(
        signals.group_deleted, source, connection=connection, group=group, external_group=row
    )


def _resolve(connection: Connection, member_ids: Iterable[Any]) -> list[Any]:
    """The users of *member_ids* (user SCIM ids of this connection): :class:`InvalidData`
    for any the connection does not have."""
    wanted = sorted({str(m) for m in member_ids})
    users: dict[str, Any] = {}
    for i in range(0, len(wanted), BATCH):
        batch = []
        for value in wanted[i : i + BATCH]:
            try:
                batch.append(uuid.UUID(value))
            except ValueError:
                raise InvalidData(f"members: no user {value!r}.") from None
        users.update(
            (str(scim_id), user_id)
            for scim_id, user_id in ExternalIdentity.objects.filter(
                connection=connection, deleted_at=None, scim_id__in=batch
            ).values_list("scim_id", "user_id")
        )
    unknown = [m for m in wanted if m not in users]
    if unknown:
        raise InvalidData(f"members: no user {unknown[0]!r}.")
    return sorted(users.values())


def _members(
    external_group: ExternalGroup,
    member_ids: Iterable[Any],
    source: str,
    plan: Any,
) -> grants.Changes:
    row = _lock(external_group)
    users = _resolve(row.connection, member_ids)
    to_grant, to_revoke = plan(row, users)
    changes = grants.apply(
        row.connection,
        [(row, u) for u in sorted(to_grant)],
        [(row, u) for u in sorted(to_revoke)],
        source=source,
    )
    if changes:
        _audit(
            row,
            source,
            "group_members",
            granted=len(changes.granted),
            revoked=len(changes.revoked),
        )
    grants.notify(row.connection, changes, source)
    return changes


@write_transaction
def add_group_members(
    external_group: ExternalGroup, member_ids: Iterable[Any], *, source: str = "scim"
) -> grants.Changes:
    """Add users (their SCIM ids) to the group: PATCH ``add`` on ``members``."""
    return _members(
        external_group,
        member_ids,
        source,
        lambda row, users: (set(users) - grants.granted_users(row, users), set()),
    )


@write_transaction
def remove_group_members(
    external_group: ExternalGroup, member_ids: Iterable[Any], *, source: str = "scim"
) -> grants.Changes:
    """Remove users (their SCIM ids) from the group: PATCH ``remove`` on ``members``. Only a
    door's grants are removed; a membership the product granted stays."""
    return _members(
        external_group,
        member_ids,
        source,
        lambda row, users: (set(), grants.granted_users(row, users)),
    )


@write_transaction
def replace_group_members(
    external_group: ExternalGroup, member_ids: Iterable[Any], *, source: str = "scim"
) -> grants.Changes:
    """Make the group's door-granted members exactly these users: PUT, PATCH ``replace``."""

    def plan(row: ExternalGroup, users: list[Any]) -> tuple[set[Any], set[Any]]:
        current = grants.granted_users(row)
        return set(users) - current, current - set(users)

    return _members(external_group, member_ids, source, plan)
