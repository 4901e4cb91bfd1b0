"""Validate a POST-binding SAMLResponse for a connection: our checks around python3-saml's.

Order matters: :func:`.security.parse_response` and :func:`.security.check_response` (size, DTD,
comments, transform allowlist, one assertion, no reference out of the document, no encryption
the connection did not ask for) run before python3-saml touches the document, because
python3-saml decrypts an encrypted assertion as soon as it reads the response. Then the
InResponseTo checks (present unless IdP-initiated sign-in is allowed, short enough to store),
exact Destination and Recipient checks (python3-saml compares them by prefix and substring, and
accepts a missing Recipient) and, when IdP-initiated sign-in is off, the signed
SubjectConfirmationData's InResponseTo equal to the Response's; for an encrypted assertion these
run on the decrypted document, after the :func:`.security.inspect_decrypted` checks. Then
``OneLogin_Saml2_Response.is_valid`` in strict mode with ``request_id`` set to the response's
own InResponseTo (the browser-session check happens in the second ACS step, see :mod:`.state`),
and the NameID length. Nothing is written before all of this has passed.

Clock skew: python3-saml widens the Conditions window by ``ALLOWED_CLOCK_DRIFT``, a class
constant shared by every thread. We never mutate it; :class:`SkewedResponse` overrides the one
method that reads it and uses the connection's ``clock_skew`` instead. SubjectConfirmationData
and SessionNotOnOrAfter are checked by python3-saml without any allowance (stricter).

Age: an IdP may set NotOnOrAfter years ahead, so an assertion is also refused once its
IssueInstant is more than ``SAML_MAX_ASSERTION_AGE`` plus the clock skew ago (or is further
than the skew in the future); its replay row expires at the earlier of the two bounds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.errors import OneLogin_Saml2_Error
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError as VE
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils, return_false_on_exception

from ..conf import provisioning_settings
from .config import build_saml_settings, request_data, saml_url, sp_key_pair
from .errors import SamlError
from .security import NS_SAML, check_response, inspect_decrypted, parse_response

if TYPE_CHECKING:
    from django.http import HttpRequest

    from ..models import Connection

#: Longest InResponseTo stored (``SamlPendingLogin.in_response_to``); ours are 49 characters.
MAX_ID_LENGTH = 255
#: Longest NameID stored (``ExternalIdentity.name_id``).
MAX_NAME_ID_LENGTH = 512

_CODES: dict[int, str] = {
    VE.INVALID_SIGNATURE: "bad_signature",
    VE.NO_SIGNATURE_FOUND: "unsigned",
    VE.NO_SIGNED_ASSERTION: "unsigned",
    VE.NO_SIGNED_MESSAGE: "unsigned",
    VE.DEPRECATED_SIGNATURE_METHOD: "deprecated_algorithm",
    VE.DEPRECATED_DIGEST_METHOD: "deprecated_algorithm",
    VE.WRONG_NUMBER_OF_ASSERTIONS: "wrapped",
    VE.WRONG_SIGNED_ELEMENT: "wrapped",
    VE.ID_NOT_FOUND_IN_SIGNED_ELEMENT: "wrapped",
    VE.DUPLICATED_ID_IN_SIGNED_ELEMENTS: "wrapped",
    VE.INVALID_SIGNED_ELEMENT: "wrapped",
    VE.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS: "wrapped",
    VE.UNEXPECTED_SIGNED_ELEMENTS: "wrapped",
    VE.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE: "wrapped",
    VE.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION: "wrapped",
    VE.WRONG_NUMBER_OF_SIGNATURES: "wrapped",
    VE.ASSERTION_EXPIRED: "expired",
    VE.SESSION_EXPIRED: "expired",
    VE.RESPONSE_EXPIRED: "expired",
    VE.ASSERTION_TOO_EARLY: "not_yet_valid",
    VE.WRONG_AUDIENCE: "wrong_audience",
    VE.WRONG_DESTINATION: "wrong_destination",
    VE.EMPTY_DESTINATION: "wrong_destination",
    VE.WRONG_ISSUER: "wrong_issuer",
    VE.STATUS_CODE_IS_NOT_SUCCESS: "idp_error",
    VE.NO_NAMEID: "no_name_id",
    VE.EMPTY_NAMEID: "no_name_id",
    VE.INVALID_XML_FORMAT: "malformed",
}


class SkewedResponse(OneLogin_Saml2_Response):  # type: ignore[misc]
    """python3-saml's response with the Conditions window widened by a per-instance skew."""

    def __init__(self, settings: OneLogin_Saml2_Settings, response: str, *, skew: int) -> None:
        self.skew = int(skew)
        super().__init__(settings, response)

    @return_false_on_exception  # type: ignore[misc]
    def validate_timestamps(self) -> bool:
        now = OneLogin_Saml2_Utils.now()
        for conditions in self._query_assertion("/saml:Conditions"):
            not_before = conditions.get("NotBefore")
            not_on_or_after = conditions.get("NotOnOrAfter")
            if not_before and OneLogin_Saml2_Utils.parse_SAML_to_time(not_before) > now + self.skew:
                raise VE("Assertion not yet valid.", VE.ASSERTION_TOO_EARLY)
            if (
                not_on_or_after
                and OneLogin_Saml2_Utils.parse_SAML_to_time(not_on_or_after) + self.skew <= now
            ):
                raise VE("Assertion expired.", VE.ASSERTION_EXPIRED)
        return True


@dataclass
class ValidatedResponse:
    """What a valid response says, in plain data (stored between the two ACS steps)."""

    assertion_id: str
    in_response_to: str | None
    name_id: str
    name_id_format: str
    name_id_qualifier: str | None
    name_id_sp_qualifier: str | None
    session_index: str | None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    expires_at: dt.datetime | None = None

    def as_data(self) -> dict[str, Any]:
        """The JSON-safe form stored in :class:`~django_provisioning.models.SamlPendingLogin`."""
        return {
            "name_id": self.name_id,
            "name_id_format": self.name_id_format,
            "name_id_qualifier": self.name_id_qualifier,
            "name_id_sp_qualifier": self.name_id_sp_qualifier,
            "session_index": self.session_index,
            "attributes": self.attributes,
            "assertion_id": self.assertion_id,
        }


def saml_settings(
    connection: Connection, request: HttpRequest, *, logout: bool = False
) -> OneLogin_Saml2_Settings:
    """python3-saml's settings object for *connection*; a config error becomes a SamlError."""
    try:
        return OneLogin_Saml2_Settings(build_saml_settings(connection, request, logout=logout))
    except OneLogin_Saml2_Error as exc:
        raise SamlError("misconfigured", f"python3-saml settings: {exc}") from exc


def _check_destination(document: etree._Element, acs_url: str) -> None:
    """The Response's Destination, when present, must be exactly our ACS URL."""
    destination = document.get("Destination")
    if destination is not None and OneLogin_Saml2_Utils.normalize_url(
        destination
    ) != OneLogin_Saml2_Utils.normalize_url(acs_url):
        raise SamlError("wrong_destination", f"Destination {destination[:200]!r}")


def _check_confirmations(document: etree._Element, acs_url: str, *, solicited_only: bool) -> None:
    """Recipient (required on bearer confirmations) and, when solicited only, InResponseTo.

    Every SubjectConfirmationData Recipient, when present, must be exactly our ACS URL, and a
    bearer one must carry it (SAML profiles 4.1.4.2; python3-saml accepts it missing). When
    IdP-initiated sign-in is off, every bearer SubjectConfirmationData must carry an
    InResponseTo equal to the Response's: the Response's own attribute is outside the signed
    assertion, so an unsolicited assertion re-wrapped in a Response that names the attacker's
    own AuthnRequest would otherwise pass as solicited.
    """
    normal = OneLogin_Saml2_Utils.normalize_url(acs_url)
    for data in document.iter(f"{{{NS_SAML}}}SubjectConfirmationData"):
        recipient = data.get("Recipient")
        if recipient is not None and OneLogin_Saml2_Utils.normalize_url(recipient) != normal:
            raise SamlError("wrong_recipient", f"Recipient {recipient[:200]!r}")
    in_response_to = document.get("InResponseTo") or None
    for confirmation in document.iter(f"{{{NS_SAML}}}SubjectConfirmation"):
        if confirmation.get("Method", C.CM_BEARER) != C.CM_BEARER:
            continue
        data = confirmation.find(f"{{{NS_SAML}}}SubjectConfirmationData")
        if data is None or data.get("Recipient") is None:
            raise SamlError("wrong_recipient", "bearer SubjectConfirmationData without Recipient")
        if solicited_only and (
            in_response_to is None or data.get("InResponseTo") != in_response_to
        ):
            raise SamlError(
                "unsolicited",
                f"SubjectConfirmationData InResponseTo {str(data.get('InResponseTo'))[:80]!r} "
                f"is not the Response's {str(in_response_to)[:80]!r}",
            )


def _confirmation_expired(response: SkewedResponse) -> bool:
    now = OneLogin_Saml2_Utils.now()
    for data in response._query_assertion(
        "/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData[@NotOnOrAfter]"
    ):
        if OneLogin_Saml2_Utils.parse_SAML_to_time(data.get("NotOnOrAfter")) <= now:
            return True
    return False


def _library_error(exc: Exception, response: SkewedResponse) -> SamlError:
    code = getattr(exc, "code", None)
    if isinstance(exc, VE) and code == VE.WRONG_SUBJECTCONFIRMATION:
        expired = _confirmation_expired(response)
        return SamlError("expired" if expired else "invalid", f"python3-saml: {exc}")
    if isinstance(exc, VE) and code in _CODES:
        return SamlError(_CODES[code], f"python3-saml: {exc}")
    return SamlError("invalid", f"python3-saml {exc.__class__.__name__}: {exc}")


def _age_deadline(response: SkewedResponse, skew: int) -> int:
    """The last second the assertion may be used by its age: IssueInstant + maximum + skew.

    Refuses an assertion past it (``expired``) or issued in the future beyond the skew
    (``not_yet_valid``: that would move the whole window, and the replay row, ahead).
    """
    try:
        issued = int(response.get_assertion_issue_instant())
    except Exception as exc:  # absent or unreadable; the schema check normally catches it
        raise SamlError("invalid", "assertion without a readable IssueInstant") from exc
    now = OneLogin_Saml2_Utils.now()
    max_age = int(provisioning_settings.SAML_MAX_ASSERTION_AGE)
    if issued > now + skew:
        raise SamlError("not_yet_valid", f"IssueInstant {issued - now} s in the future")
    deadline = issued + max_age + skew
    if deadline <= now:
        raise SamlError(
            "expired",
            f"issued {now - issued} s ago; SAML_MAX_ASSERTION_AGE is {max_age} s "
            f"(+ {skew} s clock skew)",
        )
    return deadline


def _expiry(response: SkewedResponse, skew: int, deadline: int) -> dt.datetime:
    """When the assertion can no longer be accepted, however the clocks differ: its latest
    NotOnOrAfter plus the skew, but never after its age *deadline* (an IdP may set
    NotOnOrAfter years ahead; the replay row lives exactly this long)."""
    times: list[int] = []
    for conditions in response._query_assertion("/saml:Conditions[@NotOnOrAfter]"):
        times.append(OneLogin_Saml2_Utils.parse_SAML_to_time(conditions.get("NotOnOrAfter")))
    if response.get_assertion_not_on_or_after():
        times.append(int(response.get_assertion_not_on_or_after()))
    if not times:
        raise SamlError("invalid", "assertion without any NotOnOrAfter")
    return dt.datetime.fromtimestamp(min(max(times) + skew, deadline), tz=dt.timezone.utc)


def parse_posted(connection: Connection, request: HttpRequest) -> etree._Element:
    """The POSTed SAMLResponse decoded and parsed (hardened), not yet checked: enough to read
    its InResponseTo (the ACS recognises a test sign-in by it)."""
    if not (connection.idp_entity_id and connection.idp_x509_certs):
        raise SamlError("not_configured", "connection has no IdP entity id or certificate")
    return parse_response(request.POST.get("SAMLResponse"))


def validate_response(
    connection: Connection, request: HttpRequest, *, root: etree._Element | None = None
) -> ValidatedResponse:
    """Validate the POSTed SAMLResponse for *connection*; raise :class:`SamlError` if refused.

    *root* is what :func:`parse_posted` returned for this request, when the caller has
    called it already (the ACS reads the InResponseTo first, to recognise a test sign-in).
    """
    if root is None:
        root = parse_posted(connection, request)
    decryption_allowed = bool(connection.want_assertions_encrypted and sp_key_pair(connection)[1])
    check_response(root, decryption_allowed=decryption_allowed)
    in_response_to = root.get("InResponseTo") or None
    solicited_only = not connection.allow_idp_initiated
    if in_response_to is None and solicited_only:
        raise SamlError("unsolicited", "response without InResponseTo (IdP-initiated)")
    if in_response_to is not None and len(in_response_to) > MAX_ID_LENGTH:
        # No AuthnRequest id of ours is that long; refused before anything is stored.
        raise SamlError("invalid", f"InResponseTo of {len(in_response_to)} characters")
    settings = saml_settings(connection, request)
    acs_url = saml_url(request, "acs", connection)
    _check_destination(root, acs_url)
    if not root.xpath("//saml:EncryptedAssertion", namespaces={"saml": NS_SAML}):
        _check_confirmations(root, acs_url, solicited_only=solicited_only)
    try:
        response = SkewedResponse(
            settings, request.POST["SAMLResponse"], skew=connection.clock_skew
        )
    except Exception as exc:  # decryption and parsing errors of the library
        raise SamlError(
            "invalid", f"python3-saml could not read it: {exc.__class__.__name__}"
        ) from exc
    if response.encrypted:
        inspect_decrypted(response.decrypted_document)
        _check_confirmations(response.decrypted_document, acs_url, solicited_only=solicited_only)
    try:
        response.is_valid(request_data(request), request_id=in_response_to, raise_exceptions=True)
        nameid = response.get_nameid_data()
        assertion_id = response.get_assertion_id()
    except Exception as exc:
        raise _library_error(exc, response) from exc
    if not assertion_id:
        raise SamlError("invalid", "assertion without ID")
    deadline = _age_deadline(response, connection.clock_skew)
    name_id = str(nameid.get("Value") or "")
    if len(name_id) > MAX_NAME_ID_LENGTH:
        raise SamlError("invalid_attributes", f"NameID of {len(name_id)} characters")
    return ValidatedResponse(
        assertion_id=str(assertion_id),
        in_response_to=in_response_to,
        name_id=name_id,
        name_id_format=str(nameid.get("Format") or C.NAMEID_UNSPECIFIED),
        name_id_qualifier=nameid.get("NameQualifier"),
        name_id_sp_qualifier=nameid.get("SPNameQualifier"),
        session_index=response.get_session_index(),
        attributes={
            k: [str(v) for v in vs if v is not None] for k, vs in response.get_attributes().items()
        },
        expires_at=_expiry(response, connection.clock_skew, deadline),
    )
