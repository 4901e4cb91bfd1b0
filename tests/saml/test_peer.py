"""The test IdP itself: what it sends is valid SAML signed as claimed, what it reads is checked,
and it runs with Python alone (no ``xmlsec1`` program), so no SAML test needs one.

Every other SAML test trusts this peer; these tests make that trust earned.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import onelogin.saml2
import pytest
import xmlsec
from django.test import Client
from lxml import etree

from django_provisioning.models import Connection

from .conftest import ACS_URL, SLO_URL, SP_ENTITY_ID, Browser, sp_metadata
from .idp import IDP_SSO_URL, NS, PeerRefused, TestIdP, pem, tree
from .signing import inflate_b64, verify_enveloped_signature

pytestmark = pytest.mark.django_db

# The OASIS schemas (python3-saml ships a copy; only the files are used, not its code).
SCHEMAS = Path(onelogin.saml2.__file__).parent / "schemas"


@pytest.fixture(scope="module")
def protocol_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "saml-schema-protocol-2.0.xsd")))


def _valid(schema: etree.XMLSchema, xml: bytes) -> etree._Element:
    root = tree(xml)
    assert schema.validate(root), schema.error_log.filter_from_errors()
    return root


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"sign_response": True},
        {"sign_response": True, "sign_assertion": False},
        {"sign_response": True, "encrypt_assertion": True},
        {"status": "urn:oasis:names:tc:SAML:2.0:status:Responder"},
        {"attributes": {"groups": ["a", "b", "c"], "email": "x@example.com"}},
    ],
    ids=["assertion", "both", "response", "encrypted", "failure", "multi-valued"],
)
def test_responses_are_schema_valid_and_signed_as_asked(
    browser: Browser, saml_connection: Connection, protocol_schema: Any, options: dict[str, Any]
) -> None:
    request, _relay_state = browser.start()
    root = _valid(protocol_schema, browser.response_for(request, **options))
    assertion = root.find("saml:Assertion", NS)
    if options.get("status"):
        assert assertion is None and root.find("saml:EncryptedAssertion", NS) is None
        return
    if options.get("sign_response"):
        verify_enveloped_signature(root, pem("idp.crt"))
    else:
        assert root.find("ds:Signature", NS) is None
    if options.get("encrypt_assertion"):
        assert assertion is None and root.find("saml:EncryptedAssertion", NS) is not None
        return
    if options.get("sign_assertion", True):
        verify_enveloped_signature(assertion, pem("idp.crt"))
        with pytest.raises(xmlsec.Error):  # and only with the IdP's key
            verify_enveloped_signature(assertion, pem("foreign.crt"))
    else:
        assert assertion.find("ds:Signature", NS) is None
    data = assertion.find("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", NS)
    assert (data.get("InResponseTo"), data.get("Recipient")) == (request.id, ACS_URL)
    values = {
        a.get("Name"): [v.text for v in a] for a in assertion.iterfind(".//saml:Attribute", NS)
    }
    expected = options.get("attributes", {"email": "alice@example.com"})
    for name, sent in expected.items():
        assert values[name] == ([sent] if isinstance(sent, str) else sent)


def test_tampered_response_no_longer_verifies(browser: Browser, saml_connection: Any) -> None:
    request, _relay_state = browser.start()
    root = tree(browser.response_for(request))
    assertion = root.find("saml:Assertion", NS)
    assertion.find("saml:Subject/saml:NameID", NS).text = "mallory@example.com"
    with pytest.raises(xmlsec.Error):
        verify_enveloped_signature(assertion, pem("idp.crt"))


def test_lifetimes_and_issue_instant(browser: Browser, saml_connection: Any) -> None:
    issued = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    xml = browser.response_for(None, issue_instant=issued, lifetime=dt.timedelta(minutes=2))
    root = tree(xml)
    conditions = root.find(".//saml:Conditions", NS)
    assert root.get("IssueInstant") == "2030-01-02T03:04:05Z"
    assert conditions.get("NotBefore") == "2030-01-02T03:04:05Z"
    assert conditions.get("NotOnOrAfter") == "2030-01-02T03:06:05Z"


def test_sha1_option_signs_with_sha1(saml_connection: Connection) -> None:
    idp = TestIdP(sp_metadata(saml_connection), sha1=True)
    root = tree(idp.response_xml(sp_entity_id=SP_ENTITY_ID, acs_url=ACS_URL, in_response_to=None))
    info = root.find("saml:Assertion/ds:Signature/ds:SignedInfo", NS)
    assert info.find("ds:SignatureMethod", NS).get("Algorithm").endswith("#rsa-sha1")
    assert info.find("ds:Reference/ds:DigestMethod", NS).get("Algorithm").endswith("#sha1")


# ---------------------------------------------------------------------- what the IdP reads


def test_authn_request_to_another_sso_url_is_refused(
    browser: Browser, saml_connection: Connection
) -> None:
    saml_connection.idp_sso_url = "https://idp.example.org/saml/other"
    saml_connection.save()
    location = browser.client.get("/sso/acme/login/")["Location"]
    with pytest.raises(PeerRefused, match="Destination"):
        browser.idp.parse_login_redirect(location)


def test_authn_request_for_an_acs_not_in_the_metadata_is_refused(
    saml_connection: Connection, settings: Any
) -> None:
    # One entity id whatever the host, so only the ACS URL differs from the metadata's.
    settings.DJANGO_PROVISIONING = {"SAML_SP_ENTITY_ID": "urn:example:other:{slug}"}
    other_sp = TestIdP(sp_metadata(saml_connection))
    settings.DJANGO_PROVISIONING = {"SAML_SP_ENTITY_ID": "urn:example:sp:{slug}"}
    idp = TestIdP(sp_metadata(saml_connection))  # metadata of http://testserver
    settings.ALLOWED_HOSTS = ["sp.example.com"]
    location = Client(HTTP_HOST="sp.example.com").get("/sso/acme/login/")["Location"]
    with pytest.raises(PeerRefused, match=re.escape("ACS 'http://sp.example.com/sso/acme/acs/'")):
        idp.parse_login_redirect(location)
    with pytest.raises(PeerRefused, match="Issuer"):
        other_sp.parse_login_redirect(location)


def test_signed_authn_request_tampered_after_signing_is_refused(
    saml_connection: Connection,
) -> None:
    saml_connection.sign_authn_requests = True
    saml_connection.sp_certificate = pem("sp.crt")
    saml_connection.sp_private_key = pem("sp.key")
    saml_connection.save()
    idp = TestIdP(sp_metadata(saml_connection))
    location = Client().get("/sso/acme/login/", {"next": "/home/"})["Location"]
    assert idp.parse_login_redirect(location)[0].signed
    with pytest.raises(PeerRefused, match="signature"):
        idp.parse_login_redirect(location.replace("RelayState=%2Fhome%2F", "RelayState=%2Fx%2F"))
    parts = urlparse(location)
    kept = {k: v[0] for k, v in parse_qs(parts.query).items() if k not in ("SigAlg", "Signature")}
    unsigned = f"{IDP_SSO_URL}?{urlencode(kept)}"
    with pytest.raises(PeerRefused, match="AuthnRequestsSigned"):
        idp.parse_login_redirect(unsigned)


def test_logout_response_to_a_request_the_idp_never_sent_is_refused(
    browser: Browser, saml_connection: Connection
) -> None:
    assert browser.sign_in().status_code == 302
    other = TestIdP(sp_metadata(saml_connection))  # the same IdP, but it sent nothing
    _request_id, url = browser.idp.logout_request(SLO_URL, SP_ENTITY_ID, "alice@example.com")
    answer = browser.client.get(url.replace("http://testserver", ""))["Location"]
    assert browser.idp.parse_logout_response(answer).status.endswith(":Success")
    with pytest.raises(PeerRefused, match="InResponseTo"):
        other.parse_logout_response(answer)


def test_logout_messages_are_schema_valid_and_signed(
    browser: Browser, saml_connection: Connection, protocol_schema: Any
) -> None:
    _request_id, url = browser.idp.logout_request(
        SLO_URL, SP_ENTITY_ID, "alice@example.com", session_index="_s1"
    )
    query = parse_qs(urlparse(url).query)
    root = _valid(protocol_schema, inflate_b64(query["SAMLRequest"][0]))
    assert root.find("samlp:SessionIndex", NS).text == "_s1"
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert browser.sign_in().status_code == 302
    sp_request = browser.idp.parse_logout_request(
        browser.client.post("/sso/acme/logout/")["Location"]
    )
    answer = browser.idp.logout_response_url(sp_request, SLO_URL)
    _valid(protocol_schema, inflate_b64(parse_qs(urlparse(answer).query)["SAMLResponse"][0]))


# ---------------------------------------------------------------------- Python alone


def test_the_idp_needs_no_program(
    saml_connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a machine with only Python, under CI (where a missing tool fails the test): no
    # program on the PATH, and starting one is an error.
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)

    def no_process(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"the test IdP started a program: {args!r}")

    monkeypatch.setattr(subprocess.Popen, "__init__", no_process)
    browser = Browser(TestIdP(sp_metadata(saml_connection)))
    assert browser.sign_in(sign_response=True).status_code == 302
    assert browser.who() == "home: alice@example.com"
    url = browser.idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com")
    assert browser.client.get(url.replace("http://testserver", "")).status_code == 302
    assert browser.who() == "home: anonymous"
