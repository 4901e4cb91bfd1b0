"""The SCIM step: a token shown once, the IdP's steps, and the live status of SCIM requests."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from django_provisioning.models import AuditEvent, Connection, ScimToken
from django_provisioning.scim import recent
from django_provisioning.tokens import issue_token
from tests.factories import ConnectionFactory

from .conftest import Portal

pytestmark = pytest.mark.django_db


def test_token_is_issued_on_a_button_press_and_shown_once(
    portal: Portal, connection: Connection
) -> None:
    page = portal.client.get(portal.page("okta/scim/")).content.decode()
    assert "SCIM connector base URL" in page
    assert "http://testserver/scim/v2/" in page
    assert not ScimToken.objects.exists()  # reading the page issues nothing
    response = portal.client.post(portal.page("okta/scim/"))
    assert response.status_code == 200
    page = response.content.decode()
    token = ScimToken.objects.get()
    assert token.connection == connection
    assert token.name == "Okta (setup portal)"
    raw = page.split('id="scim-token">')[1].split("<")[0]
    assert raw.startswith(token.prefix)
    assert "shown only once" in page
    # The raw token works, and is not on the page again.
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/scim/v2/Users").status_code == 200
    assert raw not in portal.client.get(portal.page("okta/scim/")).content.decode()
    event = AuditEvent.objects.get(source="portal", action="scim_token")
    assert event.detail["token_prefix"] == token.prefix and raw not in str(event.detail)


def test_entra_words(portal: Portal) -> None:
    page = portal.client.get(portal.page("entra/scim/")).content.decode()
    assert "Tenant URL" in page and "Test Connection" in page


def test_google_says_it_cannot_provision(portal: Portal) -> None:
    page = portal.client.get(portal.page("google/scim/")).content.decode()
    assert "only to the apps in its own catalog" in page
    assert 'id="issue-token"' not in page


def test_live_status_shows_this_connections_requests(
    portal: Portal, connection: Connection
) -> None:
    page = portal.client.get(portal.page("okta/scim/")).content.decode()
    assert "No request has arrived yet." in page
    _row, raw = issue_token(connection)
    idp = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    idp.get("/scim/v2/ServiceProviderConfig")
    idp.get("/scim/v2/Users", {"filter": 'userName eq "secret@example.com"'})
    idp.get("/scim/v2/Users/not-a-uuid")
    other = ConnectionFactory(slug="globex")
    _row, other_raw = issue_token(other)
    Client(HTTP_AUTHORIZATION=f"Bearer {other_raw}").get("/scim/v2/Groups")
    page = portal.client.get(portal.page("okta/scim/")).content.decode()
    table = page.split('id="scim-status"')[1]
    rows = table.split("<tr>")[2:]
    assert "GET /scim/v2/Users/not-a-uuid" in rows[0] and "404 (refused)" in rows[0]
    assert "GET /scim/v2/Users<" in rows[1] and "200 (accepted)" in rows[1]
    assert "GET /scim/v2/ServiceProviderConfig" in rows[2]
    assert len(rows) == 3
    assert "secret@example.com" not in page  # no query strings kept
    assert "/Groups" not in table  # another connection's requests


def test_recent_list_is_bounded_and_costs_no_query(
    connection: Connection, settings: Any, django_assert_num_queries: Any
) -> None:
    settings.DJANGO_PROVISIONING = {"PORTAL_RECENT_SCIM_REQUESTS": 3}
    with django_assert_num_queries(0):
        for n in range(5):
            recent.record(connection.pk, "GET", f"/scim/v2/Users/{n}", 200)
    assert [r["path"] for r in recent.recent(connection.pk)] == [
        "/scim/v2/Users/4",
        "/scim/v2/Users/3",
        "/scim/v2/Users/2",
    ]


def test_recent_list_of_one_keeps_one(connection: Connection, settings: Any) -> None:
    settings.DJANGO_PROVISIONING = {"PORTAL_RECENT_SCIM_REQUESTS": 1}
    for n in range(4):
        recent.record(connection.pk, "GET", f"/scim/v2/Users/{n}", 200)
    assert [r["path"] for r in recent.recent(connection.pk)] == ["/scim/v2/Users/3"]


def test_a_cache_failure_never_fails_a_scim_request(connection: Connection) -> None:
    from unittest import mock

    _row, raw = issue_token(connection)
    with mock.patch("django.core.cache.backends.locmem.LocMemCache.get", side_effect=OSError):
        response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/scim/v2/ServiceProviderConfig")
    assert response.status_code == 200
