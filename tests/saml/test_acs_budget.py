"""What the ACS does once and only once: query budgets of both steps, python3-saml settings
built once per configuration, the response parsed once.

The budgets are exact (``django_assert_num_queries``): a query added to either step fails here
first. Inside a test's transaction BEGIN/COMMIT do not appear and ``atomic`` blocks are
savepoints.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from django_provisioning.models import (
    Connection,
    SamlAssertionReplay,
    SamlPendingLogin,
    UserSession,
)
from django_provisioning.saml import replay, validation
from django_provisioning.saml.config import build_saml_settings
from django_provisioning.saml.security import parse_response

from .conftest import Browser
from .idp import IDP_ENTITY_ID, IDP_SSO_URL, pem

pytestmark = pytest.mark.django_db


def _writes(queries: CaptureQueriesContext) -> list[str]:
    """The statements that write, as "VERB table" (savepoints and reads left out)."""
    found = []
    for query in queries.captured_queries:
        sql = query["sql"]
        verb = sql.split(" ", 1)[0]
        if verb in {"INSERT", "UPDATE", "DELETE"}:
            table = sql.split('"')[1]
            found.append(f"{verb} {table}")
    return found


def _pruned_lately() -> None:
    """As in a process that pruned less than a minute ago (the common case)."""
    replay.prune_when_due("replay", lambda: 0)
    replay.prune_when_due("pending", lambda: 0)


def test_step_one_reads_the_connection_and_writes_two_rows_in_one_transaction(
    browser: Browser, saml_connection: Connection, django_assert_num_queries: Any
) -> None:
    _pruned_lately()
    request, relay_state = browser.start()
    # The connection; SAVEPOINT, the replay row, the pending login, RELEASE.
    with django_assert_num_queries(5) as queries:
        step1 = browser.post(browser.response_for(request), relay_state)
    assert step1.status_code == 303
    assert _writes(queries) == [
        "INSERT django_provisioning_samlassertionreplay",
        "INSERT django_provisioning_samlpendinglogin",
    ]


def test_step_one_prunes_when_due(
    browser: Browser, saml_connection: Connection, django_assert_num_queries: Any
) -> None:
    request, relay_state = browser.start()
    with django_assert_num_queries(7) as queries:  # the 5 above and one DELETE of each kind
        assert browser.post(browser.response_for(request), relay_state).status_code == 303
    assert sorted(w for w in _writes(queries) if w.startswith("DELETE")) == [
        "DELETE django_provisioning_samlassertionreplay",
        "DELETE django_provisioning_samlpendinglogin",
    ]
    request, relay_state = browser.start()
    with django_assert_num_queries(5):  # found nothing to prune: not due for a minute
        assert browser.post(browser.response_for(request), relay_state).status_code == 303


def test_first_sign_in_budget(
    browser: Browser, saml_connection: Connection, django_assert_num_queries: Any
) -> None:
    """Step 2 of a first sign-in: the pending login with its connection (one read), its
    delete, the JIT creation (core), Django's login() (a new session: its key checked and
    the row inserted; last_login), and one upsert of the session's SAML row. No session is
    read or deleted: the request ids are in their own cookie, so the browser had none. Without
    verified domains: the search for an account to link by e-mail (the core's, budgeted with
    SCIM) is not part of it."""
    saml_connection.verified_domains = []
    saml_connection.save()
    _pruned_lately()
    request, relay_state = browser.start()
    step1 = browser.post(browser.response_for(request), relay_state)
    with django_assert_num_queries(26) as queries:
        assert browser.finish(step1).status_code == 302
    writes = _writes(queries)
    assert not [w for w in writes if w.startswith("DELETE django_session")]
    assert writes.count("INSERT django_provisioning_usersession") == 1  # an upsert
    assert "UPDATE django_provisioning_usersession" not in writes  # nothing written twice
    assert writes.count("DELETE django_provisioning_samlpendinglogin") == 1
    row = UserSession.objects.get()
    assert (row.connection, row.name_id) == (saml_connection, "alice@example.com")
    assert not SamlPendingLogin.objects.exists()


def test_returning_user_budget(
    browser: Browser, saml_connection: Connection, django_assert_num_queries: Any
) -> None:
    _pruned_lately()
    assert browser.sign_in().status_code == 302
    again = Browser(browser.idp)
    request, relay_state = again.start()
    with django_assert_num_queries(5):
        step1 = again.post(again.response_for(request), relay_state)
    with django_assert_num_queries(15) as queries:
        assert again.finish(step1).status_code == 302
    assert _writes(queries).count("INSERT django_provisioning_usersession") == 1
    sessions_read = [q for q in queries.captured_queries if '"django_session" WHERE' in q["sql"]]
    # login()'s check that its new key is free; no session loaded, none deleted
    assert [q["sql"].split(" ", 1)[0] for q in sessions_read] == ["SELECT"]
    assert UserSession.objects.count() == 2
    assert SamlAssertionReplay.objects.count() == 2


def test_settings_are_built_once_per_configuration(
    browser: Browser,
    saml_connection: Connection,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """python3-saml's settings object is kept between requests, and a changed connection
    (here the IdP certificate, as an admin rollover does) gets a new one at once."""
    built: list[object] = []
    original = OneLogin_Saml2_Settings.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(OneLogin_Saml2_Settings, "__init__", counting)
    validation._settings_cache.clear()
    assert browser.sign_in().status_code == 302
    assert browser.sign_in().status_code == 302
    # One for the login view (logout settings), one for the ACS; none for the second round.
    assert len(built) == 2

    saml_connection.idp_x509_certs = [pem("idp2.crt")]
    saml_connection.save()
    request, relay_state = browser.start()
    step1 = browser.post(browser.response_for(request), relay_state)
    assert step1.status_code == 400  # signed with the old key: refused under the new cert
    assert "code bad_signature" in caplog.text
    assert len(built) == 4


def test_settings_cache_is_bounded() -> None:
    validation._settings_cache.clear()
    request = RequestFactory().get("/")
    for i in range(validation.SETTINGS_CACHE_SIZE + 5):
        conn = Connection(
            slug=f"c{i}",
            idp_entity_id=IDP_ENTITY_ID,
            idp_sso_url=IDP_SSO_URL,
            idp_x509_certs=[pem("idp.crt")],
        )
        validation.cached_settings(build_saml_settings(conn, request))
    assert len(validation._settings_cache) == validation.SETTINGS_CACHE_SIZE


def test_the_response_is_parsed_once(
    browser: Browser, saml_connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """python3-saml gets the document our hardened parser built (never parses the text)."""
    parses: list[bytes] = []
    original = OneLogin_Saml2_XML._parse_etree

    def counting(xml: bytes, *args: Any, **kwargs: Any) -> Any:
        parses.append(xml)
        return original(xml, *args, **kwargs)

    monkeypatch.setattr(OneLogin_Saml2_XML, "_parse_etree", staticmethod(counting))
    request, relay_state = browser.start()
    assert browser.post(browser.response_for(request), relay_state).status_code == 303
    assert not [xml for xml in parses if b"samlp:Response" in xml or b":Response" in xml]


def test_skewed_response_sets_the_library_state(
    browser: Browser, saml_connection: Connection
) -> None:
    """Our constructor sets exactly the attributes python3-saml's sets (a library upgrade
    that adds one fails here, not in production)."""
    request, _relay_state = browser.start()
    encoded = base64.b64encode(browser.response_for(request)).decode()
    post = RequestFactory().post("/sso/acme/acs/", {"SAMLResponse": encoded})
    settings = validation.saml_settings(saml_connection, post)
    theirs = OneLogin_Saml2_Response(settings, encoded)
    ours = validation.SkewedResponse(settings, parse_response(encoded), skew=0)
    assert set(vars(ours)) - {"skew"} == set(vars(theirs))
    assert OneLogin_Saml2_XML.to_string(ours.document) == OneLogin_Saml2_XML.to_string(
        theirs.document
    )
