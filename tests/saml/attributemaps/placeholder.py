"""A pysaml2 attribute map that maps nothing, so the test IdP sends names verbatim."""

MAP = {
    "identifier": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
    "fro": {"urn:example:unused": "unused"},
    "to": {"unused": "urn:example:unused"},
}
