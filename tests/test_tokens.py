from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_provisioning.models import Connection, ScimToken
from django_provisioning.tokens import authenticate_token, checksum, issue_token, revoke_token


def test_token_is_stored_hashed_with_prefix(connection):
    _token, raw = issue_token(connection, name="okta")
    assert raw.startswith("scim_") and len(raw) > 40
    row = ScimToken.objects.get()
    assert row.checksum == checksum(raw) != raw
    assert raw.startswith(row.prefix) and len(row.prefix) == 12
    assert raw not in {str(v) for v in ScimToken.objects.values().get().values()}


def test_authenticate_returns_connection_and_records_last_use(connection):
    _token, raw = issue_token(connection)
    found = authenticate_token(raw)
    assert found is not None and found.connection == connection
    assert ScimToken.objects.get().last_used_at is not None


def test_last_used_written_at_most_once_per_interval(connection, django_assert_num_queries):
    _token, raw = issue_token(connection)
    authenticate_token(raw)
    with django_assert_num_queries(1):  # the lookup only, no UPDATE
        authenticate_token(raw)


@pytest.mark.parametrize("raw", ["", "scim_nope", "x" * 10_000, "scim_" + "\x00" * 10])
def test_wrong_tokens_are_refused(connection, raw):
    issue_token(connection)
    assert authenticate_token(raw) is None


def test_revoked_expired_and_inactive_connection_refused(connection):
    token, raw = issue_token(connection)
    revoke_token(token)
    assert authenticate_token(raw) is None
    _t, raw2 = issue_token(connection, expires_at=timezone.now() - timedelta(seconds=1))
    assert authenticate_token(raw2) is None
    _t, raw3 = issue_token(connection)
    Connection.objects.filter(pk=connection.pk).update(is_active=False)
    assert authenticate_token(raw3) is None


def test_create_scim_token_prints_token_alone_on_last_line(connection):
    out, err = StringIO(), StringIO()
    call_command("create_scim_token", "acme", "--name", "okta", stdout=out, stderr=err)
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("scim_") and " " not in last
    assert authenticate_token(last).connection == connection
    assert "shown once" in err.getvalue()


def test_create_scim_token_for_settings_connection_creates_row(db):
    out = StringIO()
    call_command("create_scim_token", "settings-co", stdout=out, stderr=StringIO())
    token = authenticate_token(out.getvalue().strip().splitlines()[-1])
    assert token.connection.slug == "settings-co" and token.connection.from_settings


def test_create_scim_token_with_expiry(connection):
    out = StringIO()
    call_command(
        "create_scim_token", "acme", "--expires-in-days", "3", stdout=out, stderr=StringIO()
    )
    token = ScimToken.objects.get()
    assert timedelta(days=2, hours=23) < token.expires_at - timezone.now() <= timedelta(days=3)


def test_create_scim_token_errors(db):
    with pytest.raises(CommandError, match="No connection"):
        call_command("create_scim_token", "nope", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="positive"):
        call_command(
            "create_scim_token",
            "settings-co",
            "--expires-in-days",
            "0",
            stdout=StringIO(),
            stderr=StringIO(),
        )
    assert ScimToken.objects.count() == 0


def test_create_scim_token_warns_for_an_inactive_connection(db):
    from django.test import override_settings

    settings = {"CONNECTIONS": {"settings-co": {"is_active": False}}}
    out, err = StringIO(), StringIO()
    with override_settings(DJANGO_PROVISIONING=settings):
        call_command("create_scim_token", "settings-co", stdout=out, stderr=err)
        raw = out.getvalue().strip().splitlines()[-1]
        assert authenticate_token(raw) is None
    assert "inactive" in err.getvalue()
    assert authenticate_token(raw).connection.slug == "settings-co"  # active by default
