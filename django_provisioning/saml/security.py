"""Checks made on a SAMLResponse before any signature or decryption work.

python3-saml parses the response and then lets xmlsec run every ``ds:Transform`` the signature
names, XSLT included, before it knows whether the signature is good (python3-saml issue #447:
seconds of CPU and hundreds of MB per request). So before the library sees the response:

* the base64 field and the decoded XML are capped at ``SAML_MAX_RESPONSE_SIZE`` bytes;
* the XML is parsed by lxml with entities unresolved, the network off and ``huge_tree`` off,
  and any DOCTYPE (and so any entity: billion laughs, XXE) is refused;
* comments and processing instructions are refused: a SAML response has no use for them, and a
  comment inside a NameID is the 2018 truncation attack on parsers that read ``.text``;
* every ``ds:Transform`` and ``ds:CanonicalizationMethod`` must be on :data:`ALLOWED_TRANSFORMS`
  (the enveloped-signature transform and the canonicalisations);
* the root must be a ``samlp:Response`` holding exactly one assertion (encrypted or not), which
  catches the signature-wrapping variants that hide a second assertion anywhere in the tree.
"""

from __future__ import annotations

import base64
import binascii

from lxml import etree

from ..conf import provisioning_settings
from .errors import SamlError

NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"

ALLOWED_TRANSFORMS: frozenset[str] = frozenset(
    {
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
        "http://www.w3.org/2006/12/xml-c14n11",
        "http://www.w3.org/2006/12/xml-c14n11#WithComments",
    }
)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=False,
        remove_pis=False,
    )


def decode_response(encoded: str | None) -> bytes:
    """The XML bytes of a POST-binding ``SAMLResponse`` field, size-capped and strictly decoded."""
    if not encoded:
        raise SamlError("missing_response", "no SAMLResponse in the POST body")
    limit = int(provisioning_settings.SAML_MAX_RESPONSE_SIZE)
    if len(encoded) > limit * 4 // 3 + 4:
        raise SamlError("too_large", f"SAMLResponse field of {len(encoded)} characters")
    compact = "".join(encoded.split())
    try:
        xml = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SamlError("malformed", "SAMLResponse is not base64") from exc
    if len(xml) > limit:
        raise SamlError("too_large", f"decoded SAMLResponse of {len(xml)} bytes")
    return xml


def parse_hardened(xml: bytes, *, allow_comments: bool = False) -> etree._Element:
    """Parse untrusted XML: no DTD, no entities, no network; refuse what is not plain XML.

    Comments and processing instructions are refused too, unless *allow_comments* (metadata
    files often carry comments; SAML responses never need them).
    """
    if b"<!DOCTYPE" in xml.upper() or b"<!ENTITY" in xml.upper():
        raise SamlError("forbidden_xml", "document type declaration present")
    try:
        root = etree.fromstring(xml, parser=_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise SamlError("malformed", f"not well-formed XML: {exc.__class__.__name__}") from exc
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise SamlError("forbidden_xml", "document type declaration present")
    if any(True for _ in root.iter(etree.Entity)):
        raise SamlError("forbidden_xml", "entity reference present")
    if allow_comments:
        return root
    outside = [*root.itersiblings(preceding=True), *root.itersiblings()]
    inside = root.iter(etree.Comment, etree.ProcessingInstruction)
    for node in [*outside, *inside]:
        kind = type(node).__name__.lstrip("_")
        raise SamlError("forbidden_xml", f"{kind} node present")
    return root


def check_transforms(root: etree._Element) -> None:
    """Refuse any transform or canonicalisation method outside :data:`ALLOWED_TRANSFORMS`."""
    # XPath, not iter(): python3-saml's restricted element class breaks multi-tag iter().
    for tag in ("Transform", "CanonicalizationMethod"):
        for node in root.xpath(f"//ds:{tag}", namespaces={"ds": NS_DS}):
            algorithm = node.get("Algorithm", "")
            if algorithm not in ALLOWED_TRANSFORMS:
                raise SamlError("forbidden_transform", f"ds:{tag} Algorithm={algorithm[:200]!r}")
            if len(node):
                # Exclusive c14n may carry InclusiveNamespaces; nothing else belongs there.
                for child in node:
                    if etree.QName(child).localname != "InclusiveNamespaces":
                        raise SamlError("forbidden_transform", f"ds:{tag} has child elements")


def check_structure(root: etree._Element) -> None:
    """A ``samlp:Response`` root with exactly one (possibly encrypted) assertion anywhere."""
    if root.tag != f"{{{NS_SAMLP}}}Response":
        raise SamlError("malformed", f"root element is {etree.QName(root).localname!r}")
    found = root.xpath("//saml:Assertion|//saml:EncryptedAssertion", namespaces={"saml": NS_SAML})
    assertions = len(found)
    if assertions != 1:
        raise SamlError("wrapped", f"{assertions} assertions in the response")


def inspect_response(encoded: str | None) -> etree._Element:
    """Every check above, in order; returns the parsed root for read-only peeking."""
    xml = decode_response(encoded)
    root = parse_hardened(xml)
    check_structure(root)
    check_transforms(root)
    return root


def inspect_decrypted(document: etree._Element) -> None:
    """The same transform and structure checks on a decrypted response, before validation."""
    check_structure(document)
    check_transforms(document)
