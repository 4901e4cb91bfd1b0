"""Connections, SCIM tokens, link rows, audit events and SAML one-time state.

A :class:`Connection` is one customer's identity-provider link. Everything it provisions hangs
off it, so a SCIM token of one connection can neither see nor touch another's users.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .declared import connection_options, effective


class DeprovisionPolicy(models.TextChoices):
    DEACTIVATE = "deactivate", _("Deactivate the user (is_active = False)")
    DELETE = "delete", _("Delete the user")


class NameIdFormat(models.TextChoices):
    EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", _("emailAddress")
    PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", _("persistent")
    UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified", _("unspecified")
    TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient", _("transient")


class Connection(models.Model):
    """One customer's identity provider: its SAML settings, JIT policy and SCIM tokens."""

    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    from_settings = models.BooleanField(
        _("declared in settings"),
        default=False,
        editable=False,
        help_text=_("Kept in sync with DJANGO_PROVISIONING['CONNECTIONS']; edit it there."),
    )
    deprovision_policy = models.CharField(
        _("on SCIM DELETE"),
        max_length=16,
        choices=DeprovisionPolicy.choices,
        default=DeprovisionPolicy.DEACTIVATE,
    )
    verified_domains = models.JSONField(
        _("verified e-mail domains"),
        default=list,
        blank=True,
        help_text=_("Domains this customer has proven to own; only these link existing users."),
    )

    # SAML identity provider
    idp_entity_id = models.CharField(_("IdP entity id"), max_length=1024, blank=True)
    idp_sso_url = models.URLField(_("IdP SSO URL (redirect binding)"), max_length=1024, blank=True)
    idp_slo_url = models.URLField(_("IdP SLO URL (redirect binding)"), max_length=1024, blank=True)
    idp_x509_certs = models.JSONField(
        _("IdP signing certificates"),
        default=list,
        blank=True,
        help_text=_("PEM or base64 certificates; several during a rollover."),
    )
    # SAML service provider options
    name_id_format = models.CharField(
        _("NameID format"), max_length=128, choices=NameIdFormat.choices, default=NameIdFormat.EMAIL
    )
    sign_authn_requests = models.BooleanField(_("sign AuthnRequests"), default=False)
    want_assertions_signed = models.BooleanField(_("require signed assertions"), default=True)
    want_messages_signed = models.BooleanField(_("require signed responses"), default=False)
    want_assertions_encrypted = models.BooleanField(
        _("require encrypted assertions"), default=False
    )
    sp_certificate = models.TextField(_("SP certificate (PEM)"), blank=True)
    sp_private_key = models.TextField(_("SP private key (PEM)"), blank=True)
    clock_skew = models.PositiveIntegerField(
        _("allowed clock skew (seconds)"),
        default=120,
        # More than an hour of skew would make assertion expiry meaningless. The minimum
        # repeats the field's own range, so the whole rule reads in one place.
        validators=[MinValueValidator(0), MaxValueValidator(3600)],
    )
    allow_idp_initiated = models.BooleanField(_("allow IdP-initiated sign-in"), default=False)
    # Just-in-time provisioning
    jit_create = models.BooleanField(_("create unknown users at sign-in"), default=True)
    jit_update = models.BooleanField(_("update attributes at every sign-in"), default=True)
    link_by_email = models.BooleanField(
        _("link existing users by verified e-mail domain"), default=False
    )
    attribute_mapping = models.JSONField(
        _("SAML attribute mapping overrides"),
        default=dict,
        blank=True,
        help_text=_('SCIM path -> list of SAML attribute names, e.g. {"name.givenName": ["fn"]}'),
    )
    groups_attribute = models.CharField(_("SAML groups attribute"), max_length=255, blank=True)
    group_mapping = models.JSONField(
        _("group mapping"),
        default=dict,
        blank=True,
        help_text=_(
            "IdP group (its id or name) -> the name of an existing local group to map it onto, "
            "or null for a group of this connection's own; unlisted IdP groups are ignored."
        ),
    )

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name or self.slug

    @classmethod
    def from_db(  # type: ignore[override]
        cls, db: str | None, field_names: Any, values: Any, *args: Any, **kwargs: Any
    ) -> Connection:
        """A row as loaded, with the settings laid over it (see :mod:`.declared`).

        Every load goes through here (querysets, ``select_related``, foreign keys), so no
        caller can act on a declared connection's stale row values.
        """
        # *args/**kwargs: Django 6.1 added keyword arguments (fetch_mode); pass them on.
        instance = super().from_db(db, field_names, values, *args, **kwargs)
        if not {"slug", "from_settings"} & instance.get_deferred_fields():
            effective(instance)
        return instance

    def owns_email_domain(self, email: str) -> bool:
        """True when the domain of *email* is one of this connection's verified domains."""
        _local, at, domain = (email or "").rpartition("@")
        if not at or not domain:
            return False
        domain = domain.strip().lower()
        return domain in {d.strip().lower() for d in self.verified_domains or []}


#: The fields a connection is configured by, in model order: the keys a connection in
#: ``DJANGO_PROVISIONING["CONNECTIONS"]`` may set, and the admin form's fields besides ``slug``.
CONNECTION_OPTIONS: tuple[str, ...] = connection_options(Connection)


class ScimToken(models.Model):
    """A SCIM bearer token: stored as a SHA-256 checksum, only a short prefix in clear."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="scim_tokens")
    name = models.CharField(_("name"), max_length=200, blank=True)
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    checksum = models.CharField(_("checksum"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("SCIM token")
        verbose_name_plural = _("SCIM tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.connection.slug})"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class ExternalIdentity(models.Model):
    """Links a connection to a local user: the SCIM id, externalId, SAML NameID and document."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="identities")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities"
    )
    scim_id = models.UUIDField(_("SCIM id"), default=uuid.uuid4, unique=True, editable=False)
    # NULL, not "": "no externalId" must never compare equal to another absent one.
    external_id = models.CharField(  # noqa: DJ001
        _("externalId"), max_length=255, null=True, blank=True
    )
    user_name = models.CharField(_("userName"), max_length=255)
    user_name_normalized = models.CharField(_("userName (normalised)"), max_length=255)
    name_id = models.CharField(_("SAML NameID"), max_length=512, blank=True)
    document = models.JSONField(_("SCIM document"), default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    deleted_at = models.DateTimeField(
        _("deleted over SCIM"),
        null=True,
        blank=True,
        help_text=_(
            "Set by SCIM DELETE under the deactivate policy: the SCIM resource is gone "
            "(404) but the account is kept, deactivated."
        ),
    )

    class Meta:
        verbose_name = _("external identity")
        verbose_name_plural = _("external identities")
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "user_name_normalized"],
                name="dp_identity_unique_username",
            ),
            models.UniqueConstraint(fields=["connection", "user"], name="dp_identity_unique_user"),
            models.UniqueConstraint(
                fields=["connection", "name_id"],
                condition=~Q(name_id=""),
                name="dp_identity_unique_nameid",
            ),
        ]
        indexes = [
            models.Index(fields=["connection", "external_id"], name="dp_identity_externalid"),
            models.Index(fields=["connection", "created_at", "id"], name="dp_identity_order"),
        ]

    def __str__(self) -> str:
        return f"{self.user_name} @ {self.connection_id}"

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


class UserNameClaim(models.Model):
    """One local account per normalised userName, whichever connection provisions it.

    The unique column makes the rule hold when two requests create the same name at once (a
    prior SELECT cannot). A user linked from several connections under one name holds one claim;
    the claim goes with the user. Written by the provisioning core in the same transaction as
    the account it names.
    """

    user_name_normalized = models.CharField(_("userName (normalised)"), max_length=255, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("userName claim")
        verbose_name_plural = _("userName claims")

    def __str__(self) -> str:
        return self.user_name_normalized


class ExternalIdentityValue(models.Model):
    """One element of a multi-valued SCIM attribute (emails, phoneNumbers, ...), for filtering."""

    identity = models.ForeignKey(ExternalIdentity, on_delete=models.CASCADE, related_name="values")
    attribute = models.CharField(max_length=64)
    type = models.CharField(max_length=64, blank=True)
    value = models.CharField(max_length=1024, blank=True)
    value_normalized = models.CharField(max_length=1024, blank=True)
    primary = models.BooleanField(default=False)
    display = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["attribute", "value_normalized"], name="dp_value_lookup"),
        ]

    def __str__(self) -> str:
        return f"{self.attribute}={self.value}"


class ExternalGroup(models.Model):
    """One IdP group of one connection: its link to a local group (see :mod:`.groups`).

    Found by the IdP's group id (``external_id``: SCIM ``externalId``, or the value a SAML
    group claim carries), then by ``display_name``, both unique within the connection. The
    local group is ``group`` (an ``auth.Group``) by default; a product that maps groups onto
    its own model leaves it empty and relates its model to this row.
    """

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="external_groups"
    )
    group = models.ForeignKey(
        "auth.Group",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="external_groups",
    )
    owns_group = models.BooleanField(
        _("owns its group"),
        default=False,
        help_text=_("The local group was created for this IdP group: renamed and deleted with it."),
    )
    scim_id = models.UUIDField(_("SCIM id"), default=uuid.uuid4, unique=True, editable=False)
    # NULL, not "": "no externalId" must never compare equal to another absent one.
    external_id = models.CharField(  # noqa: DJ001
        _("externalId"), max_length=255, null=True, blank=True
    )
    display_name = models.CharField(_("displayName"), max_length=255)
    document = models.JSONField(_("SCIM document"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("external group")
        verbose_name_plural = _("external groups")
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "external_id"],
                condition=Q(external_id__isnull=False),
                name="dp_group_unique_externalid",
            ),
            models.UniqueConstraint(
                fields=["connection", "display_name"], name="dp_group_unique_name"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name


class GroupGrant(models.Model):
    """A membership a door created: the only kind a door ever removes.

    Recorded when a door (``source``) put *user* into the local group of *external_group*;
    a membership the product had granted before gets no grant row, so no door removes it.
    """

    external_group = models.ForeignKey(
        ExternalGroup, on_delete=models.CASCADE, related_name="grants"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=8)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("group grant")
        verbose_name_plural = _("group grants")
        constraints = [
            models.UniqueConstraint(fields=["external_group", "user"], name="dp_grant_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.external_group_id}"


class AuditEvent(models.Model):
    """What a provisioning door did to whom: written in the same transaction as the change."""

    class Source(models.TextChoices):
        SCIM = "scim", "SCIM"
        SAML = "saml", "SAML"
        ADMIN = "admin", _("admin")

    connection = models.ForeignKey(
        Connection, on_delete=models.SET_NULL, null=True, related_name="audit_events"
    )
    source = models.CharField(max_length=8, choices=Source.choices)
    action = models.CharField(max_length=32)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    target = models.CharField(_("target"), max_length=255, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.source}:{self.action} {self.target}"


class UserSession(models.Model):
    """Which session keys belong to which user, so deprovisioning can end them."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"session of {self.user_id}"


class SamlAssertionReplay(models.Model):
    """An assertion id already consumed, kept until the assertion expires (replay cache)."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    assertion_id = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "assertion_id"], name="dp_replay_unique")
        ]

    def __str__(self) -> str:
        return self.assertion_id


class SamlPendingLogin(models.Model):
    """A validated SAML response waiting for the same-site second step of the ACS."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    key_checksum = models.CharField(max_length=64, unique=True)
    in_response_to = models.CharField(max_length=255, blank=True)
    relay_state = models.TextField(blank=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"pending login ({self.connection_id})"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.data)
