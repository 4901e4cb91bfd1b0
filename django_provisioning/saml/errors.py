"""SAML failures: one exception type, a plain-language reason, a status and a log line.

Every refusal the SAML views make is a :class:`SamlError`. The page shows ``reason`` (written for
the person signing in) and a reference id; the log gets the reference id, the ``code`` and the
technical ``detail`` (never the response or assertion itself). Bad input answers 400, a policy
refusal 403, a database that is locked or unreachable 503 with ``Retry-After`` ("unavailable":
the person is asked to try again, not told the identity provider's response was invalid).
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from django.shortcuts import render

from ..audit import record_refusal
from ..conf import provisioning_settings

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from ..models import Connection

logger = logging.getLogger("django_provisioning.saml")

# code -> (status, plain-language reason)
REASONS: dict[str, tuple[int, str]] = {
    "unknown_connection": (404, "This sign-in link does not match any organisation."),
    # The connection exists but its IdP is not entered yet: anyone can reach this URL, so it
    # must not look like (or be logged as) a server failure.
    "not_configured": (
        404,
        "Single sign-on is not set up for your organisation yet. Ask your administrator.",
    ),
    "misconfigured": (
        500,
        "Single sign-on for your organisation is not fully set up. Ask your administrator.",
    ),
    "missing_response": (400, "The sign-in response from your identity provider is missing."),
    "too_large": (400, "The sign-in response is larger than this site accepts."),
    "malformed": (400, "The sign-in response could not be read."),
    "forbidden_xml": (
        400,
        "The sign-in response contains XML constructs this site refuses "
        "(document types, entities, comments or processing instructions).",
    ),
    "forbidden_transform": (
        400,
        "The sign-in response uses a signature transform this site does not allow.",
    ),
    "forbidden_reference": (
        400,
        "The sign-in response refers to content outside itself, which this site refuses.",
    ),
    "unexpected_encryption": (
        400,
        "The sign-in response is encrypted, but this site is not set up for encrypted "
        "sign-in responses. Ask your administrator.",
    ),
    "bad_signature": (
        400,
        "The sign-in response was signed with a key this site does not trust, "
        "or was changed after it was signed.",
    ),
    "unsigned": (400, "The sign-in response is not signed as this site requires."),
    "deprecated_algorithm": (
        400,
        "The sign-in response was signed with an outdated algorithm (SHA-1) this site refuses.",
    ),
    "wrapped": (400, "The sign-in response has an unexpected structure and was refused."),
    "expired": (400, "The sign-in response has expired. Please sign in again."),
    "not_yet_valid": (
        400,
        "The sign-in response is not valid yet. The clocks of this site and of your identity "
        "provider may differ.",
    ),
    "wrong_audience": (400, "The sign-in response was meant for another site."),
    "wrong_destination": (400, "The sign-in response was sent to another address."),
    "wrong_recipient": (400, "The sign-in response was meant for another address."),
    "wrong_issuer": (
        400,
        "The sign-in response comes from an identity provider this site does not know.",
    ),
    "no_name_id": (
        400,
        "The sign-in response does not say who you are (it has no NameID). Ask your administrator.",
    ),
    "invalid": (400, "The sign-in response is not valid."),
    "idp_error": (403, "Your identity provider did not sign you in."),
    "replayed": (400, "This sign-in response has already been used. Please sign in again."),
    "unsolicited": (
        403,
        "This site accepts sign-ins started here only. Please start from this site's sign-in page.",
    ),
    "session_mismatch": (
        403,
        "This sign-in was started in another browser or has expired. Please sign in again.",
    ),
    "pending_expired": (
        400,
        "This sign-in link has expired or was already used. Please sign in again.",
    ),
    "unsafe_redirect": (400, "The address to return to after sign-in is not on this site."),
    "denied": (403, "You cannot sign in here."),
    "invalid_attributes": (
        400,
        "Your identity provider sent account details this site cannot store.",
    ),
    "unavailable": (
        503,
        "Sign-in is temporarily unavailable on this site. Please try again in a moment.",
    ),
    "logout_invalid": (400, "The sign-out message from your identity provider is not valid."),
    "logout_unsigned": (
        400,
        "The sign-out message from your identity provider is not signed, so it was ignored.",
    ),
    "logout_bad_signature": (
        400,
        "The sign-out message from your identity provider has a signature this site cannot "
        "verify, so it was ignored.",
    ),
    "logout_expired": (
        400,
        "The sign-out message from your identity provider has expired, so it was ignored.",
    ),
    "logout_replayed": (
        400,
        "This sign-out message from your identity provider was already used, so it was ignored.",
    ),
    "logout_unexpected": (
        400,
        "This sign-out answer does not match a sign-out started in this browser, so it was "
        "ignored.",
    ),
}

#: The page title of a refusal by the view that refused; sign-in's by default.
TITLES = {"slo_view": "Sign-out message ignored"}


class SamlError(Exception):
    """A refused SAML exchange: *code* picks the status and page text; *detail* is logged."""

    def __init__(self, code: str, detail: str = "", *, reason: str | None = None) -> None:
        super().__init__(detail or code)
        self.code = code if code in REASONS else "invalid"
        self.status, default_reason = REASONS[self.code]
        self.reason = reason or default_reason
        self.detail = detail


def render_error(
    request: HttpRequest,
    error: SamlError,
    *,
    connection_slug: str = "",
    reference: str | None = None,
    exc_info: BaseException | None = None,
    view: str = "",
) -> HttpResponse:
    """The readable error page for *error*, with a reference id that is also logged.

    Titled by the *view* that refused: a refused sign-out message never reads "Sign-in failed".
    """
    reference = reference or secrets.token_hex(6)
    log = logger.error if error.status >= 500 else logger.warning
    log(
        "SAML %s refused (ref %s, connection %r, code %s): %s",
        request.path,
        reference,
        connection_slug,
        error.code,
        error.detail or error.reason,
        exc_info=exc_info,
    )
    title = TITLES.get(view, "Sign-in failed")
    if error.status == 503:
        title = "Temporarily unavailable" if view in TITLES else "Sign-in temporarily unavailable"
    response = render(
        request,
        "django_provisioning/saml/error.html",
        {"reason": error.reason, "reference": reference, "code": error.code, "title": title},
        status=error.status,
    )
    if error.status == 503:
        response["Retry-After"] = str(provisioning_settings.RETRY_AFTER)
    return response


# The SAML views by what a refusal there refuses (the audit row's action).
ACTIONS = {
    "login_view": "signin_refused",
    "acs_view": "signin_refused",
    "acs_finish_view": "signin_refused",
    "logout_view": "logout_refused",
    "slo_view": "logout_refused",
    "metadata_view": "metadata_refused",
}
MAX_AUDIT_DETAIL = 200


def refuse(
    request: HttpRequest,
    error: SamlError,
    *,
    view: str,
    slug: str,
    connection: Connection | None,
) -> HttpResponse:
    """Audit a refusal of the SAML *view* (rate-limited) and render its error page.

    The audit row carries the page's reference id, so the reference a person quotes leads an
    admin to the row and to the log line.
    """
    reference = secrets.token_hex(6)
    if error.status == 503:
        # Unavailable (the database is down or locked): a row could not be written, and
        # trying would only hold the person up for another lock timeout.
        return render_error(request, error, connection_slug=slug, reference=reference, view=view)
    record_refusal(
        request,
        source="saml",
        action=ACTIONS.get(view, "signin_refused"),
        reason=error.code,
        connection=connection,
        status=error.status,
        endpoint=view.removesuffix("_view"),
        slug=slug[:MAX_AUDIT_DETAIL],
        reference=reference,
        detail=(error.detail or "")[:MAX_AUDIT_DETAIL],
    )
    return render_error(request, error, connection_slug=slug, reference=reference, view=view)
