"""Single Logout over the redirect binding, with the test identity provider."""

from __future__ import annotations

import base64
import logging
import zlib
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from django_provisioning.models import Connection, UserSession

from .conftest import SLO_URL, SP_ENTITY_ID, Browser, sp_metadata
from .idp import IDP_SLO_URL, TestIdP, pem

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(browser: Browser, saml_connection: Connection) -> Browser:
    assert browser.sign_in().status_code == 302
    assert browser.who() == "home: alice@example.com"
    return browser


def _local(url: str) -> str:
    parts = urlparse(url)
    return f"{parts.path}?{parts.query}"


def test_idp_initiated_logout_ends_the_session_and_answers(signed_in: Browser) -> None:
    request_id, url = signed_in.idp.logout_request(SLO_URL, SP_ENTITY_ID, "alice@example.com")
    assert "Signature=" in url

    response = signed_in.client.get(_local(url))

    assert response.status_code == 302
    assert response["Location"].startswith(IDP_SLO_URL + "?")
    query = parse_qs(urlparse(response["Location"]).query)
    assert query["RelayState"] == ["rs-42"]
    assert "Signature" not in query  # no SP key configured: unsigned LogoutResponse
    answer = signed_in.idp.parse_logout_response(response["Location"])
    assert answer.in_response_to == request_id
    assert answer.status == "urn:oasis:names:tc:SAML:2.0:status:Success"
    assert answer.issuer.text == SP_ENTITY_ID
    assert signed_in.who() == "home: anonymous"
    assert not UserSession.objects.exists()


def test_idp_logout_for_another_subject_keeps_the_session(signed_in: Browser) -> None:
    url = signed_in.idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "bob@example.com")
    response = signed_in.client.get(_local(url))
    assert response.status_code == 302
    assert signed_in.who() == "home: alice@example.com"


def test_logout_request_with_a_bad_signature_refused(signed_in: Browser, caplog: Any) -> None:
    url = signed_in.idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com")
    tampered = url.replace("RelayState=rs-42", "RelayState=rs-43")
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = signed_in.client.get(_local(tampered))
    assert response.status_code == 400
    assert "sign-out message" in response.content.decode()
    assert signed_in.who() == "home: alice@example.com"


def test_sp_initiated_logout(signed_in: Browser, saml_connection: Connection) -> None:
    response = signed_in.client.post("/sso/acme/logout/")

    assert response.status_code == 302
    assert response["Location"].startswith(IDP_SLO_URL + "?")
    assert signed_in.who() == "home: anonymous"
    request = signed_in.idp.parse_logout_request(response["Location"])
    assert request.name_id.text == "alice@example.com"
    assert request.destination == IDP_SLO_URL
    assert request.issuer.text == SP_ENTITY_ID

    # The IdP answers; we check it answers our request and send the browser home.
    answer = signed_in.idp.logout_response_url(request, SLO_URL)
    done = signed_in.client.get(_local(answer))
    assert done.status_code == 302
    assert done["Location"] == "/"


def test_logout_response_without_a_request_refused(signed_in: Browser) -> None:
    response = signed_in.client.post("/sso/acme/logout/")
    request = signed_in.idp.parse_logout_request(response["Location"])
    answer = signed_in.idp.logout_response_url(request, SLO_URL)
    assert Client().get(_local(answer)).status_code == 400  # another browser


def test_sp_logout_signed_with_sp_key(signed_in: Browser, saml_connection: Connection) -> None:
    saml_connection.sp_certificate = pem("sp.crt")
    saml_connection.sp_private_key = pem("sp.key")
    saml_connection.save()
    response = signed_in.client.post("/sso/acme/logout/")
    query = parse_qs(urlparse(response["Location"]).query)
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert query["Signature"]
    # The IdP, given the metadata that now carries our certificate, verifies the signature.
    request = TestIdP(sp_metadata(saml_connection)).parse_logout_request(response["Location"])
    assert request.signed and request.name_id.text == "alice@example.com"


def test_logout_requires_post(signed_in: Browser) -> None:
    assert signed_in.client.get("/sso/acme/logout/").status_code == 405
    assert signed_in.who() == "home: alice@example.com"


def test_logout_without_idp_slo_is_local(signed_in: Browser, saml_connection: Connection) -> None:
    saml_connection.idp_slo_url = ""
    saml_connection.save()
    response = signed_in.client.post("/sso/acme/logout/")
    assert response["Location"] == "/"
    assert signed_in.who() == "home: anonymous"


def test_slo_without_message(signed_in: Browser) -> None:
    assert signed_in.client.get("/sso/acme/slo/").status_code == 400


# ------------------------------------------------------------- unsigned and hostile messages


def _deflated(xml: bytes) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode()


def _no_errors(caplog: Any) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def test_unsigned_logout_request_is_refused(signed_in: Browser, caplog: Any) -> None:
    # Any site could otherwise log the user out by sending the browser here (logout CSRF).
    url = signed_in.idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com", sign=False)
    assert "Signature=" not in url
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = signed_in.client.get(_local(url))
    body = response.content.decode()
    assert response.status_code == 400
    assert "sign-out message from your identity provider is not signed" in body
    assert "quote this reference" in body
    assert signed_in.who() == "home: alice@example.com"
    assert UserSession.objects.exists()
    assert any("code logout_unsigned" in r.getMessage() for r in caplog.records)
    _no_errors(caplog)


def test_logout_request_with_the_signature_stripped_is_refused(signed_in: Browser) -> None:
    url = signed_in.idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com")
    parts = urlparse(url)
    query = {k: v for k, v in parse_qs(parts.query).items() if k != "Signature"}
    response = signed_in.client.get(parts.path, {k: v[0] for k, v in query.items()})
    assert response.status_code == 400
    assert signed_in.who() == "home: alice@example.com"


def test_logout_request_signed_by_a_foreign_key_is_refused(
    signed_in: Browser, saml_connection: Connection
) -> None:
    foreign = TestIdP(sp_metadata(saml_connection), key="foreign")
    url = foreign.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com")
    assert "Signature=" in url
    assert signed_in.client.get(_local(url)).status_code == 400
    assert signed_in.who() == "home: alice@example.com"


def test_unsigned_logout_response_is_not_a_confirmation(signed_in: Browser) -> None:
    # Issue 13: signed out here all the same; the page says the IdP's part is unconfirmed.
    response = signed_in.client.post("/sso/acme/logout/")
    request = signed_in.idp.parse_logout_request(response["Location"])
    answer = signed_in.idp.logout_response_url(request, SLO_URL, sign=False)
    assert "Signature=" not in answer
    page = signed_in.client.get(_local(answer))
    body = page.content.decode()
    assert page.status_code == 200
    assert "Sign-in failed" not in body
    assert "You are signed out of this site." in body and "not signed" in body
    assert signed_in.who() == "home: anonymous"


def test_sp_without_a_key_still_verifies_signed_logout_requests(
    signed_in: Browser, saml_connection: Connection
) -> None:
    # No SP key anywhere: the IdP's signature is checked with the IdP certificate alone.
    assert not saml_connection.sp_private_key
    url = signed_in.idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com")
    response = signed_in.client.get(_local(url))
    assert response.status_code == 302
    assert signed_in.who() == "home: anonymous"


LOGOUT_REQUEST = (
    b'<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
    b'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x" Version="2.0" '
    b'IssueInstant="2024-01-01T00:00:00Z"><saml:NameID>alice@example.com</saml:NameID>'
    b"</samlp:LogoutRequest>"
)

HOSTILE_LOGOUT_MESSAGES = {
    "not-base64": "!!!",
    "not-xml": _deflated(b"garbage"),
    "plain-base64-garbage": base64.b64encode(b"garbage").decode(),
    "truncated-deflate": _deflated(LOGOUT_REQUEST)[:40],
    "billion-laughs": _deflated(
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" '
        b'Version="2.0">&b;</samlp:LogoutRequest>'
    ),
    "xxe": _deflated(
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;'
        b"</samlp:LogoutRequest>"
    ),
    "deflate-bomb": _deflated(b"<a>" + b" " * 20_000_000 + b"</a>"),
    "wrong-root": _deflated(
        b'<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x"/>'
    ),
    "comment": _deflated(LOGOUT_REQUEST.replace(b"alice@", b"alice<!---->@")),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_LOGOUT_MESSAGES))
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "with-signature-params"])
def test_hostile_logout_request_is_a_plain_refusal(
    signed_in: Browser, caplog: Any, name: str, signed: bool
) -> None:
    query = {"SAMLRequest": HOSTILE_LOGOUT_MESSAGES[name]}
    if signed:  # whatever the signature, the message is read (safely) first
        query |= {
            "SigAlg": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "Signature": "AA==",
        }
    with caplog.at_level("INFO"):
        response = signed_in.client.get("/sso/acme/slo/", query)
    assert response.status_code == 400
    assert "sign-out message" in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert any("code logout_invalid" in r.getMessage() for r in caplog.records)
    _no_errors(caplog)
    assert signed_in.who() == "home: alice@example.com"


@pytest.mark.parametrize("name", ["not-base64", "billion-laughs", "deflate-bomb", "wrong-root"])
def test_hostile_logout_response_is_a_plain_refusal(
    signed_in: Browser, caplog: Any, name: str
) -> None:
    signed_in.client.post("/sso/acme/logout/")  # a LogoutRequest of ours is pending
    message = _deflated(LOGOUT_REQUEST) if name == "wrong-root" else HOSTILE_LOGOUT_MESSAGES[name]
    with caplog.at_level("INFO"):
        response = signed_in.client.get("/sso/acme/slo/", {"SAMLResponse": message})
    assert response.status_code == 400
    assert any("code logout_invalid" in r.getMessage() for r in caplog.records)
    _no_errors(caplog)
