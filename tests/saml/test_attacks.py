"""Attacks on the ACS. Each goes through the real endpoint and must answer 4xx with the readable
error page, write nothing (no user, no link row, no replay row, no session) and log a line.

The responses start as real pysaml2 AuthnResponses to our AuthnRequests and are tampered with
lxml, or re-signed with the ``xmlsec`` module where the attack needs a valid signature.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from typing import Any
from unittest import mock

import pytest
import xmlsec
from django.contrib.auth import get_user_model
from django.test import Client

from django_provisioning.models import (
    Connection,
    ExternalIdentity,
    SamlAssertionReplay,
    SamlPendingLogin,
)

from .conftest import Browser, sp_metadata
from .idp import NS, TestIdP, b64, resign_assertion, saml_time, to_bytes, tree

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


def test_foreign_idp_via_pysaml2(saml_connection: Connection, caplog: Any) -> None:
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
    settings.DJANGO_PROVISIONING = {"SAML_MAX_RESPONSE_SIZE": 4096}
    padded = good_xml.replace(b"</ns0:Response>", b" " * 5000 + b"</ns0:Response>")
    response = attack(browser, started, padded, caplog)
    assert_refused(response, 400, "larger than this site accepts", caplog)


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
    assert not User.objects.exists()


# ---------------------------------------------------------------------- redirects


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "\\\\evil.example"],
)
def test_next_to_an_evil_host(
    browser: Browser, saml_connection: Connection, caplog: Any, target: str
) -> None:
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.client.get("/sso/acme/login/", {"next": target})
    assert_refused(response, 400, "not on this site", caplog)
    assert "_dp_saml_requests" not in browser.client.session


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"]
)
def test_relay_state_to_an_evil_host(
    browser: Browser, started: tuple[Any, str], good_xml: bytes, caplog: Any, target: str
) -> None:
    with caplog.at_level("INFO", logger="django_provisioning.saml"):
        response = browser.post(good_xml, target)
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
