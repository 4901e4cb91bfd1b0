"""Single logout (SAML profiles §4.4, redirect binding): SP-initiated and IdP-initiated.

*SP-initiated* (:func:`logout_view`, a CSRF-protected POST): the session here ends first,
whatever follows; then, if the person signed in through this connection and it has an IdP SLO
URL, the browser carries our LogoutRequest to the identity provider. Its LogoutResponse comes
back to :func:`slo_view`. A signed, valid ``Success`` answer sends the person to
``LOGOUT_REDIRECT_URL``. Anything else (unsigned, when the connection does not accept unsigned
LogoutResponses; a signature that does not verify; an invalid message; a failure status) shows
:func:`signed_out_unconfirmed`: signed out here, the sign-out at the identity provider not
confirmed, close the browser on a shared computer. It is logged and audited with its reason.

*IdP-initiated*: a LogoutRequest must carry a valid redirect-binding signature (otherwise any
site could log people out by sending the browser here), must be recent (its IssueInstant within
``SAML_MAX_ASSERTION_AGE`` plus the clock skew, and before its NotOnOrAfter) and is consumed in
the replay cache (:mod:`.replay`): a captured request cannot be replayed until it expires. It
ends the sessions that NameID opened through this connection whose SessionIndex it names, or
all of them when it names none, wherever they were opened (:mod:`~django_provisioning.sessions`).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from lxml import etree
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.errors import OneLogin_Saml2_Error
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from .. import sessions
from ..audit import record_refusal
from ..conf import provisioning_settings
from ..connections import get_connection
from ..models import Connection
from . import redirects, replay, state
from .config import build_saml_settings, request_data
from .errors import SamlError
from .security import NS_SAMLP, inspect_logout_message
from .validation import cached_settings
from .views import _auth, _saml_view

logger = logging.getLogger("django_provisioning.saml")

#: What the person is told when the sign-out at the identity provider is not confirmed.
UNCONFIRMED_REASONS = {
    "logout_unsigned": "Your identity provider's answer was not signed.",
    "logout_bad_signature": "Your identity provider's answer has a signature that did not verify.",
    "logout_invalid": "Your identity provider's answer could not be accepted.",
    "logout_idp_failure": "Your identity provider reported that it could not sign you out.",
    "logout_not_sent": "The sign-out request could not be sent to your identity provider.",
}
#: Bad input answers 400; an IdP's ordinary unsigned or failure answer is no error of the request.
UNCONFIRMED_STATUS = {"logout_bad_signature": 400, "logout_invalid": 400}


def signed_out_unconfirmed(
    request: HttpRequest, connection: Connection, code: str, detail: str
) -> HttpResponse:
    """The page after an SP-initiated logout the identity provider did not confirm.

    The session here has ended; the page says so, says the identity provider's session may
    remain, and asks the person to close the browser on a shared computer. One log line and
    one (rate-limited) audit row carry *code*, *detail* and the page's reference id.
    """
    reference = secrets.token_hex(6)
    status = UNCONFIRMED_STATUS.get(code, 200)
    log = logger.error if code == "logout_not_sent" else logger.warning
    log(
        "SAML %s: signed out here, sign-out at the IdP not confirmed "
        "(ref %s, connection %r, code %s): %s",
        request.path,
        reference,
        connection.slug,
        code,
        detail,
    )
    record_refusal(
        request,
        source="saml",
        action="logout_unconfirmed",
        reason=code,
        connection=connection,
        status=status,
        endpoint="slo",
        slug=connection.slug,
        reference=reference,
        detail=detail[:200],
    )
    return render(
        request,
        "django_provisioning/saml/signed_out.html",
        {
            "title": "You are signed out",
            "why": UNCONFIRMED_REASONS.get(code, UNCONFIRMED_REASONS["logout_invalid"]),
            "code": code,
            "reference": reference,
            "connection": connection,
            "continue_url": redirects.default_logout_redirect(),
        },
        status=status,
    )


def slo_connection(request: HttpRequest) -> Connection | None:
    """The connection this session signed in through, if it can do single logout.

    For a host project's "Sign out" button: POST to this connection's ``logout`` URL when it
    is not None, to a local logout otherwise.
    """
    signed_in = request.session.get(state.SESSION_LOGIN) or {}
    slug = signed_in.get("connection")
    if not slug:
        return None
    connection = get_connection(str(slug), active_only=True)
    return connection if connection is not None and connection.idp_slo_url else None


@never_cache
@require_POST
def logout_view(request: HttpRequest, slug: str) -> HttpResponse:
    """SP-initiated logout (POST, CSRF-protected): end the session here, then tell the IdP.

    A session that did not sign in through *slug*, or a connection without an IdP SLO URL,
    gets a local logout only.
    """
    signed_in: dict[str, Any] = request.session.get(state.SESSION_LOGIN) or {}
    logout(request)  # first, whatever the identity provider later answers
    done = HttpResponseRedirect(redirects.default_logout_redirect())
    if signed_in.get("connection") != slug:
        return done
    try:
        connection = get_connection(slug, active_only=True)
    except Exception:
        logger.warning("SAML logout of %r: connection not read; local logout only", slug)
        return done
    if connection is None or not connection.idp_slo_url:
        return done
    try:
        auth = _auth(request, connection)
        url = auth.logout(
            name_id=signed_in.get("name_id"),
            session_index=signed_in.get("session_index"),
            nq=signed_in.get("name_id_qualifier"),
            name_id_format=signed_in.get("name_id_format"),
            spnq=signed_in.get("name_id_sp_qualifier"),
            return_to="",
        )
    except (SamlError, OneLogin_Saml2_Error) as exc:
        return signed_out_unconfirmed(request, connection, "logout_not_sent", str(exc))
    request.session[state.SESSION_LOGOUT_REQUEST] = {
        "connection": connection.slug,
        "request_id": auth.get_last_request_id(),
    }
    return HttpResponseRedirect(url)


def _inspected(request: HttpRequest, kind: str) -> etree._Element:
    """The parsed logout message, refused (``logout_invalid``) before python3-saml reads it."""
    field_name = "SAMLRequest" if kind == "LogoutRequest" else "SAMLResponse"
    try:
        return inspect_logout_message(request.GET.get(field_name), kind)
    except SamlError as error:
        raise SamlError("logout_invalid", f"{kind}: {error.detail or error.code}") from error


def _signed(request: HttpRequest) -> bool:
    return bool(request.GET.get("Signature") and request.GET.get("SigAlg"))


def _response_auth(
    request: HttpRequest, connection: Connection, *, require_signature: bool
) -> OneLogin_Saml2_Auth:
    """python3-saml's Auth for a LogoutResponse; a signature, when present, is always checked."""
    settings = build_saml_settings(connection, request, logout=True)
    settings["security"]["wantMessagesSigned"] = require_signature
    return OneLogin_Saml2_Auth(request_data(request), old_settings=cached_settings(settings))


def _status(root: etree._Element) -> str:
    codes = root.xpath("samlp:Status//samlp:StatusCode/@Value", namespaces={"samlp": NS_SAMLP})
    return " / ".join(str(code) for code in codes) or "none"


def _logout_response(request: HttpRequest, connection: Connection) -> HttpResponse:
    """The IdP's answer to our LogoutRequest: home when confirmed, else the unconfirmed page."""
    pending: dict[str, Any] = request.session.pop(state.SESSION_LOGOUT_REQUEST, None) or {}
    if pending.get("connection") != connection.slug:
        # Another browser's, or a second delivery: nothing here was signed out by it.
        raise SamlError("logout_unexpected", "LogoutResponse without a LogoutRequest of ours")
    try:
        root = _inspected(request, "LogoutResponse")
    except SamlError as error:
        return signed_out_unconfirmed(request, connection, error.code, error.detail)
    signed = _signed(request)
    if not signed and not connection.accept_unsigned_logout_response:
        detail = "LogoutResponse without a redirect-binding signature"
        return signed_out_unconfirmed(request, connection, "logout_unsigned", detail)
    auth = _response_auth(request, connection, require_signature=signed)
    try:
        auth.process_slo(keep_local_session=True, request_id=pending.get("request_id"))
    except Exception as exc:
        detail = f"LogoutResponse: {exc.__class__.__name__}"
        return signed_out_unconfirmed(request, connection, "logout_invalid", detail)
    errors = auth.get_errors()
    if "invalid_logout_response_signature" in errors:
        detail = "LogoutResponse signature did not verify"
        return signed_out_unconfirmed(request, connection, "logout_bad_signature", detail)
    if "logout_not_success" in errors:
        detail = f"LogoutResponse status {_status(root)}"
        return signed_out_unconfirmed(request, connection, "logout_idp_failure", detail)
    if errors:
        reason = auth.get_last_error_reason() or ", ".join(errors)
        return signed_out_unconfirmed(request, connection, "logout_invalid", f"{reason}")
    logger.info("SAML single logout confirmed by the IdP of %r", connection.slug)
    return HttpResponseRedirect(redirects.default_logout_redirect())


def _request_expiry(root: etree._Element, skew: int) -> dt.datetime:
    """When a LogoutRequest can no longer be accepted: its IssueInstant + maximum age + skew,
    or its NotOnOrAfter + skew if sooner. Refuses one past that or issued in the future."""
    now = OneLogin_Saml2_Utils.now()
    not_on_or_after = root.get("NotOnOrAfter")
    try:
        issued = int(OneLogin_Saml2_Utils.parse_SAML_to_time(root.get("IssueInstant")))
        deadline = issued + int(provisioning_settings.SAML_MAX_ASSERTION_AGE) + skew
        if not_on_or_after:
            latest = OneLogin_Saml2_Utils.parse_SAML_to_time(not_on_or_after) + skew
            deadline = min(deadline, latest)
    except Exception as exc:  # the schema check normally catches these first
        raise SamlError("logout_invalid", "LogoutRequest times unreadable") from exc
    if issued > now + skew:
        raise SamlError("logout_invalid", f"LogoutRequest IssueInstant {issued - now} s ahead")
    if deadline <= now:
        raise SamlError("logout_expired", f"LogoutRequest issued {now - issued} s ago")
    return dt.datetime.fromtimestamp(deadline, tz=dt.timezone.utc)


def _names_this_session(
    request: HttpRequest, connection: Connection, name_id: str, indexes: list[str]
) -> bool:
    """Whether the LogoutRequest names this browser's own sign-in, as its session recorded it
    (a session opened before ``UserSession`` recorded NameIDs has no row to find)."""
    signed_in = request.session.get(state.SESSION_LOGIN) or {}
    if signed_in.get("connection") != connection.slug or signed_in.get("name_id") != name_id:
        return False
    return not indexes or signed_in.get("session_index") in indexes


def _logout_request(request: HttpRequest, connection: Connection) -> HttpResponse:
    """An IdP's LogoutRequest: verified, consumed once, its sessions ended; then answered."""
    root = _inspected(request, "LogoutRequest")
    if not _signed(request):
        raise SamlError("logout_unsigned", "LogoutRequest without a redirect-binding signature")
    auth = _auth(request, connection)
    try:
        url = auth.process_slo(keep_local_session=True)
    except Exception as exc:
        raise SamlError("logout_invalid", f"LogoutRequest: {exc.__class__.__name__}") from exc
    errors = auth.get_errors()
    if "invalid_logout_request_signature" in errors:
        raise SamlError("logout_bad_signature", "LogoutRequest signature did not verify")
    if errors or not url:
        reason = auth.get_last_error_reason() or ", ".join(errors) or "no LogoutResponse built"
        raise SamlError("logout_invalid", f"LogoutRequest: {reason}")
    expires_at = _request_expiry(root, connection.clock_skew)
    try:
        xml = auth.get_last_request_xml()
        name_id = OneLogin_Saml2_Logout_Request.get_nameid(xml)
        indexes = OneLogin_Saml2_Logout_Request.get_session_indexes(xml)
    except Exception as exc:
        raise SamlError("logout_invalid", f"LogoutRequest: {exc.__class__.__name__}") from exc
    replay.consume_logout_request(connection, str(root.get("ID", "")), expires_at)
    keys = sessions.saml_session_keys(connection, name_id, indexes)
    ended = 0
    current = request.session.session_key
    if current in keys or _names_this_session(request, connection, name_id, indexes):
        if current in keys:
            keys.remove(current)
        logout(request)  # this browser's own session: its cookie is cleared with the answer
        ended = 1
    ended += sessions.end_sessions(keys)
    logger.info(
        "SAML LogoutRequest of %r ended %d session(s) (SessionIndex given: %s)",
        connection.slug,
        ended,
        bool(indexes),
    )
    return HttpResponseRedirect(url)


@never_cache
@require_GET
@_saml_view
def slo_view(request: HttpRequest, connection: Connection) -> HttpResponse:
    """Single Logout endpoint (redirect binding): IdP LogoutRequests and LogoutResponses."""
    if not connection.idp_slo_url:
        raise SamlError("not_configured", "single logout without an IdP SLO URL")
    if "SAMLResponse" in request.GET:
        return _logout_response(request, connection)
    if "SAMLRequest" not in request.GET:
        raise SamlError("logout_invalid", "neither SAMLRequest nor SAMLResponse")
    return _logout_request(request, connection)
