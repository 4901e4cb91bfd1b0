"""The walkthrough as the IT admin sees it: IdP vocabulary, metadata, confirmation, CSRF."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from django_provisioning import signals
from django_provisioning.models import AuditEvent, Connection, SetupLink
from django_provisioning.portal import forms as portal_forms
from django_provisioning.portal.vendors import VENDORS
from django_provisioning.saml.metadata_import import MetadataError
from tests.factories import ConnectionFactory, scim_user
from tests.saml.idp import IDP_ENTITY_ID, IDP_SSO_URL, idp_options, pem
from tests.saml.test_commands import idp_descriptor

from .conftest import Portal, new_link

pytestmark = pytest.mark.django_db

NEW_IDP = "https://new-idp.example.net/metadata"


@pytest.fixture
def changes() -> Iterator[list[dict[str, Any]]]:
    """The ``portal_change`` signals sent (after the commit: run the hooks in the test)."""
    received: list[dict[str, Any]] = []

    def receiver(sender: str, **kwargs: Any) -> None:
        received.append({"sender": sender, **kwargs})

    signals.portal_change.connect(receiver)
    yield received
    signals.portal_change.disconnect(receiver)


@pytest.fixture(autouse=True)
def _commit_hooks() -> Iterator[None]:
    """Run on_commit hooks at once (the test's transaction never commits)."""
    with mock.patch(
        "django_provisioning.signals.transaction.on_commit", side_effect=lambda hook: hook()
    ):
        yield


def metadata_xml(entity_id: str = IDP_ENTITY_ID) -> bytes:
    return (
        idp_descriptor(entity_id, certs=("idp.crt",))
        .replace(
            "<md:EntityDescriptor ",
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ',
            1,
        )
        .encode()
    )


def upload(portal: Portal, xml: bytes, vendor: str = "okta", client: Client | None = None) -> Any:
    return (client or portal.client).post(
        portal.page(f"{vendor}/"),
        {"source": "file", "file": SimpleUploadedFile("idp.xml", xml, "text/xml")},
    )


def test_home_lists_every_identity_provider(portal: Portal) -> None:
    page = portal.client.get(portal.home).content.decode()
    for name in (
        "Okta",
        "Microsoft Entra ID",
        "Google Workspace",
        "OneLogin",
        "JumpCloud",
        "Keycloak",
        "Other SAML 2.0 identity provider",
    ):
        assert name in page


@pytest.mark.parametrize(
    ("vendor", "acs_label", "entity_label"),
    [
        ("okta", "Single sign-on URL", "Audience URI (SP Entity ID)"),
        ("entra", "Reply URL (Assertion Consumer Service URL)", "Identifier (Entity ID)"),
        ("google", "ACS URL", "Entity ID"),
    ],
)
def test_steps_speak_the_idps_words(
    portal: Portal, vendor: str, acs_label: str, entity_label: str
) -> None:
    response = portal.client.get(portal.page(f"{vendor}/"))
    assert response.status_code == 200
    page = response.content.decode()
    acs = "http://testserver/sso/acme/acs/"
    assert (
        f'<th scope="row">{acs_label}</th><td><code class="value" id="value-acs">{acs}</code>'
        in (page.replace("\n", ""))
    )
    assert f'<th scope="row">{entity_label}</th>' in page
    assert 'data-copy="value-acs"' in page  # the copy button
    for step in VENDORS[vendor].saml_steps[:2]:
        assert step.split("{")[0][:30] in page.replace("&#x27;", "'")


def test_unknown_vendor_is_404(portal: Portal) -> None:
    assert portal.client.get(portal.page("nope/")).status_code == 404


def test_metadata_file_sets_up_the_idp(
    portal: Portal, connection: Connection, changes: list[dict[str, Any]]
) -> None:
    response = upload(portal, metadata_xml())
    assert response.status_code == 302
    assert response["Location"] == portal.page("okta/test/")
    connection.refresh_from_db()
    assert connection.idp_entity_id == IDP_ENTITY_ID
    assert connection.idp_sso_url == IDP_SSO_URL
    event = AuditEvent.objects.get(source="portal", action="idp_settings")
    assert event.connection == connection
    assert event.detail["entity_id"] == IDP_ENTITY_ID and event.detail["affected_users"] == 0
    kinds = [(c["sender"], c["kind"]) for c in changes]
    assert ("portal", "idp_settings") in kinds


def test_metadata_url_is_fetched_as_untrusted(portal: Portal, connection: Connection) -> None:
    with mock.patch.object(portal_forms, "fetch_metadata", return_value=metadata_xml()) as fetch:
        response = portal.client.post(
            portal.page("okta/"), {"source": "url", "url": "https://idp.example.org/md"}
        )
    assert response.status_code == 302
    fetch.assert_called_once_with("https://idp.example.org/md", untrusted=True)
    connection.refresh_from_db()
    assert connection.idp_entity_id == IDP_ENTITY_ID
    # Remembered, so that refresh_idp_metadata keeps the settings current, and marked a
    # stranger's URL: the refresh fetches it under these same rules (HTTPS, public address).
    assert connection.idp_metadata_url == "https://idp.example.org/md"
    assert connection.idp_metadata_url_untrusted is True
    event = AuditEvent.objects.get(source="portal", action="idp_settings")
    assert event.detail["metadata_url"] == "https://idp.example.org/md"
    # A file afterwards: the URL is forgotten (it no longer says where the settings come from).
    upload(portal, metadata_xml())
    connection.refresh_from_db()
    assert connection.idp_metadata_url == ""
    assert connection.idp_metadata_url_untrusted is False


def test_a_refused_url_is_named_and_nothing_changes(portal: Portal, connection: Connection) -> None:
    refusal = MetadataError("The host resolves to a private address (10.0.0.5); refused.")
    with mock.patch.object(portal_forms, "fetch_metadata", side_effect=refusal):
        response = portal.client.post(
            portal.page("okta/"), {"source": "url", "url": "https://intranet.example/md"}
        )
    assert response.status_code == 400
    assert "private address (10.0.0.5)" in response.content.decode()
    connection.refresh_from_db()
    assert connection.idp_entity_id == ""
    assert not AuditEvent.objects.filter(source="portal", action="idp_settings").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"source": "url", "url": ""}, "Enter the metadata URL."),
        ({"source": "file"}, "Choose the metadata XML file."),
        ({"source": "manual"}, "Enter the entity id, the single sign-on URL, the signing"),
        (
            {"source": "manual", "entity_id": "x", "sso_url": "nope", "certificate": "c"},
            "is not a URL",
        ),
        ({"source": "other"}, "Select a valid choice"),
    ],
)
def test_bad_input_is_named(
    portal: Portal, connection: Connection, data: dict[str, str], message: str
) -> None:
    response = portal.client.post(portal.page("okta/"), data)
    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'")
    connection.refresh_from_db()
    assert connection.idp_entity_id == ""


def test_not_xml_is_named(portal: Portal, connection: Connection) -> None:
    response = upload(portal, b"<html><body>login page</body></html>")
    assert response.status_code == 400
    assert "describes no identity provider" in response.content.decode()
    response = upload(portal, b"<!DOCTYPE x [<!ENTITY e 'boom'>]><x>&e;</x>")
    assert response.status_code == 400
    assert "not acceptable XML" in response.content.decode()
    connection.refresh_from_db()
    assert connection.idp_entity_id == ""


def test_values_too_long_to_keep_are_named_not_a_500(
    portal: Portal, connection: Connection
) -> None:
    """Metadata (a stranger's) may carry values longer than the connection's columns hold:
    refused with the reason, not a database error (PostgreSQL) or a truncated save."""
    long_id = "https://idp.example.org/" + "x" * 1100
    response = upload(portal, metadata_xml(long_id))
    assert response.status_code == 400
    assert "longer than 1024 characters" in response.content.decode()
    long_url = "https://idp.example.org/md?" + "x" * 1100
    with mock.patch.object(portal_forms, "fetch_metadata", return_value=metadata_xml()):
        response = portal.client.post(portal.page("okta/"), {"source": "url", "url": long_url})
    assert response.status_code == 400
    assert "longer than 1024 characters" in response.content.decode()
    connection.refresh_from_db()
    assert connection.idp_entity_id == "" and connection.idp_metadata_url == ""
    assert not AuditEvent.objects.filter(source="portal", action="idp_settings").exists()


def test_problems_found_by_the_check_are_listed(portal: Portal, connection: Connection) -> None:
    problems = ["The signing certificate expired on 2020-01-01.", "The SSO URL uses HTTP."]
    with mock.patch.object(portal_forms, "check_idp_metadata", return_value=problems):
        response = upload(portal, metadata_xml())
    assert response.status_code == 400
    page = response.content.decode()
    assert all(problem in page for problem in problems)
    connection.refresh_from_db()
    assert connection.idp_entity_id == ""


def test_manual_values(portal: Portal, connection: Connection) -> None:
    response = portal.client.post(
        portal.page("other/"),
        {
            "source": "manual",
            "entity_id": NEW_IDP,
            "sso_url": "https://new-idp.example.net/sso",
            "certificate": pem("idp2.crt"),
        },
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.idp_entity_id == NEW_IDP
    assert connection.idp_sso_url == "https://new-idp.example.net/sso"


@pytest.fixture
def live_connection(connection: Connection) -> Connection:
    """The connection with an IdP and two accounts that sign in through it."""
    for name, value in idp_options().items():
        setattr(connection, name, value)
    connection.save()
    scim_user(connection, "alice@example.com")
    scim_user(connection, "bob@example.com")
    return connection


def test_replacing_the_idp_of_live_accounts_needs_confirmation(
    portal: Portal, live_connection: Connection, changes: list[dict[str, Any]]
) -> None:
    response = upload(portal, metadata_xml(NEW_IDP))
    assert response.status_code == 200
    page = response.content.decode()
    assert "2 accounts" in page and NEW_IDP in page
    live_connection.refresh_from_db()
    assert live_connection.idp_entity_id == IDP_ENTITY_ID  # nothing applied yet
    assert not changes
    response = portal.client.post(portal.page("okta/confirm/"), {"confirm": "replace"})
    assert response.status_code == 302
    live_connection.refresh_from_db()
    assert live_connection.idp_entity_id == NEW_IDP
    event = AuditEvent.objects.get(source="portal", action="idp_settings")
    assert event.detail["affected_users"] == 2
    assert event.detail["previous_entity_id"] == IDP_ENTITY_ID
    assert [(c["kind"], c["affected_users"]) for c in changes] == [("idp_settings", 2)]
    # The confirmation is spent: posting it again changes nothing more.
    portal.client.post(portal.page("okta/confirm/"), {"confirm": "replace"})
    assert AuditEvent.objects.filter(action="idp_settings").count() == 1


def test_a_new_metadata_url_for_live_accounts_needs_confirmation(
    portal: Portal, connection: Connection, changes: list[dict[str, Any]]
) -> None:
    """The same metadata from another URL changes no IdP field today, but refresh_idp_metadata
    applies whatever that URL serves tomorrow: handing it over is replacing the IdP."""
    assert upload(portal, metadata_xml()).status_code == 302
    scim_user(connection, "alice@example.com")
    changes.clear()
    theirs = "https://attacker.example/md"
    with mock.patch.object(portal_forms, "fetch_metadata", return_value=metadata_xml()):
        response = portal.client.post(portal.page("okta/"), {"source": "url", "url": theirs})
    assert response.status_code == 200
    assert "1 account" in response.content.decode() and theirs in response.content.decode()
    connection.refresh_from_db()
    assert connection.idp_metadata_url == "" and not changes
    response = portal.client.post(portal.page("okta/confirm/"), {"confirm": "replace"})
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.idp_metadata_url == theirs
    assert [(c["kind"], c["affected_users"]) for c in changes] == [("idp_settings", 1)]


def test_confirmation_needs_the_pending_change_of_this_link(
    portal: Portal, live_connection: Connection
) -> None:
    response = portal.client.post(portal.page("okta/confirm/"), {"confirm": "replace"})
    assert response.status_code == 302
    upload(portal, metadata_xml(NEW_IDP))
    # Without the explicit confirm value, nothing happens.
    portal.client.post(portal.page("okta/confirm/"), {})
    live_connection.refresh_from_db()
    assert live_connection.idp_entity_id == IDP_ENTITY_ID


def test_declared_connection_cannot_be_changed(db: Any) -> None:
    declared = ConnectionFactory(slug="settings-co")
    declared.refresh_from_db()
    _link, url = new_link(declared)
    portal = Portal(url)
    portal.open()
    response = upload(portal, metadata_xml())
    assert response.status_code == 400
    assert "declared in settings" in response.content.decode()


def test_forms_need_the_csrf_token(link_url: str, connection: Connection) -> None:
    portal = Portal(link_url, enforce_csrf=True)
    portal.open()
    response = upload(portal, metadata_xml())
    assert response.status_code == 403
    response = portal.client.post(portal.page("okta/scim/"))
    assert response.status_code == 403
    connection.refresh_from_db()
    assert connection.idp_entity_id == "" and not connection.scim_tokens.exists()


def test_another_browser_cannot_post(portal: Portal, connection: Connection) -> None:
    intruder = Client()
    response = intruder.post(
        portal.page("okta/"),
        {"source": "file", "file": SimpleUploadedFile("idp.xml", metadata_xml(), "text/xml")},
    )
    assert response.status_code == 403
    assert intruder.post(portal.page("okta/scim/")).status_code == 403
    connection.refresh_from_db()
    assert connection.idp_entity_id == "" and not connection.scim_tokens.exists()
    assert SetupLink.objects.count() == 1


@pytest.mark.parametrize(
    ("debug", "allowed", "status"),
    [
        (False, ["127.0.0.1:9000"], 400),  # the allowlist means nothing without DEBUG
        (True, ["127.0.0.1:9001"], 400),  # another port
        (True, ["127.0.0.1:9000"], 302),  # the demo's development IdP
    ],
)
def test_http_idp_urls_only_on_the_debug_allowlist(
    portal: Portal,
    connection: Connection,
    settings: Any,
    debug: bool,
    allowed: list[str],
    status: int,
) -> None:
    settings.DEBUG = debug
    settings.DJANGO_PROVISIONING = {
        **settings.DJANGO_PROVISIONING,
        "METADATA_FETCH_ALLOWED_HOSTS": allowed,
    }
    xml = metadata_xml().replace(b"https://idp.example.org/saml/", b"http://127.0.0.1:9000/")
    response = upload(portal, xml)
    assert response.status_code == status
    connection.refresh_from_db()
    if status == 400:
        assert "uses HTTP; it must use HTTPS" in response.content.decode()
        assert connection.idp_entity_id == ""
    else:
        assert connection.idp_sso_url == "http://127.0.0.1:9000/sso"
