"""What the migrations leave in the database (``tox -e migrations`` checks that the models need
no new migration, with either user model)."""

from __future__ import annotations

from typing import Any

from django.db import connection

from django_provisioning.models import AuditEvent, ExternalGroup


def test_the_admin_source_is_gone(db: Any) -> None:
    """0003: ``admin`` is no longer a choice of ``AuditEvent.source`` (no code writes it).

    ``ExternalGroup.document`` stays: the group core stores what a SCIM client wrote there.
    """
    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(
            cursor, ExternalGroup._meta.db_table
        )
    assert "document" in {column.name for column in columns}
    assert AuditEvent._meta.get_field("source").choices == [("scim", "SCIM"), ("saml", "SAML")]
