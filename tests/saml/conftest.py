from __future__ import annotations

from typing import Any

import pytest
from django.core import signing
from django.test import Client

from django_provisioning.models import Connection
from django_provisioning.saml import state
from tests.factories import ConnectionFactory

from .idp import IDP_SSO_URL, TestIdP, b64, idp_options

SP_ENTITY_ID = "http://testserver/sso/acme/metadata/"
ACS_URL = "http://testserver/sso/acme/acs/"
SLO_URL = "http://testserver/sso/acme/slo/"


@pytest.fixture(autouse=True)
def _saml_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.saml.urls"


@pytest.fixture
def saml_connection(db: Any) -> Connection:
    return ConnectionFactory(
        slug="acme",
        name="Acme",
        verified_domains=["example.com"],
        **idp_options(),
    )


def sp_metadata(connection: Connection) -> str:
    response = Client().get(f"/sso/{connection.slug}/metadata/")
    assert response.status_code == 200, response.content
    return response.content.decode()


@pytest.fixture
def idp(saml_connection: Connection) -> TestIdP:
    return TestIdP(sp_metadata(saml_connection))


class Browser:
    """One browser (one Django test client, one session) talking to the SP and the IdP."""

    def __init__(self, idp: TestIdP, slug: str = "acme") -> None:
        self.idp = idp
        self.slug = slug
        self.client = Client()

    def start(self, next_url: str | None = None) -> tuple[Any, str]:
        """GET the login view; return (the AuthnRequest as the IdP read it, RelayState)."""
        data = {"next": next_url} if next_url is not None else {}
        response = self.client.get(f"/sso/{self.slug}/login/", data)
        assert response.status_code == 302, response.content
        assert response["Location"].startswith(IDP_SSO_URL)
        return self.idp.parse_login_redirect(response["Location"])

    def outstanding(self) -> dict[str, list[Any]]:
        """The AuthnRequest ids this browser's cookie holds (as signed: expiry not applied),
        by id: [slug, issued at, next]; {} without the cookie."""
        cookie = self.client.cookies.get(state.REQUESTS_COOKIE)
        if cookie is None or not cookie.value:
            return {}
        return dict(signing.loads(cookie.value, salt=state.REQUESTS_SALT))

    def response_for(self, request: Any, **kwargs: Any) -> bytes:
        return self.idp.response_xml(
            sp_entity_id=SP_ENTITY_ID,
            acs_url=ACS_URL,
            in_response_to=request.id if request is not None else None,
            **kwargs,
        )

    def post(self, xml: bytes | str, relay_state: str = "", *, cookies: bool = False) -> Any:
        """The IdP's cross-site POST to the ACS: no session cookie, as under SameSite=Lax."""
        client = self.client if cookies else Client()
        body = xml if isinstance(xml, str) else b64(xml)
        return client.post(
            f"/sso/{self.slug}/acs/", {"SAMLResponse": body, "RelayState": relay_state}
        )

    def finish(self, step1: Any) -> Any:
        assert step1.status_code == 303, step1.content
        return self.client.get(step1["Location"])

    def sign_in(self, next_url: str | None = None, **kwargs: Any) -> Any:
        request, relay_state = self.start(next_url)
        return self.finish(self.post(self.response_for(request, **kwargs), relay_state))

    def who(self) -> str:
        return self.client.get("/home/").content.decode()


@pytest.fixture
def browser(idp: TestIdP) -> Browser:
    return Browser(idp)
