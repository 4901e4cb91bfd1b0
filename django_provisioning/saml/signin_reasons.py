"""Why a test sign-in failed, in plain words for the customer's IT admin, with the fix.

:func:`explain` turns a :class:`~.errors.SamlError` of the ACS (its ``code``) into a
:class:`Failure`: a ``reason`` that says what arrived and what was expected (the audience, the
ACS URL, the IdP's status, how far the clocks differ, which certificate signed it) and a ``fix``
that says what to change, and where. What arrived is read from the response as it was posted
(unverified: it only helps explain a refusal, and is shown to the person who started the
test); an encrypted assertion cannot be read, so its values are not shown.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from onelogin.saml2.utils import OneLogin_Saml2_Utils

from ..conf import provisioning_settings
from ..exceptions import ProvisioningDenied
from ..jit import CANNOT_LINK
from ..provisioning import DEACTIVATED
from .config import cert_body, idp_certificates, saml_url, sp_entity_id
from .errors import SamlError
from .security import NS_DS, NS_SAML, NS_SAMLP

if TYPE_CHECKING:
    from django.http import HttpRequest
    from lxml import etree

    from ..models import Connection

_NS = {"saml": NS_SAML, "samlp": NS_SAMLP, "ds": NS_DS}
_STATUS = "urn:oasis:names:tc:SAML:2.0:status:"
#: Longest value read from the response that a reason quotes.
_QUOTE = 200
_AGAIN = "Start the test again from this page"


@dataclass(frozen=True)
class Failure:
    """A failed test sign-in: the SAML error code, what went wrong, what to change."""

    code: str
    reason: str
    fix: str


def _xpath(root: etree._Element | None, query: str) -> list[str]:
    if root is None:
        return []
    found = root.xpath(query, namespaces=_NS)
    return (
        [str(v).strip()[:_QUOTE] for v in found if str(v).strip()]
        if isinstance(found, list)
        else []
    )


def _first(root: etree._Element | None, query: str) -> str:
    values = _xpath(root, query)
    return values[0] if values else ""


def _duration(seconds: float) -> str:
    """*seconds* (either sign) in words, rounded: "45 seconds", "30 minutes", "2 hours"."""
    seconds = abs(seconds)
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{round(seconds / size)} {unit}"
    return f"{round(seconds)} seconds"


def _fingerprint(cert: str) -> str:
    """The SHA-256 fingerprint of a base64 certificate (``AB:CD:...``), or "" if unreadable."""
    try:
        der = base64.b64decode(cert_body(cert), validate=False)
    except (binascii.Error, ValueError):
        return ""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _time(value: str) -> int | None:
    try:
        return int(OneLogin_Saml2_Utils.parse_SAML_to_time(value)) if value else None
    except Exception:
        return None


def _clocks(root: etree._Element | None, connection: Connection, *, ahead: bool) -> tuple[str, str]:
    """How far the response's times are from this site's clock, and the allowance."""
    skew = int(connection.clock_skew)
    tolerance = f"This connection allows {skew} seconds of difference between the clocks."
    issued = _time(
        _first(root, "//saml:Assertion/@IssueInstant")
        or _first(root, "/samlp:Response/@IssueInstant")
    )
    now = time.time()
    if ahead:
        starts = [_time(_first(root, "//saml:Conditions/@NotBefore")), issued]
        start = max((t for t in starts if t is not None), default=None)
        if start is not None and start > now:
            said = f" It becomes valid {_duration(start - now)} from now by this site's clock."
            return said, tolerance
    elif issued is not None and issued < now:
        return f" It was issued {_duration(now - issued)} before it arrived.", tolerance
    return "", tolerance


def _signature(root: etree._Element | None, connection: Connection) -> tuple[str, str]:
    trusted = {_fingerprint(c) for c in idp_certificates(connection)} - {""}
    found = [] if root is None else root.xpath("//ds:KeyInfo//ds:X509Certificate", namespaces=_NS)
    used = {_fingerprint("".join(str(cert.text or "").split())) for cert in found}
    unknown = sorted(used - trusted - {""})
    if unknown:
        reason = (
            f"The response was signed with a certificate this connection does not know "
            f"(SHA-256 fingerprint {unknown[0]}); it trusts "
            + ", ".join(sorted(trusted) or ["no certificate"])
            + "."
        )
        fix = (
            "Your identity provider signs with a new certificate (a certificate rollover, or "
            "another app's certificate): give its current metadata again (the metadata URL, or "
            "the downloaded XML), or upload the certificate it now signs with."
        )
        return reason, fix
    reason = (
        "The signature of the response does not verify: it was signed with a key this "
        "connection does not trust, or changed after it was signed."
    )
    fix = (
        "Give your identity provider's current metadata again (its signing certificate may "
        "have changed), and make sure nothing between it and this site rewrites the response."
    )
    return reason, fix


def _idp_status(root: etree._Element | None) -> tuple[str, str]:
    codes = [
        c.removeprefix(_STATUS) for c in _xpath(root, "//samlp:Status//samlp:StatusCode/@Value")
    ]
    message = _first(root, "//samlp:Status/samlp:StatusMessage/text()")
    said = " / ".join(codes) or "an error"
    reason = f"Your identity provider did not sign the user in: it answered {said}"
    reason += f' ("{message}").' if message else "."
    if "RequestDenied" in codes or "AuthnFailed" in codes:
        fix = (
            "Assign the user you tested with (or a group they are in) to this app in your "
            "identity provider, check they can sign in there, and read its sign-in log."
        )
    elif "InvalidNameIDPolicy" in codes:
        fix = (
            "Set the app's Name ID format in your identity provider to one it can send "
            "(e-mail address, or persistent), then test again."
        )
    else:
        fix = "Read the message above and your identity provider's sign-in log for this app."
    return reason, fix


def _denied(detail: str) -> tuple[str, str]:
    if detail == DEACTIVATED:
        fix = "Reactivate the account in the product (or through SCIM), or test with another user."
    elif "no usable user name" in detail:
        fix = (
            "Send the user's e-mail address as the NameID (format emailAddress) or in an "
            "'email' attribute."
        )
    elif "no account for you" in detail:
        fix = (
            "This connection does not create accounts at sign-in: create the user first (turn "
            "on SCIM provisioning and assign them), or ask the product's administrators to "
            "allow account creation at sign-in."
        )
    elif detail == CANNOT_LINK:
        fix = (
            "An account of this name exists in the product but belongs to no sign-in of yours: "
            "verify your e-mail domain for this connection, or ask the product's administrators."
        )
    else:
        fix = "Ask the product's administrators why this account may not sign in."
    return (f"A real sign-in would be refused: {detail}", fix)


_SECURITY = (
    "{said} This site refuses such responses for security reasons.",
    "Use your identity provider's standard SAML app settings; if it persists, contact the "
    "product's support.",
)
_LATE = (
    "The response does not answer a test started in this browser, or it came too late.",
    "{again} (not from your identity provider's app dashboard), and finish signing in within "
    "{ttl} minutes.",
)

#: code -> (reason, fix) templates, for the failures that need no more of the response.
TEMPLATES: dict[str, tuple[str, str]] = {
    "not_configured": (
        "This connection has no identity provider yet (entity id, sign-in URL, certificate).",
        "Give your identity provider's metadata (a URL or the XML file), then test again.",
    ),
    "misconfigured": (
        "This connection's SAML settings are incomplete or invalid.",
        "Give your identity provider's metadata again; if that does not help, ask the "
        "product's administrators.",
    ),
    "missing_response": (
        "Your identity provider posted no SAML response.",
        "Set the app's ACS URL to {acs} with the HTTP-POST binding.",
    ),
    "too_large": (
        "The response is larger than this site accepts ({limit} bytes).",
        "Send fewer attributes; for groups, send only the groups assigned to this app.",
    ),
    "malformed": (
        "The response could not be read as SAML 2.0 XML.",
        "Use a SAML 2.0 app in your identity provider (not WS-Federation, not SAML 1.1).",
    ),
    "forbidden_xml": _SECURITY,
    "forbidden_transform": _SECURITY,
    "forbidden_reference": _SECURITY,
    "wrapped": _SECURITY,
    "unexpected_encryption": (
        "Your identity provider encrypted the assertion, but this connection has no key to "
        "decrypt it.",
        "Turn assertion encryption off in your identity provider's app (the assertion is "
        "signed and travels over HTTPS).",
    ),
    "unsigned": (
        "The assertion is not signed, and this site accepts signed assertions only.",
        'Have your identity provider sign the assertion (Okta: Assertion Signature "Signed"; '
        'Entra: signing option "Sign SAML assertion" or "Sign SAML response and assertion").',
    ),
    "deprecated_algorithm": (
        "The response is signed with SHA-1, which this site refuses.",
        "Set the app's signature algorithm to RSA-SHA256 and its digest to SHA-256.",
    ),
    "no_name_id": (
        "The assertion has no NameID: it does not say who signed in.",
        "Set the app's Name ID to the user's e-mail address (format emailAddress).",
    ),
    "replayed": (
        "This response (or an answer to this test) was used before.",
        "{again}: each response counts once.",
    ),
    "unsolicited": _LATE,
    "session_mismatch": _LATE,
    "pending_expired": _LATE,
    "unsafe_redirect": (
        "Your identity provider sent a RelayState that points away from this site.",
        "Leave the app's default RelayState empty.",
    ),
    "invalid_attributes": (
        "Your identity provider sent a value this site cannot store ({detail}).",
        "Check the attributes the app sends against the list on this page.",
    ),
    "invalid": (
        "The response is not valid ({detail}).",
        "Compare the app's settings in your identity provider with the values on this page.",
    ),
}


def _clock_behind(root: etree._Element | None, connection: Connection) -> tuple[str, str]:
    said, tolerance = _clocks(root, connection, ahead=False)
    return (
        "The assertion had expired when it arrived." + said,
        "If you signed in just now, your identity provider's clock is behind this site's: "
        f"correct its time (NTP) and test again. {tolerance}",
    )


def _clock_ahead(root: etree._Element | None, connection: Connection) -> tuple[str, str]:
    said, tolerance = _clocks(root, connection, ahead=True)
    return (
        "The assertion is not valid yet." + said,
        "Your identity provider's clock is ahead of this site's: correct its time (NTP), or "
        f"ask the product's administrators to allow more clock skew. {tolerance}",
    )


def _where(
    code: str, root: etree._Element | None, connection: Connection, request: HttpRequest
) -> tuple[str, str]:
    """Wrong audience, destination, recipient or issuer: what came, what was expected."""
    if code == "wrong_audience":
        expected = sp_entity_id(connection, request)
        got = ", ".join(_xpath(root, "//saml:Audience/text()")) or "no audience"
        return (
            f"The assertion is meant for {got}, not for this site ({expected}).",
            f"Set the app's Audience / SP Entity ID / Identifier to exactly {expected}",
        )
    if code == "wrong_issuer":
        got = _first(root, "//saml:Issuer/text()") or "no issuer"
        return (
            f"The response comes from {got}, but this connection expects "
            f"{connection.idp_entity_id}.",
            "Give the metadata of the identity provider you are testing with (the entity id "
            "differs).",
        )
    acs = saml_url(request, "acs", connection)
    got = _first(root, "/samlp:Response/@Destination") if code == "wrong_destination" else ""
    got = got or _first(root, "//saml:SubjectConfirmationData/@Recipient") or "no address"
    return (
        f"The response was sent for {got}, but this site's ACS URL is {acs}.",
        f"Set the app's ACS URL (Single sign-on URL, Reply URL) to exactly {acs}",
    )


def explain(
    error: SamlError,
    request: HttpRequest,
    connection: Connection,
    root: etree._Element | None = None,
) -> Failure:
    """What the IT admin reads for *error*, refused for the response *root* (if read)."""
    code = error.code
    if code == "bad_signature":
        reason, fix = _signature(root, connection)
    elif code == "expired":
        reason, fix = _clock_behind(root, connection)
    elif code == "not_yet_valid":
        reason, fix = _clock_ahead(root, connection)
    elif code in ("wrong_audience", "wrong_destination", "wrong_recipient", "wrong_issuer"):
        reason, fix = _where(code, root, connection, request)
    elif code == "idp_error":
        reason, fix = _idp_status(root)
    elif code == "denied":
        reason, fix = _denied(error.reason or error.detail)
    else:
        templates = TEMPLATES.get(code, TEMPLATES["invalid"])
        values = {
            "acs": saml_url(request, "acs", connection),
            "limit": int(provisioning_settings.SAML_MAX_RESPONSE_SIZE),
            "again": _AGAIN,
            "ttl": ttl_minutes(),
            "said": error.reason,
            "detail": (error.detail or error.reason)[:_QUOTE],
        }
        reason, fix = (template.format(**values) for template in templates)
    return Failure(code, reason, fix)


def ttl_minutes() -> int:
    return max(1, int(provisioning_settings.SAML_REQUEST_TTL) // 60)


def expired_request() -> Failure:
    """The test's request is older than ``SAML_REQUEST_TTL``."""
    return Failure(
        "request_expired",
        "The test took too long: the sign-in at your identity provider finished after the "
        "test had expired.",
        f"{_AGAIN}, and finish signing in within {ttl_minutes()} minutes.",
    )


def denied(exc: ProvisioningDenied, request: HttpRequest, connection: Connection) -> Failure:
    """A refusal of the account mapping (the preview), explained."""
    return explain(SamlError("denied", str(exc), reason=str(exc)), request, connection)
