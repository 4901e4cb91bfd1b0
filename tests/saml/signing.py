"""XML and redirect-binding signatures and XML encryption for the test IdP, in Python alone.

Built on lxml and the ``xmlsec`` module (the C library python3-saml links, not Debian's
``xmlsec1`` program), so the SAML tests run on a machine with only Python. Nothing here calls
python3-saml or the package under test: the test IdP is a second implementation of the
protocol, and it signs and checks messages its own way.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import xmlsec
from lxml import etree

KEYS = Path(__file__).resolve().parent.parent / "keys"
NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
XENC = "http://www.w3.org/2001/04/xmlenc#"

#: name -> (signature method, digest method) as xmlsec transforms, and the SigAlg URI of the
#: redirect binding.
ALGORITHMS: dict[str, tuple[Any, Any, str]] = {
    "sha1": (
        xmlsec.Transform.RSA_SHA1,
        xmlsec.Transform.SHA1,
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    ),
    "sha256": (
        xmlsec.Transform.RSA_SHA256,
        xmlsec.Transform.SHA256,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    ),
    "sha512": (
        xmlsec.Transform.RSA_SHA512,
        xmlsec.Transform.SHA512,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    ),
}
SIG_ALGS = {uri: transform for transform, _digest, uri in ALGORITHMS.values()}

IDENTITY_XSLT = b"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:template match="@*|node()"><xsl:copy><xsl:apply-templates select="@*|node()"/></xsl:copy>
</xsl:template></xsl:stylesheet>"""

#: A redirect-binding message never needs more than this once inflated.
MAX_INFLATED = 256 * 1024


def pem(name: str) -> str:
    """The text of a throwaway key or certificate in ``tests/keys``."""
    return (KEYS / name).read_text()


def _signing_key(key: str) -> Any:
    signing_key = xmlsec.Key.from_file(str(KEYS / f"{key}.key"), xmlsec.KeyFormat.PEM)
    signing_key.load_cert_from_file(str(KEYS / f"{key}.crt"), xmlsec.KeyFormat.PEM)
    return signing_key


def sign_element(
    element: etree._Element,
    key: str = "idp",
    *,
    sign_alg: str = "sha256",
    digest_alg: str | None = None,
    transforms: Sequence[Any] | None = None,
) -> None:
    """Add an enveloped ``ds:Signature`` to *element* (a Response, Assertion or Logout*).

    The signature goes right after the element's ``saml:Issuer``, where the SAML schema puts it,
    and covers ``#ID`` with exclusive c14n. *transforms* (xmlsec Transform constants) replaces
    the usual enveloped + exclusive c14n pair, e.g. to put an XSLT transform into an attack.
    """
    for old in element.findall("ds:Signature", NS):
        element.remove(old)
    method = ALGORITHMS[sign_alg][0]
    digest = ALGORITHMS[digest_alg or sign_alg][1]
    signature = xmlsec.template.create(element, xmlsec.Transform.EXCL_C14N, method, ns="ds")
    issuer = element.find("saml:Issuer", NS)
    if issuer is not None:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)
    ref = xmlsec.template.add_reference(signature, digest, uri="#" + element.get("ID", ""))
    for transform in transforms or [xmlsec.Transform.ENVELOPED, xmlsec.Transform.EXCL_C14N]:
        node = xmlsec.template.add_transform(ref, transform)
        if transform == xmlsec.Transform.XSLT:
            node.append(etree.fromstring(IDENTITY_XSLT))
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    xmlsec.tree.add_ids(element, ["ID"])
    ctx = xmlsec.SignatureContext()
    ctx.key = _signing_key(key)
    ctx.sign(signature)


def encrypt_element(element: etree._Element, cert: str = "sp.crt") -> etree._Element:
    """Replace the ``saml:Assertion`` *element* by a ``saml:EncryptedAssertion`` for *cert*.

    AES-128-CBC content key carried by RSA-OAEP in an ``xenc:EncryptedKey`` inside the
    ``EncryptedData``'s ``ds:KeyInfo`` (the layout Okta, Entra and pysaml2 send). *cert* is a
    file name in ``tests/keys`` or a PEM certificate. Returns the ``EncryptedAssertion``.
    """
    parent = element.getparent()
    assert parent is not None, "the assertion must sit in a document"
    data = xmlsec.template.encrypted_data_create(
        parent, xmlsec.Transform.AES128, type=xmlsec.EncryptionType.ELEMENT, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(data)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(data, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.Transform.RSA_OAEP)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    manager = xmlsec.KeysManager()
    text = cert if "BEGIN CERTIFICATE" in cert else pem(cert)
    manager.add_key(xmlsec.Key.from_memory(text.encode(), xmlsec.KeyFormat.CERT_PEM, None))
    ctx = xmlsec.EncryptionContext(manager)
    ctx.key = xmlsec.Key.generate(xmlsec.KeyData.AES, 128, xmlsec.KeyDataType.SESSION)
    wrapper = parent.makeelement(f"{{{NS['saml']}}}EncryptedAssertion")
    element.addprevious(wrapper)
    data = ctx.encrypt_xml(data, element)  # replaces the assertion by the EncryptedData
    wrapper.append(data)
    return wrapper


# ---------------------------------------------------------------------- redirect binding


def deflate_b64(xml: bytes) -> str:
    """Raw DEFLATE, then base64: the redirect binding's encoding of a message."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode("ascii")


def inflate_b64(value: str) -> bytes:
    """The XML of a redirect-binding ``SAMLRequest`` / ``SAMLResponse`` value (bounded)."""
    raw = base64.b64decode(value, validate=True)
    inflater = zlib.decompressobj(-15)
    xml = inflater.decompress(raw, MAX_INFLATED)
    assert inflater.eof and not inflater.unconsumed_tail, "not a complete DEFLATE stream"
    return xml


def redirect_query(
    field: str,
    xml: bytes,
    relay_state: str | None,
    *,
    key: str | None = "idp",
    sign_alg: str = "sha256",
) -> str:
    """The query string of a redirect-binding message, signed with *key* unless it is None.

    SAML bindings §3.4.4.1: the signature covers ``SAMLRequest=…&RelayState=…&SigAlg=…``
    exactly as those bytes appear, URL-encoded, in the query string.
    """
    parts = [f"{field}={quote_plus(deflate_b64(xml))}"]
    if relay_state is not None:
        parts.append(f"RelayState={quote_plus(relay_state)}")
    if key is None:
        return "&".join(parts)
    method, _digest, uri = ALGORITHMS[sign_alg]
    parts.append(f"SigAlg={quote_plus(uri)}")
    signed = "&".join(parts)
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_file(str(KEYS / f"{key}.key"), xmlsec.KeyFormat.PEM)
    value = base64.b64encode(ctx.sign_binary(signed.encode("ascii"), method)).decode("ascii")
    return f"{signed}&Signature={quote_plus(value)}"


def raw_query_pairs(query: str) -> list[tuple[str, str]]:
    """(name, still URL-encoded value) of each parameter, in the order sent."""
    pairs = []
    for part in query.split("&"):
        name, _sep, value = part.partition("=")
        pairs.append((name, value))
    return pairs


def verify_redirect_signature(query: str, field: str, cert: str) -> str:
    """Check the redirect-binding signature of *query* with the PEM certificate *cert*.

    Rebuilt from the raw (still encoded) parameters, as SAML bindings §3.4.4.1 says. Returns
    the SigAlg URI; raises ``xmlsec.VerificationError`` (or AssertionError) when it fails.
    """
    raw = dict(raw_query_pairs(query))
    sig_alg = unquote_plus(raw.get("SigAlg", ""))
    assert sig_alg in SIG_ALGS, f"unknown SigAlg {sig_alg!r}"
    assert raw.get("Signature"), "SigAlg without a Signature"
    signed = [f"{field}={raw[field]}"]
    if "RelayState" in raw:
        signed.append(f"RelayState={raw['RelayState']}")
    signed.append(f"SigAlg={raw['SigAlg']}")
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(cert.encode(), xmlsec.KeyFormat.CERT_PEM, None)
    signature = base64.b64decode(unquote_plus(raw["Signature"]), validate=True)
    ctx.verify_binary("&".join(signed).encode("ascii"), SIG_ALGS[sig_alg], signature)
    return sig_alg


def verify_enveloped_signature(element: etree._Element, cert: str) -> None:
    """Check the enveloped ``ds:Signature`` child of *element* with the PEM certificate *cert*."""
    signature = element.find("ds:Signature", NS)
    assert signature is not None, f"{etree.QName(element).localname} is not signed"
    reference = signature.find("ds:SignedInfo/ds:Reference", NS)
    assert reference is not None and reference.get("URI") == "#" + element.get("ID", "")
    xmlsec.tree.add_ids(element, ["ID"])
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(cert.encode(), xmlsec.KeyFormat.CERT_PEM, None)
    ctx.verify(signature)
