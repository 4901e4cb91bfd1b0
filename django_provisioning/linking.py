"""Which existing local account a connection may take over (link) instead of creating one.

Only by an e-mail address whose domain the connection has verified, and only where the adapter
agrees (:meth:`~django_provisioning.adapter.DefaultAdapter.can_link_user`: the connection links
by e-mail, the account is of the connection's tenant or of none, never staff).
"""

from __future__ import annotations

from typing import Any

from .adapter import get_adapter
from .models import Connection
from .schema.document import primary_value


def find_linkable_user(connection: Connection, document: dict[str, Any]) -> Any:
    """An existing local user this connection may take over, by its verified e-mail domain."""
    adapter = get_adapter()
    emails = [str(document.get("userName") or "")]
    email = primary_value(document.get("emails"))
    if email:
        emails.insert(0, str(email))
    for candidate in emails:
        if "@" not in candidate or not connection.owns_email_domain(candidate):
            continue
        user = adapter.find_user_by_user_name(connection, candidate) or adapter.find_user_by_email(
            connection, candidate
        )
        if user is not None and adapter.can_link_user(connection, user, candidate):
            return user
    return None
