"""SP-initiated login: the AuthnRequest, as the test identity provider reads it."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from django_provisioning.models import Connection
from django_provisioning.saml import state

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
    stored = browser.outstanding()
    assert list(stored) == [request.id]
    slug, _issued_at, next_url = stored[request.id]
    assert (slug, next_url) == ("acme", "/home/?a=1")


def test_the_request_id_is_kept_in_a_signed_cookie_not_the_session(
    browser: Browser, saml_connection: Connection
) -> None:
    """An anonymous visit writes no session row: the request id rides in a cookie of its own,
    HttpOnly, SameSite=Lax, for this host's whole path, expiring with SAML_REQUEST_TTL."""
    response = browser.client.get("/sso/acme/login/")

    assert response.status_code == 302
    assert "sessionid" not in response.cookies
    assert not Session.objects.exists()
    cookie = response.cookies[state.REQUESTS_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert not cookie["secure"] and not cookie["domain"]  # plain HTTP: no __Host- prefix
    assert cookie["max-age"] == 600
    assert ":" in cookie.value  # signed (django.core.signing), not the ids in the clear alone


def test_on_https_the_cookie_has_the_host_prefix(
    saml_connection: Connection, settings: Any
) -> None:
    """``__Host-``: Secure, Path=/, no Domain, so no sibling subdomain can set it."""
    settings.ALLOWED_HOSTS = ["testserver"]
    response = Client().get("/sso/acme/login/", secure=True)

    assert response.status_code == 302
    assert state.REQUESTS_COOKIE not in response.cookies
    cookie = response.cookies[state.SECURE_REQUESTS_COOKIE]
    assert cookie["secure"] and cookie["path"] == "/" and not cookie["domain"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_each_login_adds_a_request_id_and_keeps_a_bounded_number(
    browser: Browser, saml_connection: Connection
) -> None:
    ids = [browser.start()[0].id for _ in range(12)]
    stored = browser.outstanding()
    assert len(stored) == 10
    assert set(stored) == set(ids[-10:])


def test_long_next_urls_drop_the_oldest_requests_to_fit_a_cookie(
    browser: Browser, saml_connection: Connection
) -> None:
    """Browsers keep about 4 KB a cookie: the oldest requests make room for the newest, which
    is always kept; the kept one still signs in, to its ``next``."""
    nexts = [f"/home/?q={secrets.token_urlsafe(1200)}" for _ in range(4)]
    started = [browser.start(next_url) for next_url in nexts]

    stored = browser.outstanding()
    cookie = browser.client.cookies[state.REQUESTS_COOKIE]
    assert len(cookie.value) <= state.MAX_REQUESTS_COOKIE
    assert 1 <= len(stored) < 4
    assert started[-1][0].id in stored
    request, _relay_state = started[-1]
    response = browser.finish(browser.post(browser.response_for(request)))  # no RelayState
    assert response.status_code == 302
    assert response["Location"] == nexts[-1]


def test_a_next_url_too_long_for_the_cookie_is_carried_by_the_relay_state(
    browser: Browser, saml_connection: Connection, monkeypatch: Any
) -> None:
    """A ``next`` that cannot fit even alone is not kept with the request id; the id is, and
    the RelayState, checked the same way, brings the browser there."""
    monkeypatch.setattr(state, "MAX_REQUESTS_COOKIE", 400)
    next_url = f"/home/?q={secrets.token_urlsafe(600)}"
    request, relay_state = browser.start(next_url)

    assert browser.outstanding()[request.id][2] == ""
    assert len(browser.client.cookies[state.REQUESTS_COOKIE].value) <= 400
    response = browser.finish(browser.post(browser.response_for(request), relay_state))
    assert response.status_code == 302
    assert response["Location"] == next_url


def test_a_request_id_that_cannot_fit_even_alone_ends_the_cookie_and_the_loop(
    browser: Browser, saml_connection: Connection, monkeypatch: Any
) -> None:
    """Dropping entries to fit must end: when not even the newest id without its ``next``
    fits (a limit lowered this far), no cookie is written, and the old one is deleted."""
    calls: list[int] = []
    dumps = state.signing.dumps

    def counted(*args: Any, **kwargs: Any) -> str:
        calls.append(1)
        assert len(calls) < 50, "_write_requests does not end"
        return dumps(*args, **kwargs)

    browser.start("/home/")  # a cookie to delete
    monkeypatch.setattr(state, "MAX_REQUESTS_COOKIE", 60)
    monkeypatch.setattr(state.signing, "dumps", counted)
    response = browser.client.get("/sso/acme/login/", {"next": "/home/"})

    assert response.status_code == 302
    assert response.cookies[state.REQUESTS_COOKIE]["max-age"] == 0
    assert len(calls) <= 3  # with the next, without it, then nothing left


def test_a_next_url_over_2048_bytes_is_refused_clearly(
    browser: Browser, saml_connection: Connection
) -> None:
    """Counted in UTF-8 bytes: 700 CJK characters (2,100 bytes; 6,300 once percent-encoded)
    are refused with the redirect error, not sent to the identity provider."""
    response = browser.client.get("/sso/acme/login/", {"next": "/home/?q=" + "\u4e2d" * 700})

    assert response.status_code == 400
    assert "not on this site" in response.content.decode()
    assert state.REQUESTS_COOKIE not in response.cookies
    ok = browser.client.get("/sso/acme/login/", {"next": "/home/?q=" + "\u4e2d" * 670})
    assert ok.status_code == 302


def test_a_relay_state_over_2048_bytes_is_refused_clearly(
    browser: Browser, saml_connection: Connection
) -> None:
    """RelayState is checked as ``next`` is: 700 CJK characters (under 2,048 characters,
    2,100 bytes in UTF-8) are refused in step 1, before the response is validated."""
    request, _relay_state = browser.start()
    response = browser.post(browser.response_for(request), "/home/?q=" + "\u4e2d" * 700)

    assert response.status_code == 400
    assert "not on this site" in response.content.decode()
    assert browser.outstanding()  # the request is still open: nothing was consumed


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
