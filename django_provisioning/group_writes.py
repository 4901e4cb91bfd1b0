"""The /Groups writes of the core: create, change (rename, ``externalId``, members), delete.

Each is one :func:`~django_provisioning.db.write_transaction` that locks the one group link
row it changes, then writes its grant rows and memberships (see ``docs/architecture.rst``,
"Concurrency"); it locks no user. A membership change is a set operation: a fixed number of
statements for any number of members (in batches of
:data:`~django_provisioning.local_groups.BATCH` beyond that). Members are named by their SCIM
ids (``ExternalIdentity.scim_id``) in the group's connection: one the connection does not have,
or another connection's, is :class:`InvalidData` naming it, and nothing is written. A removal
of an id the connection no longer has (a user deleted meanwhile) removes nothing and is no
error, so an identity provider's retried removal cannot get stuck. Every write that changes
what a client reads gives the row a new ``version`` (its ETag).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import grants, records, signals
from .adapter import get_adapter
from .db import write_transaction
from .exceptions import Conflict, InvalidData
from .group_rows import KEEP, TAKEN, audit, check_names, link, lock, match
from .local_groups import BATCH
from .models import Connection, ExternalGroup, ExternalIdentity

__all__ = [
    "GroupChange",
    "Members",
    "add_group_members",
    "change_group",
    "create_group",
    "delete_group",
    "remove_group_members",
    "replace_group_members",
    "update_group",
]


@dataclass
class Members:
    """A net change of a group's members (SCIM ids), from operations taken in order.

    ``reset``: start from no door-granted member (a ``replace``, or ``remove`` of them all).
    """

    reset: bool = False
    add: dict[str, None] = field(default_factory=dict)  # an ordered set
    remove: dict[str, None] = field(default_factory=dict)

    def added(self, ids: Iterable[str]) -> None:
        for member_id in ids:
            self.add[member_id] = None
            self.remove.pop(member_id, None)

    def removed(self, ids: Iterable[str]) -> None:
        for member_id in ids:
            self.remove[member_id] = None
            self.add.pop(member_id, None)

    def cleared(self) -> None:
        self.reset = True
        self.add.clear()
        self.remove.clear()

    def replaced(self, ids: Iterable[str]) -> None:
        self.cleared()
        self.added(ids)

    def __bool__(self) -> bool:
        return bool(self.reset or self.add or self.remove)


@dataclass
class GroupChange:
    """What a PUT or PATCH does to a group: ``None`` / ``KEEP`` leave an attribute as it is."""

    display_name: str | None = None
    external_id: Any = KEEP
    members: Members = field(default_factory=Members)


def _resolve(connection: Connection, add: Iterable[str], remove: Iterable[str]) -> dict[str, Any]:
    """SCIM id -> user pk for *add* and *remove*: :class:`InvalidData` naming the first id to
    add that the connection does not have, or any id of another connection's user."""
    adding = list(dict.fromkeys(str(m) for m in add))
    wanted = sorted(set(adding) | {str(m) for m in remove})
    keys: dict[uuid.UUID, str] = {}
    for value in wanted:
        try:
            keys[uuid.UUID(value)] = value
        except ValueError:
            if value in adding:
                raise InvalidData(f"members: no user {value[:64]!r}.") from None
    found: dict[str, Any] = {}
    listed = list(keys)
    for i in range(0, len(listed), BATCH):
        rows = ExternalIdentity.objects.filter(scim_id__in=listed[i : i + BATCH]).values_list(
            "scim_id", "user_id", "connection_id", "deleted_at"
        )
        for scim_id, user_id, connection_id, deleted_at in rows:
            value = keys[scim_id]
            if connection_id != connection.pk:
                raise InvalidData(f"members: no user {value!r} in this connection.")
            if deleted_at is None:
                found[value] = user_id
    for value in adding:
        if value not in found:
            raise InvalidData(f"members: no user {value[:64]!r}.")
    return found


def _members(row: ExternalGroup, members: Members, source: str) -> grants.Changes:
    """Apply *members* to the locked *row*: its grants, its local memberships, after commit
    the signals. A fixed number of statements for any number of members."""
    users = _resolve(row.connection, members.add, members.remove)
    adding = {users[m] for m in members.add}
    if members.reset:
        current = grants.granted_users(row)
        to_grant, to_revoke = adding - current, current - adding
    else:
        removing = sorted({users[m] for m in members.remove if m in users})
        to_grant = adding - grants.granted_users(row, sorted(adding)) if adding else set()
        to_revoke = grants.granted_users(row, removing) if removing else set()
    changes = grants.apply(
        row.connection,
        [(row, u) for u in sorted(to_grant)],
        [(row, u) for u in sorted(to_revoke)],
        source=source,
    )
    if changes:
        audit(
            row,
            source,
            "group_members",
            granted=len(changes.granted),
            revoked=len(changes.revoked),
        )
    grants.notify(row.connection, changes, source)
    return changes


def _save(row: ExternalGroup) -> None:
    try:
        row.save()  # no savepoint: a Conflict ends the write, rolled back whole
    except IntegrityError as exc:
        raise Conflict(TAKEN) from exc


def _change(
    row: ExternalGroup, change: GroupChange, source: str, document: dict[str, Any] | None = None
) -> ExternalGroup:
    """*change* applied to the locked *row*: attributes, then members; one new version."""
    old = (row.display_name, row.external_id, row.document)
    renamed = change.display_name is not None and change.display_name != row.display_name
    if change.external_id is not KEEP:
        row.external_id = change.external_id or None
    row.display_name = change.display_name or row.display_name
    check_names(row.display_name, row.external_id)
    row.document = document if document is not None else {"displayName": row.display_name}
    updated = (row.display_name, row.external_id, row.document) != old
    if updated:
        row.version += 1  # the one new version, written with the attributes
        row.updated_at = timezone.now()
        _save(row)  # uniqueness refused before any membership is written
        if renamed:
            get_adapter().rename_local_group(row.connection, row)
        audit(row, source, "group_update", renamed=renamed)
        records.send(
            signals.group_updated,
            source,
            connection=row.connection,
            group=row.group,
            external_group=row,
        )
    changes = _members(row, change.members, source) if change.members else grants.Changes()
    if changes and not updated:
        row.version += 1
        row.updated_at = timezone.now()
        row.save(update_fields=["version", "updated_at"])
    return row


@write_transaction
def create_group(
    connection: Connection,
    display_name: str,
    *,
    external_id: str | None = None,
    document: dict[str, Any] | None = None,
    members: Iterable[str] = (),
    source: str = "scim",
) -> ExternalGroup:
    """Create an IdP group of *connection* (SCIM POST /Groups) with *members* (SCIM ids), or
    take over the row a SAML sign-in made for it (matched by id, then name: one IdP group,
    one link row), also when that sign-in commits while this insert waits on it.

    A row a SCIM client wrote already (its stored document is never empty) is
    :class:`Conflict`.
    """
    external_id = external_id or None
    check_names(display_name, external_id)
    change = GroupChange(display_name, external_id or KEEP)
    member_ids = list(members)
    if member_ids:
        change.members.replaced(member_ids)
    keys = [v for v in (external_id, display_name) if v is not None]
    found = match(connection, keys)
    row = found.get(external_id or "") or found.get(display_name)
    if row is None:
        row = ExternalGroup(
            connection=connection,
            display_name=display_name,
            external_id=external_id,
            document=document or {"displayName": display_name},
        )
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            # A sign-in named the group meanwhile and committed: its row, read again.
            found = match(connection, keys)
            row = found.get(external_id or "") or found.get(display_name)
            if row is None:
                raise Conflict(TAKEN) from None
        else:
            if not link(row, source):
                raise InvalidData(
                    f"group_mapping maps {display_name!r} onto a local group that does not exist."
                )
            if member_ids:
                _members(row, change.members, source)
            return row
    if row.document:
        raise Conflict(TAKEN)
    # A row a sign-in made (its id is the SAML value): keep that id unless SCIM sends one.
    return _change(lock(row), change, source, document or {"displayName": display_name})


@write_transaction
def change_group(
    external_group: ExternalGroup,
    decide: Callable[[ExternalGroup], GroupChange],
    *,
    source: str = "scim",
) -> ExternalGroup:
    """Change a group (SCIM PUT/PATCH): *decide* is the door's callback, called with the
    locked row (``If-Match``, the PATCH operations against what is stored now); its
    :class:`GroupChange` is applied, attributes and members, in this one transaction."""
    row = lock(external_group)
    return _change(row, decide(row), source)


@write_transaction
def update_group(
    external_group: ExternalGroup,
    *,
    display_name: str | None = None,
    external_id: Any = KEEP,
    document: dict[str, Any] | None = None,
    source: str = "scim",
) -> ExternalGroup:
    """Rename a group, change its ``externalId`` (``None`` clears it) or stored document."""
    row = lock(external_group)
    return _change(row, GroupChange(display_name, external_id), source, document)


@write_transaction
def delete_group(
    external_group: ExternalGroup,
    *,
    check: Callable[[ExternalGroup], None] | None = None,
    source: str = "scim",
) -> None:
    """The IdP group is gone: its door-granted memberships go, then its local group if it
    was created for it (a group mapped explicitly, e.g. the product's "staff", stays).
    *check* is called with the locked row first (the door's ``If-Match``)."""
    row = lock(external_group)
    if check is not None:
        check(row)
    connection = row.connection
    if not row.owns_group:
        members = sorted(grants.granted_users(row))
        changes = grants.apply(connection, [], [(row, u) for u in members], source=source)
        grants.notify(connection, changes, source)
    audit(row, source, "group_delete")
    group = row.group
    get_adapter().delete_local_group(connection, row)  # its own group's deletion takes the row
    # The row, unless that deletion took it (deleting it twice would count it out twice).
    ExternalGroup.objects.filter(pk=row.pk).delete()
    row.pk = None  # an unsaved copy, as the signal's receivers get it
    records.send(
        signals.group_deleted, source, connection=connection, group=group, external_group=row
    )


def _membership(external_group: ExternalGroup, members: Members, source: str) -> grants.Changes:
    row = lock(external_group)
    changes = _members(row, members, source)
    if changes:
        row.version += 1
        row.updated_at = timezone.now()
        row.save(update_fields=["version", "updated_at"])
    return changes


@write_transaction
def add_group_members(
    external_group: ExternalGroup, member_ids: Iterable[Any], *, source: str = "scim"
) -> grants.Changes:
    """Add users (their SCIM ids) to the group: PATCH ``add`` on ``members``."""
    members = Members()
    members.added(str(m) for m in member_ids)
    return _membership(external_group, members, source)


@write_transaction
def remove_group_members(
    external_group: ExternalGroup, member_ids: Iterable[Any], *, source: str = "scim"
) -> grants.Changes:
    """Remove users (their SCIM ids) from the group: PATCH ``remove`` on ``members``. Only a
    door's grants are removed; a membership the product granted stays."""
    members = Members()
    members.removed(str(m) for m in member_ids)
    return _membership(external_group, members, source)


@write_transaction
def replace_group_members(
    external_group: ExternalGroup, member_ids: Iterable[Any], *, source: str = "scim"
) -> grants.Changes:
    """Make the group's door-granted members exactly these users: PUT, PATCH ``replace``."""
    members = Members()
    members.replaced(str(m) for m in member_ids)
    return _membership(external_group, members, source)
