"""The provisioning core: every change to a user, from SCIM or SAML JIT, goes through here.

Each public function is one transaction (:func:`~django_provisioning.db.write_transaction`,
retried on deadlocks) that writes the user (through the adapter), the link row, the index of
multi-valued attributes, the userName claim and an audit event, and sends its signal after
commit. Errors are protocol-neutral (:mod:`.exceptions`); each door renders them its way.

Locks: a write locks the link row (``SELECT ... FOR UPDATE``), then the user row, and reads what
decides the outcome (``active``, the version, ``deleted_at``) from those locked rows, never from
the copy its caller holds. Both doors take the same locks in the same order, so they cannot
deadlock each other, and whichever comes second sees what the first wrote. A new account has
no link row yet: the user it links is locked first, then its userName claim is taken. The JIT
door (:mod:`.jit`) follows the same order. See ``docs/architecture.rst``, "Concurrency".

The JIT door's core functions (``provision_from_saml``) are in :mod:`.jit`; the link row,
value index and audit helpers in :mod:`.records`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone

from . import claims, records, signals
from .adapter import get_adapter
from .db import write_transaction
from .exceptions import Conflict, Gone, InvalidData, ProvisioningDenied, ProvisioningError
from .groups import groups_through, sync_groups
from .models import Connection, ExternalIdentity
from .schema.document import primary_value
from .sessions import end_user_sessions

__all__ = [
    "Conflict",
    "Gone",
    "InvalidData",
    "ProvisioningDenied",
    "ProvisioningError",
    "create_user",
    "deactivate_user",
    "delete_user",
    "effective_document",
    "groups_through",
    "lock_identity",
    "replace_user",
    "sync_user_groups",
    "update_user",
]

SAML = "saml"  # AuditEvent.Source.SAML: the JIT door's source
DEACTIVATED = "This account has been deactivated."

#: What a PUT or PATCH computes from the locked link row: (new document, new password or None).
Change = Callable[[ExternalIdentity], tuple[dict[str, Any], str | None]]


def effective_document(identity: ExternalIdentity) -> dict[str, Any]:
    """The identity's document as a client reads it: the stored one, model values overlaid."""
    return get_adapter().user_to_document(identity.user, identity.document, identity.connection)


def lock_user(pk: Any) -> Any:
    """The user row, locked and read under the lock.

    ``FOR NO KEY UPDATE`` where the database has it (PostgreSQL): it excludes every other
    writer of the row as ``FOR UPDATE`` does, but lets another transaction insert a row that
    names the user (a group grant, a membership: its foreign key check takes ``FOR KEY
    SHARE``). A /Groups change holding a group's link row while it adds this user would
    otherwise wait for a sign-in that waits for that link row: a deadlock.
    """
    users = get_user_model()._default_manager
    no_key = connections[users.select_for_update().db].features.has_select_for_no_key_update
    user = users.select_for_update(no_key=no_key).filter(pk=pk).first()
    if user is None:
        raise Gone("This user no longer exists.")
    return user


def lock_identity(identity: ExternalIdentity) -> ExternalIdentity:
    """*identity* read again under its locks: the link row, then its user (the lock order).

    Raises :class:`Gone` when the row has been deleted, or deleted over SCIM, since the caller
    read it. The caller's connection object is kept: it may carry settings laid over the row.
    """
    locked = ExternalIdentity.objects.select_for_update(of=("self",)).filter(pk=identity.pk)
    row = locked.first()
    if row is None or row.deleted_at is not None:
        raise Gone("This user no longer exists.")
    row.connection = identity.connection
    row.user = lock_user(row.user_id)
    return row


def _claim_user_name(
    connection: Connection, normalized: str, *, exclude_pk: int | None = None
) -> Any:
    """Refuse a userName taken by a live identity; clear it from a SCIM-deleted one.

    Returns the user of the cleared link, if any: a person deleted over SCIM and pushed again
    gets their old (deactivated) account back rather than a second one.
    """
    clash = (
        ExternalIdentity.objects.filter(connection=connection, user_name_normalized=normalized)
        .exclude(pk=exclude_pk)
        .select_related("user")
    )
    previous = None
    for other in clash:
        if other.deleted_at is None:
            raise Conflict("A user with this userName already exists.")
        previous = other.user
        other.delete()
    return previous


@write_transaction
def create_user(
    connection: Connection,
    document: dict[str, Any],
    *,
    password: str | None = None,
    source: str = "scim",
    name_id: str = "",
) -> ExternalIdentity:
    """Create (or link, under the connection's policy) the user for a canonical SCIM document."""
    identity, _created = create_in_transaction(
        connection, document, password=password, source=source, name_id=name_id
    )
    return identity


def create_in_transaction(
    connection: Connection,
    document: dict[str, Any],
    *,
    password: str | None,
    source: str,
    name_id: str,
) -> tuple[ExternalIdentity, bool]:
    """:func:`create_user` in the caller's transaction; returns (identity, user was created).

    The userName claim is taken after the user row is written (a new user) or locked (an
    existing one): of two transactions creating one normalised name, the second waits on the
    claim's unique index and gets :class:`Conflict`.
    """
    adapter = get_adapter()
    user_name = str(document["userName"])
    records.check_identifiers(document)
    normalized = adapter.normalize_user_name(user_name)
    previous = _claim_user_name(connection, normalized)
    user = previous or find_linkable_user(connection, document)
    created = user is None
    if user is None:
        if adapter.find_user_by_user_name(connection, user_name) is not None:
            raise Conflict(claims.TAKEN)
        user = adapter.new_user(connection, document)
    else:
        # Link rows before the user (the lock order): the account's SCIM-deleted links in
        # this connection make way for the new one.
        ExternalIdentity.objects.filter(connection=connection, user=user).exclude(
            deleted_at=None
        ).delete()
        user = lock_user(user.pk)
        if source == SAML and not adapter.is_user_active(user):
            raise ProvisioningDenied(DEACTIVATED)  # JIT never reactivates
    adapter.populate_user(user, document, connection)
    if password:
        adapter.set_password(user, password)
    records.save_user(user, connection, created=created)
    claims.claim(user, normalized)
    identity = ExternalIdentity(connection=connection, user=user, name_id=name_id)
    records.write_identity(identity, document, fresh=True)
    records.audit(
        identity, connection, source, "create" if created else "link", user, userName=user_name
    )
    records.send(signals.user_created, source, connection=connection, user=user, identity=identity)
    return identity, created


def find_linkable_user(connection: Connection, document: dict[str, Any]) -> Any:
    """An existing local user this connection may take over, by its verified e-mail domain."""
    adapter = get_adapter()
    emails = [str(document.get("userName") or "")]
    email = primary_value(document.get("emails"))
    if email:
        emails.insert(0, str(email))
    for candidate in emails:
        if "@" not in candidate or not connection.owns_email_domain(candidate):
            continue
        user = adapter.find_user_by_user_name(connection, candidate) or adapter.find_user_by_email(
            connection, candidate
        )
        if user is not None and adapter.can_link_user(connection, user, candidate):
            return user
    return None


@write_transaction
def update_user(
    identity: ExternalIdentity, change: Change, *, source: str = "scim"
) -> ExternalIdentity:
    """Change a user from their current, locked state (SCIM PUT and PATCH).

    Locks the link row and the user, then calls ``change(locked)`` for the new document and
    password. *change* sees what is stored, not what the caller read: If-Match, immutability
    and PATCH operations are checked and applied there, and again on a retry.
    """
    locked = lock_identity(identity)
    document, password = change(locked)
    return replace_locked(locked, document, password=password, source=source)


def replace_user(
    identity: ExternalIdentity,
    document: dict[str, Any],
    *,
    password: str | None = None,
    source: str = "scim",
) -> ExternalIdentity:
    """Replace the user's attributes with *document* (PUT, PATCH result, JIT refresh)."""
    return update_user(identity, lambda _locked: (document, password), source=source)


def replace_locked(
    identity: ExternalIdentity,
    document: dict[str, Any],
    *,
    password: str | None,
    source: str,
) -> ExternalIdentity:
    """:func:`replace_user` on an identity its caller has locked (:func:`lock_identity`)."""
    adapter = get_adapter()
    connection = identity.connection
    user = identity.user
    records.check_identifiers(document)
    was_active = adapter.is_user_active(user)
    before = adapter.user_to_document(user, identity.document, connection)
    old_norm = identity.user_name_normalized
    new_name = str(document.get("userName") or identity.user_name)
    new_norm = adapter.normalize_user_name(new_name)
    if new_norm != old_norm:
        _claim_user_name(connection, new_norm, exclude_pk=identity.pk)
        # As for a create: not onto another local account's normalised name.
        clash = adapter.find_user_by_user_name(connection, new_name)
        if clash is not None and clash.pk != user.pk:
            raise Conflict(claims.TAKEN)
    adapter.populate_user(user, document, connection)
    now_active = adapter.is_user_active(user)
    if source == SAML and now_active and not was_active:
        # Only SCIM, the admin or the product's code reactivate; a sign-in never does.
        raise ProvisioningDenied(DEACTIVATED)
    if not password and adapter.user_to_document(user, document, connection) == before:
        # Nothing a client can read changed: same version (RFC 7232 §2.3), no audit event,
        # no signal. Identity providers resend unchanged values all the time.
        return identity
    if password:
        adapter.set_password(user, password)
    records.save_user(user, connection, created=False)
    if new_norm != old_norm:
        claims.claim(user, new_norm)
    records.write_identity(identity, document, fresh=False)
    if new_norm != old_norm:
        claims.release(user, old_norm)
    if was_active and not now_active:
        _after_deactivation(identity, source)
    elif now_active and not was_active:
        records.audit(identity, connection, source, "reactivate", user)
        records.send(
            signals.user_reactivated, source, connection=connection, user=user, identity=identity
        )
    changed = sorted(k for k in document if k != "password")
    records.audit(
        identity,
        connection,
        source,
        "update",
        user,
        attributes=changed,
        password_changed=bool(password),
    )
    records.send(signals.user_updated, source, connection=connection, user=user, identity=identity)
    return identity


def _after_deactivation(identity: ExternalIdentity, source: str) -> None:
    user = identity.user
    ended = end_user_sessions(user.pk)
    records.audit(identity, identity.connection, source, "deactivate", user, sessions_ended=ended)
    records.send(
        signals.user_deactivated,
        source,
        connection=identity.connection,
        user=user,
        identity=identity,
    )


@write_transaction
def deactivate_user(identity: ExternalIdentity, *, source: str = "scim") -> ExternalIdentity:
    """Set ``active`` false, end the user's sessions."""
    return _deactivate(lock_identity(identity), source)


def _deactivate(identity: ExternalIdentity, source: str) -> ExternalIdentity:
    adapter = get_adapter()
    document = dict(identity.document)
    document["active"] = False
    adapter.set_user_active(identity.user, False)
    records.save_user(identity.user, identity.connection, created=False)
    records.write_identity(identity, document, fresh=False)
    _after_deactivation(identity, source)
    return identity


@write_transaction
def delete_user(
    identity: ExternalIdentity,
    *,
    check: Callable[[ExternalIdentity], None] | None = None,
    source: str = "scim",
) -> None:
    """SCIM DELETE under the connection's deprovisioning policy.

    ``deactivate``: the account is kept, deactivated, its sessions ended, and the SCIM resource
    is gone (RFC 7644 §3.6: 404 afterwards). ``delete``: the user row is deleted, unless another
    connection also links it, in which case only this link goes. ``check(locked)`` runs on the
    locked row first (the SCIM door's If-Match).
    """
    identity = lock_identity(identity)
    if check is not None:
        check(identity)
    connection = identity.connection
    user = identity.user
    if connection.deprovision_policy == "delete":
        ended = end_user_sessions(user.pk)
        shared = ExternalIdentity.objects.filter(user=user).exclude(pk=identity.pk).exists()
        records.audit(
            identity,
            connection,
            source,
            "delete",
            None,
            userName=identity.user_name,
            user_id=str(user.pk),
            sessions_ended=ended,
            kept_shared_user=shared,
        )
        if shared:
            identity.delete()
            claims.release(user, identity.user_name_normalized)
        else:
            get_adapter().delete_user(user, connection)
        records.send(
            signals.user_deleted, source, connection=connection, user=user, identity=identity
        )
        return
    if get_adapter().is_user_active(user):
        _deactivate(identity, source)
    identity.deleted_at = timezone.now()
    identity.save(update_fields=["deleted_at"])
    records.audit(
        identity,
        connection,
        source,
        "delete",
        user,
        userName=identity.user_name,
        policy="deactivate",
    )
    records.send(signals.user_deleted, source, connection=connection, user=user, identity=identity)


@write_transaction
def sync_user_groups(
    identity: ExternalIdentity, group_names: Iterable[str], *, source: str = "saml"
) -> None:
    """Make the memberships doors granted the user in this connection's IdP groups exactly
    those *group_names* name (the IdP's ids or names for its groups; see :mod:`.groups`).

    Memberships the product granted are never removed. A fixed number of queries, whatever
    the number of groups, once the groups exist.
    """
    sync_groups(lock_identity(identity), group_names, source=source)
