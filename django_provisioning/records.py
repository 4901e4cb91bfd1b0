"""What every change writes besides the user: the link row, the value index, the audit trail.

Helpers of the provisioning core (:mod:`.provisioning`, :mod:`.jit`); they run inside the
core's transaction, on rows the core has locked. :class:`Written` is what a write hands back to
its door.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import QuerySet
from django.utils import timezone

from . import signals
from .adapter import get_adapter
from .compiled import CompiledQuery, Slot
from .exceptions import Conflict, InvalidData
from .models import AuditEvent, Connection, ExternalIdentity
from .value_index import index_values


@dataclass
class Written:
    """A user as a write of the core left them, with what the write computed about them.

    The doors use these rather than compute them again: the SCIM door renders ``document``,
    the JIT door signs in only an account whose ``active`` is true.
    """

    identity: ExternalIdentity
    #: The user as a client reads them (``adapter.user_to_document``), as saved: what the
    #: value index holds and what a response renders.
    document: dict[str, Any]
    #: ``adapter.is_user_active`` of the user as written, when the write had to know (else None).
    active: bool | None = None
    #: Whether the write created the local user (rather than linked or changed one).
    created: bool = False


def audit(
    identity: ExternalIdentity | None,
    connection: Connection,
    source: str,
    action: str,
    user: Any = None,
    **detail: Any,
) -> None:
    """One audit event, in the transaction of the change it records."""
    audit_event(identity, connection, source, action, user, **detail).save()


def audit_event(
    identity: ExternalIdentity | None,
    connection: Connection,
    source: str,
    action: str,
    user: Any = None,
    **detail: Any,
) -> AuditEvent:
    """The unsaved audit event :func:`audit` writes (several go in one INSERT: ``bulk_create``)."""
    return AuditEvent(
        connection=connection,
        source=source,
        action=action,
        user=user if user is not None and user.pk else None,
        target=str(identity.scim_id) if identity else "",
        detail=detail,
    )


def send(signal: Any, source: str, **kwargs: Any) -> None:
    """Send *signal* after the transaction commits (robustly: see :mod:`.signals`)."""
    signals.send_after_commit(signal, source, **kwargs)


def send_user(signal: Any, source: str, identity: ExternalIdentity, **extra: Any) -> None:
    """Send a user signal after the commit, with ``connection``, ``user`` and ``identity``."""
    send(
        signal,
        source,
        connection=identity.connection,
        user=identity.user,
        identity=identity,
        **extra,
    )


def _name_holders(connection_id: Any, normalized: str) -> QuerySet[ExternalIdentity]:
    return ExternalIdentity.objects.filter(
        connection_id=connection_id, user_name_normalized=normalized
    ).select_related("user")


#: The link rows of a connection that hold a userName (live, or deleted over SCIM), with their
#: users; all of them, or all but one (a rename's own). Compiled once: every create runs it.
NAME_HOLDERS = CompiledQuery(
    ExternalIdentity,
    _name_holders,
    Slot.of(ExternalIdentity, "connection"),
    Slot.of(ExternalIdentity, "user_name_normalized"),
)
OTHER_NAME_HOLDERS = CompiledQuery(
    ExternalIdentity,
    lambda connection_id, normalized, pk: _name_holders(connection_id, normalized).exclude(pk=pk),
    Slot.of(ExternalIdentity, "connection"),
    Slot.of(ExternalIdentity, "user_name_normalized"),
    Slot.of(ExternalIdentity, "id"),
)


def take_user_name(
    connection: Connection, normalized: str, *, exclude_pk: int | None = None
) -> Any:
    """Refuse a userName taken by a live identity; clear it from a SCIM-deleted one.

    Returns the user of the cleared link, if any: a person deleted over SCIM and pushed again
    gets their old (deactivated) account back rather than a second one.
    """
    if exclude_pk is None:
        clash = NAME_HOLDERS.run(connection.pk, normalized)
    else:
        clash = OTHER_NAME_HOLDERS.run(connection.pk, normalized, exclude_pk)
    previous = None
    for other in clash:
        if other.deleted_at is None:
            raise Conflict("A user with this userName already exists.")
        previous = other.user
        other.delete()
    return previous


def save_user(user: Any, connection: Connection, *, created: bool) -> None:
    """Save through the adapter; a field validator's refusal is :class:`InvalidData`."""
    # No savepoint: a refusal is raised out of the core's write, whose transaction (or
    # savepoint) is rolled back whole; nothing goes on in a transaction after it.
    try:
        get_adapter().save_user(user, connection, created=created)
    except ValidationError as exc:
        messages = "; ".join(
            f"{field}: {' '.join(str(m) for m in errs)}"
            for field, errs in getattr(exc, "message_dict", {"": exc.messages}).items()
        )
        raise InvalidData(messages or "The user data is not valid.") from exc
    except IntegrityError as exc:
        raise Conflict("A user with this userName already exists.") from exc


def check_identifiers(document: dict[str, Any]) -> None:
    """Refuse a userName or externalId that the link row's columns cannot hold whole.

    Cutting an identifier to fit would make two different userNames one account, and
    PostgreSQL refuses an over-long value with an error, not a cut. The normalised userName is
    checked too: NFKC and case folding can make it longer. (The user model's own field limits
    are enforced by ``save_user``'s ``full_clean``.)
    """
    limit = ExternalIdentity._meta.get_field("user_name").max_length or 255  # type: ignore[union-attr]
    user_name = str(document.get("userName") or "")
    if len(user_name) > limit or len(get_adapter().normalize_user_name(user_name)) > limit:
        raise InvalidData(f"userName: at most {limit} characters.")
    external_id = document.get("externalId")
    if external_id is not None and len(str(external_id)) > limit:
        raise InvalidData(f"externalId: at most {limit} characters.")


def write_identity(
    identity: ExternalIdentity, document: dict[str, Any], *, fresh: bool
) -> dict[str, Any]:
    """Write the link row (version + 1 unless *fresh*) and its value index; a taken unique
    column (userName, NameID) is :class:`Conflict`.

    Returns the user as a client now reads them (the saved user's values over *document*):
    the document the value index is made of, computed once, which the door renders.
    """
    adapter = get_adapter()
    identity.document = document
    identity.user_name = str(document.get("userName") or identity.user_name)
    identity.user_name_normalized = adapter.normalize_user_name(identity.user_name)
    identity.external_id = document.get("externalId") or None
    identity.updated_at = timezone.now()
    if not fresh:
        identity.version += 1
    try:
        identity.save()  # no savepoint: a Conflict ends the write (see save_user)
    except IntegrityError as exc:
        raise Conflict("A user with this userName already exists.") from exc
    written = adapter.user_to_document(identity.user, document, identity.connection)
    index_values(identity, written, fresh=fresh)
    return written
