"""Attacks on the cookie that binds an AuthnRequest id to the browser that started it.

The login view writes the outstanding request ids into a signed cookie of their own
(:mod:`django_provisioning.saml.state`); the second ACS step accepts a response only to one of
them, for its connection, once. Each attack goes through the real endpoints: a forged, re-keyed,
re-salted or malformed cookie, a plain-named cookie planted on an HTTPS site, an id answered
twice; each is refused with the readable page (403, "started in another browser") and signs
nobody in.
"""

from __future__ import annotations

import secrets
import time
import zlib
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core import signing

from django_provisioning.adapter import DefaultAdapter
from django_provisioning.exceptions import ProvisioningDenied
from django_provisioning.models import Connection, ExternalIdentity, SamlPendingLogin
from django_provisioning.saml import state

from .conftest import ACS_URL, SP_ENTITY_ID, Browser

User = get_user_model()
pytestmark = pytest.mark.django_db


def assert_not_this_browsers(response: Any, browser: Browser, caplog: Any) -> None:
    body = response.content.decode()
    assert response.status_code == 403, body
    assert "started in another browser" in body
    assert not User.objects.exists()
    assert not ExternalIdentity.objects.exists()
    assert not Session.objects.exists()  # nobody's session made (read before the test
    # client's ``session``, which makes one)
    assert any("code session_mismatch" in r.getMessage() for r in caplog.records)


def assert_answer_refused(browser: Browser, request: Any, relay_state: str, caplog: Any) -> None:
    """The IdP's answer to *request*, through both steps in *browser*: refused as not this
    browser's."""
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.finish(browser.post(browser.response_for(request), relay_state))
    assert_not_this_browsers(response, browser, caplog)


def plant(browser: Browser, value: str, name: str = state.REQUESTS_COOKIE) -> None:
    browser.client.cookies[name] = value


def entry(request_id: str, **overrides: Any) -> dict[str, Any]:
    return {request_id: [overrides.get("slug", "acme"), overrides.get("at", time.time()), ""]}


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda p: signing.dumps(p, key="not-the-secret-key", salt=state.REQUESTS_SALT),
            id="another key",
        ),
        pytest.param(lambda p: signing.dumps(p), id="the host's own signing salt"),
        pytest.param(
            lambda p: signing.dumps(p, salt="django_provisioning.saml.other"), id="another salt"
        ),
        pytest.param(
            lambda p: signing.dumps(p, salt=state.REQUESTS_SALT)[:-2] + "xx", id="signature flipped"
        ),
        pytest.param(lambda p: signing.b64_encode(str(p).encode()).decode(), id="unsigned"),
    ],
)
def test_a_forged_cookie_naming_the_attackers_request_is_refused(
    browser: Browser, saml_connection: Connection, caplog: Any, forge: Any
) -> None:
    """Login CSRF: the attacker has a response for its own account to a request of its own,
    and a browser that never asked for it; a cookie naming that request, made without this
    site's key and salt, does not make it this browser's."""
    attacker = Browser(browser.idp)
    request, relay_state = attacker.start()
    step1 = browser.post(browser.response_for(request), relay_state)
    plant(browser, forge(entry(request.id)))

    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.finish(step1)

    assert_not_this_browsers(response, browser, caplog)
    assert not SamlPendingLogin.objects.exists()  # the pending login was used up


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param([], id="a list"),
        pytest.param("text", id="a string"),
        pytest.param({"ID": "acme"}, id="an entry that is no list"),
        pytest.param({"ID": ["acme", "now", ""]}, id="issued at as text"),
        pytest.param({"ID": ["acme", 1e300, ""]}, id="issued far in the future"),
        pytest.param(
            {"ID": ["acme", time.time() + state.MAX_CLOCK_AHEAD + 60, ""]},
            id="issued further ahead than a clock may run",
        ),
        pytest.param({"ID": ["acme", -1, ""]}, id="issued before the epoch"),
        pytest.param({"ID": ["acme", 10**400, ""]}, id="issued at an int too large for a float"),
        pytest.param({"ID": ["acme", float("nan"), ""]}, id="issued at NaN"),
        pytest.param({"ID": [None, "ID", ""]}, id="no slug"),
        pytest.param({"ID": ["acme", "ID"]}, id="two fields"),
    ],
)
def test_a_signed_cookie_of_another_shape_signs_nobody_in(
    browser: Browser, saml_connection: Connection, caplog: Any, payload: Any
) -> None:
    """Even under this site's key (a leaked or reused one), a cookie of any other shape is
    read as no request: a refusal, never a 500."""
    request, relay_state = Browser(browser.idp).start()
    step1 = browser.post(browser.response_for(request), relay_state)
    if isinstance(payload, dict):
        (value,) = payload.values()
        payload = {request.id: value}
    plant(browser, signing.dumps(payload, salt=state.REQUESTS_SALT))

    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.finish(step1)

    assert_not_this_browsers(response, browser, caplog)


def _signed_raw(data: bytes) -> str:
    """*data*, compressed as ``signing.dumps`` does (so that it fits the cookie), signed with
    this site's key under our salt, whatever it holds."""
    compressed = "." + signing.b64_encode(zlib.compress(data)).decode()
    return signing.TimestampSigner(salt=state.REQUESTS_SALT).sign(compressed)


#: Values that only this site's key can make, that ``signing.loads`` cannot read back.
UNREADABLE_SIGNED = [
    pytest.param(
        lambda: signing.Signer(salt=state.REQUESTS_SALT).sign("e30"), id="without a timestamp"
    ),
    pytest.param(
        lambda: _signed_raw(b'{"ID":["acme",' + b"9" * 5000 + b',""]}'), id="a 5,000-digit int"
    ),
    pytest.param(lambda: _signed_raw(b"[" * 100_000), id="nested too deep"),
    pytest.param(lambda: _signed_raw(b"{not json"), id="not JSON"),
    pytest.param(
        lambda: signing.TimestampSigner(salt=state.REQUESTS_SALT).sign(".bm90IHpsaWI"),
        id="not zlib",
    ),
]


@pytest.mark.parametrize("make", UNREADABLE_SIGNED)
def test_a_signed_cookie_that_cannot_be_read_signs_nobody_in(
    browser: Browser, saml_connection: Connection, caplog: Any, make: Any
) -> None:
    """Signed, so past the signature check, but not a payload ``signing.loads`` can read: no
    request (the refusal of another browser), no "unexpected" error with a traceback."""
    request, relay_state = Browser(browser.idp).start()
    step1 = browser.post(browser.response_for(request), relay_state)
    plant(browser, make())

    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.finish(step1)

    assert_not_this_browsers(response, browser, caplog)
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize(
    "make",
    [
        *UNREADABLE_SIGNED,
        pytest.param(
            lambda: signing.dumps({"ID": ["acme", 10**400, ""]}, salt=state.REQUESTS_SALT),
            id="issued at an int too large for a float",
        ),
    ],
)
def test_the_login_view_replaces_a_signed_cookie_it_cannot_read(
    browser: Browser, saml_connection: Connection, caplog: Any, make: Any
) -> None:
    """The login view reads the cookie to add to it: one it cannot read is replaced, and the
    sign-in starts (before, such a cookie failed every login of the browser until it expired)."""
    plant(browser, make())
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        request, _relay_state = browser.start()
    assert list(browser.outstanding()) == [request.id]
    assert not [r for r in caplog.records if r.exc_info]


def test_an_oversized_cookie_is_not_read(
    browser: Browser, saml_connection: Connection, caplog: Any
) -> None:
    """Validly signed and naming this very request, but longer than any cookie the login view
    writes: not read (a signature is not checked over more than 3,800 characters). Padding a
    valid cookie would not do: the padding breaks its signature first."""
    request, relay_state = browser.start()
    payload = {request.id: ["acme", time.time(), "/home/?q=" + secrets.token_urlsafe(3000)]}
    oversized = signing.dumps(payload, salt=state.REQUESTS_SALT, compress=True)
    assert len(oversized) > state.MAX_REQUESTS_COOKIE
    plant(browser, oversized)
    assert_answer_refused(browser, request, relay_state, caplog)


def test_an_entry_older_than_the_ttl_is_refused_in_a_fresh_cookie(
    browser: Browser, saml_connection: Connection, caplog: Any
) -> None:
    """Each id keeps its own time: a cookie signed now does not make an old request young
    (the login view drops such entries when it writes; here one is planted)."""
    request, relay_state = browser.start()
    plant(browser, signing.dumps(entry(request.id, at=time.time() - 601), salt=state.REQUESTS_SALT))
    assert_answer_refused(browser, request, relay_state, caplog)


@pytest.mark.parametrize("ahead", [0.5, 5, state.MAX_CLOCK_AHEAD - 5])
def test_a_request_issued_by_a_server_whose_clock_runs_ahead_is_answered(
    browser: Browser, saml_connection: Connection, ahead: float
) -> None:
    """Behind a load balancer the login view and the second step may run on two servers; the
    second's clock a little behind the first's must not refuse a quick answer (an identity
    provider that still has a session answers within the second). The session design did not."""
    with mock.patch.object(state.time, "time", return_value=time.time() + ahead):
        request, relay_state = browser.start("/ahead/")
    response = browser.finish(browser.post(browser.response_for(request), relay_state))
    assert response.status_code == 302, response.content.decode()
    assert response["Location"] == "/ahead/"


def test_the_login_view_drops_expired_requests_when_it_writes(
    browser: Browser, saml_connection: Connection
) -> None:
    old, _relay = browser.start()
    with mock.patch.object(state.time, "time", return_value=time.time() + 601):
        new, _relay = browser.start()
    assert old.id not in browser.outstanding()
    assert list(browser.outstanding()) == [new.id]


def test_on_https_a_cookie_without_the_host_prefix_is_ignored(
    browser: Browser, saml_connection: Connection, caplog: Any, settings: Any
) -> None:
    """Cookie tossing: a sibling subdomain (or a plain-HTTP page) can set
    ``dp_saml_requests`` for this host, never ``__Host-dp_saml_requests``; on HTTPS only the
    latter is read. Here the planted cookie is even validly signed."""
    request, relay_state = browser.start()  # over HTTP: the unprefixed cookie
    step1 = browser.post(browser.response_for(request), relay_state)
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.client.get(step1["Location"], secure=True)
    assert_not_this_browsers(response, browser, caplog)


def test_a_sign_in_over_https_uses_the_host_prefixed_cookie(
    browser: Browser, saml_connection: Connection
) -> None:
    assert browser.client.get("/sso/acme/login/", secure=True).status_code == 302
    cookie = browser.client.cookies[state.SECURE_REQUESTS_COOKIE].value
    (request_id,) = signing.loads(cookie, salt=state.REQUESTS_SALT)
    xml = browser.idp.response_xml(
        sp_entity_id=SP_ENTITY_ID, acs_url=ACS_URL, in_response_to=request_id
    )
    step1 = browser.post(xml)

    step2 = browser.client.get(step1["Location"], secure=True)

    assert step2.status_code == 302
    assert browser.client.get("/home/", secure=True).content == b"home: alice@example.com"
    deleted = step2.cookies[state.SECURE_REQUESTS_COOKIE]
    assert deleted["max-age"] == 0  # none left: deleted
    # A browser drops a __Host- cookie only on a Set-Cookie with Secure, Path=/, no Domain.
    assert deleted["secure"] and deleted["path"] == "/" and not deleted["domain"]
    assert "; Secure" in deleted.output()


def test_behind_a_proxy_the_forwarded_scheme_names_the_cookie(
    browser: Browser, saml_connection: Connection, settings: Any, caplog: Any
) -> None:
    """``request.is_secure()`` decides the name: behind a TLS-terminating proxy, with
    ``SECURE_PROXY_SSL_HEADER`` set, the ``__Host-`` cookie is written and read; the header
    alone, without the setting, is anyone's to send and changes nothing."""
    forwarded = {"X-Forwarded-Proto": "https"}
    unconfigured = browser.client.get("/sso/acme/login/", headers=forwarded)
    assert state.REQUESTS_COOKIE in unconfigured.cookies
    assert state.SECURE_REQUESTS_COOKIE not in unconfigured.cookies

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    login = browser.client.get("/sso/acme/login/", headers=forwarded)
    cookie = login.cookies[state.SECURE_REQUESTS_COOKIE]
    assert cookie["secure"]
    (request_id,) = signing.loads(cookie.value, salt=state.REQUESTS_SALT)
    xml = browser.idp.response_xml(
        sp_entity_id=SP_ENTITY_ID, acs_url=ACS_URL, in_response_to=request_id
    )
    step1 = browser.post(xml)
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        plain = browser.client.get(step1["Location"])  # the proxy said http: not read
    assert_not_this_browsers(plain, browser, caplog)

    step1 = browser.post(
        browser.idp.response_xml(
            sp_entity_id=SP_ENTITY_ID, acs_url=ACS_URL, in_response_to=request_id
        )
    )
    # Refused above and taken out only of the plain cookie: the __Host- one still holds it.
    step2 = browser.client.get(step1["Location"], headers=forwarded)
    assert step2.status_code == 302, step2.content.decode()
    assert step2.cookies[state.SECURE_REQUESTS_COOKIE]["max-age"] == 0


def test_a_cookie_signed_with_a_key_in_secret_key_fallbacks_is_read(
    browser: Browser, saml_connection: Connection, settings: Any, caplog: Any
) -> None:
    """``SECRET_KEY`` rotated while a sign-in is under way: the cookie signed with the old key
    is read while that key is in ``SECRET_KEY_FALLBACKS``, and refused once it is out of
    both (docs/saml.rst, "Settings used")."""
    old_key = settings.SECRET_KEY
    first, first_relay = browser.start()
    second, second_relay = browser.start()
    signed_with_old = browser.client.cookies[state.REQUESTS_COOKIE].value
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]

    done = browser.finish(browser.post(browser.response_for(first), first_relay))
    assert done.status_code == 302
    rewritten = done.cookies[state.REQUESTS_COOKIE].value
    assert signing.loads(rewritten, salt=state.REQUESTS_SALT)  # under the new key now
    assert rewritten != signed_with_old

    plant(browser, signed_with_old)  # the old one again: its key now rotated out of both
    settings.SECRET_KEY_FALLBACKS = []
    browser.client.logout()
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        refused = browser.finish(browser.post(browser.response_for(second), second_relay))
    assert refused.status_code == 403
    assert "started in another browser" in refused.content.decode()
    assert any("code session_mismatch" in r.getMessage() for r in caplog.records)


def test_the_cookie_and_its_ids_expire_with_saml_request_ttl(
    browser: Browser, saml_connection: Connection, settings: Any, caplog: Any
) -> None:
    """``SAML_REQUEST_TTL`` is the cookie's Max-Age and each id's life, read when used."""
    settings.DJANGO_PROVISIONING = {"SAML_REQUEST_TTL": 30}
    login = browser.client.get("/sso/acme/login/")
    assert login.cookies[state.REQUESTS_COOKIE]["max-age"] == 30

    request, relay_state = browser.start()
    step1 = browser.post(browser.response_for(request), relay_state)
    with (
        mock.patch.object(state.time, "time", return_value=time.time() + 31),
        caplog.at_level("INFO", logger="django_provisioning.saml"),
    ):
        response = browser.finish(step1)
    assert_not_this_browsers(response, browser, caplog)


def test_the_cookie_is_lax_whatever_the_session_cookie_is(
    browser: Browser, saml_connection: Connection, settings: Any
) -> None:
    """Under ``SESSION_COOKIE_SAMESITE = "Strict"`` the request-id cookie stays ``Lax``: the
    second step is a navigation the identity provider's page started."""
    settings.SESSION_COOKIE_SAMESITE = "Strict"
    response = browser.client.get("/sso/acme/login/")
    assert response.cookies[state.REQUESTS_COOKIE]["samesite"] == "Lax"


def test_a_request_id_answers_one_response_even_when_that_was_refused(
    browser: Browser, saml_connection: Connection, caplog: Any
) -> None:
    """The id leaves the cookie with the second step's answer, a refusal too: a second
    response to the same request (the IdP asked again after a back button) is not taken."""
    request, relay_state = browser.start()
    denied = mock.patch.object(DefaultAdapter, "pre_jit", side_effect=ProvisioningDenied("no"))
    with denied:
        refused = browser.finish(browser.post(browser.response_for(request), relay_state))
    assert refused.status_code == 403
    assert browser.outstanding() == {}

    assert_answer_refused(browser, request, relay_state, caplog)


def test_a_copy_of_the_cookie_from_before_the_answer_still_names_the_id(
    browser: Browser, saml_connection: Connection, caplog: Any
) -> None:
    """What the session design guaranteed and the cookie does not (docs/saml.rst): the id
    leaves the browser's cookie, not every copy of it. A second response the IdP issues to
    the same request is taken with a copy kept from before; the same response is not (the
    replay cache). Should the id come to be consumed on the server, this fails: update the
    docs with it."""
    request, relay_state = browser.start()
    copy = browser.client.cookies[state.REQUESTS_COOKIE].value
    first = browser.response_for(request)
    assert browser.finish(browser.post(first, relay_state)).status_code == 302
    assert browser.outstanding() == {}

    plant(browser, copy)
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        assert browser.post(first, relay_state).status_code == 400  # replayed
    second = browser.finish(browser.post(browser.response_for(request), relay_state))
    assert second.status_code == 302


def test_other_requests_stay_open_after_one_is_answered(
    browser: Browser, saml_connection: Connection
) -> None:
    """Two tabs: each request is answered once, in either order."""
    first = browser.start("/one/")
    second = browser.start("/two/")

    done = browser.finish(browser.post(browser.response_for(second[0]), second[1]))
    assert done["Location"] == "/two/"
    assert list(browser.outstanding()) == [first[0].id]
    done = browser.finish(browser.post(browser.response_for(first[0]), first[1]))
    assert done["Location"] == "/one/"
    assert browser.outstanding() == {}


def test_a_request_of_one_connection_does_not_answer_anothers(
    browser: Browser, saml_connection: Connection, caplog: Any
) -> None:
    """The cookie names the connection of each id: globex's response to an id acme issued is
    refused (both connections trust the same IdP here), and the id is spent."""
    from tests.factories import ConnectionFactory

    ConnectionFactory(
        slug="globex",
        idp_entity_id=saml_connection.idp_entity_id,
        idp_sso_url=saml_connection.idp_sso_url,
        idp_x509_certs=saml_connection.idp_x509_certs,
    )
    request, relay_state = browser.start()  # acme's
    other = Browser(browser.idp, slug="globex")
    other.client = browser.client  # the same browser
    xml = browser.idp.response_xml(
        sp_entity_id="http://testserver/sso/globex/metadata/",
        acs_url="http://testserver/sso/globex/acs/",
        in_response_to=request.id,
    )
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = other.finish(other.post(xml, relay_state))
    assert_not_this_browsers(response, browser, caplog)
    assert browser.outstanding() == {}
