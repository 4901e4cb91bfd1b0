"""Interoperability with pysaml2, a second real SAML implementation, as the identity provider.

The rest of the SAML suite runs against the pure-Python test IdP (``tests/saml/idp.py``); these
tests make sure what we send and accept also works with an IdP written by other people: pysaml2
reads our AuthnRequests, LogoutRequests and LogoutResponses and produces the Responses,
LogoutRequests and LogoutResponses we read. pysaml2 signs through Debian's ``xmlsec1``: without
it these tests skip with the ``apt-get`` line, and fail under CI (``tests/tools.py``).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth import get_user_model

from django_provisioning.models import Connection, ExternalIdentity, UserSession

from .conftest import SLO_URL, SP_ENTITY_ID, Browser, sp_metadata
from .idp import IDP_SLO_URL
from .pysaml2_idp import Pysaml2IdP

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def pysaml2_browser(saml_connection: Connection) -> Browser:
    return Browser(Pysaml2IdP(sp_metadata(saml_connection)))  # type: ignore[arg-type]


def _local(url: str) -> str:
    parts = urlparse(url)
    return f"{parts.path}?{parts.query}"


def test_sp_initiated_sign_in(pysaml2_browser: Browser, saml_connection: Connection) -> None:
    request, relay_state = pysaml2_browser.start("/home/?from=pysaml2")
    # pysaml2 read our AuthnRequest: its own view of the fields we sent.
    assert request.issuer.text == SP_ENTITY_ID
    assert request.assertion_consumer_service_url == "http://testserver/sso/acme/acs/"
    xml = pysaml2_browser.response_for(request)
    assert b"xmldsig-more#rsa-sha256" in xml  # pysaml2 signed the assertion itself
    step1 = pysaml2_browser.post(xml, relay_state)
    assert step1.status_code == 303, step1.content
    step2 = pysaml2_browser.finish(step1)
    assert step2.status_code == 302
    assert step2["Location"] == "/home/?from=pysaml2"
    assert pysaml2_browser.who() == "home: alice@example.com"
    identity = ExternalIdentity.objects.get(connection=saml_connection)
    assert identity.name_id == "alice@example.com"
    assert User.objects.count() == 1


def test_signed_response(pysaml2_browser: Browser, saml_connection: Connection) -> None:
    saml_connection.want_messages_signed = True
    saml_connection.want_assertions_signed = False
    saml_connection.save()
    request, relay_state = pysaml2_browser.start()
    unsigned = pysaml2_browser.response_for(request)  # assertion signed, Response not
    refused = pysaml2_browser.post(unsigned, relay_state)
    assert refused.status_code == 400
    assert "not signed as this site requires" in refused.content.decode()

    request, relay_state = pysaml2_browser.start()
    xml = pysaml2_browser.response_for(request, sign_response=True, sign_assertion=False)
    assert pysaml2_browser.finish(pysaml2_browser.post(xml, relay_state)).status_code == 302
    assert pysaml2_browser.who() == "home: alice@example.com"


def test_idp_initiated_logout(pysaml2_browser: Browser) -> None:
    assert pysaml2_browser.sign_in().status_code == 302
    idp: Pysaml2IdP = pysaml2_browser.idp  # type: ignore[assignment]
    request_id, url = idp.logout_request(SLO_URL, SP_ENTITY_ID, "alice@example.com")
    assert "Signature=" in url

    response = pysaml2_browser.client.get(_local(url))

    assert response.status_code == 302
    assert response["Location"].startswith(IDP_SLO_URL + "?")
    assert pysaml2_browser.who() == "home: anonymous"
    assert not UserSession.objects.exists()
    # pysaml2 reads our LogoutResponse and finds it answers its request, successfully.
    answer = idp.parse_logout_response(response["Location"])
    assert answer.in_response_to == request_id
    assert answer.status.status_code.value == "urn:oasis:names:tc:SAML:2.0:status:Success"
    assert answer.issuer.text == SP_ENTITY_ID


def test_sp_initiated_logout(pysaml2_browser: Browser) -> None:
    assert pysaml2_browser.sign_in().status_code == 302
    response = pysaml2_browser.client.post("/sso/acme/logout/")
    assert response.status_code == 302
    assert pysaml2_browser.who() == "home: anonymous"
    # pysaml2 reads our LogoutRequest ...
    request = pysaml2_browser.idp.parse_logout_request(response["Location"])
    assert request.name_id.text == "alice@example.com"
    assert request.destination == IDP_SLO_URL
    assert request.issuer.text == SP_ENTITY_ID
    # ... and its signed LogoutResponse completes our sign-out.
    answer = pysaml2_browser.idp.logout_response_url(request, SLO_URL)
    assert "Signature" in parse_qs(urlparse(answer).query)
    done = pysaml2_browser.client.get(_local(answer))
    assert done.status_code == 302
    assert done["Location"] == "/"
