"""The admin: issue a token (shown once), revoke tokens, browse link rows and audit."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.db.models.signals import post_save
from django.test import Client

from django_provisioning.connections import get_connection
from django_provisioning.models import ScimToken
from django_provisioning.tokens import authenticate_token, issue_token

from .factories import scim_user


@pytest.fixture
def admin_client(db):
    model = get_user_model()
    fields = {model.USERNAME_FIELD: "root@example.org"}
    if model.USERNAME_FIELD != "email":
        fields["email"] = "root@example.org"
    admin = model.objects.create_superuser(password="pw", **fields)
    client = Client()
    client.force_login(admin)
    return client


def test_issue_token_action_shows_it_once(admin_client, connection):
    response = admin_client.post(
        "/admin/django_provisioning/connection/",
        {"action": "issue_scim_token", "_selected_action": [connection.pk]},
        follow=True,
    )
    assert response.status_code == 200
    (raw,) = re.findall(r"scim_[A-Za-z0-9_-]{43}", response.content.decode())
    assert authenticate_token(raw).connection == connection
    assert ScimToken.objects.get().checksum != raw
    again = admin_client.get("/admin/django_provisioning/scimtoken/").content.decode()
    assert raw not in again and raw[:12] in again


def test_revoke_action(admin_client, connection):
    token, raw = issue_token(connection)
    response = admin_client.post(
        "/admin/django_provisioning/scimtoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
        follow=True,
    )
    assert b"1 token(s) revoked." in response.content
    assert authenticate_token(raw) is None


def test_revoke_action_goes_through_revoke_token(admin_client, connection):
    """The action revokes with tokens.revoke_token (a save), not a bulk UPDATE that no
    ``post_save`` receiver of the host project would ever see."""
    token, _raw = issue_token(connection)
    saved: list[ScimToken] = []

    def receiver(sender, instance, **kwargs):
        saved.append(instance)

    post_save.connect(receiver, sender=ScimToken)
    try:
        admin_client.post(
            "/admin/django_provisioning/scimtoken/",
            {"action": "revoke", "_selected_action": [token.pk]},
        )
    finally:
        post_save.disconnect(receiver, sender=ScimToken)
    assert [t.pk for t in saved] == [token.pk]
    assert saved[0].revoked_at is not None


def test_settings_connection_is_read_only(admin_client, db):
    connection = get_connection("settings-co")
    page = admin_client.get(f"/admin/django_provisioning/connection/{connection.pk}/change/")
    assert page.status_code == 200
    assert b'name="name"' not in page.content  # shown, not editable


def test_pages_render(admin_client, connection):
    identity = scim_user(connection, "alice@example.com")
    for url in (
        "/admin/django_provisioning/connection/",
        f"/admin/django_provisioning/connection/{connection.pk}/change/",
        "/admin/django_provisioning/connection/add/",
        "/admin/django_provisioning/externalidentity/",
        f"/admin/django_provisioning/externalidentity/{identity.pk}/change/",
        "/admin/django_provisioning/auditevent/",
        "/admin/django_provisioning/externalgroup/",
        "/admin/django_provisioning/scimtoken/",
    ):
        assert admin_client.get(url).status_code == 200, url
    assert admin_client.get("/admin/django_provisioning/scimtoken/add/").status_code == 403
    assert admin_client.get("/admin/django_provisioning/auditevent/add/").status_code == 403


def test_connection_list_shows_and_filters_what_is_in_force(admin_client, connection):
    """A declared connection's stale row is neither shown nor filtered on (settings are)."""
    from django.test import override_settings

    from django_provisioning.models import Connection

    declared = get_connection("settings-co")
    Connection.objects.filter(pk=declared.pk).update(is_active=True, name="Stale name")
    Connection.objects.create(slug="gone", name="Gone", from_settings=True, is_active=True)
    url = "/admin/django_provisioning/connection/"
    settings = {"CONNECTIONS": {"settings-co": {"name": "In force", "is_active": False}}}
    with override_settings(DJANGO_PROVISIONING=settings):
        inactive = admin_client.get(url, {"is_active": "False"}).content.decode()
        active = admin_client.get(url, {"is_active": "True"}).content.decode()
        retired = admin_client.get(url, {"source": "retired"}).content.decode()
        page = admin_client.get(f"{url}{declared.pk}/change/").content.decode()
    assert "In force" in inactive and "Gone" in inactive and "Acme" not in inactive
    assert "Acme" in active and "In force" not in active and "Gone" not in active
    assert "Stale name" not in inactive + active
    assert "Gone" in retired and "In force" not in retired
    assert "In force" in page and "Stale name" not in page
