"""The provisioning core: every change to a user, from SCIM or SAML JIT, goes through here.

Each public function is one transaction (:func:`~django_provisioning.db.write_transaction`,
retried on deadlocks) that writes the user (through the adapter), the link row, the index of
multi-valued attributes, the userName claim and an audit event, and sends its signal after
commit. Errors are protocol-neutral (:mod:`.exceptions`); each door renders them its way.

Locks: a write locks the link row (``SELECT ... FOR UPDATE``), then the user row
(:mod:`.locks`), and reads what decides the outcome (``active``, the version, ``deleted_at``)
from those locked rows, never from the copy its caller holds. Both doors take the same locks in
the same order, so they cannot deadlock each other, and whichever comes second sees what the
first wrote. A new account has no link row yet: the user it links is locked first, then its
userName claim is taken. The JIT door (:mod:`.jit`) follows the same order. See
``docs/architecture.rst``, "Concurrency".

One pass: a write computes each thing once and passes it on. The user as the locked rows
hold them is rendered once (:func:`effective_document`), handed to the door's change callback
and compared with the new values; the user as saved is rendered once, for the value index, and
returned to the door (:class:`~.records.Written`) to render.

The JIT door's core functions (``provision_from_saml``) are in :mod:`.jit`; the link row,
value index and audit helpers in :mod:`.records`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.utils import timezone

from . import claims, counters, records, signals, usernames
from .adapter import get_adapter
from .db import RetryWrite, write_transaction
from .exceptions import Conflict, ProvisioningDenied
from .groups import sync_groups
from .linking import find_linkable_user
from .locks import lock_identity, lock_user
from .models import AuditEvent, Connection, ExternalIdentity
from .records import Written
from .sessions import end_user_sessions

__all__ = [
    "Written",
    "create_user",
    "create_user_written",
    "deactivate_user",
    "delete_user",
    "effective_document",
    "replace_user",
    "sync_user_groups",
    "update_user",
]

SAML = "saml"  # AuditEvent.Source.SAML: the JIT door's source
DEACTIVATED = "This account has been deactivated."

#: What a PUT or PATCH computes from the locked link row and the user as they read now
#: (:func:`effective_document` of that row, which it must not change): (new document, new
#: password or None).
Change = Callable[[ExternalIdentity, dict[str, Any]], tuple[dict[str, Any], str | None]]

#: ``linkable`` of :func:`create_in_transaction` when its caller has not looked.
NOT_SEARCHED: Any = object()


def effective_document(identity: ExternalIdentity) -> dict[str, Any]:
    """The identity's document as a client reads it: the stored one, model values overlaid."""
    return get_adapter().user_to_document(identity.user, identity.document, identity.connection)


def create_user(
    connection: Connection,
    document: dict[str, Any],
    *,
    password: str | None = None,
    source: str = "scim",
    name_id: str = "",
) -> ExternalIdentity:
    """Create (or link, under the connection's policy) the user for a canonical SCIM document."""
    written = create_user_written(
        connection, document, password=password, source=source, name_id=name_id
    )
    return written.identity


@write_transaction
def create_user_written(
    connection: Connection,
    document: dict[str, Any],
    *,
    password: str | None = None,
    source: str = "scim",
    name_id: str = "",
) -> Written:
    """:func:`create_user`, returning the new link row with the document it wrote (SCIM POST
    renders that document rather than render the user again)."""
    return create_in_transaction(
        connection, document, password=password, source=source, name_id=name_id
    )


def create_in_transaction(
    connection: Connection,
    document: dict[str, Any],
    *,
    password: str | None,
    source: str,
    name_id: str,
    linkable: Any = NOT_SEARCHED,
) -> Written:
    """:func:`create_user` in the caller's transaction.

    A user created or linked is attached to the connection's tenant (the adapter's
    ``attach_user_to_tenant``) once saved and its userName claimed.

    *linkable* is what :func:`find_linkable_user` found, when the caller has looked already
    (the JIT door, to decide whether it may create): it is not looked for again. The userName
    claim is taken after the user row is written (a new user) or locked (an existing one): of
    two transactions creating one normalised name, the second waits on the claim's unique
    index and gets :class:`Conflict`.
    """
    adapter = get_adapter()
    user_name = str(document["userName"])
    records.check_identifiers(document)
    normalized = adapter.normalize_user_name(user_name)
    previous = records.take_user_name(connection, normalized)
    seen: dict[str, Any] = {}  # local usernames looked up, and their holders: not looked up again
    if previous is None and linkable is NOT_SEARCHED:
        linkable = find_linkable_user(connection, document, seen)
    user = previous or linkable
    created = user is None
    was_active = True
    if user is None:
        user = adapter.new_user(connection, document)
        adapter.populate_user(user, document, connection)
        local = usernames.assign(adapter, connection, user, document, seen)
    else:
        # Link rows before the user (the lock order): the account's SCIM-deleted links in
        # this connection make way for the new one.
        ExternalIdentity.objects.filter(connection=connection, user=user).exclude(
            deleted_at=None
        ).delete()
        user = lock_user(user.pk)
        was_active = adapter.is_user_active(user)
        if source == SAML and not was_active:
            raise ProvisioningDenied(DEACTIVATED)  # JIT never reactivates
        # An account taken over keeps its local username (the IdP's is in the link row).
        kept = usernames.local_name(user)
        adapter.populate_user(user, document, connection)
        setattr(user, type(user).USERNAME_FIELD, kept)
        local = adapter.normalize_user_name(kept)
    if password:
        adapter.set_password(user, password)
    try:
        records.save_user(user, connection, created=created)
        claims.claim(user, local, new=created)
    except Conflict as exc:
        if created and usernames.generates(adapter):
            # Another transaction took the name since assign() looked: the next attempt sees
            # it taken and asks the hook for another.
            raise RetryWrite(exc) from exc
        raise
    adapter.populate_related(user, document, connection)
    # In this transaction (an account is never committed without its tenant membership), and
    # after the claim: a create that lost a race for the name never reaches the hook.
    tenant = adapter.get_tenant(connection)
    if tenant is not None:
        adapter.attach_user_to_tenant(user, tenant, connection, created=created)
    identity = ExternalIdentity(connection=connection, user=user, name_id=name_id)
    written = records.write_identity(identity, document, fresh=True)
    records.audit(
        identity, connection, source, "create" if created else "link", user, userName=user_name
    )
    records.send_user(signals.user_created if created else signals.user_linked, source, identity)
    if not created:
        _after_active_change(identity, source, was_active, adapter.is_user_active(user))
    return Written(identity, written, created=created)


@write_transaction
def update_user(identity: ExternalIdentity, change: Change, *, source: str = "scim") -> Written:
    """Change a user from their current, locked state (SCIM PUT and PATCH).

    Locks the link row and the user, renders the user as they read now (once), then calls
    ``change(locked, current)`` for the new document and password. *change* sees what is
    stored, not what the caller read: If-Match, immutability and PATCH operations are checked
    and applied there, and again on a retry. Returns the link row with the document written.
    """
    locked = lock_identity(identity)
    current = effective_document(locked)
    document, password = change(locked, current)
    return replace_locked(locked, document, password=password, source=source, before=current)


def replace_user(
    identity: ExternalIdentity,
    document: dict[str, Any],
    *,
    password: str | None = None,
    source: str = "scim",
) -> ExternalIdentity:
    """Replace the user's attributes with *document* (PUT, PATCH result, JIT refresh)."""
    written = update_user(identity, lambda _locked, _current: (document, password), source=source)
    return written.identity


def replace_locked(
    identity: ExternalIdentity,
    document: dict[str, Any],
    *,
    password: str | None,
    source: str,
    before: dict[str, Any] | None = None,
    was_active: bool | None = None,
) -> Written:
    """:func:`replace_user` on an identity its caller has locked (:func:`lock_identity`).

    *before* (:func:`effective_document` of the locked row) and *was_active* are what the
    caller has already read of the locked user, not read again.
    """
    adapter = get_adapter()
    connection = identity.connection
    user = identity.user
    records.check_identifiers(document)
    if was_active is None:
        was_active = adapter.is_user_active(user)
    if before is None:
        before = effective_document(identity)
    old_norm = identity.user_name_normalized
    new_name = str(document.get("userName") or identity.user_name)
    new_norm = adapter.normalize_user_name(new_name)
    if new_norm != old_norm:
        records.take_user_name(connection, new_norm, exclude_pk=identity.pk)
    old_local = usernames.local_name(user)
    adapter.populate_user(user, document, connection)
    source_path = adapter.local_name_source(connection)
    usernames.keep_unless_renamed(
        adapter, user, old_local, identity.document, document, source_path
    )
    old_claim = adapter.normalize_user_name(old_local)
    new_claim = adapter.normalize_user_name(usernames.local_name(user))
    if new_claim != old_claim:
        # As for a create: not onto another local account's normalised name.
        new_claim = usernames.assign(adapter, connection, user, document)
    now_active = adapter.is_user_active(user)
    if source == SAML and now_active and not was_active:
        # Only SCIM, the admin or the product's code reactivate; a sign-in never does.
        raise ProvisioningDenied(DEACTIVATED)
    after = adapter.user_to_document(user, document, connection)
    if not password and after == before:
        # Nothing a client can read changed: same version (RFC 7232 §2.3), no audit event,
        # no signal. Identity providers resend unchanged values all the time.
        return Written(identity, before, active=now_active)
    if password:
        adapter.set_password(user, password)
    records.save_user(user, connection, created=False)
    adapter.populate_related(user, document, connection)
    if new_claim != old_claim:
        claims.claim(user, new_claim)
        claims.release(user, old_claim)
    written = records.write_identity(identity, document, fresh=False)
    _after_active_change(identity, source, was_active, now_active)
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
    if password or {**after, "active": None} != {**before, "active": None}:
        # user_updated means "attributes changed": a change of `active` alone is told by
        # user_deactivated / user_reactivated only (docs/adapter.rst, the signal matrix).
        records.send_user(signals.user_updated, source, identity)
    return Written(identity, written, active=now_active)


def _after_active_change(
    identity: ExternalIdentity, source: str, was_active: bool, now_active: bool
) -> None:
    """The deactivation or reactivation a write made, if any: its audit event and signal."""
    if was_active and not now_active:
        _after_deactivation(identity, source)
    elif now_active and not was_active:
        records.audit(identity, identity.connection, source, "reactivate", identity.user)
        records.send_user(signals.user_reactivated, source, identity)


def _after_deactivation(identity: ExternalIdentity, source: str, *also: Any) -> None:
    """The sessions ended, the audit event (with the events *also*, in one INSERT), the signal."""
    user = identity.user
    ended = end_user_sessions(user.pk)
    event = records.audit_event(
        identity, identity.connection, source, "deactivate", user, sessions_ended=ended
    )
    AuditEvent.objects.bulk_create([event, *also])
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


def _deactivate(identity: ExternalIdentity, source: str, *also: Any) -> ExternalIdentity:
    """Deactivate the locked *identity*'s user; *also*: audit events to write with its own."""
    adapter = get_adapter()
    document = dict(identity.document)
    document["active"] = False
    adapter.set_user_active(identity.user, False)
    records.save_user(identity.user, identity.connection, created=False)
    records.write_identity(identity, document, fresh=False)
    _after_deactivation(identity, source, *also)
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
            identity.delete()  # the account keeps its local username, and its claim
            records.send_user(signals.user_unlinked, source, identity)
        else:
            user_id = user.pk  # the deleted instance's pk becomes None
            get_adapter().delete_user(user, connection)
            records.send_user(signals.user_deleted, source, identity, user_id=user_id)
        return
    deleted = records.audit_event(
        identity,
        connection,
        source,
        "delete",
        user,
        userName=identity.user_name,
        policy="deactivate",
    )
    identity.deleted_at = timezone.now()
    if get_adapter().is_user_active(user):
        _deactivate(identity, source, deleted)  # one UPDATE of the link row, one audit INSERT
    else:
        identity.save(update_fields=["deleted_at"])
        deleted.save()
    counters.add(connection.pk, users=-1)  # no longer listed (the receivers count rows)
    records.send_user(signals.user_unlinked, source, identity)


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
