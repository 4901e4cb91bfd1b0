"""``ConnectionCounter``: how many users and groups a connection has, kept exact.

A row of its own (not a :class:`~.connection.Connection` field, which an admin save or the
settings overlay writes whole), so an unfiltered ``GET /Users`` or ``GET /Groups`` reads its
``totalResults`` from one indexed row instead of counting the table. :mod:`..counters` keeps
it, in the transaction of every create and delete.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .connection import Connection


class ConnectionCounter(models.Model):
    """The live link rows of one connection: users (not SCIM-deleted) and groups."""

    connection = models.OneToOneField(
        Connection, on_delete=models.CASCADE, related_name="counter", primary_key=True
    )
    users = models.BigIntegerField(_("users"), default=0)
    groups = models.BigIntegerField(_("groups"), default=0)

    class Meta:
        verbose_name = _("connection counter")
        verbose_name_plural = _("connection counters")

    def __str__(self) -> str:
        return f"{self.connection_id}: {self.users} users, {self.groups} groups"
