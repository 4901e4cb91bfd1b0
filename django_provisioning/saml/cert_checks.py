"""System checks on the IdP signing certificates connections trust: expiring soon, or expired.

``django_provisioning.W005``: a connection's only valid signing certificate expires within
:data:`EXPIRY_WARNING_DAYS` days (the IdP has not published a successor yet, or the successor
has not been fetched: ``refresh_idp_metadata``). ``django_provisioning.W006``: every signing
certificate of a connection has expired. Connections declared in settings are checked from the
settings by a plain check; those created in the database by a database check (``migrate``,
``check --database default``), like ``E031``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from django.core.checks import CheckMessage, Tags, Warning, register
from django.db import DatabaseError

from ..declared import declared_connections
from ..models import Connection
from .metadata_import import MetadataError, certificate_expiry

EXPIRY_WARNING_DAYS = 30


def certificate_expiries(certs: Any) -> list[datetime]:
    """The expiry of each readable certificate of *certs* (a connection's ``idp_x509_certs``)."""
    found = []
    for cert in certs if isinstance(certs, (list, tuple)) else []:
        try:
            found.append(certificate_expiry(str(cert)))
        except MetadataError:
            continue  # an unreadable certificate is reported where it is entered
    return found


def expiry_messages(
    slug: str, certs: Any, *, now: datetime | None = None, obj: Any = None
) -> list[CheckMessage]:
    """W005 / W006 for one connection's certificates (none when it has none)."""
    now = now or datetime.now(timezone.utc)
    expiries = certificate_expiries(certs)
    if not expiries:
        return []
    valid = [moment for moment in expiries if moment > now]
    if not valid:
        last = max(expiries)
        return [
            Warning(
                f"Every IdP signing certificate of connection {slug!r} has expired (the last "
                f"on {last:%Y-%m-%d}).",
                hint="Get the IdP's current certificate: refresh_idp_metadata, "
                "import_idp_metadata or the admin.",
                obj=obj or slug,
                id="django_provisioning.W006",
            )
        ]
    if len(valid) == 1 and valid[0] - now <= timedelta(days=EXPIRY_WARNING_DAYS):
        return [
            Warning(
                f"The only valid IdP signing certificate of connection {slug!r} expires on "
                f"{valid[0]:%Y-%m-%d}, within {EXPIRY_WARNING_DAYS} days.",
                hint="Ask the customer to publish the IdP's next certificate, then run "
                "refresh_idp_metadata (or add it in the admin) so both are trusted during "
                "the rollover.",
                obj=obj or slug,
                id="django_provisioning.W005",
            )
        ]
    return []


def _messages(connections: Iterable[tuple[str, Any]]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for slug, certs in connections:
        messages += expiry_messages(slug, certs)
    return messages


@register(Tags.security)
def check_declared_certificates(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W005/W006 for the connections declared in settings."""
    return _messages(
        (slug, options.get("idp_x509_certs")) for slug, options in declared_connections().items()
    )


@register(Tags.database)
def check_database_certificates(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """W005/W006 for the active connections created in the database (a database check)."""
    if not databases:
        return []
    try:
        rows = list(
            Connection.objects.filter(from_settings=False, is_active=True)
            .exclude(idp_x509_certs=[])
            .values_list("slug", "idp_x509_certs")
        )
    except DatabaseError:
        return []  # not migrated yet
    return _messages(rows)
