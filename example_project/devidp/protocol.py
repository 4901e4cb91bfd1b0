"""SAML 2.0 for the development IdP: read the SP's redirect-binding messages, sign answers.

Just enough of the IdP side for the demo, on lxml and ``xmlsec`` (what python3-saml itself
runs on): an AuthnRequest in, a Response with a signed assertion out (HTTP-POST binding); a
LogoutRequest in, a signed LogoutResponse out (HTTP-Redirect binding). RSA-SHA256 signatures,
SHA-256 digests, exclusive canonicalisation. Not an IdP to deploy: it signs whatever user the
person at the keyboard picks.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote_plus

import xmlsec
from lxml import etree

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#: A redirect-binding message is small; refuse to inflate more than this.
MAX_MESSAGE = 64 * 1024


class Refused(ValueError):
    """A message the IdP will not act on (its text is shown on the IdP's page)."""


@dataclass(frozen=True)
class Request:
    """What the IdP reads of an AuthnRequest or a LogoutRequest."""

    id: str
    issuer: str
    acs_url: str = ""
    name_id: str = ""


def new_id() -> str:
    return "_" + secrets.token_hex(16)


def saml_time(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _inflate(value: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
        inflater = zlib.decompressobj(-15)
        xml = inflater.decompress(raw, MAX_MESSAGE)
    except (ValueError, zlib.error) as exc:
        raise Refused("SAMLRequest is not deflated base64.") from exc
    if not inflater.eof or inflater.unconsumed_tail:
        raise Refused("SAMLRequest is too large.")
    return xml


def _parse(xml: bytes) -> etree._Element:
    if b"<!DOCTYPE" in xml.upper():
        raise Refused("A document type declaration in a SAML message.")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        return etree.fromstring(xml, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise Refused("SAMLRequest is not XML.") from exc


def read_request(saml_request: str, kind: str) -> Request:
    """The ``AuthnRequest`` or ``LogoutRequest`` (*kind*) of a redirect-binding query."""
    root = _parse(_inflate(saml_request))
    if root.tag != f"{{{NS['samlp']}}}{kind}":
        raise Refused(f"Expected a {kind}, got {etree.QName(root).localname}.")
    issuer = root.findtext("saml:Issuer", default="", namespaces=NS).strip()
    return Request(
        id=root.get("ID", ""),
        issuer=issuer,
        acs_url=root.get("AssertionConsumerServiceURL", ""),
        name_id=root.findtext("saml:NameID", default="", namespaces=NS).strip(),
    )


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    prefix, name = tag.split(":")
    node = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}")
    for key, value in attrs.items():
        node.set(key, value)
    if text is not None:
        node.text = text
    return node


def _sign(element: etree._Element, key_pem: str, cert_pem: str) -> None:
    """An enveloped RSA-SHA256 signature right after the element's Issuer, over ``#ID``."""
    signature = xmlsec.template.create(
        element, xmlsec.Transform.EXCL_C14N, xmlsec.Transform.RSA_SHA256, ns="ds"
    )
    issuer = element.find("saml:Issuer", NS)
    assert issuer is not None
    issuer.addnext(signature)
    ref = xmlsec.template.add_reference(
        signature, xmlsec.Transform.SHA256, uri="#" + element.get("ID", "")
    )
    xmlsec.template.add_transform(ref, xmlsec.Transform.ENVELOPED)
    xmlsec.template.add_transform(ref, xmlsec.Transform.EXCL_C14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    xmlsec.tree.add_ids(element, ["ID"])
    ctx = xmlsec.SignatureContext()
    key = xmlsec.Key.from_memory(key_pem.encode(), xmlsec.KeyFormat.PEM, None)
    key.load_cert_from_memory(cert_pem.encode(), xmlsec.KeyFormat.CERT_PEM)
    ctx.key = key
    ctx.sign(signature)


def response(
    request: Request,
    *,
    idp_entity_id: str,
    name_id: str,
    attributes: Mapping[str, Sequence[str]],
    key_pem: str,
    cert_pem: str,
    lifetime: dt.timedelta = dt.timedelta(minutes=5),
) -> bytes:
    """A SAML Response to *request* with a signed assertion about *name_id* (an e-mail)."""
    now = dt.datetime.now(dt.timezone.utc)
    ends = saml_time(now + lifetime)
    root = etree.Element(
        f"{{{NS['samlp']}}}Response", nsmap={"samlp": NS["samlp"], "saml": NS["saml"]}
    )
    for key, value in (
        ("ID", new_id()),
        ("Version", "2.0"),
        ("IssueInstant", saml_time(now)),
        ("Destination", request.acs_url),
        ("InResponseTo", request.id),
    ):
        root.set(key, value)
    _sub(root, "saml:Issuer", idp_entity_id, Format=ENTITY)
    _sub(_sub(root, "samlp:Status"), "samlp:StatusCode", Value=SUCCESS)
    assertion = _sub(root, "saml:Assertion", ID=new_id(), Version="2.0")
    assertion.set("IssueInstant", saml_time(now))
    _sub(assertion, "saml:Issuer", idp_entity_id, Format=ENTITY)
    subject = _sub(assertion, "saml:Subject")
    _sub(subject, "saml:NameID", name_id, Format=EMAIL)
    confirmation = _sub(subject, "saml:SubjectConfirmation", Method=BEARER)
    _sub(
        confirmation,
        "saml:SubjectConfirmationData",
        NotOnOrAfter=ends,
        Recipient=request.acs_url,
        InResponseTo=request.id,
    )
    conditions = _sub(assertion, "saml:Conditions", NotBefore=saml_time(now), NotOnOrAfter=ends)
    _sub(_sub(conditions, "saml:AudienceRestriction"), "saml:Audience", request.issuer)
    statement = _sub(
        assertion, "saml:AuthnStatement", AuthnInstant=saml_time(now), SessionIndex=new_id()
    )
    _sub(_sub(statement, "saml:AuthnContext"), "saml:AuthnContextClassRef", PASSWORD)
    if attributes:
        attribute_statement = _sub(assertion, "saml:AttributeStatement")
        for name, values in attributes.items():
            attribute = _sub(attribute_statement, "saml:Attribute", Name=name)
            for value in values:
                # xs and xsi declared on the value, so the signed assertion's exclusive c14n
                # carries the prefix xsi:type's value uses.
                node = etree.SubElement(
                    attribute, f"{{{NS['saml']}}}AttributeValue", nsmap={"xs": XS, "xsi": XSI}
                )
                node.set(f"{{{XSI}}}type", "xs:string")
                node.text = value
    _sign(assertion, key_pem, cert_pem)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def logout_response_query(
    request: Request, *, destination: str, idp_entity_id: str, relay_state: str, key_pem: str
) -> str:
    """The signed redirect-binding query of a successful LogoutResponse to *request*.

    SAML bindings §3.4.4.1: the signature covers ``SAMLResponse=…&RelayState=…&SigAlg=…`` as
    those bytes appear, URL-encoded, in the query.
    """
    root = etree.Element(
        f"{{{NS['samlp']}}}LogoutResponse", nsmap={"samlp": NS["samlp"], "saml": NS["saml"]}
    )
    for key, value in (
        ("ID", new_id()),
        ("Version", "2.0"),
        ("IssueInstant", saml_time(dt.datetime.now(dt.timezone.utc))),
        ("Destination", destination),
        ("InResponseTo", request.id),
    ):
        root.set(key, value)
    _sub(root, "saml:Issuer", idp_entity_id, Format=ENTITY)
    _sub(_sub(root, "samlp:Status"), "samlp:StatusCode", Value=SUCCESS)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = compressor.compress(etree.tostring(root)) + compressor.flush()
    parts = [f"SAMLResponse={quote_plus(base64.b64encode(deflated).decode('ascii'))}"]
    if relay_state:
        parts.append(f"RelayState={quote_plus(relay_state)}")
    parts.append(f"SigAlg={quote_plus(RSA_SHA256)}")
    signed = "&".join(parts)
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(key_pem.encode(), xmlsec.KeyFormat.PEM, None)
    value = ctx.sign_binary(signed.encode("ascii"), xmlsec.Transform.RSA_SHA256)
    return f"{signed}&Signature={quote_plus(base64.b64encode(value).decode('ascii'))}"


def metadata(entity_id: str, sso_url: str, slo_url: str, cert_pem: str) -> bytes:
    """The IdP's SAML metadata (what ``import_idp_metadata`` or the admin's box would read)."""
    body = "".join(line for line in cert_pem.strip().splitlines() if "-----" not in line)
    root = etree.Element(f"{{{MD}}}EntityDescriptor", nsmap={"md": MD, "ds": NS["ds"]})
    root.set("entityID", entity_id)
    descriptor = etree.SubElement(root, f"{{{MD}}}IDPSSODescriptor")
    descriptor.set("protocolSupportEnumeration", NS["samlp"])
    key = etree.SubElement(descriptor, f"{{{MD}}}KeyDescriptor", use="signing")
    info = etree.SubElement(key, f"{{{NS['ds']}}}KeyInfo")
    data = etree.SubElement(info, f"{{{NS['ds']}}}X509Data")
    etree.SubElement(data, f"{{{NS['ds']}}}X509Certificate").text = body
    etree.SubElement(descriptor, f"{{{MD}}}SingleLogoutService", Binding=REDIRECT, Location=slo_url)
    etree.SubElement(descriptor, f"{{{MD}}}NameIDFormat").text = EMAIL
    etree.SubElement(descriptor, f"{{{MD}}}SingleSignOnService", Binding=REDIRECT, Location=sso_url)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
