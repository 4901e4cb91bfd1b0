"""Link rows of IdP groups (``ExternalGroup``) and the memberships a door granted."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .connection import Connection


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
    # The group as its SCIM client wrote it: attributes not mapped elsewhere round-trip.
    document = models.JSONField(_("SCIM document"), default=dict, blank=True)
    #: Grows with every write a client can read (attributes and members): the SCIM ETag.
    version = models.PositiveIntegerField(default=1)
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
        indexes = [
            # The list order: a page's keys are read from this index alone.
            models.Index(fields=["connection", "created_at", "id"], name="dp_group_order"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


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
