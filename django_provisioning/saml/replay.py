"""The assertion replay cache, shared by every process through the database.

python3-saml accepts the same valid response as often as it is posted. Each accepted assertion
id is inserted into :class:`~django_provisioning.models.SamlAssertionReplay`, whose unique
constraint on (connection, assertion id) makes the second insert fail even when two processes
race. Rows are kept until the assertion could no longer be accepted anyway (the earlier of its
latest NotOnOrAfter and its IssueInstant + ``SAML_MAX_ASSERTION_AGE``, plus the connection's
clock skew: see :mod:`.validation`), then pruned.

Pruning is bounded: each consumed assertion deletes at most :data:`PRUNE_BATCH` expired rows,
oldest first, by the indexed ``expires_at``, in one statement. Each sign-in adds one row, so
this keeps up, and a backlog (a large cache after an outage, or an older release's ten-year
rows) never makes a sign-in slow; ``manage.py prune_saml_state`` clears any backlog at once.

IdP-initiated LogoutRequests are kept in the same table, their ID prefixed with
:data:`LOGOUT_PREFIX` (a LogoutRequest and an assertion are different messages, even if an IdP
gave both the same ID), until the request could no longer be accepted (:mod:`.logout`); so are
the AuthnRequest IDs of test sign-ins a response has answered (:data:`TEST_PREFIX`,
:mod:`.test_signin`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..models import SamlAssertionReplay
from .errors import SamlError

if TYPE_CHECKING:
    from ..models import Connection

#: Expired rows (of each kind) removed by one pruning pass during normal operation.
PRUNE_BATCH = 100
#: The prefix of a consumed LogoutRequest's ID in the replay table.
LOGOUT_PREFIX = "logout:"
#: The prefix of a test sign-in's AuthnRequest ID, once a response has answered it.
TEST_PREFIX = "test:"


def delete_oldest(queryset: QuerySet[Any], order_by: str, limit: int) -> int:
    """Delete at most *limit* rows of *queryset*, first in *order_by*; return how many went.

    One ``DELETE ... WHERE id IN (SELECT id ... ORDER BY ... LIMIT n)`` where the database
    allows a limit in such a subquery (PostgreSQL, SQLite), else a SELECT then a DELETE.
    """
    oldest: Any = queryset.order_by(order_by).values_list("pk", flat=True)[:limit]
    if not connections[queryset.db].features.allow_sliced_subqueries_with_in:
        oldest = list(oldest)
    deleted, _ = queryset.model._default_manager.filter(pk__in=oldest).delete()
    return deleted


def prune_expired(now: dt.datetime | None = None, *, limit: int = PRUNE_BATCH) -> int:
    """Delete up to *limit* rows of assertions that have expired; return how many went."""
    expired = SamlAssertionReplay.objects.filter(expires_at__lte=now or timezone.now())
    return delete_oldest(expired, "expires_at", limit)


def _consume(connection: Connection, message_id: str, expires_at: dt.datetime) -> bool:
    """Insert *message_id*; False if it was there already (used before)."""
    prune_expired()
    if len(message_id) > 255:
        message_id = "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    try:
        with transaction.atomic():
            SamlAssertionReplay.objects.create(
                connection=connection, assertion_id=message_id, expires_at=expires_at
            )
    except IntegrityError:
        return False
    return True


def consume_assertion(connection: Connection, assertion_id: str, expires_at: dt.datetime) -> None:
    """Record *assertion_id* as used; raise :class:`SamlError` ("replayed") if it already was."""
    if not _consume(connection, assertion_id, expires_at):
        raise SamlError("replayed", f"assertion {assertion_id[:80]!r} seen before")


def consume_logout_request(
    connection: Connection, request_id: str, expires_at: dt.datetime
) -> None:
    """Record LogoutRequest *request_id* as used; raise "logout_replayed" if it already was."""
    if not _consume(connection, LOGOUT_PREFIX + request_id, expires_at):
        raise SamlError("logout_replayed", f"LogoutRequest {request_id[:80]!r} seen before")


def consume_test_request(connection: Connection, request_id: str, expires_at: dt.datetime) -> None:
    """Record that a response answered test sign-in *request_id*; raise "replayed" if one
    already did (a test request is answered once, so a flood of forged answers to it writes
    nothing more)."""
    if not _consume(connection, TEST_PREFIX + request_id, expires_at):
        raise SamlError("replayed", f"test sign-in request {request_id[:80]!r} answered before")
