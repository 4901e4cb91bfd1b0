"""A verified domain belongs to one connection only, in the database and in settings; the
sign-in page finds a work e-mail's connection by it (home-realm discovery)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.db import IntegrityError, transaction
from django.test import Client

from django_provisioning.connections import get_connection
from django_provisioning.domains import (
    check_database_domains,
    check_declared_domains,
    connection_for_email,
    sync_declared_domains,
)
from django_provisioning.exceptions import DomainTaken
from django_provisioning.models import Connection, VerifiedDomain

from .factories import ConnectionFactory

pytestmark = pytest.mark.django_db


def claims() -> list[tuple[str, str]]:
    return list(VerifiedDomain.objects.values_list("domain", "connection__slug"))


def test_saving_a_connection_claims_its_domains_lowercased() -> None:
    ConnectionFactory(slug="acme", verified_domains=["Acme.COM", " acme.io. ", "acme.com"])

    assert claims() == [("acme.com", "acme"), ("acme.io", "acme")]


def test_a_second_connection_cannot_verify_a_claimed_domain(connection: Connection) -> None:
    with pytest.raises(DomainTaken, match=r"example\.com \(acme\)"):
        Connection.objects.create(slug="globex", name="Globex", verified_domains=["EXAMPLE.com"])

    assert not Connection.objects.filter(slug="globex").exists()  # nothing written
    assert claims() == [("example.com", "acme")]


def test_an_edit_that_takes_a_domain_leaves_the_row_as_it_was(
    connection: Connection, other_connection: Connection
) -> None:
    other_connection.verified_domains = ["globex.test", "example.com"]
    other_connection.name = "Renamed"

    with pytest.raises(DomainTaken):
        other_connection.save()

    other_connection.refresh_from_db()
    assert other_connection.name == "Globex"
    assert other_connection.verified_domains == ["globex.test"]
    assert sorted(claims()) == [("example.com", "acme"), ("globex.test", "globex")]


def test_a_removed_domain_is_free_for_another_connection(connection: Connection) -> None:
    connection.verified_domains = []
    connection.save()

    ConnectionFactory(slug="globex", verified_domains=["example.com"])

    assert claims() == [("example.com", "globex")]


def test_the_database_refuses_a_second_claim_and_uppercase(connection: Connection) -> None:
    other = ConnectionFactory(slug="globex")
    with pytest.raises(IntegrityError), transaction.atomic():
        VerifiedDomain.objects.create(domain="example.com", connection=other)
    with pytest.raises(IntegrityError), transaction.atomic():
        VerifiedDomain.objects.create(domain="Other.example", connection=other)


def test_a_declared_connections_domain_cannot_be_claimed_before_its_row_exists() -> None:
    """tests.settings declares ``settings-co`` with settings.example; no row yet."""
    assert not Connection.objects.filter(slug="settings-co").exists()

    with pytest.raises(DomainTaken, match=r"settings\.example \(settings-co\)"):
        ConnectionFactory(slug="rogue", verified_domains=["settings.example"])


def test_a_declared_connection_claims_its_domains_with_its_row() -> None:
    get_connection("settings-co")

    assert claims() == [("settings.example", "settings-co")]


def test_sync_after_migrate_follows_the_settings(settings: Any) -> None:
    get_connection("settings-co")
    settings.DJANGO_PROVISIONING = {
        **settings.DJANGO_PROVISIONING,
        "CONNECTIONS": {"settings-co": {"verified_domains": ["new.example"]}},
    }

    assert sync_declared_domains() == []

    assert claims() == [("new.example", "settings-co")]


@pytest.mark.parametrize(
    ("email", "slug"),
    [
        ("alice@example.com", "acme"),
        ("Alice@EXAMPLE.com ", "acme"),
        ("bob@globex.test", "globex"),
        ("carol@settings.example", "settings-co"),
        ("dan@unknown.example", None),
        ("example.com", None),
        ("@example.com", None),
        ("", None),
    ],
)
def test_home_realm_discovery(
    connection: Connection, other_connection: Connection, email: str, slug: str | None
) -> None:
    found = connection_for_email(email)

    assert (found.slug if found else None) == slug


def test_discovery_skips_an_inactive_connection(connection: Connection) -> None:
    connection.is_active = False
    connection.save()

    assert connection_for_email("alice@example.com") is None


def test_discovery_is_one_query(connection: Connection, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        assert connection_for_email("alice@example.com") == connection


def test_check_e030_two_declared_connections_verify_one_domain(settings: Any) -> None:
    settings.DJANGO_PROVISIONING = {
        "CONNECTIONS": {
            "a": {"verified_domains": ["shared.example"]},
            "b": {"verified_domains": ["Shared.Example"]},
        }
    }

    (error,) = check_declared_domains()

    assert error.id == "django_provisioning.E030"
    assert "'shared.example'" in error.msg and "'a', 'b'" in error.msg
    assert "django_provisioning.E030" in {e.id for e in run_checks()}


def test_check_e031_a_declared_domain_claimed_in_the_database(settings: Any) -> None:
    ConnectionFactory(slug="globex", verified_domains=["globex.test"])
    settings.DJANGO_PROVISIONING = {
        "CONNECTIONS": {"acme-sso": {"verified_domains": ["globex.test"]}}
    }

    assert check_database_domains(databases=None) == []  # runs only with databases
    (error,) = check_database_domains(databases=["default"])

    assert error.id == "django_provisioning.E031"
    assert "'acme-sso'" in error.msg and "'globex'" in error.msg


def admin_client() -> Client:
    """A test client signed in as a superuser."""
    model = get_user_model()
    fields = {model.USERNAME_FIELD: "root@example.org"}
    if model.USERNAME_FIELD != "email":
        fields["email"] = "root@example.org"
    client = Client()
    client.force_login(model.objects.create_superuser(password="pw", **fields))
    return client


def add_form() -> dict[str, str]:
    """The admin's "add connection" form for ``globex``, verifying ``example.com``."""
    return {
        "slug": "globex",
        "name": "Globex",
        "is_active": "on",
        "deprovision_policy": "deactivate",
        "verified_domains": '["example.com"]',
        "idp_x509_certs": "[]",
        "name_id_format": Connection._meta.get_field("name_id_format").default,
        "want_assertions_signed": "on",
        "clock_skew": "120",
        "jit_create": "on",
        "jit_update": "on",
        "attribute_mapping": "{}",
        "group_mapping": "{}",
        "scim_tokens-TOTAL_FORMS": "0",
        "scim_tokens-INITIAL_FORMS": "0",
    }


def test_the_admin_shows_a_taken_domain_on_the_field(connection: Connection) -> None:
    client = admin_client()
    form = add_form()

    response = client.post("/admin/django_provisioning/connection/add/", form)

    assert response.status_code == 200  # the form again, not a 500
    text = re.sub(r"\s+", " ", response.content.decode())
    assert "Verified for another connection already: example.com (acme)" in text
    assert not Connection.objects.filter(slug="globex").exists()
    form["verified_domains"] = '["globex.test"]'
    assert client.post("/admin/django_provisioning/connection/add/", form).status_code == 302
    assert ("globex.test", "globex") in claims()


def test_an_admin_save_that_loses_the_race_for_a_domain_is_refused_not_500(
    connection: Connection, monkeypatch: Any
) -> None:
    """Both saves passed the form's check; the loser's claim meets the unique column."""
    client = admin_client()
    # The form's check ran before the other save committed: it saw the domain free.
    monkeypatch.setattr("django_provisioning.saml.admin_forms.claimed_elsewhere", lambda *a: {})
    form = add_form()

    response = client.post("/admin/django_provisioning/connection/add/", form, follow=True)

    assert response.status_code == 200
    text = re.sub(r"\s+", " ", response.content.decode())
    assert "example.com" in text and "acme" in text
    assert not Connection.objects.filter(slug="globex").exists()
    assert claims() == [("example.com", "acme")]


def test_a_declared_connection_whose_domain_the_database_holds_still_works(
    settings: Any, caplog: Any
) -> None:
    """The state check E031 reports: the declared row is written without the domain (the
    settings are laid over it), an error is logged, and nothing answers 500."""
    ConnectionFactory(slug="globex", verified_domains=["globex.test"])
    settings.DJANGO_PROVISIONING = {
        "CONNECTIONS": {"acme-sso": {"verified_domains": ["globex.test"]}}
    }

    connection = get_connection("acme-sso")

    assert connection is not None and connection.verified_domains == ["globex.test"]
    assert Connection.objects.filter(slug="acme-sso").exists()
    assert claims() == [("globex.test", "globex")]
    assert "globex.test" in caplog.text
