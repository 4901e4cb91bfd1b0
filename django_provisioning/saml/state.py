"""One-time state between the SAML steps: AuthnRequest ids in the browser, pending logins.

*Request ids.* The login view remembers each AuthnRequest id it sends in the browser that asked
for it, with the connection, the time and the ``next`` URL: in a cookie of its own
(``__Host-dp_saml_requests`` on HTTPS, ``dp_saml_requests`` on plain HTTP), signed with
``SECRET_KEY`` (:mod:`django.core.signing`, salted), ``HttpOnly``, ``SameSite=Lax``, expiring
with ``SAML_REQUEST_TTL``. The second ACS step accepts a response only if its InResponseTo is
one of them, unexpired, for this connection, and takes it out of the cookie (on its answer,
whether it signs in or refuses): a request id answers at most one response, in the browser
that started it. An anonymous visit to the login view so writes no server-side row (the
session of Django's ``login()`` is made at sign-in only), and on HTTPS the ``__Host-`` prefix
keeps a sibling subdomain from planting its own request ids, which a ``sessionid`` cookie set
for the parent domain would do.

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
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core import signing
from django.db import transaction
from django.utils import timezone

from ..compiled import CompiledQuery, Slot, first
from ..conf import provisioning_settings
from ..models import Connection, SamlPendingLogin
from ..tokens import checksum
from .errors import SamlError
from .replay import PRUNE_BATCH, consume_assertion, delete_oldest, prune_when_due

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from .validation import ValidatedResponse

SESSION_LOGIN = "_dp_saml_login"
SESSION_LOGOUT_REQUEST = "_dp_saml_logout_request"
#: The cookie holding a browser's outstanding AuthnRequest ids: on HTTPS with the ``__Host-``
#: prefix (``Secure``, ``Path=/``, no ``Domain``: only this very host can set it).
REQUESTS_COOKIE = "dp_saml_requests"
SECURE_REQUESTS_COOKIE = "__Host-dp_saml_requests"
REQUESTS_SALT = "django_provisioning.saml.requests"
#: Outstanding AuthnRequests remembered per browser (oldest dropped first).
MAX_OUTSTANDING_REQUESTS = 10
#: Longest cookie value written or read (browsers keep 4096 bytes of name and value); the
#: oldest requests are dropped to fit, and a ``next`` URL that cannot fit is not kept (the
#: RelayState, checked the same way, still carries it).
MAX_REQUESTS_COOKIE = 3800
#: Seconds between the two ACS steps; a browser follows the 303 at once.
PENDING_LOGIN_TTL = 120
#: Seconds a request id's time may lie ahead of this process's clock: another server behind
#: the load balancer wrote it, with a clock a little ahead, and an identity provider that still
#: has a session answers within a second. Without it such sign-ins were refused as "started in
#: another browser" (the session-held ids had no lower bound). Later ones are refused.
MAX_CLOCK_AHEAD = 60

#: A request id's entry: the connection's slug, when it was issued (epoch seconds), ``next``.
Entry = tuple[str, float, str]


def requests_cookie_name(request: HttpRequest) -> str:
    return SECURE_REQUESTS_COOKIE if request.is_secure() else REQUESTS_COOKIE


def _live_requests(request: HttpRequest) -> dict[str, Entry]:
    """The unexpired request ids of this browser's cookie; nothing from a cookie that is too
    long, tampered with, signed with another key or of another shape."""
    raw = request.COOKIES.get(requests_cookie_name(request), "")
    if not raw or len(raw) > MAX_REQUESTS_COOKIE:
        return {}
    ttl = int(provisioning_settings.SAML_REQUEST_TTL)
    try:
        stored = signing.loads(raw, salt=REQUESTS_SALT, max_age=ttl)
    except (signing.BadSignature, ValueError, zlib.error, RecursionError):
        # BadSignature (SignatureExpired included) is all a forger gets; the others need this
        # site's key (a leaked one, or a value its other code signed under our salt): a value
        # without a timestamp, JSON Python will not read (an integer of 5,000 digits, nesting
        # too deep), a payload that is not zlib's. Still no request, never a traceback.
        return {}
    if not isinstance(stored, dict):
        return {}
    now = time.time()
    live: dict[str, Entry] = {}
    for request_id, entry in stored.items():
        if not (isinstance(entry, list) and len(entry) == 3):
            continue
        slug, issued_at, next_url = entry
        fits = isinstance(slug, str) and isinstance(next_url, str)
        if not (fits and isinstance(issued_at, (int, float))):
            continue
        # Compared, never subtracted: ``now - 10**400`` raises OverflowError, a comparison of
        # an int of any size with a float does not (and NaN fails it).
        if now - ttl < issued_at <= now + MAX_CLOCK_AHEAD:
            live[request_id] = (slug, float(issued_at), next_url)
    return live


def _write_requests(request: HttpRequest, response: HttpResponse, live: dict[str, Entry]) -> None:
    """Set the cookie to *live* (the newest that fit), or delete it when none is left."""
    name = requests_cookie_name(request)
    newest = sorted(live.items(), key=lambda item: item[1][1])[-MAX_OUTSTANDING_REQUESTS:]
    while newest:
        value = signing.dumps(dict(newest), salt=REQUESTS_SALT, compress=True)
        if len(value) <= MAX_REQUESTS_COOKIE:
            response.set_cookie(
                name,
                value,
                max_age=int(provisioning_settings.SAML_REQUEST_TTL),
                path="/",
                secure=request.is_secure(),
                httponly=True,
                samesite="Lax",
            )
            return
        if len(newest) == 1 and newest[0][1][2]:  # one long ``next`` alone: the id without it
            request_id, (slug, issued_at, _next) = newest[0]
            newest = [(request_id, (slug, issued_at, ""))]
        else:  # the oldest out; an id that does not fit even without its ``next`` too (the
            # loop must end: it once stripped an empty ``next`` again and again)
            newest = newest[1:]
    if name in request.COOKIES:
        response.delete_cookie(name, path="/", samesite="Lax")


def remember_request(
    request: HttpRequest,
    response: HttpResponse,
    connection: Connection,
    request_id: str,
    next_url: str,
) -> None:
    """Bind AuthnRequest *request_id* (and where to go afterwards) to this browser, in the
    cookie *response* sets."""
    live = _live_requests(request)
    live[request_id] = (connection.slug, time.time(), next_url)
    _write_requests(request, response, live)


def claim_request(request: HttpRequest, connection: Connection, request_id: str) -> str:
    """Take *request_id* out of this browser's requests; return its ``next`` URL, or refuse.

    The cookie without it is written by :func:`write_claimed` on whatever the view answers.
    """
    live = _live_requests(request)
    entry = live.pop(request_id, None)
    request._dp_saml_requests_left = live  # type: ignore[attr-defined]
    if entry is None or entry[0] != connection.slug:
        raise SamlError(
            "session_mismatch", "InResponseTo is not an open AuthnRequest of this browser"
        )
    return entry[2]


def write_claimed(request: HttpRequest, response: HttpResponse) -> None:
    """After :func:`claim_request`: the cookie without the request id it took (or without
    the expired ones), on *response*, a sign-in or a refusal alike."""
    left = getattr(request, "_dp_saml_requests_left", None)
    if left is not None:
        _write_requests(request, response, left)


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
