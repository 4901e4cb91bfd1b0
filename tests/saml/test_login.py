"""SP-initiated login: the AuthnRequest, as the test identity provider reads it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from django_provisioning.models import Connection

from .conftest import ACS_URL, SP_ENTITY_ID, Browser, sp_metadata
from .idp import IDP_SSO_URL, TestIdP, pem

pytestmark = pytest.mark.django_db


def test_login_redirects_to_the_idp_with_an_authn_request(
    browser: Browser, saml_connection: Connection
) -> None:
    request, relay_state = browser.start("/home/?a=1")

    assert request.issuer.text == SP_ENTITY_ID
    assert request.assertion_consumer_service_url == ACS_URL
    assert request.destination == IDP_SSO_URL
    assert request.name_id_policy.format == saml_connection.name_id_format
    assert relay_state == "/home/?a=1"
    stored = browser.client.session["_dp_saml_requests"]
    assert list(stored) == [request.id]
    assert stored[request.id]["connection"] == "acme"
    assert stored[request.id]["next"] == "/home/?a=1"


def test_each_login_adds_a_request_id_and_keeps_a_bounded_number(
    browser: Browser, saml_connection: Connection
) -> None:
    ids = [browser.start()[0].id for _ in range(12)]
    stored = browser.client.session["_dp_saml_requests"]
    assert len(stored) == 10
    assert set(stored) == set(ids[-10:])


def test_signed_authn_request(browser: Browser, saml_connection: Connection) -> None:
    saml_connection.sign_authn_requests = True
    saml_connection.sp_certificate = pem("sp.crt")
    saml_connection.sp_private_key = pem("sp.key")
    saml_connection.save()

    response = browser.client.get("/sso/acme/login/")

    query = parse_qs(urlparse(response["Location"]).query)
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert query["Signature"]
    # The IdP, holding the metadata that now carries our certificate, verifies it.
    idp = TestIdP(sp_metadata(saml_connection))
    request, _relay_state = idp.parse_login_redirect(response["Location"])
    assert idp.sp.authn_requests_signed
    assert request.signed and request.sig_alg == query["SigAlg"][0]


def test_signed_authn_request_without_key_is_a_readable_error(
    saml_connection: Connection, caplog: Any
) -> None:
    saml_connection.sign_authn_requests = True
    saml_connection.save()
    with caplog.at_level("ERROR", logger="django_provisioning.saml"):
        response = Client().get("/sso/acme/login/")
    assert response.status_code == 500
    assert "not fully set up" in response.content.decode()
    assert "Traceback" not in response.content.decode()


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/sso/bare/login/"), ("post", "/sso/bare/acs/"), ("get", "/sso/bare/slo/")],
)
def test_connection_without_idp_gets_a_readable_404(method: str, path: str, caplog: Any) -> None:
    """Anyone can hit these URLs for a connection not set up yet: not a 500, not an ERROR log."""
    Connection.objects.create(slug="bare", name="Bare")
    data = {"SAMLResponse": "PHg+PC94Pg=="} if method == "post" else {}
    response = getattr(Client(), method)(path, data)
    assert response.status_code == 404
    assert b"Single sign-on is not set up for your organisation yet" in response.content
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
