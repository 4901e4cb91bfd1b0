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
  catches the signature-wrapping variants that hide a second assertion anywhere in the tree;
* no reference may leave the document: python3-saml decrypts an ``EncryptedAssertion`` in
  ``OneLogin_Saml2_Response.__init__``, before any signature check, and xmlsec dereferences
  every URI it meets while decrypting (``xenc:CipherReference URI="file:///dev/zero"`` reads
  forever; ``file://`` and ``http://`` URIs read local files or reach the network). So any
  ``xenc:CipherReference`` is refused, and every other ``URI`` attribute (``ds:Reference``,
  ``ds:RetrievalMethod``, ``xenc:DataReference``, ``xenc:KeyReference``, anything else) must
  be a same-document ``#id`` reference (``""``, the whole document, is also allowed on the
  ``ds:Reference`` of a ``ds:SignedInfo``);
* an ``EncryptedAssertion`` is refused unless the connection asked for encrypted assertions
  and has an SP private key: nothing is decrypted that the connection does not expect.

The same checks run again on the decrypted document before python3-saml validates it.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib

from lxml import etree

from ..conf import provisioning_settings
from .errors import SamlError

NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_XENC = "http://www.w3.org/2001/04/xmlenc#"

_P = {"samlp": NS_SAMLP}
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"

#: A same-document reference to an element id: ``#`` and an XML NCName (no XPointer).
_SAME_DOCUMENT = re.compile(r"#[A-Za-z_][\w.\-]*")

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
    status = root.xpath("string(samlp:Status/samlp:StatusCode/@Value)", namespaces=_P)
    if assertions == 0 and status and status != SUCCESS:
        # The IdP's refusal (no assertion to go with it), not a wrapping attempt.
        raise SamlError("idp_error", f"StatusCode {str(status)[:200]!r}, no assertion")
    if assertions != 1:
        raise SamlError("wrapped", f"{assertions} assertions in the response")


def check_references(root: etree._Element) -> None:
    """Refuse every reference xmlsec could follow out of the document.

    ``xenc:CipherReference`` is refused outright (SAML has no use for it). Any other ``URI``
    attribute, on whatever element, must be a same-document ``#id``; the ``ds:Reference`` of a
    ``ds:SignedInfo`` may also be ``""`` (the whole document).
    """
    if root.xpath("//xenc:CipherReference", namespaces={"xenc": NS_XENC}):
        raise SamlError("forbidden_reference", "xenc:CipherReference present")
    for node in root.xpath("//*[@URI]"):
        uri = node.get("URI", "")
        tag = etree.QName(node)
        parent = node.getparent()
        signed_info = parent is not None and parent.tag == f"{{{NS_DS}}}SignedInfo"
        if uri == "" and signed_info and tag.localname == "Reference":
            continue
        if not _SAME_DOCUMENT.fullmatch(uri):
            raise SamlError("forbidden_reference", f"{tag.localname} URI={uri[:200]!r}")


def check_encryption(root: etree._Element, *, decryption_allowed: bool) -> None:
    """Refuse an ``EncryptedAssertion`` the connection is not set up to expect."""
    if decryption_allowed:
        return
    if root.xpath("//saml:EncryptedAssertion", namespaces={"saml": NS_SAML}):
        raise SamlError(
            "unexpected_encryption",
            "EncryptedAssertion, but the connection does not want encrypted assertions "
            "or has no SP private key",
        )


def parse_response(encoded: str | None) -> etree._Element:
    """The POST-binding field decoded (size-capped) and parsed (hardened): not yet checked."""
    return parse_hardened(decode_response(encoded))


def check_response(root: etree._Element, *, decryption_allowed: bool) -> None:
    """The checks of a parsed response made before python3-saml reads it."""
    check_structure(root)
    check_transforms(root)
    check_references(root)
    check_encryption(root, decryption_allowed=decryption_allowed)


def inspect_decrypted(document: etree._Element) -> None:
    """The same structure, transform and reference checks on a decrypted response."""
    check_structure(document)
    check_transforms(document)
    check_references(document)


def decode_redirect_message(encoded: str | None) -> bytes:
    """The XML bytes of a redirect-binding ``SAMLRequest`` / ``SAMLResponse``, size-capped.

    Base64, then raw DEFLATE inflated at most to ``SAML_MAX_RESPONSE_SIZE`` bytes (a deflate
    bomb stops there). Like python3-saml, a value that does not inflate is taken as plain
    base64-encoded XML.
    """
    if not encoded:
        raise SamlError("missing_response", "empty redirect-binding message")
    limit = int(provisioning_settings.SAML_MAX_RESPONSE_SIZE)
    if len(encoded) > limit * 4 // 3 + 4:
        raise SamlError("too_large", f"redirect-binding message of {len(encoded)} characters")
    try:
        raw = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SamlError("malformed", "redirect-binding message is not base64") from exc
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        xml = inflater.decompress(raw, limit + 1)
    except zlib.error:
        return raw
    if len(xml) > limit or inflater.unconsumed_tail:
        raise SamlError("too_large", "redirect-binding message inflates beyond the size cap")
    return xml if inflater.eof else raw


def inspect_logout_message(encoded: str | None, kind: str) -> etree._Element:
    """A redirect-binding ``LogoutRequest`` or ``LogoutResponse`` (*kind*), before python3-saml.

    Decoded and parsed as above (no DTD, entities, comments), its root must be *kind*, and its
    transforms and references pass the same checks as a response's.
    """
    root = parse_hardened(decode_redirect_message(encoded))
    if root.tag != f"{{{NS_SAMLP}}}{kind}":
        raise SamlError("malformed", f"root element is {etree.QName(root).localname!r}")
    check_transforms(root)
    check_references(root)
    return root
