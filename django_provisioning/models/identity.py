"""Link rows of users: ``ExternalIdentity``, its value index, userName claims, sessions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .connection import Connection


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
            # The list order of live rows, with the user id: a page's keys (and every row a
            # deep startIndex skips) are read from this index alone, never from the table.
            models.Index(
                fields=["connection", "created_at", "id", "user"],
                condition=Q(deleted_at__isnull=True),
                name="dp_identity_live_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_name} @ {self.connection_id}"

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


class UserNameClaim(models.Model):
    """One local account per normalised local username, whichever connection provisions it.

    The unique column makes the rule hold when two requests create the same name at once (a
    prior SELECT cannot). It names the user model's ``USERNAME_FIELD`` value (the SCIM userName
    by default, a generated name otherwise), so a user linked from several connections holds
    one claim; the claim goes with the user. Written by the provisioning core in the same
    transaction as the account it names.
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
    """One value of a user's attribute, for filtering (see :mod:`django_provisioning.value_index`).

    An element of a multi-valued attribute (``attribute`` is ``emails``, ...) or a singular
    string value (``attribute`` is its canonical path: ``name.givenName``, ``<urn>:department``).
    """

    identity = models.ForeignKey(ExternalIdentity, on_delete=models.CASCADE, related_name="values")
    attribute = models.CharField(max_length=255)
    type = models.CharField(max_length=64, blank=True)
    value = models.CharField(max_length=1024, blank=True)
    value_normalized = models.CharField(max_length=1024, blank=True)
    primary = models.BooleanField(default=False)
    display = models.CharField(max_length=255, blank=True)
    # SHA-256 of the whole value when value/value_normalized hold only its start, else "".
    value_digest = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["attribute", "value_normalized"], name="dp_value_lookup"),
        ]

    def __str__(self) -> str:
        return f"{self.attribute}={self.value}"


class UserSession(models.Model):
    """Which session keys belong to which user, so deprovisioning can end them.

    A session signed in through SAML also records its connection, NameID and SessionIndex,
    so an IdP's LogoutRequest finds the sessions it names by index, on every process.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    connection = models.ForeignKey(
        Connection,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    name_id = models.CharField(_("SAML NameID"), max_length=512, blank=True)
    session_index = models.CharField(_("SAML SessionIndex"), max_length=255, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["connection", "name_id"], name="dp_session_name_id"),
        ]

    def __str__(self) -> str:
        return f"session of {self.user_id}"
