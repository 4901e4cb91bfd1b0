"""Memberships the doors grant: added and removed as sets, recorded in :class:`GroupGrant` rows.

The one rule: a door removes only a membership a door created. When a door puts a user into
the local group of an IdP group, the user either

* was not a member: the membership is added and a grant row records it;
* was a member through another IdP group's grant (two IdP groups mapped onto one local group):
  a grant row is recorded, the membership is shared by the two grants;
* was a member by the product's own doing: nothing is written, so no door ever removes it.

Removing a grant removes the membership unless another grant still holds it. Everything here
is a fixed number of statements for any number of members (batches of
:data:`~django_provisioning.local_groups.BATCH` beyond that). The caller holds the locks: the
link rows of the groups whose memberships change (see ``docs/architecture.rst``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from . import records, signals
from .adapter import get_adapter
from .local_groups import BATCH, Pair
from .models import Connection, ExternalGroup, GroupGrant


@dataclass
class Changes:
    """What :func:`apply` did: the grants recorded and removed, and the local memberships
    actually added and removed (a grant may share or leave a product's membership)."""

    granted: list[Pair] = field(default_factory=list)
    revoked: list[Pair] = field(default_factory=list)
    added: list[Pair] = field(default_factory=list)
    removed: list[Pair] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.granted or self.revoked)


def _statements(pairs: Sequence[Pair]) -> list[Q]:
    """*pairs* as exact ``Q`` objects over grant rows: one for a single user (a sign-in), else
    one per external group and batch of users (a group's members)."""
    users: dict[ExternalGroup, list[Any]] = defaultdict(list)
    for external_group, user_pk in pairs:
        users[external_group].append(user_pk)
    user_pks = {user_pk for _eg, user_pk in pairs}
    if len(user_pks) == 1:
        return [Q(user_id=next(iter(user_pks)), external_group__in=list(users))]
    return [
        Q(external_group=external_group, user_id__in=members[i : i + BATCH])
        for external_group, members in users.items()
        for i in range(0, len(members), BATCH)
    ]


def _held(pairs: Sequence[Pair]) -> set[tuple[Any, Any]]:
    """(local group pk, user pk) of *pairs* that some grant row holds, whichever IdP group's."""
    group_pks = {eg.group_id for eg, _user in pairs if eg.group_id is not None}
    user_pks = sorted({user_pk for eg, user_pk in pairs if eg.group_id is not None})
    held: set[tuple[Any, Any]] = set()
    for i in range(0, len(user_pks), BATCH):
        held.update(
            GroupGrant.objects.filter(
                external_group__group_id__in=group_pks, user_id__in=user_pks[i : i + BATCH]
            ).values_list("external_group__group_id", "user_id")
        )
    return held


def apply(
    connection: Connection, grant: Sequence[Pair], revoke: Sequence[Pair], *, source: str
) -> Changes:
    """Record the grants *grant* (adding the memberships they need) and remove the grants
    *revoke* (and the memberships no other grant holds). Grants first, so a membership moving
    from one IdP group to another mapped onto the same local group is never dropped."""
    adapter = get_adapter()
    changes = Changes()
    if grant:
        existing = adapter.local_memberships(connection, grant)
        shared = _held([p for p in grant if (p[0].pk, p[1]) in existing]) if existing else set()
        for pair in grant:
            external_group, user_pk = pair
            if (external_group.pk, user_pk) not in existing:
                changes.added.append(pair)
                changes.granted.append(pair)
            elif (external_group.group_id, user_pk) in shared:
                changes.granted.append(pair)
            # else: the product's own membership; no grant, so no door will remove it.
        if changes.added:
            adapter.add_local_memberships(connection, changes.added)
        GroupGrant.objects.bulk_create(
            [GroupGrant(external_group=eg, user_id=u, source=source) for eg, u in changes.granted],
            batch_size=BATCH,
            ignore_conflicts=True,
        )
    if revoke:
        for condition in _statements(revoke):
            GroupGrant.objects.filter(condition).delete()
        changes.revoked = list(revoke)
        still_held = _held(revoke)
        changes.removed = [
            (eg, u) for eg, u in revoke if eg.group_id is None or (eg.group_id, u) not in still_held
        ]
        if changes.removed:
            adapter.remove_local_memberships(connection, changes.removed)
    return changes


def granted_users(external_group: ExternalGroup, user_pks: Sequence[Any] | None = None) -> set[Any]:
    """The users a door granted membership of *external_group* (among *user_pks*, if given)."""
    rows = GroupGrant.objects.filter(external_group=external_group)
    if user_pks is None:
        return set(rows.values_list("user_id", flat=True))
    found: set[Any] = set()
    for i in range(0, len(user_pks), BATCH):
        found.update(
            rows.filter(user_id__in=user_pks[i : i + BATCH]).values_list("user_id", flat=True)
        )
    return found


def notify(connection: Connection, changes: Changes, source: str) -> None:
    """One ``group_members_added`` / ``group_members_removed`` per group whose local
    memberships changed, after commit, with the users' primary keys."""
    for signal, pairs in (
        (signals.group_members_added, changes.added),
        (signals.group_members_removed, changes.removed),
    ):
        by_group: dict[ExternalGroup, list[Any]] = defaultdict(list)
        for external_group, user_pk in pairs:
            by_group[external_group].append(user_pk)
        for external_group, user_pks in by_group.items():
            records.send(
                signal,
                source,
                connection=connection,
                group=external_group.group,
                external_group=external_group,
                user_ids=user_pks,
            )
