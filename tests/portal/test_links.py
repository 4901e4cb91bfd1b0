"""Setup links: stored hashed, bound to the first browser, expiring, revocable; attacked."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO
from typing import Any
from urllib.parse import urlparse

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from django_provisioning.models import AuditEvent, Connection, SetupLink
from django_provisioning.portal.links import COOKIE_PREFIX
from tests.factories import ConnectionFactory

from .conftest import Portal, new_link

pytestmark = pytest.mark.django_db


def test_the_link_is_stored_as_a_checksum_only(connection: Connection) -> None:
    link, url = new_link(connection)
    secret = urlparse(url).path.rstrip("/").rsplit("/", 1)[1]
    assert url == f"http://testserver/setup/{secret}/"
    assert secret.startswith("setup_") and len(secret) > 40
    assert link.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    row = SetupLink.objects.values().get(pk=link.pk)
    assert secret not in str(row)
    assert timedelta(hours=71, minutes=59) < link.expires_at - timezone.now() <= timedelta(hours=72)


def test_first_open_binds_the_browser_and_leaves_the_secret_url(link_url: str) -> None:
    browser = Portal(link_url)
    response = browser.open()
    assert response.status_code == 302
    link = SetupLink.objects.get()
    assert response["Location"] == f"/setup/s/{link.public_id}/"
    assert "setup_" not in response["Location"]  # the secret leaves the address bar
    assert response["Referrer-Policy"] == "no-referrer"
    cookie = response.cookies[COOKIE_PREFIX + link.public_id.hex]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/setup/"
    assert not cookie["secure"]  # plain HTTP in the test; Secure over HTTPS (below)
    assert link.bound_at is not None
    assert link.browser_hash == hashlib.sha256(cookie.value.encode()).hexdigest()
    page = browser.client.get(browser.home)
    assert page.status_code == 200
    assert b"Choose your identity provider" in page.content
    # Same-origin only: "no-referrer" would make Chromium send "Origin: null" with the forms.
    assert page["Referrer-Policy"] == "same-origin"
    assert "no-store" in page["Cache-Control"]
    # The same browser may open the link again.
    assert browser.open().status_code == 302
    assert AuditEvent.objects.filter(source="portal", action="link_opened").count() == 1


def test_a_get_never_binds(link_url: str) -> None:
    """A mail scanner or link preview that fetches the link first cannot take it."""
    for _attempt in range(2):
        response = Client().get(urlparse(link_url).path)
        assert response.status_code == 200
        assert b'id="continue-setup"' in response.content
        assert not any(name.startswith(COOKIE_PREFIX) for name in response.cookies)
    assert SetupLink.objects.get().browser_hash == ""
    assert Portal(link_url).open().status_code == 302  # the person's browser still can


def test_cookie_is_secure_over_https(link_url: str) -> None:
    response = Client().post(urlparse(link_url).path, secure=True)
    link = SetupLink.objects.get()
    assert response.cookies[COOKIE_PREFIX + link.public_id.hex]["secure"]


def test_second_browser_is_refused(portal: Portal) -> None:
    other = Portal(portal.url)
    response = other.open()
    assert response.status_code == 403
    assert b"already in use" in response.content and b"ask for a new one" in response.content
    # Nor can it reach the portal pages by their (non-secret) address.
    response = other.client.get(portal.home)
    assert response.status_code == 403
    assert portal.client.get(portal.home).status_code == 200  # the first still works


def test_forged_cookie_is_refused(portal: Portal) -> None:
    link = SetupLink.objects.get()
    forger = Client()
    forger.cookies[COOKIE_PREFIX + link.public_id.hex] = "guessed"
    assert forger.get(portal.home).status_code == 403
    # The checksum itself (as a leaked database row would give it) is no cookie either.
    forger.cookies[COOKIE_PREFIX + link.public_id.hex] = link.browser_hash
    assert forger.get(portal.home).status_code == 403


def test_unknown_and_revoked_links_look_the_same(connection: Connection) -> None:
    link, url = new_link(connection)
    link.revoked_at = timezone.now()
    link.save()
    revoked = Client().get(urlparse(url).path)
    unknown = Client().get("/setup/setup_" + "A" * 43 + "/")
    malformed = Client().get("/setup/nonsense/")
    assert revoked.status_code == unknown.status_code == malformed.status_code == 404
    assert revoked.content == unknown.content == malformed.content
    assert b"not valid" in unknown.content


def test_revoked_link_stops_the_bound_browser_too(portal: Portal) -> None:
    SetupLink.objects.update(revoked_at=timezone.now())
    assert portal.client.get(portal.home).status_code == 404
    assert portal.open().status_code == 404


def test_expired_link_says_so(connection: Connection, portal: Portal) -> None:
    SetupLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = portal.client.get(portal.home)
    assert response.status_code == 410
    assert b"expired" in response.content
    assert Portal(portal.url).open().status_code == 410


def test_unbound_link_pages_need_the_secret_url(connection: Connection) -> None:
    link, _url = new_link(connection)
    assert Client().get(f"/setup/s/{link.public_id}/").status_code == 404
    assert SetupLink.objects.get().browser_hash == ""


def test_a_link_gives_access_to_its_own_connection_only(portal: Portal) -> None:
    other = ConnectionFactory(slug="globex", name="Globex Corp")
    other_link, _url = new_link(other)
    # The first browser's cookie is for its own link: the other link's pages refuse it.
    assert portal.client.get(f"/setup/s/{other_link.public_id}/").status_code == 404
    page = portal.client.get(portal.home).content.decode()
    assert "Acme" in page and "Globex" not in page


def test_create_setup_link_command(connection: Connection) -> None:
    out = StringIO()
    call_command("create_setup_link", "acme", "--expires-in-hours", "2", stdout=out)
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("http://testserver/setup/setup_")
    link = SetupLink.objects.get()
    assert link.created_by == "manage.py create_setup_link"
    assert timedelta(minutes=119) < link.expires_at - timezone.now() <= timedelta(hours=2)
    assert Portal(last).open().status_code == 302


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "No connection with slug 'nope'"),
        (["acme", "--expires-in-hours", "0"], "more than 0 hours"),
    ],
)
def test_create_setup_link_command_errors(
    connection: Connection, args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("create_setup_link", *args, stdout=StringIO())
    assert not SetupLink.objects.exists()


def test_create_setup_link_needs_the_base_url(connection: Connection, settings: Any) -> None:
    settings.DJANGO_PROVISIONING = {}
    with pytest.raises(CommandError, match=r'PORTAL_BASE_URL"\] to the scheme and host'):
        call_command("create_setup_link", "acme", stdout=StringIO())
    assert not SetupLink.objects.exists()


@pytest.fixture
def admin_client(db: Any) -> Client:
    model = get_user_model()
    fields = {model.USERNAME_FIELD: "root@example.org"}
    if model.USERNAME_FIELD != "email":
        fields["email"] = "root@example.org"
    user = model.objects.create_superuser(password="pw", **fields)
    client = Client()
    client.force_login(user)
    return client


def test_admin_action_creates_a_link_shown_once(
    admin_client: Client, connection: Connection
) -> None:
    response = admin_client.post(
        "/admin/django_provisioning/connection/",
        {"action": "create_setup_link", "_selected_action": [connection.pk]},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Setup link for acme" in text and "http://testserver/setup/setup_" in text
    link = SetupLink.objects.get()
    assert link.created_by.startswith("admin: ")
    listing = admin_client.get("/admin/django_provisioning/setuplink/")
    assert listing.status_code == 200 and "setup_" not in listing.content.decode()


def test_admin_revokes_links(admin_client: Client, portal: Portal) -> None:
    link = SetupLink.objects.get()
    response = admin_client.post(
        "/admin/django_provisioning/setuplink/",
        {"action": "revoke", "_selected_action": [link.pk]},
        follow=True,
    )
    assert "1 setup link(s) revoked." in response.content.decode()
    assert portal.client.get(portal.home).status_code == 404


def test_an_inactive_connections_link_is_not_valid(connection: Connection, portal: Portal) -> None:
    connection.is_active = False
    connection.save()
    assert portal.client.get(portal.home).status_code == 404
    _link, url = new_link(connection)
    assert Client().get(urlparse(url).path).status_code == 404
