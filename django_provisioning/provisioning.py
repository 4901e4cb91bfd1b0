"""The provisioning core: every change to a user, from SCIM or SAML JIT, goes through here.

Each function is one transaction that writes the user (through the adapter), the link row, the
index of multi-valued attributes and an audit event, and sends its signal after commit. Errors
are protocol-neutral (:mod:`django_provisioning.exceptions`); each door renders them its way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import signals
from .adapter import get_adapter
from .exceptions import Conflict, InvalidData, ProvisioningDenied
from .models import (
    AuditEvent,
    Connection,
    ExternalGroup,
    ExternalIdentity,
    ExternalIdentityValue,
    NameIdFormat,
)
from .schema.document import primary_value
from .sessions import end_user_sessions

__all__ = [
    "create_user",
    "deactivate_user",
    "delete_user",
    "effective_document",
    "provision_from_saml",
    "replace_user",
    "sync_user_groups",
]

INDEXED_MULTI_VALUED = ("emails", "phoneNumbers", "ims", "photos", "entitlements", "roles")


def effective_document(identity: ExternalIdentity) -> dict[str, Any]:
    """The identity's document as a client reads it: the stored one, model values overlaid."""
    return get_adapter().user_to_document(identity.user, identity.document, identity.connection)


def _audit(
    identity: ExternalIdentity | None,
    connection: Connection,
    source: str,
    action: str,
    user: Any = None,
    **detail: Any,
) -> None:
    AuditEvent.objects.create(
        connection=connection,
        source=source,
        action=action,
        user=user if user is not None and user.pk else None,
        target=str(identity.scim_id) if identity else "",
        detail=detail,
    )


def _send(signal: Any, source: str, **kwargs: Any) -> None:
    signals.send_after_commit(signal, source, **kwargs)


def _index_values(identity: ExternalIdentity, document: dict[str, Any], *, fresh: bool) -> None:
    if not fresh:
        ExternalIdentityValue.objects.filter(identity=identity).delete()
    rows = []
    for attribute in INDEXED_MULTI_VALUED:
        for item in document.get(attribute) or []:
            if not isinstance(item, dict):
                continue
            value = str(item.get("value") or "")
            rows.append(
                ExternalIdentityValue(
                    identity=identity,
                    attribute=attribute,
                    type=str(item.get("type") or "")[:64],
                    value=value[:1024],
                    value_normalized=value.casefold()[:1024],
                    primary=item.get("primary") is True,
                    display=str(item.get("display") or "")[:255],
                )
            )
    if rows:
        # Batches: PostgreSQL allows 65535 parameters per statement, 7 per row here.
        ExternalIdentityValue.objects.bulk_create(rows, batch_size=1000)


def _save_user(user: Any, connection: Connection, *, created: bool) -> None:
    try:
        with transaction.atomic():
            get_adapter().save_user(user, connection, created=created)
    except ValidationError as exc:
        messages = "; ".join(
            f"{field}: {' '.join(str(m) for m in errs)}"
            for field, errs in getattr(exc, "message_dict", {"": exc.messages}).items()
        )
        raise InvalidData(messages or "The user data is not valid.") from exc
    except IntegrityError as exc:
        raise Conflict("A user with this userName already exists.") from exc


def _check_identifiers(document: dict[str, Any]) -> None:
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


def _write_identity(identity: ExternalIdentity, document: dict[str, Any], *, fresh: bool) -> None:
    adapter = get_adapter()
    identity.document = document
    identity.user_name = str(document.get("userName") or identity.user_name)
    identity.user_name_normalized = adapter.normalize_user_name(identity.user_name)
    identity.external_id = document.get("externalId") or None
    identity.updated_at = timezone.now()
    if not fresh:
        identity.version += 1
    try:
        with transaction.atomic():
            identity.save()
    except IntegrityError as exc:
        raise Conflict("A user with this userName already exists.") from exc
    _index_values(
        identity,
        adapter.user_to_document(identity.user, document, identity.connection),
        fresh=fresh,
    )


@transaction.atomic
def create_user(
    connection: Connection,
    document: dict[str, Any],
    *,
    password: str | None = None,
    source: str = "scim",
    name_id: str = "",
) -> ExternalIdentity:
    """Create (or link, under the connection's policy) the user for a canonical SCIM document."""
    adapter = get_adapter()
    user_name = str(document["userName"])
    _check_identifiers(document)
    previous = _claim_user_name(connection, adapter.normalize_user_name(user_name))
    user = previous or _find_linkable_user(connection, document)
    created = user is None
    if user is None:
        if adapter.find_user_by_user_name(connection, user_name) is not None:
            raise Conflict("A user with this userName already exists.")
        user = adapter.new_user(connection, document)
    adapter.populate_user(user, document, connection)
    if password:
        adapter.set_password(user, password)
    _save_user(user, connection, created=created)
    ExternalIdentity.objects.filter(connection=connection, user=user).exclude(
        deleted_at=None
    ).delete()
    identity = ExternalIdentity(connection=connection, user=user, name_id=name_id)
    _write_identity(identity, document, fresh=True)
    _audit(identity, connection, source, "create" if created else "link", user, userName=user_name)
    _send(signals.user_created, source, connection=connection, user=user, identity=identity)
    return identity


def _find_linkable_user(connection: Connection, document: dict[str, Any]) -> Any:
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


@transaction.atomic
def replace_user(
    identity: ExternalIdentity,
    document: dict[str, Any],
    *,
    password: str | None = None,
    source: str = "scim",
) -> ExternalIdentity:
    """Replace the user's attributes with *document* (PUT, PATCH result, JIT refresh)."""
    adapter = get_adapter()
    connection = identity.connection
    user = identity.user
    _check_identifiers(document)
    was_active = adapter.is_user_active(user)
    before = adapter.user_to_document(user, identity.document, connection)
    new_name = str(document.get("userName") or identity.user_name)
    new_norm = adapter.normalize_user_name(new_name)
    if new_norm != identity.user_name_normalized:
        _claim_user_name(connection, new_norm, exclude_pk=identity.pk)
        # As for a create: not onto a local account whose username differs only in case.
        clash = adapter.find_user_by_user_name(connection, new_name)
        if clash is not None and clash.pk != user.pk:
            raise Conflict("A user with this userName already exists.")
    adapter.populate_user(user, document, connection)
    if not password and adapter.user_to_document(user, document, connection) == before:
        # Nothing a client can read changed: same version (RFC 7232 §2.3), no audit event,
        # no signal. Identity providers resend unchanged values all the time.
        return identity
    if password:
        adapter.set_password(user, password)
    _save_user(user, connection, created=False)
    _write_identity(identity, document, fresh=False)
    now_active = adapter.is_user_active(user)
    if was_active and not now_active:
        _after_deactivation(identity, source)
    elif now_active and not was_active:
        _audit(identity, connection, source, "reactivate", user)
        _send(signals.user_reactivated, source, connection=connection, user=user, identity=identity)
    changed = sorted(k for k in document if k != "password")
    _audit(
        identity,
        connection,
        source,
        "update",
        user,
        attributes=changed,
        password_changed=bool(password),
    )
    _send(signals.user_updated, source, connection=connection, user=user, identity=identity)
    return identity


def _after_deactivation(identity: ExternalIdentity, source: str) -> None:
    user = identity.user
    ended = end_user_sessions(user.pk)
    _audit(identity, identity.connection, source, "deactivate", user, sessions_ended=ended)
    _send(
        signals.user_deactivated,
        source,
        connection=identity.connection,
        user=user,
        identity=identity,
    )


@transaction.atomic
def deactivate_user(identity: ExternalIdentity, *, source: str = "scim") -> ExternalIdentity:
    """Set ``active`` false, end the user's sessions."""
    adapter = get_adapter()
    document = dict(identity.document)
    document["active"] = False
    adapter.set_user_active(identity.user, False)
    _save_user(identity.user, identity.connection, created=False)
    _write_identity(identity, document, fresh=False)
    _after_deactivation(identity, source)
    return identity


@transaction.atomic
def delete_user(identity: ExternalIdentity, *, source: str = "scim") -> None:
    """SCIM DELETE under the connection's deprovisioning policy.

    ``deactivate``: the account is kept, deactivated, its sessions ended, and the SCIM resource
    is gone (RFC 7644 §3.6: 404 afterwards). ``delete``: the user row is deleted, unless another
    connection also links it, in which case only this link goes.
    """
    connection = identity.connection
    user = identity.user
    if connection.deprovision_policy == "delete":
        ended = end_user_sessions(user.pk)
        shared = ExternalIdentity.objects.filter(user=user).exclude(pk=identity.pk).exists()
        _audit(
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
        else:
            get_adapter().delete_user(user, connection)
        _send(signals.user_deleted, source, connection=connection, user=user, identity=identity)
        return
    if get_adapter().is_user_active(user):
        deactivate_user(identity, source=source)
    identity.deleted_at = timezone.now()
    identity.save(update_fields=["deleted_at"])
    _audit(
        identity,
        connection,
        source,
        "delete",
        user,
        userName=identity.user_name,
        policy="deactivate",
    )
    _send(signals.user_deleted, source, connection=connection, user=user, identity=identity)


@transaction.atomic
def sync_user_groups(
    identity: ExternalIdentity, group_names: Iterable[str], *, source: str = "saml"
) -> None:
    """Make the user's membership in this connection's groups exactly *group_names*.

    Groups the product assigned by other means (not linked to this connection) are untouched.
    A fixed number of queries, whatever the number of groups.
    """
    connection = identity.connection
    user = identity.user
    wanted = {name for name in group_names if name}
    linked = {
        eg.display_name: eg
        for eg in ExternalGroup.objects.filter(connection=connection).select_related("group")
    }
    missing = wanted - set(linked)
    if missing:
        existing = {g.name: g for g in Group.objects.filter(name__in=missing)}
        new_groups = [Group(name=n) for n in sorted(missing - set(existing))]
        Group.objects.bulk_create(new_groups)
        existing.update({g.name: g for g in Group.objects.filter(name__in=missing)})
        new_links = [
            ExternalGroup(connection=connection, group=existing[n], display_name=n)
            for n in sorted(missing)
        ]
        ExternalGroup.objects.bulk_create(new_links, ignore_conflicts=True)
        linked = {
            eg.display_name: eg
            for eg in ExternalGroup.objects.filter(connection=connection).select_related("group")
        }
    through, user_col, group_col = groups_through(type(user))
    current = set(
        through.objects.filter(
            **{user_col: user.pk, f"{group_col}__in": [eg.group_id for eg in linked.values()]}
        ).values_list(group_col, flat=True)
    )
    target = {linked[n].group_id for n in wanted if n in linked}
    if current - target:
        through.objects.filter(**{user_col: user.pk, f"{group_col}__in": current - target}).delete()
    if target - current:
        through.objects.bulk_create(
            [through(**{user_col: user.pk, group_col: g}) for g in target - current],
            ignore_conflicts=True,
        )
    if current != target:
        _audit(
            identity,
            connection,
            source,
            "groups",
            user,
            groups=sorted(n for n in wanted if n in linked),
        )


def find_identity_for_saml(
    connection: Connection, *, name_id: str, name_id_format: str, user_name: str | None
) -> ExternalIdentity | None:
    """JIT lookup: by (connection, NameID), then by (connection, userName). Transient never."""
    base = ExternalIdentity.objects.filter(connection=connection).select_related(
        "user", "connection"
    )
    if name_id and name_id_format != NameIdFormat.TRANSIENT:
        found = base.filter(name_id=name_id).first()
        if found is not None:
            return found
    if user_name:
        norm = get_adapter().normalize_user_name(user_name)
        return base.filter(user_name_normalized=norm).first()
    return None


@transaction.atomic
def provision_from_saml(
    connection: Connection,
    *,
    name_id: str,
    name_id_format: str,
    document: dict[str, Any],
    group_names: Iterable[str] | None = None,
) -> tuple[ExternalIdentity, bool]:
    """The JIT door: find, link or create the user for a validated assertion.

    Returns (identity, created). Raises :class:`ProvisioningDenied` when the connection's
    policy refuses (unknown user with JIT creation off, deactivated user).
    """
    stored_name_id = "" if name_id_format == NameIdFormat.TRANSIENT else name_id
    identity = find_identity_for_saml(
        connection,
        name_id=name_id,
        name_id_format=name_id_format,
        user_name=document.get("userName"),
    )
    adapter = get_adapter()
    created = False
    if identity is not None:
        if identity.deleted_at is not None or not adapter.is_user_active(identity.user):
            raise ProvisioningDenied("This account has been deactivated.")
        if stored_name_id and identity.name_id != stored_name_id:
            identity.name_id = stored_name_id
            identity.save(update_fields=["name_id"])
        if connection.jit_update:
            merged = dict(identity.document)
            merged.update(document)
            merged.setdefault("active", True)
            identity = replace_user(identity, merged, source="saml")
    else:
        if not document.get("userName"):
            raise ProvisioningDenied("The identity provider sent no usable user name.")
        linkable = _find_linkable_user(connection, document)
        if linkable is None and not connection.jit_create:
            raise ProvisioningDenied("There is no account for you here; ask your administrator.")
        if linkable is not None and not adapter.is_user_active(linkable):
            raise ProvisioningDenied("This account has been deactivated.")
        try:
            identity = create_user(connection, document, source="saml", name_id=stored_name_id)
        except Conflict as exc:
            raise ProvisioningDenied(
                "An account with this user name exists and cannot be linked to your "
                "organisation's sign-in."
            ) from exc
        created = linkable is None
    if group_names is not None:
        sync_user_groups(identity, group_names, source="saml")
    return identity, created


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
