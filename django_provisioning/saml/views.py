"""The SAML endpoints of a connection: login, two-step ACS, metadata (logout: :mod:`.logout`).

The views are thin: validation is :mod:`.validation`, one-time state :mod:`.state`, the replay
cache :mod:`.replay`, redirect safety :mod:`.redirects`, attribute mapping :mod:`.attributes`, a
test sign-in's two ACS steps :mod:`.test_signin`, and every account change goes through the
provisioning core (:func:`~django_provisioning.jit.provision_from_saml`). Every refusal renders
the readable error page of :mod:`.errors` (400/403) and writes one log line; a database that is
locked or unreachable renders a "try again" page (503 with ``Retry-After``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from .. import sessions, signals
from ..adapter import get_adapter
from ..backends import BACKEND
from ..connections import get_connection
from ..db import is_unavailable
from ..exceptions import Conflict, Gone, InvalidData, ProvisioningDenied
from ..jit import provision_from_saml
from ..models import Connection, ExternalIdentity, SamlPendingLogin
from . import attributes, redirects, state, test_signin
from .config import build_saml_settings, request_data
from .errors import SamlError, refuse, render_error
from .validation import parse_posted, saml_settings, validate_response

logger = logging.getLogger("django_provisioning.saml")

View = Callable[..., HttpResponse]


#: Finds a view's connection by the slug of its URL (None: no such active connection), and
#: anything else the view is called with after it.
Finder = Callable[[HttpRequest, str], tuple["Connection | None", tuple[Any, ...]]]


def _by_slug(request: HttpRequest, slug: str) -> tuple[Connection | None, tuple[Any, ...]]:
    return get_connection(slug, active_only=True), ()


def _saml_view(view: View) -> View:
    """Look the connection up and turn every SamlError (and any surprise) into the error page."""
    return _finding(_by_slug)(view)


def _finding(find: Finder) -> Callable[[View], View]:
    """:func:`_saml_view` with the connection (and what else the view takes) found by *find*."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str) -> HttpResponse:
            connection: Connection | None = None
            try:
                connection, found = find(request, slug)
                if connection is None:
                    raise SamlError("unknown_connection", "no active connection with this slug")
                return view(request, connection, *found)
            except SamlError as error:
                return refuse(request, error, view=view.__name__, slug=slug, connection=connection)
            except Exception as exc:
                if is_unavailable(exc):
                    # A locked or unreachable database is this site's passing trouble, not a
                    # bad response from the identity provider.
                    unavailable = SamlError("unavailable", f"database: {exc}")
                    return render_error(
                        request, unavailable, connection_slug=slug, exc_info=exc, view=view.__name__
                    )
                # Untrusted input must never produce a 500 with a stack trace.
                logger.exception("SAML %s failed unexpectedly (connection %r)", request.path, slug)
                unexpected = SamlError("invalid", f"unexpected {exc.__class__.__name__}")
                return refuse(
                    request, unexpected, view=view.__name__, slug=slug, connection=connection
                )

        return wrapper

    return decorator


def _pending_by_slug(
    request: HttpRequest, slug: str
) -> tuple[Connection | None, tuple[SamlPendingLogin | None]]:
    """ACS step 2's pending login and its connection, read together in one statement; without
    such a row, the connection alone (looked up as for any view: the refusal names it)."""
    row = state.find_pending_login(slug, request.GET.get("key", ""))
    if row is None:
        return get_connection(slug, active_only=True), (None,)
    connection = row.connection  # as get_connection's: the settings laid over its row
    return (connection if connection.is_active else None), (row,)


def _auth(request: HttpRequest, connection: Connection) -> OneLogin_Saml2_Auth:
    """python3-saml's Auth; its settings require signed logout messages (``logout=True``),
    which only matters to :func:`.logout.slo_view`: login and SP-initiated logout receive
    nothing."""
    return OneLogin_Saml2_Auth(
        request_data(request), old_settings=saml_settings(connection, request, logout=True)
    )


@never_cache
@require_GET
@_saml_view
def login_view(request: HttpRequest, connection: Connection) -> HttpResponse:
    """SP-initiated sign-in: an AuthnRequest (redirect binding) bound to this browser (a signed
    cookie: :mod:`.state`; the session is not touched)."""
    if not (connection.idp_entity_id and connection.idp_sso_url and connection.idp_x509_certs):
        raise SamlError("not_configured", "connection has no IdP entity id, SSO URL or cert")
    next_url = redirects.checked_next(request, request.GET.get("next"))
    auth = _auth(request, connection)
    response = HttpResponseRedirect(auth.login(return_to=next_url))
    state.remember_request(request, response, connection, auth.get_last_request_id(), next_url)
    return response


@never_cache
@csrf_exempt
@require_POST
@_saml_view
def acs_view(request: HttpRequest, connection: Connection) -> HttpResponse:
    """ACS step 1 (cross-site POST, no session cookie): validate, record, hand over.

    Does every cryptographic check and consumes the assertion id, then redirects (303) to the
    same-site second step with a one-time key. It never reads or writes the session: under
    ``SameSite=Lax`` the browser did not send its cookies (nor the request-id cookie, which the
    second step reads), and a new session here would replace the browser's own (its test
    sign-ins, or who is signed in).
    """
    root = parse_posted(connection, request)
    test = test_signin.recognize(connection, root.get("InResponseTo"))
    if test is not None:
        # A test sign-in (:mod:`.test_signin`): the same checks, and nobody signed in.
        key = test_signin.receive(request, connection, test, root)
    else:
        relay_state = redirects.checked_next(
            request, request.POST.get("RelayState"), what="RelayState"
        )
        validated = validate_response(connection, request, root=root)
        key = state.create_pending_login(connection, validated, relay_state)  # consumes the id
    return HttpResponseRedirect(test_signin.finish_url(connection, key), status=303)


def _writes_claimed(view: View) -> View:
    """The request-id cookie written on the view's answer, without the id it claimed."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        state.write_claimed(request, response)
        return response

    return wrapper


@transaction.non_atomic_requests  # the core owns (and retries) the provisioning transaction
@never_cache
@require_GET
@_writes_claimed
@_finding(_pending_by_slug)
def acs_finish_view(
    request: HttpRequest, connection: Connection, row: SamlPendingLogin | None
) -> HttpResponse:
    """ACS step 2 (same-site GET, with the browser's cookies): check the request id, provision,
    log in."""
    pending = state.consume_pending_login(row, request.GET.get("key", ""))
    if pending.is_test:
        return test_signin.finish(request, connection, pending)
    next_url = ""
    if pending.in_response_to:
        next_url = state.claim_request(request, connection, pending.in_response_to)
    elif not connection.allow_idp_initiated:
        raise SamlError("unsolicited", "IdP-initiated sign-in is not allowed")
    relay_state = redirects.checked_next(request, pending.relay_state, what="RelayState")
    data = pending.data
    saml_data = {**data, "connection": connection}
    adapter = get_adapter()
    name_id, name_id_format = data["name_id"], data["name_id_format"]
    document = attributes.build_document(connection, name_id, name_id_format, data["attributes"])
    try:
        # Before anything is looked up or written: a veto leaves no trace but its audit event.
        document = adapter.pre_jit(request, connection, document, saml_data)
    except ProvisioningDenied as exc:
        raise SamlError("denied", f"refused before provisioning: {exc}", reason=str(exc)) from exc
    document = attributes.canonical_document(document)
    group_names = attributes.group_names_for(connection, data["attributes"])

    def sign_in(identity: ExternalIdentity) -> None:
        # Inside the provisioning transaction, under the link row and user locks: a SCIM
        # deactivation waiting on them finds this session recorded, and ends it. The core
        # calls it for an active account only (it has read that under the locks).
        adapter.pre_saml_login(request, connection, identity.user, saml_data)
        # The session row login() records carries the NameID and SessionIndex, so an IdP's
        # LogoutRequest finds this session by them once the transaction commits.
        sessions.expect_saml_session(request, connection, name_id, data.get("session_index"))
        login(request, identity.user, backend=BACKEND)

    try:
        identity, created = provision_from_saml(
            connection,
            name_id=name_id,
            name_id_format=name_id_format,
            document=document,
            group_names=group_names,
            sign_in=sign_in,
        )
    except ProvisioningDenied as exc:
        raise SamlError("denied", f"refused: {exc}", reason=str(exc)) from exc
    except (Conflict, Gone) as exc:
        raise SamlError("denied", f"conflict: {exc}", reason=str(exc)) from exc
    except InvalidData as exc:
        raise SamlError("invalid_attributes", f"invalid data: {exc}") from exc
    user = identity.user
    request.session[state.SESSION_LOGIN] = {
        "connection": connection.slug,
        "name_id": name_id,
        "name_id_format": name_id_format,
        "name_id_qualifier": data.get("name_id_qualifier"),
        "name_id_sp_qualifier": data.get("name_id_sp_qualifier"),
        "session_index": data.get("session_index"),
    }
    logger.info("SAML sign-in of user %s via connection %r", user.pk, connection.slug)
    signals.send_after_commit(
        signals.saml_user_logged_in,
        "saml",
        connection=connection,
        user=user,
        identity=identity,
        request=request,
        created=created,
    )
    return HttpResponseRedirect(next_url or relay_state or redirects.default_login_redirect())


@never_cache
@require_GET
@_saml_view
def metadata_view(request: HttpRequest, connection: Connection) -> HttpResponse:
    """The SP metadata of this connection: entity id, ACS, SLO, certificates when configured."""
    try:
        settings = OneLogin_Saml2_Settings(
            build_saml_settings(connection, request), sp_validation_only=True
        )
        xml = settings.get_sp_metadata()
    except Exception as exc:
        raise SamlError("misconfigured", f"SP metadata: {exc}") from exc
    errors = settings.validate_metadata(xml)
    if errors:
        raise SamlError("misconfigured", f"SP metadata invalid: {errors}")
    return HttpResponse(xml, content_type="application/samlmetadata+xml")
