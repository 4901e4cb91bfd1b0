"""The core's lock order: the link row, then its user, each read again under its lock.

Every write of the core (:mod:`.provisioning`, :mod:`.jit`) takes its locks through here, so
both doors lock in one order and cannot deadlock each other; what decides a write's outcome
(``active``, the version, ``deleted_at``) is read from the locked rows, never from the copy the
caller holds. See ``docs/architecture.rst``, "Concurrency".
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, router

from .compiled import CompiledQuery, Slot, first
from .exceptions import Gone
from .models import ExternalIdentity

#: The queries of the lock order, compiled once (:mod:`.compiled`): every write runs them.
LOCK_IDENTITY = CompiledQuery(
    ExternalIdentity,
    lambda pk: ExternalIdentity.objects.select_for_update(of=("self",)).filter(pk=pk)[:1],
    Slot.of(ExternalIdentity, "id"),
    for_write=True,
)
_LOCK_USER: dict[Any, CompiledQuery] = {}


def users_for_update(model: Any) -> Any:
    """*model*'s users, to be locked as :func:`lock_user` says (``FOR NO KEY UPDATE`` where the
    database has it)."""
    no_key = connections[router.db_for_write(model)].features.has_select_for_no_key_update
    return model._default_manager.select_for_update(no_key=no_key)


def _lock_user_query(model: Any) -> CompiledQuery:
    query = _LOCK_USER.get(model)
    if query is None:
        query = _LOCK_USER[model] = CompiledQuery(
            model,
            lambda pk: users_for_update(model).filter(pk=pk)[:1],
            Slot(model._meta.pk),
            for_write=True,
        )
    return query


def lock_user(pk: Any) -> Any:
    """The user row, locked and read under the lock.

    ``FOR NO KEY UPDATE`` where the database has it (PostgreSQL): it excludes every other
    writer of the row as ``FOR UPDATE`` does, but lets another transaction insert a row that
    names the user (a group grant, a membership: its foreign key check takes ``FOR KEY
    SHARE``). A /Groups change holding a group's link row while it adds this user would
    otherwise wait for a sign-in that waits for that link row: a deadlock.
    """
    user = first(_lock_user_query(get_user_model()).run(pk))
    if user is None:
        raise Gone("This user no longer exists.")
    return user


def lock_identity(identity: ExternalIdentity) -> ExternalIdentity:
    """*identity* read again under its locks: the link row, then its user (the lock order).

    Raises :class:`Gone` when the row has been deleted, or deleted over SCIM, since the caller
    read it. The caller's connection object is kept: it may carry settings laid over the row.
    """
    row = first(LOCK_IDENTITY.run(identity.pk))
    if row is None or row.deleted_at is not None:
        raise Gone("This user no longer exists.")
    row.connection = identity.connection
    row.user = lock_user(row.user_id)
    return row
