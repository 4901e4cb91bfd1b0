"""The test sign-in step (a real SAML exchange with the test IdP) and the domain step (DNS)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from django_provisioning.models import AuditEvent, Connection, DomainClaim, VerifiedDomain
from tests.saml.certs import cert_valid_for
from tests.saml.conftest import ACS_URL, SP_ENTITY_ID, Browser, sp_metadata
from tests.saml.idp import IDP_SSO_URL, TestIdP, idp_options

from .conftest import Portal
from .test_walkthrough import metadata_xml

pytestmark = pytest.mark.django_db

TXT: dict[str, list[str]] = {}


def fake_txt(name: str) -> list[str]:
    """The ``DOMAIN_TXT_RESOLVER`` of these tests: what ``TXT`` holds."""
    return TXT.get(name, [])


@pytest.fixture
def configured(connection: Connection) -> Connection:
    for name, value in idp_options().items():
        setattr(connection, name, value)
    connection.save()
    return connection


def run_test_sign_in(portal: Portal, configured: Connection, **kwargs: Any) -> str:
    """Press "Test sign-in", answer at the test IdP, come back: the result page's HTML."""
    idp = TestIdP(sp_metadata(configured))
    response = portal.client.post(portal.page("okta/test/"))
    assert response.status_code == 302
    assert response["Location"].startswith(IDP_SSO_URL)
    assert response["Referrer-Policy"] == "same-origin"
    request, _relay = idp.parse_login_redirect(response["Location"])
    browser = Browser(idp)
    browser.client = portal.client
    xml = idp.response_xml(
        sp_entity_id=SP_ENTITY_ID, acs_url=ACS_URL, in_response_to=request.id, **kwargs
    )
    back = browser.finish(browser.post(xml))
    assert back.status_code == 302
    assert back["Location"] == portal.page("okta/test/")
    page = portal.client.get(back["Location"])
    assert page.status_code == 200
    return page.content.decode()


def test_the_test_sign_in_shows_what_arrived_and_signs_nobody_in(
    portal: Portal, configured: Connection
) -> None:
    page = run_test_sign_in(
        portal,
        configured,
        name_id="carol@example.com",
        attributes={"email": "carol@example.com", "firstName": "Carol", "lastName": "Danvers"},
    )
    assert "The test sign-in worked" in page
    assert '<code id="test-name-id">carol@example.com</code>' in page
    fields = page.split('id="test-fields"')[1].split("</table>")[0]
    assert "carol@example.com" in fields
    field_names = {f.name for f in get_user_model()._meta.get_fields()}
    if {"first_name", "last_name"} <= field_names:  # not the custom user model's fields
        assert "Carol" in fields and "Danvers" in fields
    assert "A new account would be created." in page
    assert not get_user_model().objects.exists()
    assert "_auth_user_id" not in portal.client.session
    # The result is shown once.
    assert "test-result" not in portal.client.get(portal.page("okta/test/")).content.decode()


def test_a_failed_test_sign_in_says_why_and_what_to_fix(
    portal: Portal, configured: Connection
) -> None:
    page = run_test_sign_in(portal, configured, audience="https://someone-else.example/")
    assert "The test sign-in failed" in page
    reason = page.split('id="test-reason">')[1].split("</p>")[0]
    fix = page.split('id="test-fix">')[1].split("</p>")[0]
    assert reason.strip() and fix.strip()
    assert not get_user_model().objects.exists()


def test_no_test_without_an_idp(portal: Portal) -> None:
    page = portal.client.get(portal.page("okta/test/")).content.decode()
    assert "Give the identity provider" in page and 'id="start-test"' not in page
    assert portal.client.post(portal.page("okta/test/")).status_code == 400


def test_an_expired_certificate_is_named(portal: Portal, connection: Connection) -> None:
    xml = metadata_xml().decode()
    from django_provisioning.saml.config import cert_body
    from tests.saml.idp import pem

    xml = xml.replace(cert_body(pem("idp.crt")), cert_body(cert_valid_for(-3)))
    response = portal.client.post(
        portal.page("okta/"),
        {"source": "file", "file": SimpleUploadedFile("idp.xml", xml.encode(), "text/xml")},
    )
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    connection.refresh_from_db()
    assert connection.idp_entity_id == ""


def test_manual_certificate_must_be_one(portal: Portal, connection: Connection) -> None:
    response = portal.client.post(
        portal.page("other/"),
        {
            "source": "manual",
            "entity_id": "https://idp.example.org/",
            "sso_url": "https://idp.example.org/sso",
            "certificate": "not a certificate",
        },
    )
    assert response.status_code == 400
    assert "not a PEM or base64 X.509 certificate" in response.content.decode()


@pytest.fixture
def resolver(settings: Any) -> Any:
    settings.DJANGO_PROVISIONING = {
        **settings.DJANGO_PROVISIONING,
        "DOMAIN_TXT_RESOLVER": "tests.portal.test_test_and_domains.fake_txt",
    }
    TXT.clear()
    yield TXT
    TXT.clear()


def test_domain_record_then_verify(portal: Portal, connection: Connection, resolver: Any) -> None:
    page = portal.client.post(portal.page("domains/"), {"domain": "Acme.Example", "action": "show"})
    assert page.status_code == 200
    text = page.content.decode()
    claim = DomainClaim.objects.get(connection=connection, domain="acme.example")
    assert "_django-provisioning.acme.example" in text
    record = text.split('id="record-value">')[1].split("<")[0]
    assert claim.token in record
    # Not published yet: not verified, nothing written.
    page = portal.client.post(
        portal.page("domains/"), {"domain": "acme.example", "action": "verify"}
    )
    assert 'id="verify-result" class="error"' in page.content.decode()
    assert not VerifiedDomain.objects.filter(domain="acme.example").exists()
    resolver["_django-provisioning.acme.example"] = [record]
    page = portal.client.post(
        portal.page("domains/"), {"domain": "acme.example", "action": "verify"}
    )
    assert 'id="verify-result" class="ok"' in page.content.decode()
    assert VerifiedDomain.objects.get(domain="acme.example").connection == connection
    event = AuditEvent.objects.get(source="portal", action="domain_verified")
    assert event.target == "acme.example"
    # Asked for once, however often the record is shown.
    assert AuditEvent.objects.filter(source="portal", action="domain_claimed").count() == 1


@pytest.mark.parametrize("domain", ["", "localhost", "a..b", "x" * 300, "exa mple.com"])
def test_bad_domains_are_refused(
    portal: Portal, connection: Connection, resolver: Any, domain: str
) -> None:
    page = portal.client.post(portal.page("domains/"), {"domain": domain, "action": "show"})
    assert page.status_code == 400
    assert not DomainClaim.objects.exists()
