"""One-time state between the SAML steps: AuthnRequest ids in the session, pending logins.

*Request ids.* The login view remembers each AuthnRequest id it sends in the browser session,
with the connection, the time and the ``next`` URL. The second ACS step accepts a response only
if its InResponseTo is one of them, unexpired (``SAML_REQUEST_TTL``), and removes it: a request
id answers at most one response, in the browser that started it.

*Pending logins.* Under ``SESSION_COOKIE_SAMESITE = "Lax"`` the browser does not send the
session cookie with the identity provider's cross-site POST to the ACS, so the first step
validates without the session, stores the result in
:class:`~django_provisioning.models.SamlPendingLogin` under the SHA-256 of a random one-time key
and redirects (303, a same-site top-level GET, which carries the cookie) to the second step
with that key. The row is written in the transaction that consumes the assertion id (one
commit: both rows or neither), consumed by the first attempt, and expires after
``PENDING_LOGIN_TTL`` seconds; expired rows are pruned a bounded batch at a time as sign-ins go
(when due: see :mod:`.replay`), and all at once by ``manage.py prune_saml_state``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from ..compiled import CompiledQuery, Slot, first
from ..conf import provisioning_settings
from ..models import Connection, SamlPendingLogin
from ..tokens import checksum
from .errors import SamlError
from .replay import PRUNE_BATCH, consume_assertion, delete_oldest, prune_when_due

if TYPE_CHECKING:
    from django.http import HttpRequest

    from .validation import ValidatedResponse

SESSION_REQUESTS = "_dp_saml_requests"
SESSION_LOGIN = "_dp_saml_login"
SESSION_LOGOUT_REQUEST = "_dp_saml_logout_request"
#: Outstanding AuthnRequests remembered per browser session (oldest dropped first).
MAX_OUTSTANDING_REQUESTS = 10
#: Seconds between the two ACS steps; a browser follows the 303 at once.
PENDING_LOGIN_TTL = 120


def _live_requests(request: HttpRequest) -> dict[str, dict[str, Any]]:
    ttl = int(provisioning_settings.SAML_REQUEST_TTL)
    now = time.time()
    stored = request.session.get(SESSION_REQUESTS) or {}
    return {
        k: v for k, v in stored.items() if isinstance(v, dict) and now - v.get("issued_at", 0) < ttl
    }


def remember_request(
    request: HttpRequest, connection: Connection, request_id: str, next_url: str
) -> None:
    """Bind AuthnRequest *request_id* (and where to go afterwards) to this browser session."""
    live = _live_requests(request)
    live[request_id] = {"connection": connection.slug, "issued_at": time.time(), "next": next_url}
    newest = sorted(live.items(), key=lambda item: item[1]["issued_at"])[-MAX_OUTSTANDING_REQUESTS:]
    request.session[SESSION_REQUESTS] = dict(newest)


def claim_request(request: HttpRequest, connection: Connection, request_id: str) -> str:
    """Take *request_id* out of this session; return its ``next`` URL, or refuse."""
    live = _live_requests(request)
    entry = live.pop(request_id, None)
    request.session[SESSION_REQUESTS] = live
    if entry is None or entry.get("connection") != connection.slug:
        raise SamlError(
            "session_mismatch", "InResponseTo is not an open AuthnRequest of this session"
        )
    return str(entry.get("next") or "")


def prune_pending_logins(now: datetime | None = None, *, limit: int = PRUNE_BATCH) -> int:
    """Delete up to *limit* pending logins older than their time to live; return how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=PENDING_LOGIN_TTL)
    expired = SamlPendingLogin.objects.filter(created_at__lt=cutoff)
    return delete_oldest(expired, "created_at", limit)


def create_pending_login(
    connection: Connection, validated: ValidatedResponse, relay_state: str
) -> str:
    """Consume the assertion id and store the validated response for the second step, in one
    transaction; return the one-time key. A replayed assertion ("replayed") writes nothing."""
    assert validated.expires_at is not None
    with transaction.atomic():  # a "replayed" refusal leaves it: nothing is written
        consume_assertion(connection, validated.assertion_id, validated.expires_at, savepoint=False)
        return store_pending(
            connection,
            in_response_to=validated.in_response_to or "",
            data=validated.as_data(),
            relay_state=relay_state,
        )


def store_pending(
    connection: Connection,
    *,
    in_response_to: str,
    data: dict[str, Any],
    relay_state: str = "",
    is_test: bool = False,
) -> str:
    """Store *data* for the second step; return the one-time key.

    A test sign-in's row (*is_test*) holds what arrived, or the failure to explain
    (:mod:`.test_signin`); its second step never signs anyone in.
    """
    key = secrets.token_urlsafe(32)
    prune_when_due("pending", prune_pending_logins)
    SamlPendingLogin.objects.create(
        connection=connection,
        key_checksum=checksum(key),
        in_response_to=in_response_to,
        relay_state=relay_state,
        data=data,
        is_test=is_test,
    )
    return key


#: A pending login by its key's checksum, with its connection by slug (compiled once: every
#: sign-in's second step reads both in this one statement).
PENDING_LOGIN = CompiledQuery(
    SamlPendingLogin,
    lambda slug, key_checksum: (
        SamlPendingLogin.objects.select_related("connection")
        .filter(connection__slug=slug, key_checksum=key_checksum)
        .order_by()[:1]
    ),
    Slot.of(Connection, "slug"),
    Slot.of(SamlPendingLogin, "key_checksum"),
)
#: Longest pending-login key accepted (ours are 43 characters).
MAX_KEY_LENGTH = 128


def find_pending_login(slug: str, key: str) -> SamlPendingLogin | None:
    """The pending login of *key* in the connection *slug*, its connection loaded with it
    (:meth:`Connection.from_db` lays a declared connection's settings over it), or None."""
    if not _well_formed(key):
        return None
    return first(PENDING_LOGIN.run(slug, checksum(key)))  # the checksum is unique


def _well_formed(key: str) -> bool:
    return bool(key) and len(key) <= MAX_KEY_LENGTH


@dataclass
class PendingLogin:
    in_response_to: str
    relay_state: str
    data: dict[str, Any]
    is_test: bool = False


def consume_pending_login(row: SamlPendingLogin | None, key: str) -> PendingLogin:
    """Take *row*, the pending login :func:`find_pending_login` found for *key* (once, before
    it expires), or refuse."""
    if row is None:
        if not _well_formed(key):
            raise SamlError("pending_expired", "no or malformed pending-login key")
        raise SamlError("pending_expired", "unknown or already used pending-login key")
    cutoff = timezone.now() - timedelta(seconds=PENDING_LOGIN_TTL)
    # The DELETE answers how many rows went: of two racing requests only one sees 1. One
    # statement (no model has a key to this one, nothing cascades), in autocommit.
    taken = SamlPendingLogin.objects.filter(pk=row.pk)
    if taken._raw_delete(taken.db) != 1:
        raise SamlError("pending_expired", "unknown or already used pending-login key")
    if row.created_at < cutoff:
        raise SamlError("pending_expired", "pending login older than its time to live")
    return PendingLogin(row.in_response_to, row.relay_state, row.as_dict(), row.is_test)
