"""Single Logout over the redirect binding, with pysaml2 as the identity provider."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from django_provisioning.models import Connection, UserSession

from .conftest import SLO_URL, SP_ENTITY_ID, Browser
from .idp import IDP_SLO_URL, pem

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
    url = signed_in.idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com")
    assert "Signature=" in url

    response = signed_in.client.get(_local(url))

    assert response.status_code == 302
    assert response["Location"].startswith(IDP_SLO_URL + "?")
    query = parse_qs(urlparse(response["Location"]).query)
    assert query["RelayState"] == ["rs-42"]
    assert "Signature" not in query  # no SP key configured: unsigned LogoutResponse
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
