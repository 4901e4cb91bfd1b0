"""The SAML tests' identity provider: written here, in Python alone (lxml and ``xmlsec``).

It reads our redirect-binding AuthnRequests and LogoutRequests/LogoutResponses and checks them
as an IdP would (:mod:`tests.saml.messages`), and it builds SAML Responses (signed assertion
and/or signed response, optionally encrypted) and redirect-binding LogoutRequests and
LogoutResponses with their own signatures (:mod:`tests.saml.signing`). It shares no code with
the package under test or python3-saml, so what the tests post was made by an independent
implementation of the IdP side; ``tests/saml/test_interop_pysaml2.py`` checks the SP against
pysaml2 as well. The attack helpers (:mod:`tests.saml.tamper`, re-exported here) start from
such a response and tamper with it using lxml.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from types import EllipsisType
from typing import Any

from lxml import etree

from .messages import (
    BINDING_HTTP_POST,
    STATUS_SUCCESS,
    AuthnRequest,
    LogoutRequest,
    LogoutResponse,
    PeerRefused,
    SpMetadata,
    authn_request,
    logout_request,
    logout_response,
    read_message,
)
from .signing import KEYS, NS, encrypt_element, pem, redirect_query, sign_element
from .tamper import b64, encrypt_assertion, resign_assertion, to_bytes, tree

IDP_ENTITY_ID = "https://idp.example.org/saml/metadata"
IDP_SSO_URL = "https://idp.example.org/saml/sso"
IDP_SLO_URL = "https://idp.example.org/saml/slo"
XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
FORMATS = {
    "email": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "persistent": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "transient": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    "unspecified": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
}
ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
NAME_FORMAT_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
DEFAULT_ATTRIBUTES = {
    "email": ["alice@example.com"],
    "firstName": ["Alice"],
    "lastName": ["Liddell"],
}
#: ``...`` for an optional argument means "the usual value"; ``None`` leaves the XML out.
Default = EllipsisType


def new_id() -> str:
    """A fresh xs:ID, as IdPs make them (``_`` and 32 hex digits)."""
    return "_" + secrets.token_hex(16)


def saml_time(delta: dt.timedelta = dt.timedelta(0), *, at: dt.datetime | None = None) -> str:
    """``xs:dateTime`` of now (or *at*) plus *delta*, in UTC to the second."""
    when = (at or dt.datetime.now(dt.timezone.utc)) + delta
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(
    parent: etree._Element, prefix: str, tag: str, text: str | None = None, **attrs: Any
) -> etree._Element:
    node = etree.SubElement(parent, f"{{{NS[prefix]}}}{tag}")
    for name, value in attrs.items():
        if value is not None:
            node.set(name, value)
    if text is not None:
        node.text = text
    return node


class TestIdP:
    """A customer's identity provider, as the SAML tests see it.

    *sp_metadata* is our SP's metadata XML (entity id, ACS and SLO URLs, certificates): what
    the IdP checks our requests against. *key* names the signing pair in ``tests/keys``
    (``idp``, ``idp2``, ``foreign``); *sha1* signs with RSA-SHA1 and SHA-1 digests (refused by
    the SP), else *sign_alg* / *digest_alg* (``sha256`` by default, ``sha1``, ``sha512``).
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        sp_metadata: str,
        *,
        key: str = "idp",
        sha1: bool = False,
        sign_alg: str | None = None,
        digest_alg: str | None = None,
        sso_url: str = IDP_SSO_URL,
        slo_url: str = IDP_SLO_URL,
        entity_id: str = IDP_ENTITY_ID,
        clock_skew: dt.timedelta = dt.timedelta(minutes=5),
    ) -> None:
        self.sp = SpMetadata.parse(sp_metadata)
        self.key = key
        self.sign_alg = sign_alg or ("sha1" if sha1 else "sha256")
        self.digest_alg = digest_alg or self.sign_alg
        self.sso_url = sso_url
        self.slo_url = slo_url
        self.entity_id = entity_id
        self.clock_skew = clock_skew
        self.sent_logout_requests: list[str] = []  # ids, for the SP's LogoutResponse

    # ------------------------------------------------------------------ SSO

    def parse_login_redirect(self, location: str) -> tuple[AuthnRequest, str]:
        """(the checked AuthnRequest, RelayState) of our redirect to the IdP's SSO URL."""
        root, common = self._read(location, "SAMLRequest", "AuthnRequest", self.sso_url)
        request = authn_request(root, common, self.sp)
        return request, request.relay_state or ""

    def response_xml(
        self,
        *,
        sp_entity_id: str,
        acs_url: str,
        in_response_to: str | None,
        name_id: str = "alice@example.com",
        name_id_format: str = "email",
        attributes: Mapping[str, Sequence[str] | str] | None = None,
        sign_response: bool = False,
        sign_assertion: bool = True,
        encrypt_assertion: bool = False,
        encrypt_cert_assertion: str | None = None,
        key: str | None = None,
        issue_instant: dt.datetime | None = None,
        lifetime: dt.timedelta = dt.timedelta(minutes=5),
        not_before: dt.datetime | None = None,
        not_on_or_after: dt.datetime | None = None,
        session_index: str | Default | None = ...,
        session_not_on_or_after: dt.datetime | None = None,
        destination: str | Default | None = ...,
        recipient: str | Default | None = ...,
        audience: str | Default | None = ...,
        issuer: str | None = None,
        status: str = STATUS_SUCCESS,
        status_message: str | None = None,
        response_id: str | None = None,
        assertion_id: str | None = None,
        attribute_name_format: str = NAME_FORMAT_UNSPECIFIED,
    ) -> bytes:
        """A SAML Response (XML bytes, with an XML declaration) to *acs_url*.

        By default: issued now, valid for *lifetime* (5 minutes), the assertion signed with
        RSA-SHA256 / SHA-256, the Response not signed, Destination and Recipient *acs_url*,
        Audience *sp_entity_id*. *attributes* maps a name to its values (a list sends a
        multi-valued attribute); ``None`` sends Alice's e-mail, first and last name.
        *encrypt_assertion* encrypts the (signed, if asked) assertion for
        *encrypt_cert_assertion* (PEM or a ``tests/keys`` name; default: the SP's encryption
        certificate from its metadata, else ``sp.crt``) before the Response is signed.
        A *status* other than Success sends no assertion.
        """
        now = issue_instant or dt.datetime.now(dt.timezone.utc)
        ends = not_on_or_after or now + lifetime
        root = etree.Element(
            f"{{{NS['samlp']}}}Response", nsmap={"samlp": NS["samlp"], "saml": NS["saml"]}
        )
        root.set("ID", response_id or new_id())
        root.set("Version", "2.0")
        root.set("IssueInstant", saml_time(at=now))
        if in_response_to is not None:
            root.set("InResponseTo", in_response_to)
        if destination is not None:
            root.set("Destination", acs_url if destination is ... else destination)
        _sub(root, "saml", "Issuer", issuer or self.entity_id, Format=ENTITY)
        status_node = _sub(root, "samlp", "Status")
        _sub(status_node, "samlp", "StatusCode", Value=status)
        if status_message is not None:
            _sub(status_node, "samlp", "StatusMessage", status_message)
        if status == STATUS_SUCCESS:
            assertion = _sub(root, "saml", "Assertion")
            assertion.set("ID", assertion_id or new_id())
            assertion.set("Version", "2.0")
            assertion.set("IssueInstant", saml_time(at=now))
            _sub(assertion, "saml", "Issuer", issuer or self.entity_id, Format=ENTITY)
            subject = _sub(assertion, "saml", "Subject")
            _sub(
                subject,
                "saml",
                "NameID",
                name_id,
                Format=FORMATS.get(name_id_format, name_id_format),
            )
            confirmation = _sub(subject, "saml", "SubjectConfirmation", Method=BEARER)
            _sub(
                confirmation,
                "saml",
                "SubjectConfirmationData",
                NotOnOrAfter=saml_time(at=ends),
                Recipient=acs_url if recipient is ... else recipient,
                InResponseTo=in_response_to,
            )
            conditions = _sub(
                assertion,
                "saml",
                "Conditions",
                NotBefore=saml_time(at=not_before or now),
                NotOnOrAfter=saml_time(at=ends),
            )
            if audience is not None:
                restriction = _sub(conditions, "saml", "AudienceRestriction")
                _sub(restriction, "saml", "Audience", sp_entity_id if audience is ... else audience)
            statement = _sub(
                assertion,
                "saml",
                "AuthnStatement",
                AuthnInstant=saml_time(at=now),
                SessionIndex=new_id() if session_index is ... else session_index,
                SessionNotOnOrAfter=(
                    saml_time(at=session_not_on_or_after) if session_not_on_or_after else None
                ),
            )
            context = _sub(statement, "saml", "AuthnContext")
            _sub(context, "saml", "AuthnContextClassRef", PASSWORD_PROTECTED)
            self._attribute_statement(
                assertion,
                DEFAULT_ATTRIBUTES if attributes is None else attributes,
                attribute_name_format,
            )
            if sign_assertion:
                self._sign(assertion, key)
            if encrypt_assertion:
                encrypt_element(assertion, encrypt_cert_assertion or self._encryption_cert())
        if sign_response:
            self._sign(root, key)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    @staticmethod
    def _attribute_statement(
        assertion: etree._Element, attributes: Mapping[str, Sequence[str] | str], name_format: str
    ) -> None:
        if not attributes:
            return
        statement = _sub(assertion, "saml", "AttributeStatement")
        for name, values in attributes.items():
            attribute = _sub(statement, "saml", "Attribute", Name=name, NameFormat=name_format)
            for value in [values] if isinstance(values, str) else values:
                # xs and xsi declared on the value itself, so the signed assertion's exclusive
                # c14n carries the prefix that xsi:type's value uses.
                node = etree.SubElement(
                    attribute, f"{{{NS['saml']}}}AttributeValue", nsmap={"xs": XS, "xsi": XSI}
                )
                node.set(f"{{{XSI}}}type", "xs:string")
                node.text = value

    def _sign(self, element: etree._Element, key: str | None) -> None:
        sign_element(element, key or self.key, sign_alg=self.sign_alg, digest_alg=self.digest_alg)

    def _encryption_cert(self) -> str:
        return (self.sp.encryption_certs or self.sp.signing_certs or [pem("sp.crt")])[0]

    # ------------------------------------------------------------------ SLO

    def logout_request(
        self,
        sp_slo_url: str,
        sp_entity_id: str,
        name_id: str,
        name_id_format: str = "email",
        *,
        sign: bool = True,
        relay_state: str | None = "rs-42",
        session_index: str | None = None,
        request_id: str | None = None,
        issue_instant: dt.datetime | None = None,
        not_on_or_after: dt.datetime | None = None,
        key: str | None = None,
    ) -> tuple[str, str]:
        """(id, URL) of a redirect-binding LogoutRequest to our SLO endpoint, signed by default.

        *sp_entity_id* becomes the NameID's SPNameQualifier only when it differs from ours
        (it is the audience the NameID was issued to).
        """
        now = issue_instant or dt.datetime.now(dt.timezone.utc)
        root = etree.Element(
            f"{{{NS['samlp']}}}LogoutRequest", nsmap={"samlp": NS["samlp"], "saml": NS["saml"]}
        )
        message_id = request_id or new_id()
        root.set("ID", message_id)
        root.set("Version", "2.0")
        root.set("IssueInstant", saml_time(at=now))
        root.set("Destination", sp_slo_url)
        if not_on_or_after is not None:
            root.set("NotOnOrAfter", saml_time(at=not_on_or_after))
        _sub(root, "saml", "Issuer", self.entity_id, Format=ENTITY)
        _sub(
            root,
            "saml",
            "NameID",
            name_id,
            Format=FORMATS.get(name_id_format, name_id_format),
            SPNameQualifier=sp_entity_id if sp_entity_id != self.sp.entity_id else None,
        )
        if session_index is not None:
            _sub(root, "samlp", "SessionIndex", session_index)
        query = self._query("SAMLRequest", root, relay_state, sign=sign, key=key)
        self.sent_logout_requests.append(message_id)
        return message_id, f"{sp_slo_url}?{query}"

    def logout_request_url(
        self,
        sp_slo_url: str,
        sp_entity_id: str,
        name_id: str,
        name_id_format: str = "email",
        *,
        sign: bool = True,
        **kwargs: Any,
    ) -> str:
        """The URL of :meth:`logout_request` (RelayState ``rs-42``)."""
        return self.logout_request(
            sp_slo_url, sp_entity_id, name_id, name_id_format, sign=sign, **kwargs
        )[1]

    def parse_logout_request(self, location: str) -> LogoutRequest:
        """Our LogoutRequest to the IdP's SLO URL, checked (signature verified when signed)."""
        root, common = self._read(location, "SAMLRequest", "LogoutRequest", self.slo_url)
        return logout_request(root, common)

    def logout_response_url(
        self,
        request: LogoutRequest,
        sp_slo_url: str,
        *,
        sign: bool = True,
        status: str = STATUS_SUCCESS,
        relay_state: str | Default | None = ...,
        in_response_to: str | Default | None = ...,
        key: str | None = None,
    ) -> str:
        """A redirect-binding LogoutResponse to *request*, to our SLO endpoint (signed by
        default), echoing the request's RelayState."""
        root = etree.Element(
            f"{{{NS['samlp']}}}LogoutResponse", nsmap={"samlp": NS["samlp"], "saml": NS["saml"]}
        )
        root.set("ID", new_id())
        root.set("Version", "2.0")
        root.set("IssueInstant", saml_time())
        root.set("Destination", sp_slo_url)
        answered = request.id if in_response_to is ... else in_response_to
        if answered is not None:
            root.set("InResponseTo", answered)
        _sub(root, "saml", "Issuer", self.entity_id, Format=ENTITY)
        _sub(_sub(root, "samlp", "Status"), "samlp", "StatusCode", Value=status)
        relay = request.relay_state if relay_state is ... else relay_state
        query = self._query("SAMLResponse", root, relay, sign=sign, key=key)
        return f"{sp_slo_url}?{query}"

    def parse_logout_response(self, location: str) -> LogoutResponse:
        """Our LogoutResponse to a LogoutRequest this IdP sent, checked."""
        root, common = self._read(location, "SAMLResponse", "LogoutResponse", self.slo_url)
        response = logout_response(root, common)
        if response.in_response_to not in self.sent_logout_requests:
            raise PeerRefused(f"InResponseTo {response.in_response_to!r}: not a request of ours")
        return response

    # ------------------------------------------------------------------ plumbing

    def _read(
        self, location: str, field: str, kind: str, destination: str
    ) -> tuple[etree._Element, dict[str, object]]:
        return read_message(
            location,
            field,
            kind,
            sp=self.sp,
            destination=destination,
            clock_skew=self.clock_skew,
        )

    def _query(
        self,
        field: str,
        root: etree._Element,
        relay_state: str | None,
        *,
        sign: bool,
        key: str | None,
    ) -> str:
        return redirect_query(
            field,
            etree.tostring(root),
            relay_state,
            key=(key or self.key) if sign else None,
            sign_alg=self.sign_alg,
        )


__all__ = [
    "BINDING_HTTP_POST",
    "FORMATS",
    "IDP_ENTITY_ID",
    "IDP_SLO_URL",
    "IDP_SSO_URL",
    "KEYS",
    "NS",
    "STATUS_SUCCESS",
    "PeerRefused",
    "TestIdP",
    "b64",
    "encrypt_assertion",
    "new_id",
    "pem",
    "resign_assertion",
    "saml_time",
    "to_bytes",
    "tree",
]


def idp_options() -> dict[str, Any]:
    """The connection fields that point a connection at this test IdP (SSO and SLO)."""
    return {
        "idp_entity_id": IDP_ENTITY_ID,
        "idp_sso_url": IDP_SSO_URL,
        "idp_slo_url": IDP_SLO_URL,
        "idp_x509_certs": [pem("idp.crt")],
    }
