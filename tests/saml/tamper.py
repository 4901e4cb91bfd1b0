"""Helpers for tests that take the test IdP's XML apart: parse, re-serialise, re-sign, encrypt.

An attack test starts from a genuine Response of :class:`tests.saml.idp.TestIdP`, changes it with
lxml, and re-signs it with :func:`resign_assertion` when the attack needs a valid signature over
the changed content. :mod:`tests.saml.idp` re-exports these names.
"""

from __future__ import annotations

import base64
from typing import Any

from lxml import etree

from .signing import NS, encrypt_element, sign_element


def b64(xml: bytes) -> str:
    """The POST binding's encoding of *xml*."""
    return base64.b64encode(xml).decode("ascii")


def tree(xml: bytes) -> etree._Element:
    """*xml* parsed as it is, whitespace kept (a signature covers it)."""
    return etree.fromstring(xml, parser=etree.XMLParser(remove_blank_text=False))


def to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root)


def resign_assertion(
    xml: bytes,
    key: str = "idp",
    *,
    transforms: list[Any] | None = None,
    sha1: bool = False,
) -> bytes:
    """Remove the assertion's signature and sign it again (after tampering with it).

    *transforms* (xmlsec Transform constants) replaces the usual enveloped + exclusive c14n
    pair, e.g. to put an XSLT transform into the signature.
    """
    root = tree(xml)
    assertion = root.find("saml:Assertion", NS)
    assert assertion is not None
    sign_element(assertion, key, sign_alg="sha1" if sha1 else "sha256", transforms=transforms)
    return to_bytes(root)


def encrypt_assertion(xml: bytes, cert: str = "sp.crt") -> bytes:
    """Replace the response's ``saml:Assertion`` by an ``EncryptedAssertion`` for *cert*.

    AES-128-CBC with an RSA-OAEP key transport: lets an attack test hide content (a
    transform, a reference) from every check made before decryption.
    """
    root = tree(xml)
    assertion = root.find("saml:Assertion", NS)
    assert assertion is not None
    encrypt_element(assertion, cert)
    return to_bytes(root)
