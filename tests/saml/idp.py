"""A real SAML identity provider for the tests: pysaml2's ``saml2.server.Server``.

It parses our redirect-binding AuthnRequests and answers with AuthnResponses signed by pysaml2
(through Debian's ``xmlsec1``), SHA-256 by default, so InResponseTo, Destination, Audience and
signatures are produced by a different SAML implementation than the one under test. The attack
helpers start from such a response and tamper with it using lxml; :func:`resign_assertion`
re-signs with the ``xmlsec`` module when an attack needs a valid signature over changed content.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import xmlsec
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, xmldsig
from saml2.config import IdPConfig
from saml2.saml import (
    NAME_FORMAT_URI,
    NAMEID_FORMAT_EMAILADDRESS,
    NAMEID_FORMAT_PERSISTENT,
    NAMEID_FORMAT_TRANSIENT,
    NAMEID_FORMAT_UNSPECIFIED,
    NameID,
)
from saml2.samlp import STATUS_SUCCESS
from saml2.server import Server

from tests.tools import require

KEYS = Path(__file__).resolve().parent.parent / "keys"
IDP_ENTITY_ID = "https://idp.example.org/saml/metadata"
IDP_SSO_URL = "https://idp.example.org/saml/sso"
IDP_SLO_URL = "https://idp.example.org/saml/slo"
NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
FORMATS = {
    "email": NAMEID_FORMAT_EMAILADDRESS,
    "persistent": NAMEID_FORMAT_PERSISTENT,
    "transient": NAMEID_FORMAT_TRANSIENT,
    "unspecified": NAMEID_FORMAT_UNSPECIFIED,
}


IDENTITY_XSLT = b"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:template match="@*|node()"><xsl:copy><xsl:apply-templates select="@*|node()"/></xsl:copy>
</xsl:template></xsl:stylesheet>"""


def pem(name: str) -> str:
    return (KEYS / name).read_text()


class TestIdP:
    """pysaml2 acting as the customer's identity provider."""

    __test__ = False  # not a pytest test class

    def __init__(
        self, sp_metadata: str, *, key: str = "idp", sha1: bool = False, sso_url: str = IDP_SSO_URL
    ) -> None:
        config = IdPConfig()
        config.load(
            {
                "entityid": IDP_ENTITY_ID,
                "xmlsec_binary": require("xmlsec1", "xmlsec1"),
                "key_file": str(KEYS / f"{key}.key"),
                "cert_file": str(KEYS / f"{key}.crt"),
                "metadata": {"inline": [sp_metadata]},
                "allow_unknown_attributes": True,
                # No attribute converters: send attribute names exactly as given (Okta, Entra
                # and the others each use their own names; pysaml2 would rename them to OIDs).
                "attribute_map_dir": str(Path(__file__).resolve().parent / "attributemaps"),
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [(sso_url, BINDING_HTTP_REDIRECT)],
                            "single_logout_service": [(IDP_SLO_URL, BINDING_HTTP_REDIRECT)],
                        },
                        "name_id_format": list(FORMATS.values()),
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": 5},
                                "attribute_restrictions": None,
                                "name_form": NAME_FORMAT_URI,
                            }
                        },
                    }
                },
            }
        )
        self.server = Server(config=config)
        self.sign_alg = xmldsig.SIG_RSA_SHA1 if sha1 else xmldsig.SIG_RSA_SHA256
        self.digest_alg = xmldsig.DIGEST_SHA1 if sha1 else xmldsig.DIGEST_SHA256

    # ------------------------------------------------------------------ SSO

    def parse_login_redirect(self, location: str) -> tuple[Any, str]:
        """(the parsed AuthnRequest, RelayState) of our redirect to the IdP's SSO URL."""
        query = parse_qs(urlparse(location).query)
        request = self.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        return request.message, query.get("RelayState", [""])[0]

    def response_xml(
        self,
        *,
        sp_entity_id: str,
        acs_url: str,
        in_response_to: str | None,
        name_id: str = "alice@example.com",
        name_id_format: str = "email",
        attributes: dict[str, Any] | None = None,
        sign_response: bool = False,
        sign_assertion: bool = True,
        issue_instant: dt.datetime | None = None,
        not_on_or_after: dt.datetime | None = None,
        **extra: Any,
    ) -> bytes:
        """A signed AuthnResponse (XML bytes) for the given SP and request id.

        *issue_instant* sets the IssueInstant of the Response and the assertion, and
        *not_on_or_after* the NotOnOrAfter of the Conditions and every SubjectConfirmationData
        (default: pysaml2's, now and now + 5 minutes); the assertion is signed after.
        """
        attrs = (
            attributes
            if attributes is not None
            else {"email": ["alice@example.com"], "firstName": ["Alice"], "lastName": ["Liddell"]}
        )
        response = self.server.create_authn_response(
            identity=attrs,
            in_response_to=in_response_to,
            destination=acs_url,
            sp_entity_id=sp_entity_id,
            name_id=NameID(format=FORMATS.get(name_id_format, name_id_format), text=name_id),
            authn={
                "class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
                "authn_auth": IDP_ENTITY_ID,
            },
            sign_response=sign_response,
            sign_assertion=sign_assertion,
            sign_alg=self.sign_alg,
            digest_alg=self.digest_alg,
            **extra,
        )
        xml = str(response).encode("utf-8")
        if issue_instant is None and not_on_or_after is None:
            return xml
        assert sign_assertion and not sign_response, "retimed responses sign the assertion only"
        root = tree(xml)
        assertion = root.find("saml:Assertion", NS)
        if issue_instant is not None:
            for element in (root, assertion):
                element.set("IssueInstant", issue_instant.strftime("%Y-%m-%dT%H:%M:%SZ"))
        if not_on_or_after is not None:
            when = not_on_or_after.strftime("%Y-%m-%dT%H:%M:%SZ")
            assertion.find("saml:Conditions", NS).set("NotOnOrAfter", when)
            for data in assertion.iterfind(".//saml:SubjectConfirmationData", NS):
                data.set("NotOnOrAfter", when)
        return resign_assertion(to_bytes(root))

    # ------------------------------------------------------------------ SLO

    def logout_request_url(
        self,
        sp_slo_url: str,
        sp_entity_id: str,
        name_id: str,
        name_id_format: str = "email",
        *,
        sign: bool = True,
    ) -> str:
        """A redirect-binding LogoutRequest from the IdP to our SLO endpoint (signed by default)."""
        _id, request = self.server.create_logout_request(
            sp_slo_url,
            sp_entity_id,
            name_id=NameID(format=FORMATS[name_id_format], text=name_id),
            sign=False,
        )
        info = self.server.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(request),
            sp_slo_url,
            relay_state="rs-42",
            sign=sign,
            sigalg=xmldsig.SIG_RSA_SHA256 if sign else None,
        )
        return dict(info["headers"])["Location"]

    def parse_logout_request(self, location: str) -> Any:
        query = parse_qs(urlparse(location).query)
        parsed = self.server.parse_logout_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        return parsed.message

    def logout_response_url(self, request: Any, sp_slo_url: str, *, sign: bool = True) -> str:
        """A redirect-binding LogoutResponse (Success) to our SLO endpoint (signed by default)."""
        response = self.server.create_logout_response(
            request, [BINDING_HTTP_REDIRECT], status=None, sign=False
        )
        response.destination = sp_slo_url
        info = self.server.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(response),
            sp_slo_url,
            response=True,
            sign=sign,
            sigalg=xmldsig.SIG_RSA_SHA256 if sign else None,
        )
        return dict(info["headers"])["Location"]


# ---------------------------------------------------------------------- helpers


def b64(xml: bytes) -> str:
    return base64.b64encode(xml).decode("ascii")


def tree(xml: bytes) -> etree._Element:
    return etree.fromstring(xml, parser=etree.XMLParser(remove_blank_text=False))


def to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root)


def saml_time(delta: dt.timedelta) -> str:
    when = dt.datetime.now(dt.timezone.utc) + delta
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def resign_assertion(
    xml: bytes,
    key: str = "idp",
    *,
    transforms: list[Any] | None = None,
    sha1: bool = False,
) -> bytes:
    """Remove the assertion's signature and sign it again with the ``xmlsec`` module.

    *transforms* (xmlsec Transform constants) replaces the usual enveloped + exclusive c14n
    pair, e.g. to put an XSLT transform into the signature.
    """
    root = tree(xml)
    assertion = root.find("saml:Assertion", NS)
    assert assertion is not None
    for old in assertion.findall("ds:Signature", NS):
        assertion.remove(old)
    sig_method = xmlsec.Transform.RSA_SHA1 if sha1 else xmlsec.Transform.RSA_SHA256
    signature = xmlsec.template.create(assertion, xmlsec.Transform.EXCL_C14N, sig_method, ns="ds")
    issuer = assertion.find("saml:Issuer", NS)
    assert issuer is not None
    issuer.addnext(signature)
    digest = xmlsec.Transform.SHA1 if sha1 else xmlsec.Transform.SHA256
    ref = xmlsec.template.add_reference(signature, digest, uri="#" + assertion.get("ID"))
    for transform in transforms or [xmlsec.Transform.ENVELOPED, xmlsec.Transform.EXCL_C14N]:
        node = xmlsec.template.add_transform(ref, transform)
        if transform == xmlsec.Transform.XSLT:
            node.append(etree.fromstring(IDENTITY_XSLT))
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.add_x509_data(key_info)
    xmlsec.tree.add_ids(assertion, ["ID"])
    ctx = xmlsec.SignatureContext()
    signing_key = xmlsec.Key.from_file(str(KEYS / f"{key}.key"), xmlsec.KeyFormat.PEM)
    signing_key.load_cert_from_file(str(KEYS / f"{key}.crt"), xmlsec.KeyFormat.PEM)
    ctx.key = signing_key
    ctx.sign(signature)
    return to_bytes(root)


def encrypt_assertion(xml: bytes, cert: str = "sp.crt") -> bytes:
    """Replace the response's ``saml:Assertion`` by an ``EncryptedAssertion`` for *cert*.

    AES-128-CBC with an RSA-OAEP key transport, with the ``xmlsec`` module: lets an attack test
    hide content (a transform, a reference) from every check made before decryption.
    """
    root = tree(xml)
    assertion = root.find("saml:Assertion", NS)
    assert assertion is not None
    data = xmlsec.template.encrypted_data_create(
        root, xmlsec.Transform.AES128, type=xmlsec.EncryptionType.ELEMENT, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(data)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(data, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.Transform.RSA_OAEP)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_file(str(KEYS / cert), xmlsec.KeyFormat.CERT_PEM, None))
    ctx = xmlsec.EncryptionContext(manager)
    ctx.key = xmlsec.Key.generate(xmlsec.KeyData.AES, 128, xmlsec.KeyDataType.SESSION)
    data = ctx.encrypt_xml(data, assertion)
    wrapper = root.makeelement(f"{{{NS['saml']}}}EncryptedAssertion")
    data.addprevious(wrapper)
    wrapper.append(data)
    return to_bytes(root)


__all__ = [
    "BINDING_HTTP_POST",
    "IDP_ENTITY_ID",
    "IDP_SLO_URL",
    "IDP_SSO_URL",
    "NS",
    "STATUS_SUCCESS",
    "TestIdP",
    "b64",
    "encrypt_assertion",
    "pem",
    "resign_assertion",
    "saml_time",
    "to_bytes",
    "tree",
]
