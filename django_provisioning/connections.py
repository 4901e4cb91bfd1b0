"""Connections looked up by slug, whether declared in settings or stored in the database.

A connection declared in settings gets its row the first time :func:`get_connection` is asked
for it (created once, race-safe), so tokens, link rows and audit events can point at it like at
any other; :mod:`.declared` lays the settings over that row whenever it is loaded.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from django.db.models import Q

from .compiled import CompiledQuery, Slot, first
from .declared import declared_connections, effective
from .exceptions import DomainTaken
from .models import Connection

logger = logging.getLogger("django_provisioning")

#: A connection of the database by slug: every sign-in reads it twice (compiled once).
CONNECTION_BY_SLUG = CompiledQuery(
    Connection,
    lambda slug: Connection.objects.filter(slug=slug).order_by()[:1],
    Slot.of(Connection, "slug"),
)


def get_connection(slug: str, *, active_only: bool = False) -> Connection | None:
    """The effective connection *slug* (creating a declared one's row once), or None.

    With *active_only*, an inactive connection (by settings, by its row, or retired) is None.
    """
    declared = declared_connections().get(slug)
    if declared is not None:
        # get_or_create is race-safe (a concurrent insert is caught and read back). The row
        # is written only when it does not exist; its option columns are informative only.
        defaults = copy.deepcopy(dict(declared))
        try:
            connection, _created = Connection.objects.get_or_create(slug=slug, defaults=defaults)
        except DomainTaken as exc:
            # A connection in the database verifies one of its domains (check E031 says so
            # at migrate): the row is written without them (its columns are informative; the
            # settings are laid over it), and the clash is left for the operator to settle.
            logger.error("Connection %r: %s", slug, " ".join(exc.messages))
            defaults["verified_domains"] = []
            connection, _created = Connection.objects.get_or_create(slug=slug, defaults=defaults)
    else:
        connection = first(CONNECTION_BY_SLUG.run(slug))  # the slug is unique
    if connection is None:
        return None
    effective(connection)
    if active_only and not connection.is_active:
        return None
    return connection


def effective_q(name: str, value: Any) -> Q:
    """Rows whose *effective* option *name* equals *value*: for filtering in the database.

    A query reads the stored columns, which are stale for declared connections; this names
    the declared slugs that match by settings, and the other rows by their columns (a retired
    row is inactive whatever its column says).
    """
    declared = declared_connections()
    matching = [slug for slug, options in declared.items() if options.get(name) == value]
    undeclared = ~Q(slug__in=list(declared))
    if name == "is_active":
        rows = undeclared & Q(from_settings=False, is_active=value)
        if not value:
            rows |= undeclared & Q(from_settings=True)
    else:
        rows = undeclared & Q(**{name: value})
    return Q(slug__in=matching) | rows
