"""Connections declared in settings: what the settings say holds for both doors, at once.

Each test starts from a row that disagrees with the settings (as after a deploy that changed
them: the row still holds what older settings or an older release wrote), then sends the first
SCIM request and the first SAML request under the new settings. Both must follow the settings,
and neither may write the connection row.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection as db_connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from django_provisioning import signals
from django_provisioning.connections import get_connection
from django_provisioning.models import Connection, ExternalIdentity
from django_provisioning.tokens import authenticate_token, issue_token
from tests.conftest import ScimClient
from tests.factories import scim_user

from .conftest import Browser
from .idp import IDP_ENTITY_ID, IDP_SLO_URL, IDP_SSO_URL, pem

User = get_user_model()
pytestmark = pytest.mark.django_db
# Quoted: the table, not its neighbours ("django_provisioning_connectioncounter").
CONNECTION_TABLE = f'"{Connection._meta.db_table}"'


@pytest.fixture(autouse=True)
def _saml_urls(settings: Any) -> None:
    """Both doors in one URLconf (the SAML tests' own has no SCIM views)."""
    settings.ROOT_URLCONF = "tests.urls"


def declared(**options: Any) -> dict[str, Any]:
    """DJANGO_PROVISIONING with "acme" declared, its IdP set up like the test IdP."""
    acme = {
        "name": "Acme (settings)",
        "verified_domains": ["example.com"],
        "idp_entity_id": IDP_ENTITY_ID,
        "idp_sso_url": IDP_SSO_URL,
        "idp_slo_url": IDP_SLO_URL,
        "idp_x509_certs": [pem("idp.crt")],
        **options,
    }
    return {"CONNECTIONS": {"acme": acme}}


def stale_row(connection: Connection, **values: Any) -> None:
    """Make the stored row say *values* (as written by older settings), bypassing the ORM."""
    Connection.objects.filter(pk=connection.pk).update(from_settings=True, **values)


@contextmanager
def no_connection_writes() -> Iterator[CaptureQueriesContext]:
    """Fail when anything inside writes the connection table."""
    with CaptureQueriesContext(db_connection) as queries:
        yield queries
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if CONNECTION_TABLE in q["sql"]
        and q["sql"].lstrip().upper().startswith(("UPDATE", "INSERT"))
    ]
    assert writes == []


def scim_client(connection: Connection) -> ScimClient:
    _token, raw = issue_token(connection, name="tests")
    return ScimClient(connection, raw)


def assert_saml_404(browser: Browser) -> None:
    """The sign-in link and the ACS both answer the 'no such organisation' page."""
    login = browser.client.get("/sso/acme/login/")
    assert login.status_code == 404, login.content
    assert "does not match any organisation" in login.content.decode()
    acs = browser.post(browser.response_for(None))
    assert acs.status_code == 404, acs.content
    assert "does not match any organisation" in acs.content.decode()


# ---------------------------------------------------------------------- is_active False


def test_inactive_in_settings_refuses_both_doors(
    browser: Browser, saml_connection: Connection
) -> None:
    scim = scim_client(saml_connection)
    stale_row(saml_connection, is_active=True)
    with override_settings(DJANGO_PROVISIONING=declared(is_active=False)):
        with no_connection_writes():
            listed = scim.get("Users")
            assert listed.status_code == 401, listed.content
            assert "invalid, expired or revoked" in listed.json()["detail"]
            assert_saml_404(browser)
    assert not User.objects.exists()
    assert Connection.objects.values_list("is_active", flat=True).get() is True  # not written


def test_active_in_settings_beats_an_inactive_row(
    browser: Browser, saml_connection: Connection
) -> None:
    scim = scim_client(saml_connection)
    stale_row(saml_connection, is_active=False)
    with override_settings(DJANGO_PROVISIONING=declared(is_active=True)):
        with no_connection_writes():
            assert scim.get("Users").status_code == 200
            assert browser.sign_in().status_code == 302
    assert browser.who() == "home: alice@example.com"


# ---------------------------------------------------------------------- deprovision_policy


def test_delete_policy_in_settings_holds_for_both_doors(
    browser: Browser, saml_connection: Connection, django_capture_on_commit_callbacks: Any
) -> None:
    identity = scim_user(saml_connection, "bob@example.com")
    scim = scim_client(saml_connection)
    stale_row(saml_connection, deprovision_policy="deactivate")
    seen: list[str] = []

    def on_login(sender: Any, connection: Connection, **kwargs: Any) -> None:
        seen.append(connection.deprovision_policy)

    signals.saml_user_logged_in.connect(on_login)
    try:
        with override_settings(DJANGO_PROVISIONING=declared(deprovision_policy="delete")):
            with no_connection_writes():
                deleted = scim.delete(f"Users/{identity.scim_id}")
                assert deleted.status_code == 204, deleted.content
                with django_capture_on_commit_callbacks(execute=True):
                    assert browser.sign_in().status_code == 302
    finally:
        signals.saml_user_logged_in.disconnect(on_login)
    assert not User.objects.filter(pk=identity.user_id).exists()  # deleted, not deactivated
    assert seen == ["delete"]


# ---------------------------------------------------------------------- a removed key


def test_key_removed_from_settings_falls_back_to_the_model_default(
    browser: Browser, saml_connection: Connection
) -> None:
    """The row still holds what older settings said; the key is gone, so the default holds."""
    identity = scim_user(saml_connection, "bob@example.com")
    scim = scim_client(saml_connection)
    stale_row(saml_connection, is_active=False, deprovision_policy="delete", jit_create=False)
    with override_settings(DJANGO_PROVISIONING=declared()):
        with no_connection_writes():
            deleted = scim.delete(f"Users/{identity.scim_id}")
            assert deleted.status_code == 204, deleted.content  # is_active: default True
            # jit_create: default True, so the unknown alice is created at sign-in.
            assert browser.sign_in().status_code == 302
    assert browser.who() == "home: alice@example.com"
    bob = User.objects.get(pk=identity.user_id)  # deprovision_policy: default "deactivate"
    assert bob.is_active is False


def test_name_removed_from_settings_is_the_slug(saml_connection: Connection) -> None:
    stale_row(saml_connection, name="Old name", clock_skew=5)
    with override_settings(DJANGO_PROVISIONING={"CONNECTIONS": {"acme": {}}}):
        connection = Connection.objects.get(slug="acme")
    assert connection.name == "acme"
    assert connection.clock_skew == 120


# ---------------------------------------------------------------------- a removed connection


def test_connection_removed_from_settings_stops_working(
    browser: Browser, saml_connection: Connection
) -> None:
    scim = scim_client(saml_connection)
    stale_row(saml_connection, is_active=True)
    with override_settings(DJANGO_PROVISIONING={"CONNECTIONS": {}}):
        with no_connection_writes():
            listed = scim.get("Users")
            assert listed.status_code == 401, listed.content
            assert_saml_404(browser)
        assert get_connection("acme") is not None  # the row (and its FKs) is kept ...
        assert get_connection("acme", active_only=True) is None  # ... inactive
    # Declared again: it works again, with no write either.
    with override_settings(DJANGO_PROVISIONING=declared()):
        with no_connection_writes():
            assert scim.get("Users").status_code == 200
            assert browser.sign_in().status_code == 302


def test_database_connection_is_not_touched_by_settings(
    browser: Browser, saml_connection: Connection
) -> None:
    """A row made in the database (not from settings) keeps its own values."""
    scim = scim_client(saml_connection)
    with override_settings(DJANGO_PROVISIONING={"CONNECTIONS": {}}):
        assert scim.get("Users").status_code == 200
        assert browser.sign_in().status_code == 302


# ---------------------------------------------------------------------- reads, not writes


def test_first_use_creates_the_row_once_and_never_writes_it_again(
    browser: Browser, saml_connection: Connection
) -> None:
    saml_connection.delete()
    with override_settings(DJANGO_PROVISIONING=declared(jit_update=False)):
        with CaptureQueriesContext(db_connection) as first:
            assert browser.sign_in().status_code == 302
        inserts = [q for q in first.captured_queries if q["sql"].startswith("INSERT")]
        assert sum(CONNECTION_TABLE in q["sql"] for q in inserts) == 1
        row = Connection.objects.values("from_settings", "name", "jit_update").get(slug="acme")
        assert row == {"from_settings": True, "name": "Acme (settings)", "jit_update": False}
        with no_connection_writes():
            assert Browser(browser.idp).sign_in().status_code == 302


def test_every_load_is_effective(saml_connection: Connection) -> None:
    """Foreign keys and select_related read the settings too, not only get_connection."""
    identity = scim_user(saml_connection, "bob@example.com")
    _token, raw = issue_token(saml_connection)
    stale_row(saml_connection, deprovision_policy="deactivate", verified_domains=[])
    with override_settings(DJANGO_PROVISIONING=declared(deprovision_policy="delete")):
        loaded = ExternalIdentity.objects.select_related("connection").get(pk=identity.pk)
        assert loaded.connection.deprovision_policy == "delete"
        by_fk = ExternalIdentity.objects.get(pk=identity.pk).connection
        assert by_fk.verified_domains == ["example.com"]
        assert authenticate_token(raw).connection.deprovision_policy == "delete"
        # Changing one request's connection does not change the next one's.
        by_fk.verified_domains.append("evil.example")
        assert Connection.objects.get().verified_domains == ["example.com"]


def test_a_declared_value_is_copied_all_the_way_down() -> None:
    """Lists and dicts are copied at every level (by hand), anything else by deepcopy."""
    from django_provisioning.declared import _copy

    setting = {"map": [{"attr": ["a", "b"]}, "c"], "pair": ("x", ["y"]), "n": 1}
    copied = _copy(setting)
    assert copied == setting
    copied["map"][0]["attr"].append("evil")
    copied["map"].append("evil")
    copied["pair"][1].append("evil")
    assert setting == {"map": [{"attr": ["a", "b"]}, "c"], "pair": ("x", ["y"]), "n": 1}


def test_effective_is_cached_and_follows_setting_changes(saml_connection: Connection) -> None:
    from django_provisioning.declared import declared_connections, effective

    stale_row(saml_connection)
    with override_settings(DJANGO_PROVISIONING=declared(clock_skew=10)):
        assert declared_connections() is declared_connections()  # resolved once per process
        assert effective(Connection(slug="acme", from_settings=True)).clock_skew == 10
        with override_settings(DJANGO_PROVISIONING=declared(clock_skew=20)):
            assert Connection.objects.get().clock_skew == 20
        assert Connection.objects.get().clock_skew == 10
