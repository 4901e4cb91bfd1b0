"""The last SCIM requests of each connection, kept in the cache for the setup portal's status.

The portal shows a customer's IT admin that their IdP's "Test connection" arrived. That must
not cost a database write per SCIM request: each request appends one small entry (method, path,
status, time) to a bounded list per connection in ``RATE_LIMIT_CACHE`` (one get and one set; a
lost entry when two requests race is acceptable for a status display). Nothing personal is
kept: the path without its query string, no body.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import caches

from ..conf import provisioning_settings

logger = logging.getLogger("django_provisioning.scim")

KEY_PREFIX = "django_provisioning:scim-recent"
TTL = 7 * 86_400
MAX_PATH = 200


def _key(connection_id: int) -> str:
    return f"{KEY_PREFIX}:{connection_id}"


def record(connection_id: int, method: str, path: str, status: int) -> None:
    """Remember one request of the connection *connection_id*. Never raises."""
    keep = int(provisioning_settings.PORTAL_RECENT_SCIM_REQUESTS)
    if keep <= 0:
        return
    try:
        cache = caches[provisioning_settings.RATE_LIMIT_CACHE]
        entries = cache.get(_key(connection_id)) or []
        # The newest *keep* (not ``entries[-(keep - 1):]``: with keep=1 that is the whole list).
        entries = [*entries, (method, path[:MAX_PATH], status, time.time())][-keep:]
        cache.set(_key(connection_id), entries, TTL)
    except Exception:  # a status display must never fail a provisioning request
        logger.warning("Recent SCIM request not recorded: the cache failed", exc_info=True)


def recent(connection_id: int) -> list[dict[str, Any]]:
    """The connection's remembered requests, newest first."""
    try:
        entries = caches[provisioning_settings.RATE_LIMIT_CACHE].get(_key(connection_id)) or []
    except Exception:
        logger.warning("Recent SCIM requests not read: the cache failed", exc_info=True)
        return []
    return [{"method": m, "path": p, "status": s, "time": t} for m, p, s, t in reversed(entries)]
