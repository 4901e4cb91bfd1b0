"""What the migrations leave in the database (``tox -e migrations`` checks that the models need
no new migration, with either user model)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from django_provisioning.models import AuditEvent, ExternalGroup, VerifiedDomain


def test_the_admin_source_is_gone(db: Any) -> None:
    """0003: ``admin`` is no longer a choice of ``AuditEvent.source`` (no code writes it).

    ``ExternalGroup.document`` stays: the group core stores what a SCIM client wrote there.
    """
    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(
            cursor, ExternalGroup._meta.db_table
        )
    assert "document" in {column.name for column in columns}
    assert AuditEvent._meta.get_field("source").choices == [
        ("scim", "SCIM"),
        ("saml", "SAML"),
        ("portal", "Setup portal"),  # 0014_setup_links: changes made through the portal
    ]


def _at_0006() -> tuple[Any, Any, list[tuple[str, str]]]:
    executor = MigrationExecutor(connection)
    latest = [(a, n) for a, n in executor.loader.graph.leaf_nodes() if a == "django_provisioning"]
    before = [("django_provisioning", "0006_value_index_singular")]
    executor.migrate(before)
    return executor.loader.project_state(before).apps, executor, latest


@pytest.mark.django_db(transaction=True)
def test_0007_claims_the_domains_connections_already_verify() -> None:
    old, _executor, latest = _at_0006()
    try:
        model = old.get_model("django_provisioning", "Connection")
        model.objects.create(slug="acme", name="Acme", verified_domains=["Acme.com", "acme.io"])
        model.objects.create(slug="none", name="None", verified_domains=[])

        MigrationExecutor(connection).migrate(latest)

        assert sorted(VerifiedDomain.objects.values_list("domain", "connection__slug")) == [
            ("acme.com", "acme"),
            ("acme.io", "acme"),
        ]
    finally:
        MigrationExecutor(connection).migrate(latest)


@pytest.mark.django_db(transaction=True)
def test_0007_stops_on_a_domain_two_connections_verify() -> None:
    old, _executor, latest = _at_0006()
    try:
        model = old.get_model("django_provisioning", "Connection")
        model.objects.create(slug="acme", name="Acme", verified_domains=["shared.example"])
        model.objects.create(slug="globex", name="Globex", verified_domains=["SHARED.example"])

        with pytest.raises(RuntimeError, match=r"shared\.example: acme, globex"):
            MigrationExecutor(connection).migrate(latest)
    finally:
        model.objects.filter(slug="globex").update(verified_domains=[])
        MigrationExecutor(connection).migrate(latest)


@pytest.mark.django_db(transaction=True)
def test_0010_counts_the_users_and_groups_connections_already_have() -> None:
    from django.contrib.auth import get_user_model

    from django_provisioning.models import ConnectionCounter

    executor = MigrationExecutor(connection)
    latest = [(a, n) for a, n in executor.loader.graph.leaf_nodes() if a == "django_provisioning"]
    before = [("django_provisioning", "0009_single_logout")]
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        connections = old.get_model("django_provisioning", "Connection")
        identities = old.get_model("django_provisioning", "ExternalIdentity")
        groups = old.get_model("django_provisioning", "ExternalGroup")
        acme = connections.objects.create(slug="acme", name="Acme")
        connections.objects.create(slug="empty", name="Empty")
        user_model = get_user_model()
        for i, deleted in enumerate([False, False, True]):
            user = user_model._default_manager.create(
                **{user_model.USERNAME_FIELD: f"u{i}@example.com"}
            )
            identities.objects.create(
                connection=acme,
                user_id=user.pk,
                user_name=f"u{i}@example.com",
                user_name_normalized=f"u{i}@example.com",
                deleted_at=timezone.now() if deleted else None,
            )
        groups.objects.create(connection=acme, display_name="Eng")

        MigrationExecutor(connection).migrate(latest)

        assert sorted(
            ConnectionCounter.objects.values_list("connection__slug", "users", "groups")
        ) == [("acme", 2, 1), ("empty", 0, 0)]
    finally:
        MigrationExecutor(connection).migrate(latest)
