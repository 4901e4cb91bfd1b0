"""Test sign-in (issue 12): a real SAML exchange with the IdP that signs no one in.

Driven through two stand-in setup views (``tests/saml/signin_urls.py``) that call
``begin_test_sign_in`` and ``pop_test_result`` as the portal does.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection as db
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from django_provisioning import signals
from django_provisioning.models import (
    AuditEvent,
    Connection,
    ExternalGroup,
    ExternalIdentity,
    SamlAssertionReplay,
    SamlPendingLogin,
    UserNameClaim,
    UserSession,
)
from django_provisioning.provisioning import deactivate_user
from django_provisioning.saml import state, test_signin
from django_provisioning.saml.signin_reasons import _fingerprint
from tests.factories import ConnectionFactory

from .conftest import ACS_URL, SP_ENTITY_ID, Browser, sp_metadata
from .idp import IDP_SSO_URL, NS, TestIdP, idp_options, pem, resign_assertion, to_bytes, tree

User = get_user_model()
SETUP = "/setup/acme/"
RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
REQUEST_DENIED = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"


@pytest.fixture(autouse=True)
def _setup_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.saml.signin_urls"


class SetupBrowser(Browser):
    """A browser on the setup page: starts test sign-ins and reads their results."""

    def start_test(self, return_to: str = SETUP) -> Any:
        response = self.client.get(f"/setup/{self.slug}/test/", {"return_to": return_to})
        assert response.status_code == 302, response.content
        assert response["Location"].startswith(IDP_SSO_URL)
        request, relay_state = self.idp.parse_login_redirect(response["Location"])
        assert relay_state == ""  # return_to stays in the session
        return request

    def run_test(self, **kwargs: Any) -> Any:
        """A whole test sign-in; returns the second step's response."""
        return self.finish(self.post(self.response_for(self.start_test(), **kwargs)))

    def result(self, slug: str | None = None) -> dict[str, Any] | None:
        response = self.client.get(f"/setup/{slug or self.slug}/result/")
        if response.status_code == 204:
            return None
        assert response.status_code == 200
        return dict(response.json())


@pytest.fixture
def tester(idp: TestIdP) -> SetupBrowser:
    return SetupBrowser(idp)


def assert_nothing_written(tester: SetupBrowser) -> None:
    """No account, link, group, session record or sign-in audit; the browser signed out."""
    assert not User.objects.exists()
    assert not ExternalIdentity.objects.exists()
    assert not UserNameClaim.objects.exists()
    assert not ExternalGroup.objects.exists()
    assert not UserSession.objects.exists()
    assert not AuditEvent.objects.exclude(action__endswith="_refused").exists()
    assert "_auth_user_id" not in tester.client.session
    assert tester.who() == "home: anonymous"


# ---------------------------------------------------------------- success: the preview


def test_success_shows_what_arrived_and_how_it_maps(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    Group.objects.create(name="staff-admins")
    saml_connection.group_mapping = {"Engineering": None, "Admins": "staff-admins"}
    saml_connection.save()
    logged_in: list[Any] = []
    signals.saml_user_logged_in.connect(receiver := lambda **kw: logged_in.append(kw))
    try:
        step2 = tester.run_test(
            attributes={
                "email": ["alice@example.com"],
                "firstName": ["Alice"],
                "lastName": ["Liddell"],
                "groups": ["Engineering", "Admins", "Unmapped"],
            }
        )
    finally:
        signals.saml_user_logged_in.disconnect(receiver)

    assert step2.status_code == 302
    assert step2["Location"] == SETUP
    result = tester.result()
    assert result is not None
    assert result["ok"] is True
    assert (result["reason"], result["fix"], result["code"]) == ("", "", "")
    assert result["name_id"] == "alice@example.com"
    assert result["name_id_format"] == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    assert result["attributes"]["firstName"] == ["Alice"]
    assert result["groups"] == ["Engineering", "Admins", "Unmapped"]
    assert result["groups_joined"] == ["acme: Engineering", "staff-admins"]
    assert result["created"] is True
    assert result["linked_user"] is None
    fields = result["fields"]
    assert fields[User.USERNAME_FIELD] == "alice@example.com"
    assert fields[User.get_email_field_name()] == "alice@example.com"
    if hasattr(User, "first_name"):
        assert (fields["first_name"], fields["last_name"]) == ("Alice", "Liddell")
    assert_nothing_written(tester)
    assert logged_in == []
    assert Group.objects.count() == 1  # "acme: Engineering" previewed, never created
    # The assertion and the test request are consumed; the pending row is gone.
    assert SamlAssertionReplay.objects.filter(assertion_id__startswith="test:").count() == 1
    assert SamlAssertionReplay.objects.count() == 2
    assert not SamlPendingLogin.objects.exists()
    # The result is read once.
    assert tester.result() is None


def test_the_second_step_writes_nothing_but_the_session(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    Browser(tester.idp).sign_in()  # an existing account, with jit_update: a real one would write
    saml_connection.group_mapping = {"Engineering": None}
    saml_connection.save()
    step1 = tester.post(
        tester.response_for(
            tester.start_test(),
            attributes={"email": ["alice@example.com"], "groups": ["Engineering"]},
        )
    )

    with CaptureQueriesContext(db) as queries:
        step2 = tester.client.get(step1["Location"])

    assert step2.status_code == 302
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and "django_session" not in q["sql"]
    ]
    assert len(writes) == 1 and "samlpendinglogin" in writes[0].lower(), writes
    assert not any("FOR UPDATE" in q["sql"] for q in queries.captured_queries)
    result = tester.result()
    assert result is not None and result["groups_joined"] == ["acme: Engineering"]
    assert not ExternalGroup.objects.exists()


def test_existing_account_is_reached_and_not_changed(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    assert Browser(tester.idp).sign_in().status_code == 302  # a real sign-in first
    user = User.objects.get()
    before = AuditEvent.objects.count()

    tester.run_test(attributes={"email": ["alice@example.com"], "firstName": ["Alicia"]})

    result = tester.result()
    assert result is not None and result["ok"] is True
    assert (result["created"], result["linked_user"]) == (False, "alice@example.com")
    if hasattr(User, "first_name"):
        assert result["fields"]["first_name"] == "Alicia"
        user.refresh_from_db()
        assert user.first_name == "Alice"
    assert AuditEvent.objects.count() == before
    assert UserSession.objects.count() == 1  # the real sign-in's, in the other browser
    assert "_auth_user_id" not in tester.client.session


def test_existing_account_without_jit_update_sets_no_field(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    Browser(tester.idp).sign_in()
    saml_connection.jit_update = False
    saml_connection.save()

    tester.run_test()

    result = tester.result()
    assert result is not None
    assert (result["ok"], result["created"], result["fields"]) == (True, False, {})
    assert result["linked_user"] == "alice@example.com"


def test_local_account_linked_by_verified_domain(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    saml_connection.link_by_email = True
    saml_connection.save()
    local = User(
        **{User.USERNAME_FIELD: "alice-local", User.get_email_field_name(): "alice@example.com"}
    )
    local.set_unusable_password()
    local.save()

    tester.run_test()

    result = tester.result()
    assert result is not None and result["ok"] is True
    kept = local.get_username()  # "alice-local"; the e-mail on an e-mail user model
    assert (result["created"], result["linked_user"]) == (False, kept)
    assert result["fields"][User.USERNAME_FIELD] == kept
    assert not ExternalIdentity.objects.exists()
    assert User.objects.count() == 1


# ---------------------------------------------------------------- refusals of the mapping


def test_unknown_user_with_jit_creation_off(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    saml_connection.jit_create = False
    saml_connection.save()

    tester.run_test()

    result = tester.result()
    assert result is not None
    assert (result["ok"], result["code"]) == (False, "denied")
    assert "There is no account for you here" in result["reason"]
    assert "create the user first" in result["fix"]
    assert result["name_id"] == "alice@example.com"  # what arrived is still shown
    assert_nothing_written(tester)


def test_name_held_by_an_unlinked_account(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    local = User(**{User.USERNAME_FIELD: "alice@example.com"})
    setattr(local, User.get_email_field_name(), "alice@example.com")
    local.set_unusable_password()
    local.save()

    tester.run_test()

    result = tester.result()
    assert result is not None and result["code"] == "denied"
    assert "cannot be linked" in result["reason"]
    assert "verify your e-mail domain" in result["fix"]
    assert not ExternalIdentity.objects.exists() and User.objects.count() == 1


def test_deactivated_account(tester: SetupBrowser, saml_connection: Connection) -> None:
    Browser(tester.idp).sign_in()
    deactivate_user(ExternalIdentity.objects.get())

    tester.run_test()

    result = tester.result()
    assert result is not None and result["code"] == "denied"
    assert "deactivated" in result["reason"]
    assert "Reactivate" in result["fix"]


# ---------------------------------------------------------------- failures of the response


def _without_name_id(tester: SetupBrowser, request: Any) -> bytes:
    root = tree(tester.response_for(request))
    subject = root.find("saml:Assertion/saml:Subject", NS)
    subject.remove(subject.find("saml:NameID", NS))
    return resign_assertion(to_bytes(root))


def _tampered(tester: SetupBrowser, request: Any) -> bytes:
    root = tree(tester.response_for(request))
    root.find("saml:Assertion/saml:Subject/saml:NameID", NS).text = "mallory@example.com"
    return to_bytes(root)


HOUR = dt.timedelta(hours=1)
FAILURES: dict[str, tuple[Any, str, list[str], list[str]]] = {
    # name: (response kwargs or builder, code, words in the reason, words in the fix)
    "clock ahead": (
        lambda now: {"issue_instant": now + 30 * dt.timedelta(minutes=1)},
        "not_yet_valid",
        ["valid 30 minutes from now"],
        ["clock is ahead", "NTP", "allows 120 seconds"],
    ),
    "valid later": (
        lambda now: {"not_before": now + 2 * HOUR},
        "not_yet_valid",
        ["valid 120 minutes from now"],
        ["clock is ahead"],
    ),
    "clock behind": (
        lambda now: {"issue_instant": now - HOUR},
        "expired",
        ["issued 60 minutes before it arrived"],
        ["clock is behind", "NTP"],
    ),
    "unsigned": (
        lambda now: {"sign_assertion": False},
        "unsigned",
        ["not signed"],
        ["sign the assertion"],
    ),
    "unknown certificate": (
        lambda now: {"key": "foreign"},
        "bad_signature",
        ["does not know", _fingerprint(pem("foreign.crt")), _fingerprint(pem("idp.crt"))],
        ["new certificate", "metadata"],
    ),
    "changed after signing": (
        _tampered,
        "bad_signature",
        ["does not verify"],
        ["metadata"],
    ),
    "wrong audience": (
        lambda now: {"audience": "https://other.example/sp"},
        "wrong_audience",
        ["https://other.example/sp", SP_ENTITY_ID],
        [f"exactly {SP_ENTITY_ID}"],
    ),
    "wrong destination": (
        lambda now: {"destination": "https://other.example/acs"},
        "wrong_destination",
        ["https://other.example/acs", ACS_URL],
        [f"exactly {ACS_URL}"],
    ),
    "wrong recipient": (
        lambda now: {"recipient": "https://other.example/acs"},
        "wrong_recipient",
        ["https://other.example/acs", ACS_URL],
        [f"exactly {ACS_URL}"],
    ),
    "wrong issuer": (
        lambda now: {"issuer": "https://other-idp.example/"},
        "wrong_issuer",
        ["https://other-idp.example/", "https://idp.example.org/saml/metadata"],
        ["metadata"],
    ),
    "no NameID": (_without_name_id, "no_name_id", ["no NameID"], ["e-mail address"]),
    "encrypted, no SP key": (
        lambda now: {"encrypt_assertion": True, "encrypt_cert_assertion": pem("sp.crt")},
        "unexpected_encryption",
        ["encrypted", "no key"],
        ["encryption off"],
    ),
    "IdP error": (
        lambda now: {"status": RESPONDER, "status_message": "User is not assigned to this app"},
        "idp_error",
        ["Responder", "User is not assigned to this app"],
        ["sign-in log"],
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_each_failure_has_its_reason_and_fix(
    tester: SetupBrowser, saml_connection: Connection, case: str
) -> None:
    build, code, in_reason, in_fix = FAILURES[case]
    request = tester.start_test()
    if build in (_tampered, _without_name_id):
        xml = build(tester, request)
    else:
        xml = tester.response_for(request, **build(dt.datetime.now(dt.timezone.utc)))

    step1 = tester.post(xml)
    assert step1.status_code == 303
    step2 = tester.finish(step1)

    assert step2.status_code == 302 and step2["Location"] == SETUP
    result = tester.result()
    assert result is not None
    assert (result["ok"], result["code"]) == (False, code), result
    for words in in_reason:
        assert words in result["reason"], (words, result["reason"])
    for words in in_fix:
        assert words in result["fix"], (words, result["fix"])
    assert_nothing_written(tester)
    assert not SamlPendingLogin.objects.exists()


def test_relay_state_pointing_away(tester: SetupBrowser, saml_connection: Connection) -> None:
    step1 = tester.post(tester.response_for(tester.start_test()), "https://evil.example/")
    tester.finish(step1)
    result = tester.result()
    assert result is not None and result["code"] == "unsafe_redirect"
    assert "RelayState empty" in result["fix"]
    assert_nothing_written(tester)


def test_encrypted_assertion_previewed(tester: SetupBrowser, saml_connection: Connection) -> None:
    saml_connection.want_assertions_encrypted = True
    saml_connection.sp_certificate = pem("sp.crt")
    saml_connection.sp_private_key = pem("sp.key")
    saml_connection.save()

    tester.run_test(encrypt_assertion=True, encrypt_cert_assertion=pem("sp.crt"))

    result = tester.result()
    assert result is not None and result["ok"] is True, result
    assert result["name_id"] == "alice@example.com"
    assert_nothing_written(tester)


def test_refused_structure_is_explained(tester: SetupBrowser, saml_connection: Connection) -> None:
    import xmlsec

    request = tester.start_test()
    xslt = [xmlsec.Transform.ENVELOPED, xmlsec.Transform.XSLT, xmlsec.Transform.EXCL_C14N]
    xml = resign_assertion(tester.response_for(request), transforms=xslt)

    tester.finish(tester.post(xml))

    result = tester.result()
    assert result is not None and result["code"] == "forbidden_transform"
    assert "signature transform" in result["reason"]
    assert "security reasons" in result["reason"]
    assert_nothing_written(tester)


def test_signed_authn_request(tester: SetupBrowser, saml_connection: Connection) -> None:
    saml_connection.sign_authn_requests = True
    saml_connection.sp_certificate = pem("sp.crt")
    saml_connection.sp_private_key = pem("sp.key")
    saml_connection.save()
    tester.idp = TestIdP(sp_metadata(saml_connection))  # it checks the signature
    response = tester.client.get("/setup/acme/test/", {"return_to": SETUP})
    assert "Signature=" in response["Location"] and "SigAlg=" in response["Location"]

    tester.run_test()

    result = tester.result()
    assert result is not None and result["ok"] is True


def test_sha1_signature(saml_connection: Connection) -> None:
    tester = SetupBrowser(TestIdP(sp_metadata(saml_connection), sha1=True))
    tester.run_test()
    result = tester.result()
    assert result is not None and result["code"] == "deprecated_algorithm"
    assert "RSA-SHA256" in result["fix"]


def test_idp_status_request_denied_says_assign_the_user(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    tester.run_test(status=REQUEST_DENIED)
    result = tester.result()
    assert result is not None and result["code"] == "idp_error"
    assert "RequestDenied" in result["reason"]
    assert "Assign the user" in result["fix"]


def test_test_finished_too_late(
    tester: SetupBrowser, saml_connection: Connection, monkeypatch: Any
) -> None:
    earlier = time.time() - 700  # SAML_REQUEST_TTL is 600 s
    monkeypatch.setattr(test_signin, "time", SimpleNamespace(time=lambda: earlier))
    request = tester.start_test()
    monkeypatch.setattr(test_signin, "time", time)

    tester.finish(tester.post(tester.response_for(request)))

    result = tester.result()
    assert result is not None and result["code"] == "request_expired"
    assert "Start the test again" in result["fix"] and "10 minutes" in result["fix"]
    assert_nothing_written(tester)
    assert not SamlAssertionReplay.objects.exclude(assertion_id__startswith="test:").exists()


def test_connection_without_idp_answers_at_once(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    saml_connection.idp_sso_url = ""
    saml_connection.save()

    response = tester.client.get("/setup/acme/test/", {"return_to": SETUP})

    assert response.status_code == 302 and response["Location"] == SETUP
    result = tester.result()
    assert result is not None and result["code"] == "not_configured"
    assert "metadata" in result["fix"]


def test_connection_that_cannot_sign_its_request_answers_at_once(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    saml_connection.sign_authn_requests = True  # and no SP key pair
    saml_connection.save()

    response = tester.client.get("/setup/acme/test/", {"return_to": SETUP})

    assert response.status_code == 302 and response["Location"] == SETUP
    result = tester.result()
    assert result is not None and result["code"] == "misconfigured"
    assert "administrators" in result["fix"]


def test_unexpected_error_while_checking_is_a_result(
    tester: SetupBrowser, saml_connection: Connection, monkeypatch: Any, caplog: Any
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(test_signin, "validate_response", broken)
    tester.run_test()

    result = tester.result()
    assert result is not None and (result["ok"], result["code"]) == (False, "invalid")
    assert "unexpected KeyError" in result["reason"]
    assert_nothing_written(tester)


def test_a_new_test_drops_the_previous_result(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    tester.run_test()
    tester.start_test()
    assert tester.result() is None


# ---------------------------------------------------------------- attacks


def test_a_test_response_cannot_sign_in_for_real(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    saml_connection.allow_idp_initiated = True
    saml_connection.save()
    request = tester.start_test()
    xml = tester.response_for(request)
    tester.finish(tester.post(xml))
    assert tester.result() is not None

    # Posted again, as it is: the test request was answered.
    again = tester.post(xml)
    assert again.status_code == 400
    # Re-wrapped as IdP-initiated (the Response's InResponseTo is outside the signature):
    # the assertion was consumed by the test.
    root = tree(xml)
    del root.attrib["InResponseTo"]
    unsolicited = tester.post(to_bytes(root))
    assert unsolicited.status_code == 400
    assert "already been used" in unsolicited.content.decode()
    # Re-wrapped to answer a real sign-in of this browser.
    real, relay_state = tester.start()
    root.set("InResponseTo", real.id)
    rewrapped = tester.post(to_bytes(root), relay_state)
    assert rewrapped.status_code == 400
    assert_nothing_written(tester)


def test_a_test_sign_in_leaves_the_browsers_real_requests_open(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    """A test keeps to the session: its second step neither reads nor writes the request-id
    cookie, so a real sign-in this browser started before it is still open, and completes."""
    real, relay_state = tester.start("/after/")

    step2 = tester.run_test()

    assert state.REQUESTS_COOKIE not in step2.cookies
    assert list(tester.outstanding()) == [real.id]
    assert tester.result() is not None
    done = tester.finish(tester.post(tester.response_for(real), relay_state))
    assert done.status_code == 302
    assert done["Location"] == "/after/"


def test_result_stays_in_the_browser_that_started_the_test(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    step1 = tester.post(tester.response_for(tester.start_test()))
    other = SetupBrowser(tester.idp)

    stolen = other.client.get(step1["Location"])  # another browser follows the hand-over

    assert stolen.status_code == 403
    assert other.result() is None
    assert tester.result() is None  # the hand-over was used up by the other browser
    assert "_auth_user_id" not in other.client.session
    assert_nothing_written(tester)


def test_result_of_another_browser_is_not_readable(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    tester.run_test()
    assert SetupBrowser(tester.idp).result() is None
    assert tester.result() is not None


def test_result_is_per_connection(tester: SetupBrowser, saml_connection: Connection) -> None:
    ConnectionFactory(slug="beta", name="Beta", **idp_options())
    tester.run_test()
    assert tester.result("beta") is None
    assert tester.result("acme") is not None


def test_test_request_of_one_connection_does_not_answer_another(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    beta = ConnectionFactory(slug="beta", name="Beta", **idp_options())
    request = tester.start_test()
    beta_tester = SetupBrowser(TestIdP(sp_metadata(beta)), slug="beta")
    beta_tester.client = tester.client
    xml = beta_tester.response_for(request)
    xml = xml.replace(b"/sso/acme/", b"/sso/beta/")  # addressed to beta's ACS, beta's audience

    step1 = beta_tester.post(resign_assertion(xml))
    step2 = tester.client.get(step1["Location"]) if step1.status_code == 303 else step1

    assert step2.status_code == 403  # a real sign-in without an AuthnRequest of this session
    assert tester.result("beta") is None and tester.result("acme") is None
    assert_nothing_written(tester)


def test_forged_test_request_id_is_no_test(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    request = tester.start_test()
    forged = re.sub(r"_[0-9a-f]{32}\Z", "_" + "0" * 32, request.id)
    assert test_signin.recognize(saml_connection, forged) is None
    root = tree(tester.response_for(request))
    root.set("InResponseTo", forged)
    root.find(".//saml:SubjectConfirmationData", NS).set("InResponseTo", forged)

    step1 = tester.post(resign_assertion(to_bytes(root)))
    step2 = tester.finish(step1)

    assert step2.status_code == 403
    assert tester.result() is None
    assert_nothing_written(tester)


def test_a_test_and_a_sign_in_in_one_browser_stay_apart(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    test = tester.start_test()
    real, relay_state = tester.start()

    # Both open in one browser: each response completes its own, the real one signs in.
    assert tester.finish(tester.post(tester.response_for(real), relay_state)).status_code == 302
    assert tester.who() == "home: alice@example.com"
    assert tester.result() is None
    user = User.objects.get()

    bob = {"name_id": "bob@example.com", "attributes": {"email": ["bob@example.com"]}}
    step2 = tester.finish(tester.post(tester.response_for(test, **bob)))

    assert step2["Location"] == SETUP
    result = tester.result()
    assert result is not None and result["ok"] is True and result["name_id"] == "bob@example.com"
    assert tester.who() == "home: alice@example.com"  # still Alice, not Bob
    assert list(User.objects.all()) == [user]


def test_idp_initiated_response_is_never_a_test(
    tester: SetupBrowser, saml_connection: Connection
) -> None:
    saml_connection.allow_idp_initiated = True
    saml_connection.save()
    tester.start_test()

    step2 = tester.finish(tester.post(tester.response_for(None)))

    assert step2.status_code == 302  # an ordinary IdP-initiated sign-in
    assert tester.who() == "home: alice@example.com"
    assert tester.result() is None


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/ok/\\evil",
        "http://testserver/setup/acme/",
        "javascript:alert(1)",
        "setup/acme/",
        "/setup/\nacme/",
        "",
    ],
)
def test_return_to_must_be_a_path_of_this_site(
    tester: SetupBrowser, saml_connection: Connection, return_to: str
) -> None:
    response = tester.client.get("/setup/acme/test/", {"return_to": return_to})

    assert response.status_code == 400
    assert test_signin.SESSION_TESTS not in tester.client.session


def test_begin_refuses_another_origin_directly(saml_connection: Connection) -> None:
    request = RequestFactory().get("/setup/acme/")
    request.session = Client().session
    with pytest.raises(ValueError, match="not a path on this site"):
        test_signin.begin_test_sign_in(request, saml_connection, return_to="https://evil.example/")
