"""The adapter: every decision about the host project's users is made here.

Subclass :class:`DefaultAdapter` and point ``DJANGO_PROVISIONING["ADAPTER"]`` at the subclass to
change how SCIM documents map onto your user model, which users a connection may see, how a new
user joins your product's tenant, or whether a SAML sign-in may proceed.

Why hooks and not signals: a hook *decides* (its return value or exception changes what happens)
and runs inside the provisioning transaction; signals (:mod:`django_provisioning.signals`) only
*notify*, after the transaction has committed.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.core.signals import setting_changed
from django.db import models
from django.db.models import F, Value
from django.db.models.lookups import Exact

from . import local_groups
from .conf import DEFAULT_USER_ATTRIBUTE_MAP, RELOAD_ON, provisioning_settings
from .db import CaseFold

# Documented as importable from here (docs/adapter.rst): hooks raise it to refuse.
from .exceptions import ProvisioningDenied
from .schema.document import copy_document
from .schema.paths import MappedPath, get_path, parse_mapped_path, set_path

__all__ = ["DefaultAdapter", "ProvisioningDenied", "configured_attribute_map", "get_adapter"]

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest

    from .models import Connection, ExternalGroup, ExternalIdentity


logger = logging.getLogger("django_provisioning")

#: Usernames differing only in case that a case-insensitive lookup reads to pick the one that
#: normalises the same (there are at most a handful).
MAX_NAME_CANDIDATES = 10


class DefaultAdapter:
    """Maps SCIM users onto ``AUTH_USER_MODEL`` through ``USER_ATTRIBUTE_MAP``."""

    # ------------------------------------------------------------------ mapping

    def get_user_attribute_map(self, connection: Connection | None = None) -> dict[str, str]:
        """SCIM attribute path -> user model field name.

        Defaults to ``USER_ATTRIBUTE_MAP``; when that is unset, the built-in map restricted to
        the fields the user model has, with ``userName`` on the model's ``USERNAME_FIELD``.
        """
        return configured_attribute_map()

    def mapped_paths(self, connection: Connection | None = None) -> list[tuple[MappedPath, str]]:
        mapping = self.get_user_attribute_map(connection)
        return [(parse_mapped_path(path), field) for path, field in mapping.items()]

    def field_for_path(self, path: str, connection: Connection | None = None) -> str | None:
        """The model field a singular SCIM path (``name.givenName``) is mapped to, if any."""
        for mapped, field in self.mapped_paths(connection):
            if mapped.has_selector:
                continue
            key = ".".join(p for p in (mapped.attr, mapped.sub) if p)
            if mapped.urn:
                key = f"{mapped.urn}:{key}"
            if key.lower() == path.lower():
                return field
        return None

    def normalize_user_name(self, user_name: str) -> str:
        """The form userName is compared and indexed in (RFC 7643: caseExact false)."""
        return unicodedata.normalize("NFKC", user_name).strip().casefold()

    # ------------------------------------------------------------------ users

    def get_identity_queryset(self, connection: Connection) -> models.QuerySet[ExternalIdentity]:
        """The link rows (and so the users) a connection may see. Scope here, never widen."""
        from .models import ExternalIdentity

        return ExternalIdentity.objects.filter(connection=connection).select_related("user")

    def new_user(self, connection: Connection, document: dict[str, Any]) -> AbstractBaseUser:
        """An unsaved user for *document*; :meth:`populate_user` fills the mapped fields."""
        user = get_user_model()()
        user.set_unusable_password()
        return user

    def populate_user(
        self, user: AbstractBaseUser, document: dict[str, Any], connection: Connection
    ) -> None:
        """Copy mapped attributes from the SCIM document onto the user's fields."""
        model = type(user)
        for mapped, field_name in self.mapped_paths(connection):
            value = get_path(document, mapped)
            field = model._meta.get_field(field_name)
            if isinstance(field, models.BooleanField):
                if value is None:
                    if field_name == "is_active":
                        value = True  # RFC 7643: an absent `active` is not "inactive".
                    else:
                        continue
                setattr(user, field_name, bool(value))
                continue
            if value is None:
                value = "" if not field.null else None
            # No truncation: a value too long for the field is refused by save_user's
            # full_clean (400 invalidValue), never stored cut short.
            setattr(user, field_name, value)

    def user_to_document(
        self, user: AbstractBaseUser, document: dict[str, Any], connection: Connection
    ) -> dict[str, Any]:
        """Overlay the model's values on a copy of the stored document (model wins)."""
        doc = copy_document(document)
        for mapped, field_name in self.mapped_paths(connection):
            value: Any = getattr(user, field_name, None)
            if hasattr(value, "isoformat"):
                value = value.isoformat()
            set_path(doc, mapped, value)
        return doc

    def find_user_by_user_name(
        self, connection: Connection, user_name: str
    ) -> AbstractBaseUser | None:
        """The local user whose userName is *user_name*, to detect a clash or link.

        Compared in one form, :meth:`normalize_user_name`, as the SCIM filter and the JIT
        lookup compare it: first the accounts this app provisioned (their userName claims),
        then the model's own usernames (a case-insensitive match in the database only narrows
        the candidates; each is normalised and compared in Python).
        """
        from .claims import holder_of

        normalized = self.normalize_user_name(user_name)
        holder = holder_of(normalized)
        if holder is not None:
            return holder  # type: ignore[no-any-return]
        model = get_user_model()
        field = self.get_user_attribute_map(connection).get("userName", model.USERNAME_FIELD)
        same_case_folded = Exact(CaseFold(F(field)), CaseFold(Value(user_name.strip())))
        candidates = model._default_manager.filter(same_case_folded).order_by("pk")
        for candidate in candidates[:MAX_NAME_CANDIDATES]:
            if self.normalize_user_name(str(getattr(candidate, field) or "")) == normalized:
                return candidate
        return None

    def find_user_by_email(self, connection: Connection, email: str) -> AbstractBaseUser | None:
        """The local user to link by a verified e-mail, or None (several matches: None)."""
        model = get_user_model()
        field = model.get_email_field_name()
        try:
            model._meta.get_field(field)
        except FieldDoesNotExist:
            return None
        matches = list(model._default_manager.filter(**{f"{field}__iexact": email})[:2])
        return matches[0] if len(matches) == 1 else None

    def can_link_user(self, connection: Connection, user: AbstractBaseUser, email: str) -> bool:
        """May *connection* take over existing local *user* by *email*?

        The default allows it only when the connection's policy links by e-mail and the
        connection has verified the e-mail's domain, the user is not staff or a superuser (an
        identity provider must never be able to take over, and then set the password of, an
        operator's account), the user belongs to the connection's tenant or to no tenant
        (:meth:`get_user_tenant`; a verified domain does not make another customer's account
        this customer's), and the user is not linked to another connection already.
        """
        if not (connection.link_by_email and connection.owns_email_domain(email)):
            return False
        if getattr(user, "is_staff", False) or getattr(user, "is_superuser", False):
            return False
        user_tenant = self.get_user_tenant(user)
        if user_tenant is not None and user_tenant != self.get_tenant(connection):
            return False
        return not user.external_identities.exclude(connection=connection).exists()  # type: ignore[attr-defined]

    def save_user(self, user: AbstractBaseUser, connection: Connection, *, created: bool) -> None:
        """Persist the user (:meth:`attach_user_to_tenant` attaches it to your tenant)."""
        user.full_clean(exclude=["password"], validate_unique=False)
        user.save()

    def set_password(self, user: AbstractBaseUser, password: str) -> None:
        user.set_password(password)

    def is_user_active(self, user: AbstractBaseUser) -> bool:
        return bool(getattr(user, "is_active", True))

    def set_user_active(self, user: AbstractBaseUser, active: bool) -> None:
        if hasattr(user, "is_active"):
            user.is_active = active

    def delete_user(self, user: AbstractBaseUser, connection: Connection) -> None:
        """Delete the local user (connection policy "delete")."""
        user.delete()

    # ------------------------------------------------------------------ tenants

    def get_tenant(self, connection: Connection) -> Any | None:
        """The product's tenant (Organization, Account, ...) that *connection* belongs to.

        None, the default, is a single-tenant site. The product relates its tenant model to
        connections on its side (a one-to-one or foreign key to ``Connection``) and looks the
        tenant up here; a connection declared in settings names its tenant by
        ``connection.declared_tenant`` (the ``"tenant"`` key of its declaration). The core asks
        for it where it attaches a user and where it decides a link (:meth:`can_link_user`).
        """
        return None

    def get_user_tenant(self, user: AbstractBaseUser) -> Any | None:
        """The tenant that existing local *user* belongs to, or None for a user of no tenant.

        :meth:`can_link_user` compares it with the connection's :meth:`get_tenant` (``==``):
        a user of another tenant is never linked. None, the default, is a single-tenant site,
        where the rule is the verified domain's alone. A product whose accounts belong to
        several tenants at once overrides :meth:`can_link_user` instead.
        """
        return None

    def attach_user_to_tenant(
        self, user: AbstractBaseUser, tenant: Any, connection: Connection, *, created: bool
    ) -> None:
        """Attach *user*, whom *connection* just created (or linked: not *created*), to *tenant*.

        E.g. an organization membership row. Called by the provisioning core for both doors
        (SCIM POST, SAML just-in-time) after the user is saved, only when :meth:`get_tenant`
        is not None. A hook, not a signal: it runs in the transaction that creates the account,
        so an account and its membership are committed together or not at all, and raising
        (:class:`ProvisioningDenied` refuses: SCIM 403, a sign-in error page) writes nothing.
        It may run again for a user already attached (linked again after a SCIM DELETE): make
        it idempotent (``get_or_create``).
        """

    def attach_group_to_tenant(self, group: Any, tenant: Any, connection: Connection) -> None:
        """Attach *group*, a local group that *connection* just created, to *tenant*.

        Called, like :meth:`attach_user_to_tenant`, in the transaction that creates the group
        and only when :meth:`get_tenant` is not None, so a group and its tenant are committed
        together; raising refuses the group. The default does nothing.
        """

    # ------------------------------------------------------------------ groups
    # IdP groups are ExternalGroup rows of one connection (see django_provisioning.groups);
    # these hooks map them onto local groups. Defaults: auth.Group, named per connection,
    # memberships in the user model's groups table. Override all of them together to map
    # onto the product's own model (and relate that model to ExternalGroup on its side).

    def local_groups_for(self, connection: Connection) -> models.QuerySet[Any]:
        """The local groups *connection* may link its IdP groups to.

        The core refuses to link an IdP group to any other. The default: every ``auth.Group``
        except those created for another connection's IdP groups.
        """
        return local_groups.mappable_groups(connection)

    def get_or_create_local_group(
        self, connection: Connection, external_group: ExternalGroup
    ) -> tuple[Any, bool]:
        """The local group for a new IdP group: ``(group, created)``, or ``(None, False)`` to
        leave the IdP group unsynced.

        Explicit only: when ``group_mapping`` maps the IdP group (by id, then name) onto a
        local group's name, that existing group; when it names none, nothing (a warning is
        logged, never a group of that global name created). Otherwise a new group of the
        connection's own, named by :meth:`local_group_name`.
        """
        target = local_groups.mapped_name(connection, external_group)
        if target is not None:
            group = self.local_groups_for(connection).filter(name=target).first()
            if group is None:
                logger.warning(
                    "Connection %r maps IdP group %r onto local group %r, which does not "
                    "exist (or belongs to another connection): not synced",
                    connection.slug,
                    external_group.display_name,
                    target,
                )
            return group, False
        return local_groups.create_group(
            self.local_group_name(connection, external_group),
            local_groups.namespaced_name(
                connection, external_group.display_name, salt=str(external_group.scim_id)
            ),
        ), True

    def local_group_name(self, connection: Connection, external_group: ExternalGroup) -> str:
        """The name of the local group created for an IdP group: ``"<slug>: <displayName>"``
        (cut to 150 characters with a hash suffix when longer)."""
        return local_groups.namespaced_name(connection, external_group.display_name)

    def rename_local_group(self, connection: Connection, external_group: ExternalGroup) -> None:
        """The IdP group was renamed: rename the local group, if it was created for it."""
        if external_group.owns_group and external_group.group is not None:
            local_groups.rename_group(
                external_group.group,
                self.local_group_name(connection, external_group),
                local_groups.namespaced_name(
                    connection, external_group.display_name, salt=str(external_group.scim_id)
                ),
            )

    def delete_local_group(self, connection: Connection, external_group: ExternalGroup) -> None:
        """The IdP group is gone: delete the local group if it was created for it (a group
        mapped explicitly stays; the core has removed the memberships its doors granted)."""
        if external_group.owns_group and external_group.group is not None:
            external_group.group.delete()

    def local_memberships(
        self, connection: Connection, pairs: Sequence[local_groups.Pair]
    ) -> set[tuple[Any, Any]]:
        """Which (external group, user pk) *pairs* are local memberships already, as
        ``(external group pk, user pk)``. One set operation, whatever the number of pairs."""
        found = local_groups.memberships(pairs)
        return {(eg.pk, user_pk) for eg, user_pk in pairs if (eg.group_id, user_pk) in found}

    def add_local_memberships(
        self, connection: Connection, pairs: Sequence[local_groups.Pair]
    ) -> None:
        """Add each user to the local group of the external group paired with it."""
        local_groups.add_memberships(pairs)

    def remove_local_memberships(
        self, connection: Connection, pairs: Sequence[local_groups.Pair]
    ) -> None:
        """Remove each user from the local group of the external group paired with it."""
        local_groups.remove_memberships(pairs)

    # ------------------------------------------------------------------ SAML

    def pre_saml_login(
        self,
        request: HttpRequest,
        connection: Connection,
        user: AbstractBaseUser,
        saml_data: dict[str, Any],
    ) -> None:
        """Veto a SAML sign-in by raising :class:`ProvisioningDenied`; called before login()."""

    def adjust_saml_document(
        self, connection: Connection, document: dict[str, Any], saml_data: dict[str, Any]
    ) -> dict[str, Any]:
        """Adjust the SCIM-shaped document built from a SAML assertion before it is applied."""
        return document


@lru_cache(maxsize=1)
def configured_attribute_map() -> dict[str, str]:
    """The attribute map in force (cached; dropped with the settings on ``setting_changed``)."""
    configured = provisioning_settings.USER_ATTRIBUTE_MAP
    if configured is not None:
        return dict(configured)
    model = get_user_model()
    mapping: dict[str, str] = {}
    for path, field in DEFAULT_USER_ATTRIBUTE_MAP.items():
        if path == "userName":
            field = model.USERNAME_FIELD
        try:
            model._meta.get_field(field)
        except FieldDoesNotExist:
            continue
        mapping[path] = field
    if model.USERNAME_FIELD == model.get_email_field_name():
        # e-mail as username: the primary e-mail and userName are the same field.
        mapping.pop("emails[primary eq true].value", None)
    return mapping


@lru_cache(maxsize=1)
def get_adapter() -> DefaultAdapter:
    """The configured adapter instance (cached; dropped when settings change)."""
    cls = provisioning_settings.ADAPTER
    return cls()  # type: ignore[no-any-return]


def _clear_caches(*, setting: str, **kwargs: Any) -> None:
    """Drop the cached adapter and attribute map with the settings they were built from.

    Registered here rather than in :mod:`.conf`, so the settings module needs no import of
    the adapter (which imports the settings).
    """
    if setting in RELOAD_ON:
        get_adapter.cache_clear()
        configured_attribute_map.cache_clear()


setting_changed.connect(_clear_caches)
