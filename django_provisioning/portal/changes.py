"""Every change made through the portal: one audit row and one ``portal_change`` signal."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .. import signals
from ..models import AuditEvent, Connection, ExternalIdentity, SetupLink


def affected_users(connection: Connection) -> int:
    """How many accounts *connection* signs in (its live link rows)."""
    return ExternalIdentity.objects.filter(connection=connection, deleted_at=None).count()


def record_change(link: SetupLink, kind: str, *, target: str = "", **details: Any) -> AuditEvent:
    """Audit *kind* for the link's connection and send ``portal_change`` after the commit."""
    connection = link.connection
    users = affected_users(connection)
    detail = {"link": str(link.public_id), "affected_users": users, **details}
    with transaction.atomic():
        event = AuditEvent.objects.create(
            connection=connection,
            source=AuditEvent.Source.PORTAL,
            action=kind,
            target=target[:255],
            detail=detail,
        )
        signals.send_after_commit(
            signals.portal_change,
            "portal",
            connection=connection,
            kind=kind,
            details=detail,
            affected_users=users,
        )
    return event
