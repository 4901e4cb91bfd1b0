"""The assertion replay cache, shared by every process through the database.

python3-saml accepts the same valid response as often as it is posted. Each accepted assertion
id is inserted into :class:`~django_provisioning.models.SamlAssertionReplay`, whose unique
constraint on (connection, assertion id) makes the second insert fail even when two processes
race. Rows are kept until the assertion could no longer be accepted anyway (the earlier of its
latest NotOnOrAfter and its IssueInstant + ``SAML_MAX_ASSERTION_AGE``, plus the connection's
clock skew: see :mod:`.validation`), then pruned.

Pruning is bounded: a pass deletes at most :data:`PRUNE_BATCH` expired rows, oldest first, by
the indexed ``expires_at``, in one statement. A process runs a pass with the first sign-in after
:data:`PRUNE_INTERVAL` seconds, and with the next sign-in again as long as the last pass found a
full batch: a backlog (a large cache after an outage, or an older release's ten-year rows)
goes a batch per sign-in and never makes one slow, and the sign-ins in between write no
``DELETE`` at all. An expired row left a while longer is harmless: it refuses only assertions
that are refused as expired anyway. ``manage.py prune_saml_state`` clears any backlog at once.

IdP-initiated LogoutRequests are kept in the same table, their ID prefixed with
:data:`LOGOUT_PREFIX` (a LogoutRequest and an assertion are different messages, even if an IdP
gave both the same ID), until the request could no longer be accepted (:mod:`.logout`); so are
the AuthnRequest IDs of test sign-ins a response has answered (:data:`TEST_PREFIX`,
:mod:`.test_signin`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable
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
#: Seconds between two pruning passes (of each kind) of one process, when the last found less
#: than a full batch.
PRUNE_INTERVAL = 60.0
#: When each kind of pruning is next due in this process (``time.monotonic()``).
_next_prune: dict[str, float] = {}
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


def prune_when_due(kind: str, prune: Callable[[], int]) -> None:
    """Run *prune* (a bounded pass) unless this process ran a *kind* pass lately.

    Due again at once when the pass deleted a full :data:`PRUNE_BATCH` (a backlog), else
    after :data:`PRUNE_INTERVAL` seconds. Two threads may both find it due: that deletes a
    batch twice, no harm.
    """
    now = time.monotonic()
    if now < _next_prune.get(kind, 0.0):
        return
    deleted = prune()
    _next_prune[kind] = now if deleted >= PRUNE_BATCH else now + PRUNE_INTERVAL


def reset_pruning() -> None:
    """Make every kind of pruning due with the next sign-in (tests; a fresh process)."""
    _next_prune.clear()


def _consume(
    connection: Connection, message_id: str, expires_at: dt.datetime, *, savepoint: bool = True
) -> bool:
    """Insert *message_id*; False if it was there already (used before).

    *savepoint* False: the caller runs this inside an ``atomic`` block that the refusal then
    leaves, rolling it back (:func:`.state.create_pending_login`, which writes the pending
    login in the same transaction); no savepoint of its own is needed then.
    """
    prune_when_due("replay", prune_expired)
    if len(message_id) > 255:
        message_id = "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    try:
        with transaction.atomic(savepoint=savepoint):
            SamlAssertionReplay.objects.create(
                connection=connection, assertion_id=message_id, expires_at=expires_at
            )
    except IntegrityError:
        return False
    return True


def consume_assertion(
    connection: Connection, assertion_id: str, expires_at: dt.datetime, *, savepoint: bool = True
) -> None:
    """Record *assertion_id* as used; raise :class:`SamlError` ("replayed") if it already was.

    *savepoint*: see :func:`_consume`."""
    if not _consume(connection, assertion_id, expires_at, savepoint=savepoint):
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
