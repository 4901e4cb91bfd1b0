"""Refused requests in the audit trail, rate-limited so that a flood cannot fill the table.

Both doors call :func:`record_refusal` when they refuse someone: the SCIM door for a bad,
expired or revoked bearer token, the SAML door for every sign-in (or logout) it refuses. Each
refusal becomes one :class:`~django_provisioning.models.AuditEvent`, within two limits counted
in Django's cache (``RATE_LIMIT_CACHE``, shared by all processes):

* ``REFUSAL_AUDIT_RATE`` rows per door and client address, so one guesser writes a handful of
  rows, however fast it sends;
* ``REFUSAL_AUDIT_CONNECTION_RATE`` rows per door and connection (refusals that name no known
  connection count as one), so a guesser that changes address every request is bounded too.

Refusals over a limit are counted, not written; the next row written for that door and
connection says how many were left out (``detail["suppressed"]``). The client address is the
one Django REST framework's throttles use (``NUM_PROXIES``), so both doors and the SCIM
throttle agree on who a client is.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import Any

from django.core.cache import BaseCache, caches
from django.db import DatabaseError, transaction
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

from .conf import provisioning_settings
from .models import AuditEvent, Connection

logger = logging.getLogger("django_provisioning.audit")

KEY_PREFIX = "django_provisioning:refusals"
# How long a count of left-out refusals waits for the next written row to report it.
SUPPRESSED_TTL = 7 * 86_400
MAX_CLIENT_LENGTH = 100  # an X-Forwarded-For chain can be long; the row keeps its start
PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
PERIODS |= {"h": 3600, "hour": 3600, "d": 86_400, "day": 86_400}
_RATE = re.compile(r"(\d+)/([a-z]+)")

# The clock of the fixed windows; tests replace it to stay inside one window.
_clock = time.time


def parse_rate(rate: Any) -> tuple[int, int]:
    """(count, seconds) of a rate written the way DRF's throttles write it: ``"30/min"``.

    Stricter than DRF's own parser (which reads only the first letter of the period), so that
    ``"30/month"`` is an error rather than 30 a minute. Raises ``ValueError``.
    """
    match = _RATE.fullmatch(rate) if isinstance(rate, str) else None
    if match is None:
        raise ValueError(f"{rate!r} is not a rate like '30/min'")
    count, unit = int(match[1]), match[2]
    if unit not in PERIODS and unit.endswith("s"):
        unit = unit[:-1]  # "seconds", "hours"
    if unit not in PERIODS or count < 1:
        raise ValueError(f"{rate!r} is not a rate like '30/min'")
    return count, PERIODS[unit]


def rate_limit_cache() -> BaseCache:
    """The cache that keeps the counters of the throttle and of the refusal audit limits."""
    return caches[provisioning_settings.RATE_LIMIT_CACHE]


def client_address(request: HttpRequest) -> str:
    """Who sent *request*, as Django REST framework's throttles tell clients apart."""
    # get_ident reads only the headers and META, which a plain HttpRequest has too.
    return BaseThrottle().get_ident(request) or "-"  # type: ignore[arg-type]


def digest(value: str) -> str:
    """A short, cache-key-safe stand-in for client-supplied text (an address, a header)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def record_refusal(
    request: HttpRequest,
    *,
    source: str,
    action: str,
    reason: str,
    connection: Connection | None = None,
    **detail: Any,
) -> AuditEvent | None:
    """Write one audit row for a refused request, unless the refusal limits are spent.

    Never raises: a refusal is answered whether or not it could be recorded (a cache or
    database failure is logged instead). Returns the row written, if any.
    """
    client = client_address(request)
    try:
        admitted, notes = _admit(source, client, connection)
    except Exception:  # a cache outage must not turn a 401 into a 500
        logger.warning("Refusal not audited: the rate-limit cache failed", exc_info=True)
        return None
    if not admitted:
        return None
    try:
        with transaction.atomic():
            return AuditEvent.objects.create(
                connection=connection,
                source=source,
                action=action,
                target=client[:MAX_CLIENT_LENGTH],
                detail={"reason": reason, "client": client[:MAX_CLIENT_LENGTH], **detail, **notes},
            )
    except DatabaseError:  # the database may be why the request was refused
        logger.warning("Refusal not audited: the database refused the row", exc_info=True)
        return None


def _admit(source: str, client: str, connection: Connection | None) -> tuple[bool, dict[str, Any]]:
    """Count this refusal against both limits: (write a row?, notes for the row)."""
    cache = rate_limit_cache()
    now = _clock()
    per_client, client_period = parse_rate(provisioning_settings.REFUSAL_AUDIT_RATE)
    per_connection, connection_period = parse_rate(
        provisioning_settings.REFUSAL_AUDIT_CONNECTION_RATE
    )
    scope = f"{KEY_PREFIX}:{source}:{connection.pk if connection is not None else '-'}"
    client_key = f"{KEY_PREFIX}:{source}:client:{digest(client)}:{int(now // client_period)}"
    connection_key = f"{scope}:{int(now // connection_period)}"
    suppressed_key = f"{scope}:suppressed"
    client_count = _count(cache, client_key, client_period)
    # The client's own limit is checked first, so one client's flood does not use up the
    # connection's budget (the refusals of everyone else).
    connection_count = 0
    if client_count <= per_client:
        connection_count = _count(cache, connection_key, connection_period)
    if client_count > per_client or connection_count > per_connection:
        _count(cache, suppressed_key, SUPPRESSED_TTL)
        return False, {}
    notes: dict[str, Any] = {}
    suppressed = _take(cache, suppressed_key)
    if suppressed:
        notes["suppressed"] = suppressed
    if client_count == per_client:
        notes["limit_reached"] = "client"  # what follows from this address is only counted
    elif connection_count == per_connection:
        notes["limit_reached"] = "connection"
    return True, notes


def _count(cache: BaseCache, key: str, timeout: int) -> int:
    """Add one to the counter *key* (created with *timeout*); the new value."""
    cache.add(key, 0, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr, or a cache that stores nothing
        cache.add(key, 1, timeout)
        return 1


def _take(cache: BaseCache, key: str) -> int:
    """Read and reset the counter *key* without losing what other processes add meanwhile."""
    count = cache.get(key) or 0
    if count:
        try:
            cache.decr(key, count)
        except ValueError:
            pass
    return int(count)
