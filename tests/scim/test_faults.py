"""A database that fails: retried where a retry can help, else a retryable SCIM answer.

Deadlocks, serialization failures and SQLite's "database is locked" are retried by the core,
a bounded number of times (``WRITE_ATTEMPTS``), each attempt a whole new transaction. When the
database still fails, or is unreachable, the identity provider gets ``503`` with a SCIM error
body and ``Retry-After`` (identity providers retry 503 and 429), never a 500, and nothing is
written.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection as db
from django.test import override_settings

from django_provisioning.models import AuditEvent, ExternalIdentity
from django_provisioning.scim.errors import ERROR_SCHEMA
from tests.tools import (
    FailingDatabase,
    connection_closed,
    connection_refused,
    database_locked,
    deadlock,
    serialization_failure,
)

from .bodies import patch_body
from .test_users_api import okta_user

User = get_user_model()
USER_TABLE = User._meta.db_table
NO_WAIT = {"WRITE_ATTEMPTS": 3, "WRITE_RETRY_BACKOFF": 0}


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/scim+json"
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == "503"
    assert "try again" in body["detail"].lower()


def rename(scim: Any, scim_id: str, display: str) -> Any:
    return scim.patch(
        f"Users/{scim_id}", patch_body({"op": "replace", "path": "displayName", "value": display})
    )


# ---------------------------------------------------------------- retries (own transactions)


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_PROVISIONING=NO_WAIT)
@pytest.mark.parametrize("error", [deadlock, serialization_failure, database_locked])
def test_a_deadlock_is_retried_in_a_new_transaction(scim: Any, error: Any) -> None:
    created = scim.post("Users", okta_user()).json()
    failing = FailingDatabase(error, match=f'UPDATE "{USER_TABLE}"', times=1)

    with db.execute_wrapper(failing):
        response = rename(scim, created["id"], "Alice L.")

    assert response.status_code == 200, response.content
    assert failing.calls == 1
    identity = ExternalIdentity.objects.get()
    assert (identity.version, identity.document["displayName"]) == (2, "Alice L.")
    assert response["ETag"] == 'W/"2"'
    assert AuditEvent.objects.filter(action="update").count() == 1  # the failed try left none


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_PROVISIONING=NO_WAIT)
def test_a_create_is_retried_too(scim: Any) -> None:
    failing = FailingDatabase(
        deadlock, match='INSERT INTO "django_provisioning_auditevent"', times=2
    )
    with db.execute_wrapper(failing):
        response = scim.post("Users", okta_user())
    assert response.status_code == 201, response.content
    assert failing.calls == 2
    assert User.objects.count() == ExternalIdentity.objects.count() == 1


@pytest.fixture
def atomic_requests() -> Any:
    """The host project wraps every request in a transaction (``ATOMIC_REQUESTS``)."""
    from django.db import connections

    connections.settings["default"]["ATOMIC_REQUESTS"] = True
    yield
    connections.settings["default"]["ATOMIC_REQUESTS"] = False


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_PROVISIONING=NO_WAIT)
def test_retried_under_atomic_requests_too(scim: Any, atomic_requests: None) -> None:
    """The SCIM views opt out: a retry inside the request's transaction would be impossible."""
    created = scim.post("Users", okta_user()).json()
    failing = FailingDatabase(deadlock, match=f'UPDATE "{USER_TABLE}"', times=1)
    with db.execute_wrapper(failing):
        response = rename(scim, created["id"], "Alice L.")
    assert response.status_code == 200, response.content
    assert failing.calls == 1


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_PROVISIONING=NO_WAIT)
def test_retries_are_bounded_then_503(scim: Any) -> None:
    created = scim.post("Users", okta_user()).json()
    failing = FailingDatabase(deadlock, match=f'UPDATE "{USER_TABLE}"')

    with db.execute_wrapper(failing):
        response = rename(scim, created["id"], "Alice L.")

    assert_unavailable(response)
    assert failing.calls == 3
    identity = ExternalIdentity.objects.get()
    assert (identity.version, identity.document["displayName"]) == (1, "Alice Liddell")
    assert not AuditEvent.objects.filter(action="update").exists()


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_PROVISIONING={"WRITE_ATTEMPTS": 1})
def test_one_attempt_means_no_retry(scim: Any) -> None:
    created = scim.post("Users", okta_user()).json()
    failing = FailingDatabase(deadlock, match=f'UPDATE "{USER_TABLE}"')
    with db.execute_wrapper(failing):
        assert_unavailable(rename(scim, created["id"], "Alice L."))
    assert failing.calls == 1


@pytest.mark.django_db(transaction=True)
@override_settings(DJANGO_PROVISIONING=NO_WAIT)
def test_a_dead_database_is_not_retried(scim: Any) -> None:
    created = scim.post("Users", okta_user()).json()
    failing = FailingDatabase(connection_refused, match=f'UPDATE "{USER_TABLE}"')
    with db.execute_wrapper(failing):
        assert_unavailable(rename(scim, created["id"], "Alice L."))
    assert failing.calls == 1


# ---------------------------------------------------------------- unavailable or locked


@pytest.mark.parametrize(
    "error", [database_locked, connection_refused, connection_closed, deadlock]
)
def test_post_while_the_database_fails_is_503_and_writes_nothing(scim: Any, error: Any) -> None:
    with db.execute_wrapper(FailingDatabase(error, match="INSERT")):
        response = scim.post("Users", okta_user())
    assert_unavailable(response)
    assert not User.objects.exists()
    assert not ExternalIdentity.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("error", [database_locked, connection_refused, connection_closed])
def test_patch_while_the_database_fails_is_503_and_changes_nothing(scim: Any, error: Any) -> None:
    created = scim.post("Users", okta_user()).json()
    with db.execute_wrapper(FailingDatabase(error, match="UPDATE")):
        response = scim.patch(
            f"Users/{created['id']}", patch_body({"op": "replace", "value": {"active": False}})
        )
    assert_unavailable(response)
    identity = ExternalIdentity.objects.select_related("user").get()
    assert identity.user.is_active is True
    assert identity.version == 1


@pytest.mark.parametrize("error", [connection_refused, connection_closed, database_locked])
def test_reads_and_authentication_while_the_database_is_down_are_503(scim: Any, error: Any) -> None:
    """Even the token lookup fails: the answer is 503, never 401 (which would make an IdP
    disable the integration) nor 500."""
    with db.execute_wrapper(FailingDatabase(error)):
        listed = scim.get("Users", {"filter": 'userName eq "alice@example.com"'})
        deleted = scim.delete("Users/00000000-0000-0000-0000-000000000000")
    assert_unavailable(listed)
    assert_unavailable(deleted)
