"""The JIT door's core: find, link or create the account for a validated SAML assertion.

One transaction (:func:`~django_provisioning.db.write_transaction`), in the lock order of the
whole core: the link row found is locked, then its user, and the decisions (deleted over SCIM?
active?) are read from those locked rows. The door's sign-in runs inside the same transaction,
so a SCIM deactivation racing it either comes first (the sign-in is refused) or waits and then
ends the new session. A JIT update never reactivates an account.

One pass: the linkable user is looked for once, and whether the account is active is read
once for the account found (a deactivated one is refused) and once as the write leaves it (only
an active account is signed in), each passed on rather than read again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.db import IntegrityError, transaction

from .adapter import get_adapter
from .compiled import CompiledQuery, Slot, first
from .db import write_transaction
from .exceptions import Conflict, ProvisioningDenied
from .groups import sync_groups
from .linking import find_linkable_user
from .locks import lock_user
from .models import Connection, ExternalIdentity, NameIdFormat
from .provisioning import (
    DEACTIVATED,
    SAML,
    create_in_transaction,
    replace_locked,
)

__all__ = ["find_identity_for_saml", "provision_from_saml"]

CANNOT_LINK = (
    "An account with this user name exists and cannot be linked to your organisation's sign-in."
)


def _link_rows(connection_id: Any, value: str, *, field: str, lock: bool) -> Any:
    base = ExternalIdentity.objects.filter(connection_id=connection_id, **{field: value})
    base = base.select_for_update(of=("self",)) if lock else base.select_related("user")
    return base.order_by("pk")[:1]


#: The JIT lookups (by NameID, then by userName; locked or not), compiled once each.
LINK_ROW_BY = {
    (field, lock): CompiledQuery(
        ExternalIdentity,
        functools.partial(_link_rows, field=field, lock=lock),
        Slot.of(ExternalIdentity, "connection"),
        Slot.of(ExternalIdentity, field),
        for_write=lock,
    )
    for field in ("name_id", "user_name_normalized")
    for lock in (False, True)
}


def find_identity_for_saml(
    connection: Connection,
    *,
    name_id: str,
    name_id_format: str,
    user_name: str | None,
    lock: bool = False,
) -> ExternalIdentity | None:
    """JIT lookup: by (connection, NameID), then by (connection, userName). Transient never.

    With *lock*, the link row found is locked, then its user, both read under the lock.
    """
    found = None
    if name_id and name_id_format != NameIdFormat.TRANSIENT:
        found = first(LINK_ROW_BY["name_id", lock].run(connection.pk, name_id))
    if found is None and user_name:
        norm = get_adapter().normalize_user_name(user_name)
        found = first(LINK_ROW_BY["user_name_normalized", lock].run(connection.pk, norm))
    if found is None:
        return None
    found.connection = connection  # the caller's: it may carry settings laid over the row
    if lock:
        found.user = lock_user(found.user_id)
    return found


@write_transaction
def provision_from_saml(
    connection: Connection,
    *,
    name_id: str,
    name_id_format: str,
    document: dict[str, Any],
    group_names: Iterable[str] | None = None,
    sign_in: Callable[[ExternalIdentity], None] | None = None,
) -> tuple[ExternalIdentity, bool]:
    """The JIT door: find, link or create the user for a validated assertion.

    ``sign_in(identity)`` (the door's session login) runs last, under the locks, for an
    active account only. Returns (identity, created). Raises :class:`ProvisioningDenied` when
    the connection's policy refuses (unknown user with JIT creation off, deactivated user, a
    name another account holds).
    """
    stored_name_id = "" if name_id_format == NameIdFormat.TRANSIENT else name_id
    lookup: dict[str, Any] = {
        "name_id": name_id,
        "name_id_format": name_id_format,
        "user_name": document.get("userName"),
    }
    identity = find_identity_for_saml(connection, **lookup, lock=True)
    created, active = False, None
    if identity is None:
        identity, created, active = _create(connection, document, stored_name_id, lookup)
    else:
        identity, active = _update(identity, document, stored_name_id)
    if group_names is not None:
        sync_groups(identity, group_names, source=SAML)
    if sign_in is not None:
        if active is None:  # a new account: no state was found to read it from
            active = get_adapter().is_user_active(identity.user)
        if not active:
            raise ProvisioningDenied(DEACTIVATED)
        sign_in(identity)
    return identity, created


def _create(
    connection: Connection, document: dict[str, Any], stored_name_id: str, lookup: dict[str, Any]
) -> tuple[ExternalIdentity, bool, bool | None]:
    """Create or link the account; if a SCIM POST or another sign-in created it since the
    lookup, take that account instead (the assertion is valid; refusing would burn it).

    Returns (identity, created, active as written if read, else None)."""
    if not document.get("userName"):
        raise ProvisioningDenied("The identity provider sent no usable user name.")
    linkable = find_linkable_user(connection, document)
    if linkable is None and not connection.jit_create:
        raise ProvisioningDenied("There is no account for you here; ask your administrator.")
    try:
        with transaction.atomic():  # a savepoint: a lost race leaves the transaction usable
            written = create_in_transaction(
                connection,
                document,
                password=None,
                source=SAML,
                name_id=stored_name_id,
                linkable=linkable,
            )
        return written.identity, written.created, written.active
    except Conflict as exc:
        # The winner has committed (the losing insert waited for it): its rows are visible.
        identity = find_identity_for_saml(connection, **lookup, lock=True)
        if identity is None:
            raise ProvisioningDenied(CANNOT_LINK) from exc
    identity, active = _update(identity, document, stored_name_id)
    return identity, False, active


def _update(
    identity: ExternalIdentity, document: dict[str, Any], stored_name_id: str
) -> tuple[ExternalIdentity, bool | None]:
    """Refuse a deactivated account; record a new NameID; refresh attributes (``jit_update``).

    Returns (identity, whether the account is active as written)."""
    if identity.deleted_at is not None or not get_adapter().is_user_active(identity.user):
        raise ProvisioningDenied(DEACTIVATED)
    if stored_name_id and identity.name_id != stored_name_id:
        identity.name_id = stored_name_id
        try:
            with transaction.atomic():
                identity.save(update_fields=["name_id"])
        except IntegrityError as exc:  # another link row took this NameID since the lookup
            raise ProvisioningDenied(CANNOT_LINK) from exc
    if not identity.connection.jit_update:
        return identity, True
    merged = dict(identity.document)
    merged.update(document)
    # Active, as read under the lock above; a sign-in never changes it (an IdP attribute
    # mapped to `active` included).
    merged["active"] = True
    written = replace_locked(identity, merged, password=None, source=SAML, was_active=True)
    return written.identity, written.active
