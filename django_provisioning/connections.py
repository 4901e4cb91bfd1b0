"""Connections declared in settings and stored in the database, looked up the same way.

A connection in ``DJANGO_PROVISIONING["CONNECTIONS"]`` is mirrored into a database row (marked
``from_settings``) the first time it is used, and updated whenever the settings differ, so
tokens, link rows and audit events can point at it like at any other connection.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from .conf import provisioning_settings
from .models import Connection


def settings_connections() -> dict[str, dict[str, Any]]:
    return dict(provisioning_settings.CONNECTIONS or {})


def _defaults(slug: str, options: dict[str, Any]) -> dict[str, Any]:
    values = dict(options)
    values.setdefault("name", slug)
    values["from_settings"] = True
    return values


def get_connection(slug: str, *, active_only: bool = False) -> Connection | None:
    """The connection *slug* (synchronising a settings-declared one), or None."""
    declared = settings_connections().get(slug)
    connection = Connection.objects.filter(slug=slug).first()
    if declared is not None:
        values = _defaults(slug, declared)
        if connection is None:
            try:
                with transaction.atomic():
                    connection = Connection.objects.create(slug=slug, **values)
            except IntegrityError:
                connection = Connection.objects.get(slug=slug)
        changed = [k for k, v in values.items() if getattr(connection, k) != v]
        if changed:
            for key in changed:
                setattr(connection, key, values[key])
            connection.save(update_fields=[*changed, "updated_at"])
    if connection is None or (active_only and not connection.is_active):
        return None
    return connection
