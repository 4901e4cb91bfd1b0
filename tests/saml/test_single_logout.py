"""Single logout as people see it (issue 13), both directions, with the test IdP peer.

SP-initiated: the session here ends first; the IdP's LogoutResponse decides only whether the
page says the sign-out at the IdP was confirmed. IdP-initiated: a signed LogoutRequest ends that
NameID's sessions (by SessionIndex when given) wherever they were opened, once.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import urlparse

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from django_provisioning.models import AuditEvent, Connection, SamlAssertionReplay, UserSession

from .conftest import SLO_URL, SP_ENTITY_ID, Browser
from .idp import IDP_SLO_URL, TestIdP

pytestmark = pytest.mark.django_db

RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"


def _local(url: str) -> str:
    parts = urlparse(url)
    return f"{parts.path}?{parts.query}"


def _title(response: Any) -> str:
    body = response.content.decode()
    return body.split("<title>", 1)[1].split("</title>", 1)[0].strip()


def _sign_in(idp: TestIdP, session_index: str, name_id: str = "alice@example.com") -> Browser:
    browser = Browser(idp)
    attributes = {"email": [name_id]}  # the custom user model signs in by e-mail
    signed_in = browser.sign_in(session_index=session_index, name_id=name_id, attributes=attributes)
    assert signed_in.status_code == 302
    assert browser.who() == f"home: {name_id}"
    return browser


def _sp_logout(browser: Browser, **answer: Any) -> Any:
    """POST the sign-out; the IdP answers (signed and Success unless *answer* says otherwise)."""
    started = browser.client.post("/sso/acme/logout/")
    assert started.status_code == 302 and started["Location"].startswith(IDP_SLO_URL + "?")
    assert browser.who() == "home: anonymous"  # signed out here before the IdP answers
    request = browser.idp.parse_logout_request(started["Location"])
    return browser.client.get(_local(browser.idp.logout_response_url(request, SLO_URL, **answer)))


def _unconfirmed_page(response: Any, status: int) -> str:
    body = response.content.decode()
    assert response.status_code == status
    assert _title(response) == "You are signed out"
    assert "Sign-in failed" not in body
    assert "You are signed out of this site." in body
    assert "could not be confirmed" in body
    assert "If this is a shared computer, close the browser" in body
    return body


def _audited(reason: str) -> AuditEvent:
    event = AuditEvent.objects.get(action="logout_unconfirmed")
    assert event.source == "saml"
    assert event.detail["reason"] == reason
    return event


# ------------------------------------------------------------------------- SP-initiated


def test_a_signed_response_confirms_the_sign_out(idp: TestIdP) -> None:
    browser = _sign_in(idp, "s1")
    key = browser.client.session.session_key

    done = _sp_logout(browser)

    assert done.status_code == 302 and done["Location"] == "/"
    assert not Session.objects.filter(session_key=key).exists()
    assert not UserSession.objects.exists()
    assert not AuditEvent.objects.filter(action="logout_unconfirmed").exists()


def test_an_unsigned_response_is_a_signed_out_page_not_a_failure(idp: TestIdP, caplog: Any) -> None:
    browser = _sign_in(idp, "s1")
    key = browser.client.session.session_key

    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        page = _sp_logout(browser, sign=False)

    body = _unconfirmed_page(page, 200)
    assert "answer was not signed" in body
    assert browser.who() == "home: anonymous"
    assert not Session.objects.filter(session_key=key).exists()
    event = _audited("logout_unsigned")
    assert event.detail["reference"] in body
    logged = [r for r in caplog.records if "code logout_unsigned" in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.WARNING]
    assert event.detail["reference"] in logged[0].getMessage()


def test_an_unsigned_response_confirms_when_the_connection_accepts_them(
    idp: TestIdP, saml_connection: Connection
) -> None:
    saml_connection.accept_unsigned_logout_response = True
    saml_connection.save()
    browser = _sign_in(idp, "s1")

    done = _sp_logout(browser, sign=False)

    assert done.status_code == 302 and done["Location"] == "/"
    assert browser.who() == "home: anonymous"
    assert not AuditEvent.objects.filter(action="logout_unconfirmed").exists()


def test_an_accepted_unsigned_response_must_still_answer_our_request(
    idp: TestIdP, saml_connection: Connection
) -> None:
    saml_connection.accept_unsigned_logout_response = True
    saml_connection.save()
    browser = _sign_in(idp, "s1")

    page = _sp_logout(browser, sign=False, in_response_to="_someone-elses-request")

    _unconfirmed_page(page, 400)
    _audited("logout_invalid")


def test_an_accepted_unsigned_option_still_checks_a_signature_that_is_there(
    idp: TestIdP, saml_connection: Connection
) -> None:
    saml_connection.accept_unsigned_logout_response = True
    saml_connection.save()
    browser = _sign_in(idp, "s1")

    page = _sp_logout(browser, key="foreign")

    body = _unconfirmed_page(page, 400)
    assert "signature that did not verify" in body
    _audited("logout_bad_signature")


def test_a_response_signed_by_a_foreign_key_is_unconfirmed(idp: TestIdP) -> None:
    browser = _sign_in(idp, "s1")

    page = _sp_logout(browser, key="foreign")

    _unconfirmed_page(page, 400)
    _audited("logout_bad_signature")
    assert browser.who() == "home: anonymous"


def test_an_idp_failure_status_is_unconfirmed(idp: TestIdP) -> None:
    browser = _sign_in(idp, "s1")

    page = _sp_logout(browser, status=RESPONDER)

    body = _unconfirmed_page(page, 200)
    assert "reported that it could not sign you out" in body
    event = _audited("logout_idp_failure")
    assert RESPONDER in event.detail["detail"]
    assert browser.who() == "home: anonymous"


def test_a_second_delivery_of_the_response_is_ignored(idp: TestIdP) -> None:
    browser = _sign_in(idp, "s1")
    started = browser.client.post("/sso/acme/logout/")
    request = browser.idp.parse_logout_request(started["Location"])
    answer = _local(browser.idp.logout_response_url(request, SLO_URL))
    assert browser.client.get(answer).status_code == 302

    again = browser.client.get(answer)

    assert again.status_code == 400
    assert _title(again) == "Sign-out message ignored"
    assert "does not match a sign-out started in this browser" in again.content.decode()


def test_sign_out_without_a_saml_sign_in_is_local(
    idp: TestIdP, django_user_model: Any, client: Client
) -> None:
    user = django_user_model.objects.create_user("local", password="pw-local-123")
    client.force_login(user)

    response = client.post("/sso/acme/logout/")

    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/home/").content.decode() == "home: anonymous"


def test_sign_out_through_an_unknown_connection_still_ends_the_session(idp: TestIdP) -> None:
    browser = _sign_in(idp, "s1")

    response = browser.client.post("/sso/nobody/logout/")

    assert response.status_code == 302 and response["Location"] == "/"
    assert browser.who() == "home: anonymous"


# ------------------------------------------------------------------------ IdP-initiated


def test_a_saml_sign_in_records_its_session_for_logout(
    idp: TestIdP, saml_connection: Connection
) -> None:
    browser = _sign_in(idp, "s1")
    row = UserSession.objects.get(session_key=browser.client.session.session_key)
    assert (row.connection_id, row.name_id, row.session_index) == (
        saml_connection.pk,
        "alice@example.com",
        "s1",
    )


def test_idp_logout_with_a_session_index_ends_only_that_session(idp: TestIdP) -> None:
    first, second = _sign_in(idp, "s1"), _sign_in(idp, "s2")
    bob = _sign_in(idp, "s1", name_id="bob@example.com")  # same index, another NameID
    url = idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com", session_index="s1")

    # The IdP's front channel may run through any browser: this one has no session here.
    answer = Client().get(_local(url))

    assert answer.status_code == 302 and answer["Location"].startswith(IDP_SLO_URL + "?")
    assert idp.parse_logout_response(answer["Location"]).status.endswith(":Success")
    assert first.who() == "home: anonymous"
    assert second.who() == "home: alice@example.com"
    assert bob.who() == "home: bob@example.com"
    assert set(UserSession.objects.values_list("session_index", "name_id")) == {
        ("s2", "alice@example.com"),
        ("s1", "bob@example.com"),
    }


def test_idp_logout_without_a_session_index_ends_all_of_that_name_ids_sessions(
    idp: TestIdP,
) -> None:
    first, second = _sign_in(idp, "s1"), _sign_in(idp, "s2")
    bob = _sign_in(idp, "s3", name_id="bob@example.com")
    url = idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com")

    answer = first.client.get(_local(url))

    assert answer.status_code == 302
    assert first.who() == "home: anonymous"
    assert second.who() == "home: anonymous"
    assert bob.who() == "home: bob@example.com"
    assert list(UserSession.objects.values_list("name_id", flat=True)) == ["bob@example.com"]
    assert Session.objects.count() == 1


def test_a_replayed_logout_request_is_refused(idp: TestIdP) -> None:
    browser = _sign_in(idp, "s1")
    url = _local(idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com"))
    assert browser.client.get(url).status_code == 302
    assert browser.who() == "home: anonymous"
    again = _sign_in(idp, "s2")  # alice signs in again, after the IdP's logout
    sessions_after_first = set(Session.objects.values_list("session_key", flat=True))

    replayed = again.client.get(url)

    assert replayed.status_code == 400
    assert _title(replayed) == "Sign-out message ignored"
    assert "already used" in replayed.content.decode()
    assert again.who() == "home: alice@example.com"
    assert set(Session.objects.values_list("session_key", flat=True)) == sessions_after_first
    refusal = AuditEvent.objects.get(action="logout_refused")
    assert refusal.detail["reason"] == "logout_replayed"


def test_the_replay_row_lives_until_the_request_expires(
    idp: TestIdP, saml_connection: Connection, settings: Any
) -> None:
    settings.DJANGO_PROVISIONING = {**settings.DJANGO_PROVISIONING, "SAML_MAX_ASSERTION_AGE": 300}
    _sign_in(idp, "s1")
    issued = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    request_id, url = idp.logout_request(
        SLO_URL, SP_ENTITY_ID, "alice@example.com", issue_instant=issued
    )
    assert Client().get(_local(url)).status_code == 302
    row = SamlAssertionReplay.objects.get(assertion_id=f"logout:{request_id}")
    assert row.expires_at == issued + dt.timedelta(seconds=300 + saml_connection.clock_skew)

    soon = issued + dt.timedelta(seconds=30)
    request_id, url = idp.logout_request(
        SLO_URL, SP_ENTITY_ID, "alice@example.com", issue_instant=issued, not_on_or_after=soon
    )
    assert Client().get(_local(url)).status_code == 302
    row = SamlAssertionReplay.objects.get(assertion_id=f"logout:{request_id}")
    assert row.expires_at == soon + dt.timedelta(seconds=saml_connection.clock_skew)


def test_an_old_logout_request_is_refused(idp: TestIdP, settings: Any) -> None:
    settings.DJANGO_PROVISIONING = {**settings.DJANGO_PROVISIONING, "SAML_MAX_ASSERTION_AGE": 300}
    browser = _sign_in(idp, "s1")
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=300 + 120 + 5)
    url = idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com", issue_instant=old)

    refused = browser.client.get(_local(url))

    assert refused.status_code == 400
    assert _title(refused) == "Sign-out message ignored"
    assert "expired" in refused.content.decode()
    assert browser.who() == "home: alice@example.com"
    assert not SamlAssertionReplay.objects.filter(assertion_id__startswith="logout:").exists()


def test_a_logout_request_from_the_future_is_refused(idp: TestIdP) -> None:
    browser = _sign_in(idp, "s1")
    ahead = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=120 + 60)
    url = idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com", issue_instant=ahead)

    assert browser.client.get(_local(url)).status_code == 400
    assert browser.who() == "home: alice@example.com"


def test_a_refused_logout_request_never_reads_sign_in_failed(idp: TestIdP) -> None:
    browser = _sign_in(idp, "s1")
    url = idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com", sign=False)

    refused = browser.client.get(_local(url))

    assert refused.status_code == 400
    assert _title(refused) == "Sign-out message ignored"
    assert "Sign-in failed" not in refused.content.decode()
    assert browser.who() == "home: alice@example.com"


def test_a_long_session_index_is_matched(idp: TestIdP) -> None:
    index = "i" * 400
    browser = _sign_in(idp, index)
    other = _sign_in(idp, "s2")
    url = idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com", session_index=index)

    assert Client().get(_local(url)).status_code == 302

    assert browser.who() == "home: anonymous"
    assert other.who() == "home: alice@example.com"


def test_a_session_from_before_the_upgrade_is_ended_in_its_own_browser(idp: TestIdP) -> None:
    browser = _sign_in(idp, "s1")
    UserSession.objects.update(connection=None, name_id="", session_index="")  # an older row
    url = idp.logout_request_url(SLO_URL, SP_ENTITY_ID, "alice@example.com", session_index="s1")

    assert browser.client.get(_local(url)).status_code == 302

    assert browser.who() == "home: anonymous"
