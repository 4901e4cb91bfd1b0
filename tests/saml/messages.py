"""What the test IdP reads: the SP's metadata and its redirect-binding messages.

Each parser checks the message as an identity provider would before acting on it (root element,
version, ID, issue time, Destination, Issuer, the ACS URL against the metadata, the redirect
signature against the metadata's certificate) and raises :class:`PeerRefused` otherwise, so a
test driving a wrong message fails at the IdP instead of passing by accident. The parsed objects
keep the attribute names the earlier pysaml2 peer exposed (``request.id``,
``request.issuer.text``, ``request.name_id_policy.format``, ``request.name_id.text``, ...).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

from lxml import etree

from .signing import NS, inflate_b64, verify_redirect_signature

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
_NCNAME = re.compile(r"[A-Za-z_][\w.\-]*")


class PeerRefused(AssertionError):
    """The test IdP refuses a message from the SP (the test that sent it fails)."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _parse(xml: bytes) -> etree._Element:
    if b"<!DOCTYPE" in xml.upper():
        raise PeerRefused("document type declaration in a message from the SP")
    return etree.fromstring(xml, parser=_parser())


def _pem(body: str) -> str:
    compact = "".join(body.split())
    lines = [compact[i : i + 64] for i in range(0, len(compact), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def parse_time(value: str | None) -> dt.datetime:
    """A SAML ``xs:dateTime`` in UTC (``Z``, optional fraction)."""
    if not value or not value.endswith("Z"):
        raise PeerRefused(f"not a UTC xs:dateTime: {value!r}")
    return dt.datetime.fromisoformat(value[:-1]).replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class SpMetadata:
    """The parts of the SP's ``md:EntityDescriptor`` an IdP uses."""

    entity_id: str
    acs: list[tuple[str, str]]  # (binding, location)
    slo: list[tuple[str, str]]
    signing_certs: list[str]  # PEM
    encryption_certs: list[str]
    name_id_formats: list[str]
    authn_requests_signed: bool
    want_assertions_signed: bool

    @classmethod
    def parse(cls, xml: str) -> SpMetadata:
        root = _parse(xml.encode())
        ns = {"md": NS_MD, "ds": NS["ds"]}
        if root.tag != f"{{{NS_MD}}}EntityDescriptor":
            raise PeerRefused(f"SP metadata root is {root.tag}")
        sp = root.find("md:SPSSODescriptor", ns)
        if sp is None:
            raise PeerRefused("SP metadata has no SPSSODescriptor")

        def certs(use: str) -> list[str]:
            found = []
            for descriptor in sp.iterfind("md:KeyDescriptor", ns):
                if descriptor.get("use") in (use, None):
                    for node in descriptor.iterfind(".//ds:X509Certificate", ns):
                        found.append(_pem(node.text or ""))
            return found

        def endpoints(tag: str) -> list[tuple[str, str]]:
            return [(e.get("Binding", ""), e.get("Location", "")) for e in sp.iterfind(tag, ns)]

        return cls(
            entity_id=root.get("entityID", ""),
            acs=endpoints("md:AssertionConsumerService"),
            slo=endpoints("md:SingleLogoutService"),
            signing_certs=certs("signing"),
            encryption_certs=certs("encryption"),
            name_id_formats=[(n.text or "").strip() for n in sp.iterfind("md:NameIDFormat", ns)],
            authn_requests_signed=sp.get("AuthnRequestsSigned") == "true",
            want_assertions_signed=sp.get("WantAssertionsSigned") == "true",
        )


@dataclass(frozen=True)
class Text:
    """An element's text and format (``request.issuer.text``, ``request.name_id.format``)."""

    text: str
    format: str | None = None
    name_qualifier: str | None = None
    sp_name_qualifier: str | None = None


@dataclass(frozen=True)
class NameIDPolicy:
    format: str | None
    allow_create: str | None


@dataclass(frozen=True)
class Message:
    """Fields every SAML protocol message from the SP has, checked by :func:`read_message`."""

    id: str
    issue_instant: str
    destination: str | None
    issuer: Text
    relay_state: str | None
    signed: bool  # carried a redirect-binding signature, verified with the SP's certificate
    sig_alg: str | None
    xml: bytes = field(repr=False)


@dataclass(frozen=True)
class AuthnRequest(Message):
    assertion_consumer_service_url: str | None
    protocol_binding: str | None
    name_id_policy: NameIDPolicy | None
    force_authn: bool
    is_passive: bool


@dataclass(frozen=True)
class LogoutRequest(Message):
    name_id: Text
    session_indexes: list[str]
    not_on_or_after: str | None


@dataclass(frozen=True)
class LogoutResponse(Message):
    in_response_to: str | None
    status: str


def read_message(
    location: str,
    field_name: str,
    kind: str,
    *,
    sp: SpMetadata,
    destination: str,
    clock_skew: dt.timedelta,
) -> tuple[etree._Element, dict[str, object]]:
    """Decode, parse and check a redirect-binding message; (root, the common fields)."""
    query = urlparse(location).query
    params = parse_qs(query, keep_blank_values=True)
    values = params.get(field_name, [])
    if len(values) != 1:
        raise PeerRefused(f"{len(values)} {field_name} parameters in {location[:200]}")
    for name, given in params.items():
        if len(given) != 1:
            raise PeerRefused(f"parameter {name} repeated")
    root = _parse(inflate_b64(values[0]))
    if root.tag != f"{{{NS['samlp']}}}{kind}":
        raise PeerRefused(f"expected samlp:{kind}, got {root.tag}")
    if root.get("Version") != "2.0":
        raise PeerRefused(f"Version {root.get('Version')!r}")
    message_id = root.get("ID", "")
    if not _NCNAME.fullmatch(message_id):
        raise PeerRefused(f"ID {message_id!r} is not an xs:ID")
    issued = parse_time(root.get("IssueInstant"))
    now = dt.datetime.now(dt.timezone.utc)
    if not now - clock_skew <= issued <= now + clock_skew:
        raise PeerRefused(f"IssueInstant {root.get('IssueInstant')} is not now")
    if root.get("Destination") != destination:
        raise PeerRefused(f"Destination {root.get('Destination')!r}, expected {destination!r}")
    issuer = root.find("saml:Issuer", NS)
    if issuer is None or (issuer.text or "").strip() != sp.entity_id:
        raise PeerRefused(f"Issuer is not the SP's entity id {sp.entity_id!r}")
    if root.find("ds:Signature", NS) is not None:
        raise PeerRefused("an XML signature inside a redirect-binding message")
    signed = "SigAlg" in params or "Signature" in params
    sig_alg = None
    if signed:
        if not sp.signing_certs:
            raise PeerRefused("signed, but the SP metadata the IdP holds has no certificate")
        errors = []
        for cert in sp.signing_certs:
            try:
                sig_alg = verify_redirect_signature(query, field_name, cert)
                break
            except Exception as exc:  # xmlsec.Error, binascii.Error, AssertionError
                errors.append(exc)
        else:
            raise PeerRefused(f"redirect signature does not verify: {errors}")
    relay = params.get("RelayState")
    common: dict[str, object] = {
        "id": message_id,
        "issue_instant": root.get("IssueInstant"),
        "destination": root.get("Destination"),
        "issuer": Text((issuer.text or "").strip(), issuer.get("Format")),
        "relay_state": relay[0] if relay else None,
        "signed": signed,
        "sig_alg": sig_alg,
        "xml": etree.tostring(root),
    }
    return root, common


def authn_request(root: etree._Element, common: dict[str, object], sp: SpMetadata) -> AuthnRequest:
    """The AuthnRequest's own checks: ACS URL from the metadata, POST binding, signing."""
    if sp.authn_requests_signed and not common["signed"]:
        raise PeerRefused("the SP's metadata says AuthnRequestsSigned, but this one is not")
    acs_url = root.get("AssertionConsumerServiceURL")
    binding = root.get("ProtocolBinding")
    if (binding, acs_url) not in sp.acs:
        raise PeerRefused(f"ACS {acs_url!r} ({binding}) is not in the SP metadata {sp.acs}")
    policy = root.find("samlp:NameIDPolicy", NS)
    name_id_policy = None
    if policy is not None:
        # Not checked against the metadata's NameIDFormat: tests change the connection's
        # format after the IdP read the metadata, and the IdP decides what it sends anyway.
        name_id_policy = NameIDPolicy(policy.get("Format"), policy.get("AllowCreate"))
    return AuthnRequest(
        **common,  # type: ignore[arg-type]
        assertion_consumer_service_url=acs_url,
        protocol_binding=binding,
        name_id_policy=name_id_policy,
        force_authn=root.get("ForceAuthn") == "true",
        is_passive=root.get("IsPassive") == "true",
    )


def logout_request(root: etree._Element, common: dict[str, object]) -> LogoutRequest:
    """The LogoutRequest's own checks: one NameID, a NotOnOrAfter still ahead."""
    name_ids = root.findall("saml:NameID", NS)
    if len(name_ids) != 1:
        raise PeerRefused(f"{len(name_ids)} NameID elements in a LogoutRequest")
    node = name_ids[0]
    not_on_or_after = root.get("NotOnOrAfter")
    if not_on_or_after and parse_time(not_on_or_after) <= dt.datetime.now(dt.timezone.utc):
        raise PeerRefused(f"LogoutRequest expired at {not_on_or_after}")
    return LogoutRequest(
        **common,  # type: ignore[arg-type]
        name_id=Text(
            (node.text or "").strip(),
            node.get("Format"),
            node.get("NameQualifier"),
            node.get("SPNameQualifier"),
        ),
        session_indexes=[(s.text or "") for s in root.iterfind("samlp:SessionIndex", NS)],
        not_on_or_after=not_on_or_after,
    )


def logout_response(root: etree._Element, common: dict[str, object]) -> LogoutResponse:
    code = root.find("samlp:Status/samlp:StatusCode", NS)
    if code is None:
        raise PeerRefused("LogoutResponse without a StatusCode")
    return LogoutResponse(
        **common,  # type: ignore[arg-type]
        in_response_to=root.get("InResponseTo"),
        status=code.get("Value", ""),
    )
