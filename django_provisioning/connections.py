"""Connections declared in settings and stored in the database, read the same way.

A connection in ``DJANGO_PROVISIONING["CONNECTIONS"]`` has a database row too (marked
``from_settings``, created once, the first time :func:`get_connection` is asked for it), so
tokens, link rows and audit events can point at it like at any other connection. The row's
option columns are never trusted for it: whenever a :class:`~django_provisioning.models.Connection`
is loaded from the database, by any path (a queryset, ``select_related("connection")``, a foreign
key), :func:`effective` lays the settings over it in memory. An option the settings leave out
takes the model field's default, not whatever the row last held. Nothing is written to the row
per request.

A row marked ``from_settings`` whose slug is no longer declared is *retired*: it reads as
inactive, so its tokens and sign-ins are refused, until it is declared again.

The declared options are resolved once per process and dropped on Django's
``setting_changed`` signal (see :mod:`django_provisioning.conf`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from typing import Any

from django.db.models import Q

from .conf import provisioning_settings
from .models import CONNECTION_OPTIONS, Connection


def settings_connections() -> dict[str, dict[str, Any]]:
    """The ``CONNECTIONS`` setting as written: slug -> the options it names."""
    declared = provisioning_settings.CONNECTIONS or {}
    if not isinstance(declared, dict):
        return {}  # reported by system check E003
    return {str(slug): dict(options or {}) for slug, options in declared.items()}


@cache
def declared_connections() -> Mapping[str, Mapping[str, Any]]:
    """slug -> the value of every connection option, for each connection declared in settings.

    Options the settings do not name take the model field's default (``name``: the slug), so
    removing a key from settings resets it. Cached per process; cleared on ``setting_changed``.
    """
    resolved: dict[str, dict[str, Any]] = {}
    for slug, options in settings_connections().items():
        values: dict[str, Any] = {}
        for name in CONNECTION_OPTIONS:
            if name in options:
                values[name] = options[name]
            elif name == "name":
                values[name] = slug
            else:
                field = Connection._meta.get_field(name)
                values[name] = field.get_default()  # type: ignore[union-attr]
        values["from_settings"] = True
        resolved[slug] = values
    return resolved


def is_retired(connection: Connection) -> bool:
    """True for a row created from settings whose slug the settings no longer declare."""
    return connection.from_settings and connection.slug not in declared_connections()


def effective(connection: Connection) -> Connection:
    """*connection* as the settings say it is, changed in memory only; returns it.

    A declared connection gets every option from settings (defaults for those not named), a
    retired one reads as inactive, a database connection is left as it is. Idempotent and
    free of queries; :meth:`Connection.from_db` calls it for every row loaded.
    """
    declared = declared_connections().get(connection.slug)
    if declared is not None:
        for name, value in declared.items():
            # A copy: code that changes a list or dict of one request's connection must not
            # change the cached settings of every later request.
            setattr(connection, name, copy.deepcopy(value))
    elif connection.from_settings:
        connection.is_active = False
    return connection


def get_connection(slug: str, *, active_only: bool = False) -> Connection | None:
    """The effective connection *slug* (creating a declared one's row once), or None.

    With *active_only*, an inactive connection (by settings, by its row, or retired) is None.
    """
    declared = declared_connections().get(slug)
    if declared is not None:
        # get_or_create is race-safe (a concurrent insert is caught and read back). The row
        # is written only when it does not exist; its option columns are informative only.
        connection, _created = Connection.objects.get_or_create(
            slug=slug, defaults=copy.deepcopy(dict(declared))
        )
    else:
        connection = Connection.objects.filter(slug=slug).first()
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
