"""Each connection's number of users and groups, kept exact without counting the tables.

An unfiltered ``GET /Users`` or ``GET /Groups`` answers ``totalResults`` from the connection's
:class:`~django_provisioning.models.ConnectionCounter` row (one indexed read) instead of a
``COUNT(*)`` over its link rows. The row changes in the transaction of every change it counts:

* a link row (``ExternalIdentity`` not SCIM-deleted, ``ExternalGroup``) inserted or deleted,
  by any path (the doors, Bulk, JIT, a user or group deleted in the admin or by the product's
  code, a cascade): ``post_save`` / ``post_delete`` receivers; a SCIM DELETE that keeps the
  account (``deleted_at`` set) and rows inserted in bulk are counted by the core itself;
* inside the core's write transactions (:func:`~.db.write_transaction`), the deltas are
  collected and written **last**, as one ``UPDATE ... SET users = users + n`` per connection,
  after the other writes: the counter row's lock is the last a write takes, so it adds no
  edge to the lock order. Outside them (the admin), the receiver writes at once, in the
  deleting transaction.

A connection deleted with its rows is not counted down row by row (its counter goes with it).
``manage.py recount_connections`` recomputes the rows (:func:`recount`); migration ``0010``
initialised them.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save, pre_delete

from .db import DELTA_APPLIERS, write_deltas
from .models import Connection, ConnectionCounter, ExternalGroup, ExternalIdentity

USERS = "users"
GROUPS = "groups"

_dying = threading.local()


def add(connection_id: Any, *, users: int = 0, groups: int = 0) -> None:
    """Count *users* and *groups* more (or fewer) in a connection, last in the write."""
    deltas: Counter[Any] = Counter()
    if users:
        deltas[(connection_id, USERS)] += users
    if groups:
        deltas[(connection_id, GROUPS)] += groups
    if not deltas:
        return
    frame = write_deltas()
    if frame is not None:
        frame.update(deltas)
    else:
        apply(deltas)


def apply(deltas: Counter[Any]) -> None:
    """Write *deltas* (``(connection_id, "users" | "groups") -> n``): one UPDATE a connection.

    In connection order, so two writes touching several connections lock them in one order.
    A connection without its row (created past the receivers) gets one, counted.
    """
    by_connection: dict[Any, dict[str, int]] = {}
    for (connection_id, field), n in deltas.items():
        if n:
            by_connection.setdefault(connection_id, {})[field] = n
    for connection_id in sorted(by_connection):
        changes = {field: F(field) + n for field, n in by_connection[connection_id].items()}
        if not ConnectionCounter.objects.filter(connection_id=connection_id).update(**changes):
            _create(connection_id, changes)


def _create(connection_id: Any, changes: dict[str, Any]) -> None:
    """The missing row, counted (this transaction's rows included); a row another transaction
    created meanwhile gets the delta instead."""
    if not Connection.objects.filter(pk=connection_id).exists():
        return  # deleted with its rows
    try:
        with transaction.atomic():
            ConnectionCounter.objects.create(connection_id=connection_id, **_counts(connection_id))
    except IntegrityError:
        ConnectionCounter.objects.filter(connection_id=connection_id).update(**changes)


def _counts(connection_id: Any) -> dict[str, int]:
    identities = ExternalIdentity.objects.filter(connection_id=connection_id, deleted_at=None)
    return {
        USERS: identities.count(),
        GROUPS: ExternalGroup.objects.filter(connection_id=connection_id).count(),
    }


def recount(connection: Connection) -> ConnectionCounter:
    """Recompute *connection*'s counter from its rows (the repair; locks the counter row)."""
    with transaction.atomic():
        ConnectionCounter.objects.get_or_create(connection=connection)
        row = ConnectionCounter.objects.select_for_update().get(connection=connection)
        for field, value in _counts(connection.pk).items():
            setattr(row, field, value)
        row.save(update_fields=[USERS, GROUPS])
    return row


def totals(connection: Connection) -> ConnectionCounter | None:
    """The connection's counter row (None when it has none: the caller counts)."""
    return ConnectionCounter.objects.filter(connection_id=connection.pk).first()


# ---------------------------------------------------------------------------- receivers


def _connection_saved(sender: Any, instance: Connection, created: bool, **kwargs: Any) -> None:
    if created and not kwargs.get("raw"):
        ConnectionCounter.objects.create(connection=instance)  # a new connection has no rows


def _connection_deleting(sender: Any, instance: Connection, **kwargs: Any) -> None:
    # Keyed by the delete call (its origin): a delete that fails half-way leaves an entry
    # that no later delete matches, so those are counted as usual.
    _dying.__dict__.setdefault("origins", {})[instance.pk] = kwargs.get("origin")


def _connection_deleted(sender: Any, instance: Connection, **kwargs: Any) -> None:
    _dying.__dict__.setdefault("origins", {}).pop(instance.pk, None)


def _going(connection_id: Any, origin: Any) -> bool:
    """True when the row goes with its connection, in the delete call *origin*."""
    origins = _dying.__dict__.get("origins", {})
    return connection_id in origins and origins[connection_id] is origin


def _identity_saved(sender: Any, instance: ExternalIdentity, created: bool, **kw: Any) -> None:
    if created and instance.deleted_at is None:
        add(instance.connection_id, users=1)


def _identity_deleted(sender: Any, instance: ExternalIdentity, **kwargs: Any) -> None:
    if instance.deleted_at is None and not _going(instance.connection_id, kwargs.get("origin")):
        add(instance.connection_id, users=-1)


def _group_saved(sender: Any, instance: ExternalGroup, created: bool, **kwargs: Any) -> None:
    if created:
        add(instance.connection_id, groups=1)


def _group_deleted(sender: Any, instance: ExternalGroup, **kwargs: Any) -> None:
    if not _going(instance.connection_id, kwargs.get("origin")):
        add(instance.connection_id, groups=-1)


UID = "django_provisioning.counters"
post_save.connect(_connection_saved, sender=Connection, dispatch_uid=f"{UID}.connection")
pre_delete.connect(_connection_deleting, sender=Connection, dispatch_uid=f"{UID}.dying")
post_delete.connect(_connection_deleted, sender=Connection, dispatch_uid=f"{UID}.dead")
post_save.connect(_identity_saved, sender=ExternalIdentity, dispatch_uid=f"{UID}.identity+")
post_delete.connect(_identity_deleted, sender=ExternalIdentity, dispatch_uid=f"{UID}.identity-")
post_save.connect(_group_saved, sender=ExternalGroup, dispatch_uid=f"{UID}.group+")
post_delete.connect(_group_deleted, sender=ExternalGroup, dispatch_uid=f"{UID}.group-")
DELTA_APPLIERS.append(apply)
