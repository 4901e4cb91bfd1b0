"""Attacks on the ACS. Each goes through the real endpoint and must answer 4xx with the readable
error page, write nothing (no user, no link row, no replay row, no session) and log a line.

The responses start as real Responses of the test IdP (``tests/saml/idp.py``, an independent
implementation) to our AuthnRequests and are tampered with lxml, or re-signed with the ``xmlsec``
module where the attack needs a valid signature.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import os
import threading
import time
from typing import Any
from unittest import mock
from urllib.parse import urljoin, urlsplit

import pytest
import xmlsec
from django.contrib.auth import get_user_model
from django.db import connections as db_connections
from django.test import Client, override_settings

from django_provisioning.models import (
    AuditEvent,
    Connection,
    ExternalIdentity,
    SamlAssertionReplay,
    SamlPendingLogin,
)
from django_provisioning.saml import state

from .conftest import ACS_URL, SP_ENTITY_ID, Browser, sp_metadata
from .idp import (
    NS,
    TestIdP,
    b64,
    encrypt_assertion,
    idp_options,
    pem,
    resign_assertion,
    saml_time,
    to_bytes,
    tree,
)

User = get_user_model()
pytestmark = pytest.mark.django_db


def assert_refused(
    response: Any, status: int, text: str, caplog: Any, browser: Browser | None = None
) -> None:
    body = response.content.decode()
    assert response.status_code == status, body
    assert "Sign-in failed" in body
    assert text in body
    assert "quote this reference" in body
    assert "Traceback" not in body
    assert not User.objects.exists()
    assert not ExternalIdentity.objects.exists()
    assert not SamlAssertionReplay.objects.exists()
    assert not SamlPendingLogin.objects.exists()
    assert "sessionid" not in response.cookies
    if browser is not None:
        assert "_auth_user_id" not in browser.client.session
    assert any(r.name == "django_provisioning.saml" for r in caplog.records)


@pytest.fixture
def started(browser: Browser, saml_connection: Connection) -> tuple[Any, str]:
    return browser.start()


@pytest.fixture
def good_xml(browser: Browser, started: tuple[Any, str]) -> bytes:
    return browser.response_for(started[0])


def attack(browser: Browser, started: tuple[Any, str], xml: bytes | str, caplog: Any) -> Any:
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        return browser.post(xml, started[1])


# ---------------------------------------------------------------------- signatures


def test_tampered_attribute_after_signing(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    root = tree(good_xml)
    value = root.find(".//saml:Attribute[@Name='email']/saml:AttributeValue", NS)
    value.text = "mallory@example.com"
    response = attack(browser, started, to_bytes(root), caplog)
    assert_refused(response, 400, "signed with a key this site does not trust", caplog)


def test_stripped_signature(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    root = tree(good_xml)
    signature = root.find(".//saml:Assertion/ds:Signature", NS)
    signature.getparent().remove(signature)
    response = attack(browser, started, to_bytes(root), caplog)
    assert_refused(response, 400, "not signed as this site requires", caplog)


def test_signature_by_a_foreign_key(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    response = attack(browser, started, resign_assertion(good_xml, "foreign"), caplog)
    assert_refused(response, 400, "signed with a key this site does not trust", caplog)


def test_foreign_idp_signs_with_its_own_key(saml_connection: Connection, caplog: Any) -> None:
    browser = Browser(TestIdP(sp_metadata(saml_connection), key="foreign"))
    request, relay_state = browser.start()
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.post(browser.response_for(request), relay_state)
    assert_refused(response, 400, "signed with a key this site does not trust", caplog)


def test_sha1_signature_refused(saml_connection: Connection, caplog: Any) -> None:
    browser = Browser(TestIdP(sp_metadata(saml_connection), sha1=True))
    request, relay_state = browser.start()
    xml = browser.response_for(request)
    assert b"xmldsig#rsa-sha1" in xml
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.post(xml, relay_state)
    assert_refused(response, 400, "outdated algorithm (SHA-1)", caplog)


# ---------------------------------------------------------------------- signature wrapping


def _evil_assertion(root: Any) -> Any:
    evil = copy.deepcopy(root.find("saml:Assertion", NS))
    for signature in evil.findall("ds:Signature", NS):
        evil.remove(signature)
    evil.set("ID", "_evil")
    evil.find("saml:Subject/saml:NameID", NS).text = "admin@example.com"
    return evil


def test_xsw_second_unsigned_assertion_before_the_signed_one(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    root = tree(good_xml)
    signed = root.find("saml:Assertion", NS)
    signed.addprevious(_evil_assertion(root))
    response = attack(browser, started, to_bytes(root), caplog)
    assert_refused(response, 400, "unexpected structure", caplog)


def test_xsw_second_unsigned_assertion_after_the_signed_one(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    root = tree(good_xml)
    root.find("saml:Assertion", NS).addnext(_evil_assertion(root))
    response = attack(browser, started, to_bytes(root), caplog)
    assert_refused(response, 400, "unexpected structure", caplog)


def test_xsw_signed_assertion_moved_into_extensions(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    root = tree(good_xml)
    signed = root.find("saml:Assertion", NS)
    evil = _evil_assertion(root)
    evil.set("ID", signed.get("ID"))
    extensions = root.makeelement(f"{{{NS['samlp']}}}Extensions")
    root.find("saml:Issuer", NS).addnext(extensions)
    extensions.append(signed)  # the signed original, hidden
    root.append(evil)  # the attacker's, where the application looks
    response = attack(browser, started, to_bytes(root), caplog)
    assert_refused(response, 400, "unexpected structure", caplog)


def test_xsw_signed_assertion_moved_into_signature_object(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    root = tree(good_xml)
    signed = root.find("saml:Assertion", NS)
    evil = _evil_assertion(root)
    evil.set("ID", signed.get("ID"))
    signature = copy.deepcopy(signed.find("ds:Signature", NS))
    obj = signature.makeelement(f"{{{NS['ds']}}}Object")
    signature.append(obj)
    obj.append(copy.deepcopy(signed))
    evil.insert(1, signature)
    root.replace(signed, evil)
    response = attack(browser, started, to_bytes(root), caplog)
    assert_refused(response, 400, "unexpected structure", caplog)


def test_comment_in_name_id_is_refused_not_truncated(
    browser: Browser, saml_connection: Connection, caplog: Any
) -> None:
    victim = User(**{User.USERNAME_FIELD: "alice@example.com", "email": "alice@example.com"})
    victim.set_unusable_password()
    victim.save()
    request, relay_state = browser.start()
    xml = browser.response_for(request, name_id="alice@example.com.evil.com")
    # Exclusive c14n drops comments, so the signature still verifies after this insertion.
    tampered = xml.replace(b"alice@example.com.evil.com<", b"alice@example.com<!---->.evil.com<")
    assert tampered != xml
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.post(tampered, relay_state)
    body = response.content.decode()
    assert response.status_code == 400
    assert "comments or processing instructions" in body
    assert User.objects.count() == 1  # only the victim, untouched and not signed in
    assert not ExternalIdentity.objects.exists()
    assert not SamlAssertionReplay.objects.exists()
    assert "_auth_user_id" not in browser.client.session


def test_xslt_transform_refused_before_signature_work(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    xml = resign_assertion(
        good_xml,
        transforms=[xmlsec.Transform.ENVELOPED, xmlsec.Transform.XSLT, xmlsec.Transform.EXCL_C14N],
    )
    root = tree(xml)
    xslt = root.find(
        ".//ds:Transform[@Algorithm='http://www.w3.org/TR/1999/REC-xslt-19991116']", NS
    )
    assert xslt is not None
    with (
        mock.patch("onelogin.saml2.response.OneLogin_Saml2_Response.__init__") as parse,
        mock.patch("onelogin.saml2.response.OneLogin_Saml2_Response.is_valid") as is_valid,
        mock.patch("onelogin.saml2.utils.OneLogin_Saml2_Utils.validate_sign") as validate_sign,
    ):
        response = attack(browser, started, xml, caplog)
    assert not parse.called
    assert not is_valid.called
    assert not validate_sign.called
    assert_refused(response, 400, "signature transform this site does not allow", caplog)


# ---------------------------------------------------------------------- XML parser attacks

DTD_PAYLOADS = {
    "billion_laughs": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&lol3;'
        b"</samlp:Response>"
    ),
    "xxe_local_file": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&xxe;'
        b"</samlp:Response>"
    ),
    "external_dtd": (
        b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://evil.example/x.dtd">'
        b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>'
    ),
}


@pytest.mark.parametrize("name", sorted(DTD_PAYLOADS))
def test_dtd_entities_refused(
    browser: Browser, started: tuple[Any, str], caplog: Any, name: str
) -> None:
    response = attack(browser, started, DTD_PAYLOADS[name], caplog)
    assert_refused(response, 400, "document types, entities", caplog)


def test_dtd_inside_a_signed_response(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    body = good_xml.split(b"?>", 1)[1]
    xml = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]>' + body
    response = attack(browser, started, xml, caplog)
    assert_refused(response, 400, "document types, entities", caplog)


def test_oversized_response(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any, settings: Any
) -> None:
    # The limit admits the response as the IdP sent it; 5,000 bytes of padding go over it.
    settings.DJANGO_PROVISIONING = {"SAML_MAX_RESPONSE_SIZE": len(good_xml) + 100}
    head, close, tail = good_xml.rpartition(b"</")
    padded = head + b" " * 5000 + close + tail
    assert tree(padded).tag == tree(good_xml).tag  # still the same, well-formed response
    response = attack(browser, started, padded, caplog)
    assert_refused(response, 400, "larger than this site accepts", caplog)
    # The control: under the same limit, the response without the padding signs in.
    assert browser.finish(browser.post(good_xml, started[1])).status_code == 302


def test_oversized_by_default_limit(
    browser: Browser, started: tuple[Any, str], caplog: Any
) -> None:
    huge = "A" * 400_000
    response = attack(browser, started, huge, caplog)
    assert_refused(response, 400, "larger than this site accepts", caplog)


@pytest.mark.parametrize(
    "payload",
    ["not base64 at all!!", b64(b"plain text, not XML"), b64(b"<unclosed"), b64(b"\xff\xfe\x00")],
    ids=["not-base64", "not-xml", "broken-xml", "binary"],
)
def test_garbage(browser: Browser, started: tuple[Any, str], caplog: Any, payload: str) -> None:
    response = attack(browser, started, payload, caplog)
    assert_refused(response, 400, "could not be read", caplog)


def test_missing_response(browser: Browser, started: tuple[Any, str], caplog: Any) -> None:
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = Client().post("/sso/acme/acs/", {})
    assert_refused(response, 400, "is missing", caplog)


def test_other_root_element(browser: Browser, started: tuple[Any, str], caplog: Any) -> None:
    xml = b'<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x"/>'
    response = attack(browser, started, xml, caplog)
    assert_refused(response, 400, "could not be read", caplog)


# ---------------------------------------------------------------------- conditions


def _retime(xml: bytes, *, not_before: dt.timedelta, not_on_or_after: dt.timedelta) -> bytes:
    root = tree(xml)
    conditions = root.find(".//saml:Conditions", NS)
    conditions.set("NotBefore", saml_time(not_before))
    conditions.set("NotOnOrAfter", saml_time(not_on_or_after))
    for data in root.iterfind(".//saml:SubjectConfirmationData", NS):
        data.set("NotOnOrAfter", saml_time(not_on_or_after))
    return resign_assertion(to_bytes(root))


def test_expired_assertion(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    xml = _retime(
        good_xml, not_before=dt.timedelta(hours=-2), not_on_or_after=dt.timedelta(hours=-1)
    )
    response = attack(browser, started, xml, caplog)
    assert_refused(response, 400, "has expired", caplog)


def test_not_yet_valid_assertion(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    xml = _retime(good_xml, not_before=dt.timedelta(hours=1), not_on_or_after=dt.timedelta(hours=2))
    response = attack(browser, started, xml, caplog)
    assert_refused(response, 400, "not valid yet", caplog)


def test_clock_skew_is_per_connection(
    browser: Browser,
    started: tuple[Any, str],
    good_xml: bytes,
    saml_connection: Connection,
    caplog: Any,
) -> None:
    xml = _retime(
        good_xml, not_before=dt.timedelta(seconds=60), not_on_or_after=dt.timedelta(minutes=5)
    )
    saml_connection.clock_skew = 0
    saml_connection.save()
    refused = attack(browser, started, xml, caplog)
    assert refused.status_code == 400
    assert "not valid yet" in refused.content.decode()

    saml_connection.clock_skew = 120
    saml_connection.save()
    accepted = browser.post(xml, started[1])
    assert accepted.status_code == 303
    assert browser.finish(accepted).status_code == 302


def test_wrong_audience(browser: Browser, started: tuple[Any, str], caplog: Any) -> None:
    xml = browser.idp.response_xml(
        sp_entity_id="https://other-sp.example/metadata",
        acs_url="http://testserver/sso/acme/acs/",
        in_response_to=started[0].id,
    )
    response = attack(browser, started, xml, caplog)
    assert_refused(response, 400, "meant for another site", caplog)


def test_wrong_destination(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    root = tree(good_xml)
    root.set("Destination", "https://evil.example/acs")  # outside the signed assertion
    response = attack(browser, started, to_bytes(root), caplog)
    assert_refused(response, 400, "sent to another address", caplog)


def test_destination_with_a_suffix(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    root = tree(good_xml)
    root.set("Destination", "http://testserver/sso/acme/acs/extra")
    response = attack(browser, started, to_bytes(root), caplog)
    assert_refused(response, 400, "sent to another address", caplog)


def test_wrong_recipient(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    root = tree(good_xml)
    for data in root.iterfind(".//saml:SubjectConfirmationData", NS):
        data.set("Recipient", "https://evil.example/acs")
    response = attack(browser, started, resign_assertion(to_bytes(root)), caplog)
    assert_refused(response, 400, "meant for another address", caplog)


def test_wrong_issuer(
    browser: Browser,
    started: tuple[Any, str],
    good_xml: bytes,
    saml_connection: Connection,
    caplog: Any,
) -> None:
    saml_connection.idp_entity_id = "https://another-idp.example/"
    saml_connection.save()
    response = attack(browser, started, good_xml, caplog)
    assert_refused(response, 400, "identity provider this site does not know", caplog)


# ---------------------------------------------------------------------- replay and sessions


def test_replayed_response(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any
) -> None:
    first = browser.post(good_xml, started[1])
    assert browser.finish(first).status_code == 302
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        second = browser.post(good_xml, started[1])
    assert second.status_code == 400
    assert "already been used" in second.content.decode()
    assert SamlAssertionReplay.objects.count() == 1
    assert not SamlPendingLogin.objects.exists()
    assert any("code replayed" in r.getMessage() for r in caplog.records)


def test_replay_row_kept_until_expiry(
    browser: Browser, started: tuple[Any, str], good_xml: bytes
) -> None:
    browser.finish(browser.post(good_xml, started[1]))
    row = SamlAssertionReplay.objects.get()
    root = tree(good_xml)
    not_on_or_after = root.find(".//saml:SubjectConfirmationData", NS).get("NotOnOrAfter")
    expected = dt.datetime.strptime(not_on_or_after, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.timezone.utc
    )
    assert row.expires_at >= expected


def test_unsolicited_response_refused(
    browser: Browser, saml_connection: Connection, caplog: Any
) -> None:
    xml = browser.response_for(None)
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.post(xml)
    assert_refused(response, 403, "accepts sign-ins started here only", caplog, browser)


def test_in_response_to_of_another_session(
    browser: Browser, saml_connection: Connection, caplog: Any
) -> None:
    victim = Browser(browser.idp)
    victim_request, _relay = victim.start()
    browser.start()  # the attacker has a session with requests of its own
    xml = browser.response_for(victim_request)
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.finish(browser.post(xml))
    body = response.content.decode()
    assert response.status_code == 403
    assert "started in another browser" in body
    assert not User.objects.exists()
    assert not ExternalIdentity.objects.exists()
    assert "_auth_user_id" not in browser.client.session
    assert any("code session_mismatch" in r.getMessage() for r in caplog.records)


def test_expired_request_id(
    browser: Browser, saml_connection: Connection, settings: Any, caplog: Any
) -> None:
    request, relay_state = browser.start()
    settings.DJANGO_PROVISIONING = {"SAML_REQUEST_TTL": 0}
    response = browser.finish(browser.post(browser.response_for(request), relay_state))
    assert response.status_code == 403
    assert not User.objects.exists()


def test_pending_login_of_another_connection(
    browser: Browser, saml_connection: Connection, caplog: Any
) -> None:
    from tests.factories import ConnectionFactory

    ConnectionFactory(slug="globex")
    request, relay_state = browser.start()
    step1 = browser.post(browser.response_for(request), relay_state)
    url = step1["Location"].replace("/sso/acme/", "/sso/globex/")
    response = browser.client.get(url)
    assert response.status_code == 400
    assert "expired or was already used" in response.content.decode()
    assert not User.objects.exists()
    assert SamlPendingLogin.objects.count() == 1  # not taken through the other connection
    assert browser.finish(step1).status_code == 302  # and still good at its own


def test_connection_deactivated_between_the_steps(
    browser: Browser, saml_connection: Connection
) -> None:
    """Step 2 reads the pending login with its connection: a connection deactivated since
    step 1 signs nobody in (404, as for any view of an inactive connection), and the pending
    login is left to expire."""
    request, relay_state = browser.start()
    step1 = browser.post(browser.response_for(request), relay_state)
    Connection.objects.filter(pk=saml_connection.pk).update(is_active=False)
    assert_no_connection_at_step_two(browser.finish(step1), browser)


def assert_no_connection_at_step_two(response: Any, browser: Browser) -> None:
    """Step 2 of a connection that is no longer active: 404, nobody signed in, the pending
    login left to expire, and the refusal audited without a connection, as for any view."""
    assert response.status_code == 404
    assert "does not match any organisation" in response.content.decode()
    assert not User.objects.exists()
    assert "_auth_user_id" not in browser.client.session
    assert SamlPendingLogin.objects.count() == 1
    refusal = AuditEvent.objects.get(action="signin_refused")
    assert (refusal.connection, refusal.detail["reason"]) == (None, "unknown_connection")


@pytest.mark.parametrize(
    "connections",
    [{}, {"acme": {"is_active": False}}],
    ids=["removed-from-settings", "declared-inactive"],
)
def test_declared_connection_retired_between_the_steps(
    browser: Browser, saml_connection: Connection, connections: dict[str, Any]
) -> None:
    """The connection step 2 reads with the pending login has the settings laid over its row
    (``Connection.from_db``), as ``get_connection``'s has: a connection declared in settings
    at step 1, then removed from them or declared inactive (its row still says active), signs
    nobody in, and its refusal names no connection, as for any view of it."""
    Connection.objects.filter(pk=saml_connection.pk).update(from_settings=True)
    declared = {"CONNECTIONS": {"acme": {"name": "Acme (settings)", **idp_options()}}}
    with override_settings(DJANGO_PROVISIONING=declared):
        request, relay_state = browser.start()
        step1 = browser.post(browser.response_for(request), relay_state)
    assert step1.status_code == 303
    with override_settings(DJANGO_PROVISIONING={"CONNECTIONS": connections}):
        response = browser.finish(step1)
    assert_no_connection_at_step_two(response, browser)


# ---------------------------------------------------------------------- redirects


#: next / RelayState values that lead off the site (or nowhere safe); each is refused.
HOSTILE_REDIRECTS = [
    "https://evil.example/",
    "//evil.example/x",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https:evil.example",
    "https:/evil.example",
    "http:///evil.example",
    "https://testserver@evil.example/",  # userinfo: the host is evil.example
    "http://evil.example\\@testserver/",
    "http://evil.example#@testserver",
    "http://testserver.evil.example/",
    " //evil.example",
    "\t//evil.example",
    "/\t/evil.example",
    "/\r\n/evil.example",
    "\r\n//evil.example",
    "/home/\r\nSet-Cookie: x=1",
    "\x01//evil.example",
    "/home/\x00",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
]

#: Values that look hostile but are paths on this site; accepted, and they stay here.
SAME_HOST_REDIRECTS = [
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "/%5Cevil.example",
    "/.evil.example",
    "/home/?next=//evil.example",
]


@pytest.mark.parametrize("target", HOSTILE_REDIRECTS)
def test_next_to_an_evil_host(
    browser: Browser, saml_connection: Connection, caplog: Any, target: str
) -> None:
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.client.get("/sso/acme/login/", {"next": target})
    assert_refused(response, 400, "not on this site", caplog)
    assert state.REQUESTS_COOKIE not in response.cookies  # no request id remembered


@pytest.mark.parametrize("target", HOSTILE_REDIRECTS)
def test_relay_state_to_an_evil_host(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any, target: str
) -> None:
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.post(good_xml, target)
    assert_refused(response, 400, "not on this site", caplog)


def _stays_here(location: str) -> None:
    assert not location.replace("\\", "/").startswith("//"), location
    resolved = urljoin("http://testserver/sso/acme/acs/finish/", location)
    assert urlsplit(resolved).hostname == "testserver", (location, resolved)


@pytest.mark.parametrize("target", SAME_HOST_REDIRECTS)
def test_next_that_only_looks_hostile_stays_on_the_site(
    browser: Browser, saml_connection: Connection, target: str
) -> None:
    response = browser.sign_in(next_url=target)
    assert response.status_code == 302
    _stays_here(response["Location"])


@pytest.mark.parametrize("target", SAME_HOST_REDIRECTS)
def test_relay_state_that_only_looks_hostile_stays_on_the_site(
    browser: Browser, saml_connection: Connection, target: str
) -> None:
    saml_connection.allow_idp_initiated = True  # so the RelayState is what decides
    saml_connection.save()
    response = browser.finish(browser.post(browser.response_for(None), target))
    assert response.status_code == 302
    _stays_here(response["Location"])


@pytest.mark.parametrize(
    "target",
    [
        "https://good.example@evil.example/",
        "https://good.example:443@evil.example/",
        "https://evil.example/.good.example",
        "https://evil.example?.good.example",
        "https://good.example.evil.example/",
    ],
)
def test_userinfo_and_suffix_tricks_on_an_allowed_host(
    browser: Browser, saml_connection: Connection, settings: Any, caplog: Any, target: str
) -> None:
    settings.DJANGO_PROVISIONING = {"SAML_ALLOWED_REDIRECT_HOSTS": ["good.example"]}
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.client.get("/sso/acme/login/", {"next": target})
    assert_refused(response, 400, "not on this site", caplog)


def test_allowed_redirect_host(
    browser: Browser, saml_connection: Connection, settings: Any
) -> None:
    settings.DJANGO_PROVISIONING = {"SAML_ALLOWED_REDIRECT_HOSTS": ["app.example.com"]}
    response = browser.sign_in(next_url="http://app.example.com/dashboard")
    assert response["Location"] == "http://app.example.com/dashboard"


def test_http_next_refused_when_secure(
    saml_connection: Connection, settings: Any, caplog: Any
) -> None:
    settings.DJANGO_PROVISIONING = {"SAML_ALLOWED_REDIRECT_HOSTS": ["app.example.com"]}
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = Client().get(
            "/sso/acme/login/", {"next": "http://app.example.com/"}, secure=True
        )
    assert response.status_code == 400


def test_idp_initiated_refused_by_default(
    browser: Browser, saml_connection: Connection, caplog: Any
) -> None:
    assert saml_connection.allow_idp_initiated is False
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.post(browser.response_for(None), "/home/")
    assert_refused(response, 403, "started here only", caplog)


def test_base64_with_whitespace_accepted(
    browser: Browser, started: tuple[Any, str], good_xml: bytes
) -> None:
    wrapped = base64.encodebytes(good_xml).decode()  # line-wrapped, as some IdPs send it
    assert browser.finish(browser.post(wrapped, started[1])).status_code == 302


# ---------------------------------------------------------------------- references and decryption
#
# python3-saml decrypts an EncryptedAssertion in OneLogin_Saml2_Response.__init__, before any
# signature check, and xmlsec follows every URI it meets while decrypting. So the references
# are checked before python3-saml sees the response.

XENC = "http://www.w3.org/2001/04/xmlenc#"


def _want_encrypted(connection: Connection) -> None:
    connection.want_assertions_encrypted = True
    # The IdP signs the Response around the encrypted assertion, not the assertion (as pysaml2
    # does; tests/saml/test_acs.py also signs in with a signed assertion inside the encryption).
    connection.want_assertions_signed = False
    connection.want_messages_signed = True
    connection.sp_certificate = pem("sp.crt")
    connection.sp_private_key = pem("sp.key")
    connection.save()


def _encrypted_xml(browser: Browser, request: Any) -> bytes:
    return browser.response_for(
        request,
        encrypt_assertion=True,
        encrypt_cert_assertion=pem("sp.crt"),
        sign_assertion=False,
        sign_response=True,
    )


def _cipher_reference(xml: bytes, uri: str) -> tuple[bytes, bytes]:
    """(the response with its assertion's ciphertext replaced by a reference to *uri*,
    the ciphertext that was there)."""
    root = tree(xml)
    cipher_data = root.find(
        f".//saml:EncryptedAssertion/{{{XENC}}}EncryptedData/{{{XENC}}}CipherData", NS
    )
    value = cipher_data.find(f"{{{XENC}}}CipherValue")
    ciphertext = base64.b64decode(value.text)
    cipher_data.remove(value)
    reference = cipher_data.makeelement(f"{{{XENC}}}CipherReference", {"URI": uri})
    cipher_data.append(reference)
    return to_bytes(root), ciphertext


@pytest.fixture
def no_decryption() -> Any:
    """Fail the test if xmlsec is asked to decrypt anything."""
    with mock.patch(
        "onelogin.saml2.utils.OneLogin_Saml2_Utils.decrypt_element",
        side_effect=AssertionError("decrypt_element called"),
    ) as decrypt:
        yield decrypt


@pytest.mark.django_db(transaction=True)
def test_cipher_reference_to_dev_zero_is_refused_at_once(
    browser: Browser, saml_connection: Connection, caplog: Any
) -> None:
    # Without the check xmlsec reads /dev/zero forever (100% CPU, memory growing without
    # bound). The request runs in a thread so that a regression fails here instead of hanging.
    _want_encrypted(saml_connection)
    request, relay_state = browser.start()
    xml, _ciphertext = _cipher_reference(_encrypted_xml(browser, request), "file:///dev/zero")
    answers: list[Any] = []

    def post() -> None:
        try:
            answers.append(browser.post(xml, relay_state))
        finally:
            db_connections.close_all()  # this thread's own database connection

    worker = threading.Thread(target=post, daemon=True)
    started = time.monotonic()
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        worker.start()
        worker.join(10)
    assert not worker.is_alive(), "the ACS is still reading file:///dev/zero"
    assert time.monotonic() - started < 10
    assert_refused(answers[0], 400, "refers to content outside itself", caplog)


def test_cipher_reference_to_a_local_file_is_refused_before_decryption(
    browser: Browser,
    saml_connection: Connection,
    caplog: Any,
    tmp_path: Any,
    no_decryption: Any,
) -> None:
    # The file holds the very ciphertext the reference replaced, so it would decrypt: its
    # contents must not matter.
    _want_encrypted(saml_connection)
    request, relay_state = browser.start()
    stored = tmp_path / "ciphertext"
    xml, ciphertext = _cipher_reference(_encrypted_xml(browser, request), stored.as_uri())
    stored.write_bytes(ciphertext)
    response = attack(browser, (request, relay_state), xml, caplog)
    assert_refused(response, 400, "refers to content outside itself", caplog)
    assert not no_decryption.called


def test_cipher_reference_to_a_local_file_is_never_opened(
    browser: Browser, saml_connection: Connection, caplog: Any, tmp_path: Any
) -> None:
    # A FIFO tells whether anyone opened it: opening it for writing without blocking succeeds
    # only while a reader has it open. Nothing is mocked, so xmlsec would open it if asked.
    _want_encrypted(saml_connection)
    request, relay_state = browser.start()
    probe = tmp_path / "probe"
    os.mkfifo(probe)
    xml, _ciphertext = _cipher_reference(_encrypted_xml(browser, request), probe.as_uri())
    opened = threading.Event()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                fd = os.open(probe, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.005)
                continue
            opened.set()
            os.close(fd)  # the reader, if any, gets end-of-file and goes on
            return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        response = attack(browser, (request, relay_state), xml, caplog)
    finally:
        done.set()
        watcher.join(5)
    assert not opened.is_set(), "xmlsec opened a local file named by the response"
    assert_refused(response, 400, "refers to content outside itself", caplog)


def _add_key_info_child(xml: bytes, make: Any) -> bytes:
    """Add an element built by *make(parent)* under the EncryptedData's ds:KeyInfo."""
    root = tree(xml)
    key_info = root.find(f".//{{{XENC}}}EncryptedData/ds:KeyInfo", NS)
    make(key_info)
    return to_bytes(root)


def _retrieval_method(uri: str) -> Any:
    def make(key_info: Any) -> None:
        key_info.insert(
            0,
            key_info.makeelement(
                f"{{{NS['ds']}}}RetrievalMethod",
                {"URI": uri, "Type": f"{XENC}EncryptedKey"},
            ),
        )

    return make


def _reference_list(kind: str, uri: str) -> Any:
    def make(key_info: Any) -> None:
        encrypted_key = key_info.find(f"{{{XENC}}}EncryptedKey")
        references = encrypted_key.makeelement(f"{{{XENC}}}ReferenceList")
        references.append(references.makeelement(f"{{{XENC}}}{kind}", {"URI": uri}))
        encrypted_key.append(references)

    return make


def _key_info_reference(uri: str) -> Any:
    def make(key_info: Any) -> None:
        key_info.append(key_info.makeelement(f"{{{NS['ds']}}}Reference", {"URI": uri}))

    return make


EXTERNAL_URIS = ["file:///etc/passwd", "http://127.0.0.1:9/key", "#xpointer(/)", "EK_1", ""]


@pytest.mark.parametrize("uri", EXTERNAL_URIS)
@pytest.mark.parametrize(
    "element",
    ["RetrievalMethod", "DataReference", "KeyReference", "KeyInfo-Reference"],
)
def test_reference_out_of_the_document_is_refused(
    browser: Browser,
    saml_connection: Connection,
    caplog: Any,
    no_decryption: Any,
    element: str,
    uri: str,
) -> None:
    _want_encrypted(saml_connection)
    request, relay_state = browser.start()
    make = {
        "RetrievalMethod": _retrieval_method,
        "DataReference": lambda u: _reference_list("DataReference", u),
        "KeyReference": lambda u: _reference_list("KeyReference", u),
        "KeyInfo-Reference": _key_info_reference,
    }[element](uri)
    xml = _add_key_info_child(_encrypted_xml(browser, request), make)
    response = attack(browser, (request, relay_state), xml, caplog)
    assert_refused(response, 400, "refers to content outside itself", caplog)
    assert not no_decryption.called


def test_same_document_references_pass_the_inspection(
    browser: Browser, saml_connection: Connection
) -> None:
    # The control for the test above: "#id" references (how an EncryptedData points at an
    # EncryptedKey elsewhere in the document) are what SAML uses, and pass.
    from django_provisioning.saml.security import check_references

    _want_encrypted(saml_connection)
    request, _relay_state = browser.start()
    xml = _encrypted_xml(browser, request)
    for make in (_retrieval_method("#EK_1"), _reference_list("DataReference", "#ED_1")):
        xml = _add_key_info_child(xml, make)
    check_references(tree(xml))  # no exception


def test_encrypted_assertion_refused_when_the_connection_does_not_want_one(
    browser: Browser,
    saml_connection: Connection,
    caplog: Any,
    settings: Any,
    no_decryption: Any,
) -> None:
    # The site has a global SP key, so python3-saml would decrypt whatever arrives.
    settings.DJANGO_PROVISIONING = {
        "SAML_SP_CERTIFICATE": pem("sp.crt"),
        "SAML_SP_PRIVATE_KEY": pem("sp.key"),
    }
    assert saml_connection.want_assertions_encrypted is False
    request, relay_state = browser.start()
    response = attack(browser, (request, relay_state), _encrypted_xml(browser, request), caplog)
    assert_refused(response, 400, "not set up for encrypted sign-in responses", caplog)
    assert not no_decryption.called


def test_encrypted_assertion_refused_without_an_sp_key(
    browser: Browser, saml_connection: Connection, caplog: Any, no_decryption: Any
) -> None:
    request, relay_state = browser.start()
    xml = _encrypted_xml(browser, request)
    saml_connection.want_assertions_encrypted = True
    saml_connection.save()
    response = attack(browser, (request, relay_state), xml, caplog)
    assert_refused(response, 400, "not set up for encrypted sign-in responses", caplog)
    assert not no_decryption.called


def _hide_in_encryption(xml: bytes, hidden: str) -> bytes:
    """Sign the assertion with something forbidden inside, then encrypt it for the SP."""
    if hidden == "xslt":
        signed = resign_assertion(
            xml,
            transforms=[
                xmlsec.Transform.ENVELOPED,
                xmlsec.Transform.XSLT,
                xmlsec.Transform.EXCL_C14N,
            ],
        )
    else:
        root = tree(resign_assertion(xml))
        key_info = root.find("saml:Assertion/ds:Signature/ds:KeyInfo", NS)
        key_info.append(
            key_info.makeelement(f"{{{NS['ds']}}}RetrievalMethod", {"URI": "file:///etc/passwd"})
        )
        signed = to_bytes(root)
    return encrypt_assertion(signed)


@pytest.mark.parametrize(
    ("hidden", "text"),
    [
        ("xslt", "signature transform this site does not allow"),
        ("retrieval_method", "refers to content outside itself"),
    ],
)
def test_decrypted_assertion_is_inspected_before_validation(
    browser: Browser, saml_connection: Connection, caplog: Any, hidden: str, text: str
) -> None:
    _want_encrypted(saml_connection)
    saml_connection.want_messages_signed = False
    saml_connection.want_assertions_signed = True
    saml_connection.save()
    request, relay_state = browser.start()
    xml = _hide_in_encryption(browser.response_for(request), hidden)
    assert b"EncryptedAssertion" in xml and b"xslt" not in xml and b"etc/passwd" not in xml
    with (
        mock.patch("onelogin.saml2.response.OneLogin_Saml2_Response.is_valid") as is_valid,
        mock.patch("onelogin.saml2.utils.OneLogin_Saml2_Utils.validate_sign") as validate_sign,
    ):
        response = attack(browser, (request, relay_state), xml, caplog)
    assert not is_valid.called
    assert not validate_sign.called
    assert_refused(response, 400, text, caplog)


def test_encrypted_assertion_made_by_the_test_helper_is_accepted(
    browser: Browser, saml_connection: Connection
) -> None:
    # The control for the test above: the same encryption, nothing hidden, signs in.
    _want_encrypted(saml_connection)
    saml_connection.want_messages_signed = False
    saml_connection.want_assertions_signed = True
    saml_connection.save()
    request, relay_state = browser.start()
    xml = encrypt_assertion(browser.response_for(request))
    assert browser.finish(browser.post(xml, relay_state)).status_code == 302
    assert browser.who() == "home: alice@example.com"


# ---------------------------------------------------------------------- solicited only


@pytest.mark.parametrize("stolen_for", ["idp-initiated", "another-request"])
def test_unsolicited_assertion_rewrapped_as_a_response_to_my_request(
    browser: Browser, saml_connection: Connection, caplog: Any, stolen_for: str
) -> None:
    # The attacker holds an assertion signed by the IdP (IdP-initiated, so its
    # SubjectConfirmationData has no InResponseTo, or answering someone else's request) and
    # sets the unsigned Response's InResponseTo to an AuthnRequest of their own session.
    assert not saml_connection.allow_idp_initiated
    other = Browser(browser.idp).start()[0] if stolen_for == "another-request" else None
    root = tree(browser.response_for(other))
    request, relay_state = browser.start()
    root.set("InResponseTo", request.id)
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.post(to_bytes(root), relay_state)
    assert_refused(response, 403, "accepts sign-ins started here only", caplog, browser)
    assert browser.who() == "home: anonymous"


def test_unsolicited_rewrapped_is_still_fine_when_idp_initiated_is_allowed(
    browser: Browser, saml_connection: Connection
) -> None:
    # With IdP-initiated sign-in on, such a response is no worse than the bare assertion.
    saml_connection.allow_idp_initiated = True
    saml_connection.save()
    root = tree(browser.response_for(None))
    request, relay_state = browser.start()
    root.set("InResponseTo", request.id)
    assert browser.finish(browser.post(to_bytes(root), relay_state)).status_code == 302


# ---------------------------------------------------------------------- Recipient required


@pytest.mark.parametrize("destination", [True, False], ids=["with-destination", "without"])
def test_bearer_confirmation_without_recipient(
    browser: Browser,
    started: tuple[Any, str],
    good_xml: bytes,
    caplog: Any,
    destination: bool,
) -> None:
    root = tree(good_xml)
    if not destination:
        del root.attrib["Destination"]
    for data in root.iterfind(".//saml:SubjectConfirmationData", NS):
        del data.attrib["Recipient"]
    response = attack(browser, started, resign_assertion(to_bytes(root)), caplog)
    assert_refused(response, 400, "meant for another address", caplog)


def test_response_without_destination_but_with_recipient_accepted(
    browser: Browser, started: tuple[Any, str], good_xml: bytes
) -> None:
    root = tree(good_xml)
    del root.attrib["Destination"]  # optional when the message is not signed
    assert browser.finish(browser.post(to_bytes(root), started[1])).status_code == 302


# ---------------------------------------------------------------------- signed Response XSW


@pytest.fixture
def signed_response(browser: Browser, saml_connection: Connection) -> tuple[Any, str, bytes]:
    """A response whose Response (not assertion) is signed, and a connection requiring it."""
    saml_connection.want_messages_signed = True
    saml_connection.want_assertions_signed = False
    saml_connection.save()
    request, relay_state = browser.start()
    xml = browser.response_for(request, sign_response=True, sign_assertion=False)
    assert tree(xml).find("ds:Signature", NS) is not None
    assert tree(xml).find("saml:Assertion/ds:Signature", NS) is None
    return request, relay_state, xml


def _evil_response(original: Any) -> Any:
    evil = copy.deepcopy(original)
    evil.remove(evil.find("ds:Signature", NS))
    evil.set("ID", "_evil_response")
    evil.find("saml:Assertion/saml:Subject/saml:NameID", NS).text = "admin@example.com"
    return evil


def _xsw(xml: bytes, variant: str) -> bytes:
    original = tree(xml)
    evil = _evil_response(original)
    signature = copy.deepcopy(original.find("ds:Signature", NS))
    unsigned_original = copy.deepcopy(original)
    unsigned_original.remove(unsigned_original.find("ds:Signature", NS))
    if variant == "xsw1-original-in-signature-object":
        obj = signature.makeelement(f"{{{NS['ds']}}}Object")
        obj.append(unsigned_original)
        signature.append(obj)
        evil.find("saml:Issuer", NS).addnext(signature)
    elif variant == "xsw2-original-detached-before-signature":
        evil.find("saml:Issuer", NS).addnext(signature)
        signature.addprevious(unsigned_original)
    elif variant == "same-id-original-in-extensions":
        evil.set("ID", original.get("ID"))
        extensions = evil.makeelement(f"{{{NS['samlp']}}}Extensions")
        extensions.append(unsigned_original)
        evil.find("saml:Issuer", NS).addnext(extensions)
        extensions.addnext(signature)
    elif variant == "signed-response-kept-evil-assertion-added":
        original.append(_evil_assertion(original))
        return to_bytes(original)
    else:  # pragma: no cover
        raise AssertionError(variant)
    return to_bytes(evil)


@pytest.mark.parametrize(
    "variant",
    [
        "xsw1-original-in-signature-object",
        "xsw2-original-detached-before-signature",
        "same-id-original-in-extensions",
        "signed-response-kept-evil-assertion-added",
    ],
)
def test_xsw_with_a_signed_response(
    browser: Browser, signed_response: tuple[Any, str, bytes], caplog: Any, variant: str
) -> None:
    request, relay_state, xml = signed_response
    response = attack(browser, (request, relay_state), _xsw(xml, variant), caplog)
    assert_refused(response, 400, "unexpected structure", caplog, browser)


def test_signed_response_control(browser: Browser, signed_response: tuple[Any, str, bytes]) -> None:
    _request, relay_state, xml = signed_response
    assert browser.finish(browser.post(xml, relay_state)).status_code == 302
    assert browser.who() == "home: alice@example.com"


def test_signed_response_with_the_evil_assertion_swapped_in(
    browser: Browser, signed_response: tuple[Any, str, bytes], caplog: Any
) -> None:
    # One assertion only, but not the signed one: the Response signature no longer matches.
    request, relay_state, xml = signed_response
    root = tree(xml)
    root.replace(root.find("saml:Assertion", NS), _evil_assertion(root))
    response = attack(browser, (request, relay_state), to_bytes(root), caplog)
    assert_refused(response, 400, "changed after it was signed", caplog, browser)


# ---------------------------------------------------------------------- values the database refuses
#
# Each is refused in step 1 by an explicit check, before the replay row or the pending row is
# written (PostgreSQL would otherwise fail the insert after the replay row was committed).


def test_in_response_to_longer_than_the_column(
    browser: Browser, saml_connection: Connection, caplog: Any
) -> None:
    saml_connection.allow_idp_initiated = True  # the InResponseTo is then not ours to match
    saml_connection.save()
    xml = browser.idp.response_xml(
        sp_entity_id=SP_ENTITY_ID, acs_url=ACS_URL, in_response_to="_" + "a" * 300
    )
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.post(xml)
    assert_refused(response, 400, "is not valid", caplog, browser)


def test_name_id_longer_than_the_column(
    browser: Browser, started: tuple[Any, str], caplog: Any
) -> None:
    long_name = "a" * 600 + "@example.com"
    xml = browser.response_for(started[0], name_id=long_name)
    response = attack(browser, started, xml, caplog)
    assert_refused(response, 400, "account details this site cannot store", caplog, browser)


@pytest.mark.parametrize("relay_state", ["/home/\x00", "\x00", "/home/\x00/evil"])
def test_nul_in_relay_state(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any, relay_state: str
) -> None:
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.post(good_xml, relay_state)
    assert_refused(response, 400, "not on this site", caplog, browser)


def test_nul_in_next(browser: Browser, saml_connection: Connection, caplog: Any) -> None:
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.client.get("/sso/acme/login/", {"next": "/home/\x00"})
    assert_refused(response, 400, "not on this site", caplog)
    assert state.REQUESTS_COOKIE not in response.cookies  # no request id remembered
