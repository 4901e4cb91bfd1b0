"""IdP certificates about to expire: system checks W005/W006, and the admin's expiry dates."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.test import Client

from django_provisioning.models import Connection
from django_provisioning.saml.cert_checks import (
    check_database_certificates,
    check_declared_certificates,
)

from .certs import cert_valid_for
from .idp import pem

pytestmark = pytest.mark.django_db


def ids(messages: list[Any]) -> list[tuple[str, str]]:
    return [(m.id, m.obj) for m in messages]


def db_check() -> list[Any]:
    return check_database_certificates(databases=["default"])


def test_the_only_certificate_expiring_within_30_days_warns() -> None:
    Connection.objects.create(slug="soon", name="Soon", idp_x509_certs=[cert_valid_for(12)])
    Connection.objects.create(slug="later", name="Later", idp_x509_certs=[cert_valid_for(45)])

    (warning,) = db_check()

    assert (warning.id, warning.obj) == ("django_provisioning.W005", "soon")
    assert "expires on" in warning.msg and "within 30 days" in warning.msg
    assert "refresh_idp_metadata" in warning.hint


def test_a_successor_beside_the_expiring_certificate_silences_it() -> None:
    Connection.objects.create(
        slug="rolling", name="R", idp_x509_certs=[cert_valid_for(5), cert_valid_for(400)]
    )
    assert db_check() == []


def test_only_expired_certificates_warn_differently() -> None:
    Connection.objects.create(
        slug="dead", name="D", idp_x509_certs=[cert_valid_for(-40), cert_valid_for(-2)]
    )
    (warning,) = db_check()
    assert warning.id == "django_provisioning.W006"
    assert "has expired" in warning.msg


def test_an_expired_one_beside_a_single_expiring_one_is_w005() -> None:
    Connection.objects.create(
        slug="x", name="X", idp_x509_certs=[cert_valid_for(-2), cert_valid_for(3)]
    )
    assert ids(db_check()) == [("django_provisioning.W005", "x")]


def test_inactive_and_certificate_less_connections_are_not_checked() -> None:
    Connection.objects.create(
        slug="off", name="O", is_active=False, idp_x509_certs=[cert_valid_for(1)]
    )
    Connection.objects.create(slug="none", name="N")
    assert db_check() == []
    assert check_database_certificates(databases=None) == []  # a database check


def test_declared_connections_are_checked_from_settings(settings: Any) -> None:
    settings.DJANGO_PROVISIONING = {
        "CONNECTIONS": {"decl": {"idp_x509_certs": [cert_valid_for(3)]}},
    }
    assert ids(check_declared_certificates()) == [("django_provisioning.W005", "decl")]
    assert "django_provisioning.W005" in {m.id for m in run_checks()}


def test_the_admin_shows_the_expiry_dates() -> None:
    connection = Connection.objects.create(
        slug="acme",
        name="Acme",
        idp_x509_certs=[pem("idp.crt"), cert_valid_for(-1), "garbage"],
    )
    model = get_user_model()
    fields = {model.USERNAME_FIELD: "root@example.org"}
    if model.USERNAME_FIELD != "email":
        fields["email"] = "root@example.org"
    client = Client()
    client.force_login(model.objects.create_superuser(password="pw", **fields))

    page = client.get(f"/admin/django_provisioning/connection/{connection.pk}/change/")

    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.content.decode())
    assert "IdP certificates expire" in text
    assert re.search(r"#1: 2126-11-04 13:59 UTC \(in \d+ days\)", text)
    assert re.search(r"#2: \d{4}-\d\d-\d\d \d\d:\d\d UTC \(expired\)", text)
    assert "#3: unreadable" in text
