"""Each connection's count of users and groups (``ConnectionCounter``): exact after every path
that creates or deletes a link row, and what an unfiltered list reads for ``totalResults``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django.db import transaction
from django.db.models.signals import pre_delete
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from django_provisioning import provisioning
from django_provisioning.adapter import DefaultAdapter
from django_provisioning.jit import provision_from_saml
from django_provisioning.models import (
    Connection,
    ConnectionCounter,
    ExternalGroup,
    ExternalIdentity,
    NameIdFormat,
)
from tests.concurrency import race
from tests.factories import ConnectionFactory, scim_user
from tests.tools import require_postgresql

pytestmark = pytest.mark.django_db
User = get_user_model()
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


def counted(connection: Connection) -> tuple[int, int]:
    row = ConnectionCounter.objects.get(connection=connection)
    return row.users, row.groups


def actual(connection: Connection) -> tuple[int, int]:
    return (
        ExternalIdentity.objects.filter(connection=connection, deleted_at=None).count(),
        ExternalGroup.objects.filter(connection=connection).count(),
    )


def user_body(name: str) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": name, "emails": [{"value": name}]}


def body(response: Any) -> dict[str, Any]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return json.loads(content)  # type: ignore[no-any-return]


def test_a_new_connection_starts_at_zero(connection: Connection) -> None:
    assert counted(connection) == (0, 0)


def test_scim_creates_and_deletes_users_and_groups(scim: Any, connection: Connection) -> None:
    ids = [scim.post("Users", user_body(f"u{i}@example.com")).json()["id"] for i in range(3)]
    group = body(scim.post("Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Eng"}))
    assert counted(connection) == actual(connection) == (3, 1)
    assert scim.delete(f"Users/{ids[0]}").status_code == 204  # deactivate: the row stays
    assert scim.delete(f"Groups/{group['id']}").status_code == 204
    assert counted(connection) == actual(connection) == (2, 0)
    # Pushed again: the SCIM-deleted row makes way (it was counted out already).
    assert scim.post("Users", user_body("u0@example.com")).status_code == 201
    assert counted(connection) == actual(connection) == (3, 0)


def test_the_delete_policy_and_a_shared_user(
    scim: Any, connection: Connection, other_connection: Connection
) -> None:
    Connection.objects.filter(pk=connection.pk).update(deprovision_policy="delete")
    connection.refresh_from_db()
    alone = scim_user(connection, "alone@example.com")
    shared = scim_user(connection, "shared@example.com")
    ExternalIdentity.objects.create(
        connection=other_connection, user=shared.user, user_name="shared@example.com"
    )
    provisioning.delete_user(alone)  # the user row goes, and its link by cascade
    provisioning.delete_user(shared)  # only this link goes
    assert counted(connection) == actual(connection) == (0, 0)
    assert counted(other_connection) == actual(other_connection) == (1, 0)


def test_a_user_deleted_past_the_app_is_counted_out(connection: Connection) -> None:
    identity = scim_user(connection, "bob@example.com")
    scim_user(connection, "ann@example.com")
    identity.user.delete()  # the admin, the product's code: the link goes by cascade
    assert counted(connection) == actual(connection) == (1, 0)


def test_bulk(scim: Any, connection: Connection) -> None:
    kept = scim.post("Users", user_body("kept@example.com")).json()
    operations = [
        {"method": "POST", "bulkId": "a", "path": "/Users", "data": user_body("a@example.com")},
        {"method": "POST", "bulkId": "b", "path": "/Users", "data": user_body("b@example.com")},
        {"method": "POST", "bulkId": "c", "path": "/Users", "data": user_body("a@example.com")},
        {"method": "DELETE", "path": f"/Users/{kept['id']}"},
        {
            "method": "POST",
            "bulkId": "g",
            "path": "/Groups",
            "data": {"schemas": [GROUP_SCHEMA], "displayName": "G"},
        },
    ]
    response = scim.post(
        "Bulk",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": operations,
        },
    )
    statuses = [op["status"] for op in response.json()["Operations"]]
    assert statuses == ["201", "201", "409", "204", "201"]  # the 409 is rolled back alone
    assert counted(connection) == actual(connection) == (2, 1)


def test_jit_creates_users_and_groups(connection: Connection) -> None:
    for name in ("ann@example.com", "bob@example.com"):
        provision_from_saml(
            connection,
            name_id=name,
            name_id_format=NameIdFormat.EMAIL,
            document={"userName": name},
            group_names=["Everyone", "Ops"],
        )
    assert counted(connection) == actual(connection) == (2, 2)


def test_a_rolled_back_transaction_counts_nothing(connection: Connection) -> None:
    scim_user(connection, "kept@example.com")
    with pytest.raises(RuntimeError), transaction.atomic():
        scim_user(connection, "gone@example.com")
        ExternalGroup.objects.create(connection=connection, display_name="Gone")
        raise RuntimeError("rolled back")
    assert counted(connection) == actual(connection) == (1, 0)


def test_a_failed_write_counts_nothing(scim: Any, connection: Connection) -> None:
    scim_user(connection, "taken@example.com")
    assert scim.post("Users", user_body("TAKEN@example.com")).status_code == 409
    assert counted(connection) == actual(connection) == (1, 0)


@pytest.mark.django_db(transaction=True)
def test_a_retried_write_counts_once(connection: Connection, monkeypatch: Any) -> None:
    """The first attempt inserts the link row, then meets a deadlock; the retry counts it once."""
    from django.db import OperationalError

    from django_provisioning import records

    real = records.audit
    failures = [OperationalError("database is locked")]

    def audit_then_fail(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if failures:
            raise failures.pop()
        return result

    monkeypatch.setattr(records, "audit", audit_then_fail)
    with override_settings(DJANGO_PROVISIONING={"WRITE_RETRY_BACKOFF": 0}):
        provisioning.create_user(connection, {"userName": "retried@example.com"})
    assert not failures
    assert counted(connection) == actual(connection) == (1, 0)


@pytest.mark.django_db(transaction=True)
def test_the_counter_is_the_last_write(scim: Any, connection: Connection) -> None:
    with CaptureQueriesContext(db_connection) as queries:
        scim.post("Users", user_body("last@example.com"))
    sql = [q["sql"] for q in queries.captured_queries]
    commit = next(i for i, q in enumerate(sql) if q.startswith("COMMIT"))
    assert ConnectionCounter._meta.db_table in sql[commit - 1]
    assert sql[commit - 1].startswith("UPDATE")
    assert sum(ConnectionCounter._meta.db_table in q for q in sql) == 1


def test_deleting_a_connection_takes_its_counter(connection: Connection) -> None:
    scim_user(connection, "bob@example.com")
    ExternalGroup.objects.create(connection=connection, display_name="G")
    connection.delete()
    assert not ConnectionCounter.objects.exists()


def test_a_connection_delete_that_failed_leaves_its_rows_counted(connection: Connection) -> None:
    """A delete of the connection that a receiver (the host's) refused rolls back; the users
    deleted afterwards, in the same thread, are still counted out."""
    bob = scim_user(connection, "bob@example.com")
    scim_user(connection, "ann@example.com")

    def refuse(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("not this one")

    pre_delete.connect(refuse, sender=Connection, dispatch_uid="test.refuse")
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            connection.delete()
    finally:
        pre_delete.disconnect(dispatch_uid="test.refuse", sender=Connection)
    bob.user.delete()
    assert counted(connection) == actual(connection) == (1, 0)


def test_a_missing_counter_row_is_made_counted(connection: Connection) -> None:
    scim_user(connection, "ann@example.com")
    ConnectionCounter.objects.all().delete()
    scim_user(connection, "bob@example.com")
    assert counted(connection) == actual(connection) == (2, 0)


def test_unfiltered_lists_read_the_counter_not_count(scim: Any, connection: Connection) -> None:
    for i in range(3):
        scim_user(connection, f"u{i}@example.com")
    ExternalGroup.objects.create(connection=connection, display_name="G")
    for path, total in (("Users", 3), ("Groups", 1)):
        with CaptureQueriesContext(db_connection) as queries:
            assert body(scim.get(path, {"count": 2}))["totalResults"] == total
        assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    # The counter is what a list says: an unfiltered list shows a (deliberately) wrong one.
    ConnectionCounter.objects.filter(connection=connection).update(users=42)
    assert scim.get("Users").json()["totalResults"] == 42
    # A filter counts through the indexes (exact, whatever the counter says).
    with CaptureQueriesContext(db_connection) as queries:
        found = scim.get("Users", {"filter": 'userName sw "u"'}).json()
    assert found["totalResults"] == 3
    assert any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


class ScopedAdapter(DefaultAdapter):
    def get_identity_queryset(self, connection: Connection) -> Any:
        return super().get_identity_queryset(connection).exclude(user_name__startswith="hidden")


def test_an_adapter_that_scopes_the_users_is_counted(
    scim: Any, connection: Connection, settings: Any
) -> None:
    scim_user(connection, "seen@example.com")
    scim_user(connection, "hidden@example.com")
    settings.DJANGO_PROVISIONING = {"ADAPTER": f"{__name__}.ScopedAdapter"}
    assert scim.get("Users").json()["totalResults"] == 1


def test_recount_connections(connection: Connection, other_connection: Connection) -> None:
    scim_user(connection, "ann@example.com")
    ConnectionCounter.objects.update(users=7, groups=7)
    ConnectionCounter.objects.filter(connection=other_connection).delete()
    call_command("recount_connections", "acme", verbosity=0)
    assert counted(connection) == (1, 0)
    assert not ConnectionCounter.objects.filter(connection=other_connection).exists()
    call_command("recount_connections", verbosity=0)
    assert counted(other_connection) == (0, 0)
    with pytest.raises(CommandError, match="No connection"):
        call_command("recount_connections", "nope")


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_and_deletes_stay_exact() -> None:
    require_postgresql()
    connection = ConnectionFactory(slug="acme", name="Acme", verified_domains=["example.com"])
    doomed = [scim_user(connection, f"doomed{i}@example.com") for i in range(4)]

    def create(i: int) -> Any:
        return lambda: provisioning.create_user(connection, user_body(f"new{i}@example.com"))

    def delete(identity: ExternalIdentity) -> Any:
        return lambda: provisioning.delete_user(identity)

    def group(i: int) -> Any:
        from django_provisioning.groups import create_group

        return lambda: create_group(connection, f"Group {i}")

    race(*(create(i) for i in range(6)), *(delete(d) for d in doomed), group(1), group(2))
    assert counted(connection) == actual(connection) == (6, 2)
