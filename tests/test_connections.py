from __future__ import annotations

from django.test import override_settings

from django_provisioning.connections import get_connection
from django_provisioning.models import Connection


def test_settings_connection_is_mirrored_to_a_row(db):
    connection = get_connection("settings-co")
    assert connection is not None and connection.pk
    assert connection.from_settings and connection.verified_domains == ["settings.example"]


def test_settings_changes_are_laid_over_the_row_not_written(db):
    get_connection("settings-co")
    with override_settings(
        DJANGO_PROVISIONING={
            "CONNECTIONS": {"settings-co": {"name": "Renamed", "deprovision_policy": "delete"}}
        }
    ):
        connection = get_connection("settings-co")
        assert Connection.objects.get(slug="settings-co").name == "Renamed"
    assert connection.name == "Renamed" and connection.deprovision_policy == "delete"
    stored = Connection.objects.filter(slug="settings-co").values("name", "deprovision_policy")
    assert stored.get() == {"name": "Declared in settings", "deprovision_policy": "deactivate"}


def test_declared_slug_of_a_database_connection_follows_settings(connection):
    """Settings win over a database row of the same slug while they declare it."""
    with override_settings(DJANGO_PROVISIONING={"CONNECTIONS": {"acme": {"is_active": False}}}):
        assert get_connection("acme", active_only=True) is None
        assert get_connection("acme").from_settings
    assert get_connection("acme", active_only=True) == connection
    assert not get_connection("acme").from_settings


def test_database_connection_and_unknown(connection):
    assert get_connection("acme") == connection
    assert get_connection("missing") is None
    Connection.objects.filter(pk=connection.pk).update(is_active=False)
    assert get_connection("acme", active_only=True) is None


def test_owns_email_domain(connection):
    assert connection.owns_email_domain("bob@EXAMPLE.com")
    assert not connection.owns_email_domain("bob@example.com.evil.test")
    assert not connection.owns_email_domain("example.com")
