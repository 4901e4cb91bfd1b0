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
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.core.signals import setting_changed
from django.db import models
from django.db.models import F

from .conf import RELOAD_ON, provisioning_settings
from .db import SameFolded

# Documented as importable from here (docs/adapter.rst): hooks raise it to refuse.
from .exceptions import ProvisioningDenied
from .group_hooks import GroupHooks
from .mapping import MappedAttribute, configured_attribute_map, mapped_attributes
from .schema.document import copy_document
from .schema.paths import MappedPath, get_path, set_path

__all__ = ["DefaultAdapter", "ProvisioningDenied", "get_adapter"]

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest

    from .models import Connection, ExternalIdentity


logger = logging.getLogger("django_provisioning")

#: Usernames differing only in case that a case-insensitive lookup reads to pick the one that
#: normalises the same (there are at most a handful).
MAX_NAME_CANDIDATES = 10


class DefaultAdapter(GroupHooks):
    """Maps SCIM users onto ``AUTH_USER_MODEL`` through ``USER_ATTRIBUTE_MAP``.

    The group hooks are inherited from :class:`~.group_hooks.GroupHooks`.
    """

    # ------------------------------------------------------------------ mapping

    def get_user_attribute_map(self, connection: Connection | None = None) -> dict[str, Any]:
        """SCIM attribute path -> user model field name, or a callable (:mod:`.mapping`).

        Defaults to ``USER_ATTRIBUTE_MAP``; when that is unset, the built-in map restricted to
        the fields the user model has (``userName`` on the model's ``USERNAME_FIELD``, unless
        that is the e-mail field, which takes the primary e-mail).
        """
        return configured_attribute_map()

    def mapped_attributes(
        self, connection: Connection | None = None
    ) -> tuple[MappedAttribute, ...]:
        """The parsed map of *connection*: each path with its field or setter."""
        return mapped_attributes(self.get_user_attribute_map(connection))

    def field_for_path(self, path: str, connection: Connection | None = None) -> str | None:
        """The model field a singular SCIM path (``name.givenName``) is mapped to, if any."""
        for mapped in self.mapped_attributes(connection):
            if mapped.path.has_selector or not mapped.field:
                continue
            if mapped.dotted.lower() == path.lower():
                return mapped.field
        return None

    def local_name_source(self, connection: Connection | None = None) -> MappedPath | None:
        """The SCIM path the local username (``USERNAME_FIELD``) is written from; None: userName."""
        username_field = get_user_model().USERNAME_FIELD
        for mapped in self.mapped_attributes(connection):
            if mapped.field == username_field:
                return mapped.path
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
        """Copy mapped attributes from the SCIM document onto the user's fields.

        The local username (``USERNAME_FIELD``) left empty by the map takes the userName.
        Paths mapped to a callable are :meth:`populate_related`'s, once the user is saved.
        """
        model = type(user)
        for mapped in self.mapped_attributes(connection):
            if mapped.field is None:
                continue
            value = get_path(document, mapped.path)
            field_name = mapped.field
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
                # Absent: NULL where the field allows it, "" for text, else its default
                # (an absent integer is not "").
                if field.null:
                    value = None
                elif isinstance(field, (models.CharField, models.TextField)):
                    value = ""
                elif isinstance(field, models.Field):
                    value = field.get_default()
            # No truncation: a value too long for the field is refused by save_user's
            # full_clean (400 invalidValue), never stored cut short.
            setattr(user, field_name, value)
        username_field = get_user_model().USERNAME_FIELD
        if not getattr(user, username_field, None) and document.get("userName"):
            setattr(user, username_field, str(document["userName"]))

    def populate_related(
        self, user: AbstractBaseUser, document: dict[str, Any], connection: Connection
    ) -> None:
        """Call each callable of the map, ``target(user, value, connection)``.

        After the user is saved (it has a primary key: write a profile row, a related model),
        in the transaction that writes it, when the document changed; *value* is None when the
        attribute is absent (cleared).
        """
        for mapped in self.mapped_attributes(connection):
            if mapped.setter is not None:
                mapped.setter(user, get_path(document, mapped.path), connection)

    def user_to_document(
        self, user: AbstractBaseUser, document: dict[str, Any], connection: Connection
    ) -> dict[str, Any]:
        """Overlay the model's values on a copy of the stored document (model wins).

        Except ``userName``, the identity provider's name for the person (the local username
        may differ: generated, or renamed in the product), paths mapped to a callable, and an
        element of a multi-valued attribute (``emails[primary eq true].value``) the document
        does not have: the model's value is laid over what a client sent, never made up.
        """
        doc = copy_document(document)
        for mapped in self.mapped_attributes(connection):
            if mapped.field is None or _is_user_name(mapped.path):
                continue
            if mapped.path.has_selector and get_path(document, mapped.path) is None:
                continue  # an element the client did not send is not made up from the model
            value: Any = getattr(user, mapped.field, None)
            if hasattr(value, "isoformat"):
                value = value.isoformat()
            set_path(doc, mapped.path, value)
        return doc

    def generate_username(
        self, connection: Connection, document: dict[str, Any], proposed: str, *, attempt: int
    ) -> str | None:
        """Another local username when *proposed* (from the IdP) is taken or does not fit.

        Called with ``attempt`` 1, 2, ... up to ``USERNAME_ATTEMPTS``, each time the previous
        name was refused. None, the default, keeps the IdP's value and its error (409
        ``uniqueness`` for a taken name; 400 for one the field refuses). A product whose people
        may belong to several customers should return a name here, e.g.
        ``django_provisioning.usernames.numbered_username(proposed, attempt)``: the SCIM
        ``userName`` still round-trips and is found in the link row; only the local username
        differs.
        """
        return None

    def find_user_by_user_name(
        self, connection: Connection, user_name: str
    ) -> AbstractBaseUser | None:
        """The local user whose local username is *user_name*, to detect a clash or link.

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
        field = model.USERNAME_FIELD
        same_case_folded = SameFolded(F(field), user_name.strip())
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

    # ------------------------------------------------------------------ SAML

    def pre_saml_login(
        self,
        request: HttpRequest,
        connection: Connection,
        user: AbstractBaseUser,
        saml_data: dict[str, Any],
    ) -> None:
        """Veto a SAML sign-in by raising :class:`ProvisioningDenied`; called before login()."""

    def pre_jit(
        self,
        request: HttpRequest,
        connection: Connection,
        document: dict[str, Any],
        saml_data: dict[str, Any],
    ) -> dict[str, Any]:
        """Veto or adjust a just-in-time sign-in before anything is written.

        Called for every valid assertion, before the account is looked up, created or
        updated, with the SCIM-shaped *document* built from it (return it, changed or not)
        and ``saml_data`` (``connection``: the Connection; ``name_id``, ``name_id_format``,
        ``session_index``, ``attributes``). Raise :class:`ProvisioningDenied` to refuse: the
        person sees its message and nothing is written.
        """
        return document


def _is_user_name(path: MappedPath) -> bool:
    """``userName`` however the map spells it (``username``, the core schema URN + it)."""
    return path.urn is None and path.attr == "userName" and not path.sub and not path.has_selector


@lru_cache(maxsize=1)
def get_adapter() -> DefaultAdapter:
    """The configured adapter instance (cached; dropped when settings change)."""
    cls = provisioning_settings.ADAPTER
    return cls()  # type: ignore[no-any-return]


def _clear_caches(*, setting: str, **kwargs: Any) -> None:
    """Drop the cached adapter with the settings it was built from.

    Registered here rather than in :mod:`.conf`, so the settings module needs no import of
    the adapter (which imports the settings).
    """
    if setting in RELOAD_ON:
        get_adapter.cache_clear()


setting_changed.connect(_clear_caches)
