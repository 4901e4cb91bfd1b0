"""Which existing local account a connection may take over (link) instead of creating one.

Only by an e-mail address whose domain the connection has verified, and only where the adapter
agrees (:meth:`~django_provisioning.adapter.DefaultAdapter.can_link_user`: the account is of
the connection's tenant or of none, never staff). Nothing is looked up unless the connection
links by e-mail (``link_by_email``) and owns the candidate's domain: without that the search
could only come back empty, and on a large user table each lookup is a query to avoid.
"""

from __future__ import annotations

from typing import Any

from .adapter import get_adapter
from .models import Connection
from .schema.document import primary_value


def candidates(connection: Connection, document: dict[str, Any]) -> list[str]:
    """The addresses to link by: the primary e-mail, then the userName, each in a domain the
    connection verified, each once (normalised), none when the connection links by none."""
    if not connection.link_by_email:
        return []
    adapter = get_adapter()
    found: dict[str, str] = {}
    for value in (primary_value(document.get("emails")), document.get("userName")):
        candidate = str(value or "")
        if "@" not in candidate or not connection.owns_email_domain(candidate):
            continue
        found.setdefault(adapter.normalize_user_name(candidate), candidate)
    return list(found.values())


def find_linkable_user(
    connection: Connection, document: dict[str, Any], seen: dict[str, Any] | None = None
) -> Any:
    """An existing local user this connection may take over, by its verified e-mail domain.

    *seen*, when given, is filled with each name looked up by local username and what was
    found (the name as looked up -> user or None), so the caller does not look again.
    """
    adapter = get_adapter()
    for candidate in candidates(connection, document):
        user = adapter.find_user_by_user_name(connection, candidate)
        if seen is not None:
            seen[candidate.strip()] = user
        if user is None:
            user = adapter.find_user_by_email(connection, candidate)
        if user is not None and adapter.can_link_user(connection, user, candidate):
            return user
    return None
