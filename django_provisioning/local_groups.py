"""The default local groups: ``auth.Group`` rows named per connection, memberships in the user
model's groups table.

What :class:`~django_provisioning.adapter.DefaultAdapter`'s group hooks do, kept apart so the
adapter stays about decisions. Every membership change is a set operation: a fixed number of
statements for any number of members (in batches of :data:`BATCH` beyond that, so a
50,000-member group stays within every database's limit on statement parameters).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

if TYPE_CHECKING:
    from .models import Connection, ExternalGroup

#: Members per statement: well under PostgreSQL's 65,535 and SQLite's 32,766 parameters.
BATCH = 2000
#: The separator between a connection's slug and a group's name in a local group's name.
SEPARATOR = ": "

#: (external group, user pk): one membership, as the group hooks receive them.
Pair = tuple["ExternalGroup", Any]


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


def namespaced_name(connection: Connection, display_name: str, *, salt: str = "") -> str:
    """``"<slug>: <display name>"``, cut to fit ``auth.Group.name`` with a hash of the whole.

    Two long names that share their first 140 characters stay two names; *salt* (the link
    row's id) gives another name when the first one is taken.
    """
    limit = Group._meta.get_field("name").max_length or 150  # type: ignore[union-attr]
    name = f"{connection.slug}{SEPARATOR}{display_name}"
    if len(name) <= limit and not salt:
        return name
    digest = hashlib.sha256(f"{name}\0{salt}".encode()).hexdigest()[:10]
    return f"{name[: limit - len(digest) - 1]}~{digest}"


def create_group(name: str, fallback: str) -> Group:
    """A new ``auth.Group`` called *name*, or *fallback* when *name* is taken.

    Never the group that already has the name: a name collision must not join a customer's
    IdP group to a group the product (or a former link) made.
    """
    try:
        with transaction.atomic():  # a savepoint: the taken name leaves the transaction usable
            return Group.objects.create(name=name)
    except IntegrityError:
        return Group.objects.create(name=fallback)


def rename_group(group: Group, name: str, fallback: str) -> None:
    """Rename *group* to *name*, or to *fallback* when another group has *name*."""
    if group.name == name:
        return
    group.name = name
    try:
        with transaction.atomic():
            group.save(update_fields=["name"])
    except IntegrityError:
        group.name = fallback
        group.save(update_fields=["name"])


def mapped_name(connection: Connection, external_group: ExternalGroup) -> str | None:
    """The existing local group ``group_mapping`` maps this IdP group onto, if it names one.

    Looked up by the IdP's group id, then by its name. ``None`` (or ``""``) there, or no
    entry at all, means a group of the connection's own.
    """
    mapping = connection.group_mapping or {}
    for key in (external_group.external_id, external_group.display_name):
        if key is not None and key in mapping:
            return str(mapping[key]) if mapping[key] else None
    return None


def connection_owned_elsewhere(connection: Connection) -> Q:
    """Groups created for another connection's IdP groups: never this connection's to map."""
    from .models import ExternalGroup

    others = ExternalGroup.objects.filter(owns_group=True, group__isnull=False).exclude(
        connection=connection
    )
    return Q(pk__in=others.values("group"))


def mappable_groups(connection: Connection) -> QuerySet[Group]:
    """Every local group but those another connection created (the default adapter's
    ``local_groups_for``)."""
    return Group.objects.exclude(connection_owned_elsewhere(connection))


def _by_group(pairs: Iterable[Pair]) -> dict[Any, list[Any]]:
    users: dict[Any, list[Any]] = defaultdict(list)
    for external_group, user_pk in pairs:
        if external_group.group_id is not None:
            users[external_group.group_id].append(user_pk)
    return users


def _statements(pairs: Sequence[Pair]) -> list[tuple[list[Any], list[Any]]]:
    """The pairs as (group pks, user pks) cross products, exactly: one per user when a single
    user has them all (a sign-in), else one per group in batches of users (a group's members)."""
    by_group = _by_group(pairs)
    user_pks = {user_pk for users in by_group.values() for user_pk in users}
    if len(user_pks) == 1:
        return [(list(by_group), list(user_pks))]
    return [
        ([group_pk], users[i : i + BATCH])
        for group_pk, users in by_group.items()
        for i in range(0, len(users), BATCH)
    ]


def memberships(pairs: Sequence[Pair]) -> set[tuple[Any, Any]]:
    """Which of *pairs* are memberships already, as (local group pk, user pk)."""
    through, user_col, group_col = groups_through(get_user_model())
    found: set[tuple[Any, Any]] = set()
    for group_pks, user_pks in _statements(pairs):
        rows = through.objects.filter(
            **{f"{group_col}__in": group_pks, f"{user_col}__in": user_pks}
        ).values_list(group_col, user_col)
        found.update(rows)
    return found


def add_memberships(pairs: Sequence[Pair]) -> None:
    """Insert the memberships (one that exists meanwhile is skipped, not an error)."""
    through, user_col, group_col = groups_through(get_user_model())
    rows = [
        through(**{user_col: user_pk, group_col: group_pk})
        for group_pk, users in _by_group(pairs).items()
        for user_pk in users
    ]
    through.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)


def remove_memberships(pairs: Sequence[Pair]) -> None:
    """Delete the memberships (a ``DELETE ... IN``, per user or per group batch)."""
    through, user_col, group_col = groups_through(get_user_model())
    for group_pks, user_pks in _statements(pairs):
        through.objects.filter(
            **{f"{group_col}__in": group_pks, f"{user_col}__in": user_pks}
        ).delete()
