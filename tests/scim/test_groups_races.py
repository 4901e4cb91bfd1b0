"""/Groups under concurrency, on PostgreSQL with real threads: two membership PATCHes on one
group, and a group POST racing a sign-in that names the same IdP group."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from django_provisioning.jit import provision_from_saml
from django_provisioning.models import ExternalGroup, GroupGrant, NameIdFormat
from tests.concurrency import race
from tests.tools import require_postgresql

from .bodies import patch_body
from .test_groups_api import create, group_body, user

pytestmark = pytest.mark.django_db(transaction=True)
ROUNDS = 5


def test_two_membership_patches_on_one_group_both_apply(scim: Any) -> None:
    require_postgresql()
    people = [user(scim, f"p{i}@example.com") for i in range(2 * ROUNDS)]
    group = create(scim)

    def add(member: str) -> Any:
        body = patch_body({"op": "add", "path": "members", "value": [{"value": member}]})
        return lambda: scim.patch(f"Groups/{group['id']}", body).status_code

    for i in range(ROUNDS):
        assert race(add(people[2 * i]), add(people[2 * i + 1])) == [204, 204]
    row = ExternalGroup.objects.get()
    assert GroupGrant.objects.filter(external_group=row).count() == 2 * ROUNDS
    assert row.group.user_set.count() == 2 * ROUNDS
    assert row.version == 1 + 2 * ROUNDS  # each change read the other's version under the lock


def test_group_post_racing_a_sign_in_makes_one_group(scim: Any, connection: Any) -> None:
    require_postgresql()
    for round_ in range(ROUNDS):
        name = f"Team {round_}"

        def sign_in(name: str = name, round_: int = round_) -> Any:
            email = f"s{round_}@example.com"
            provision_from_saml(
                connection,
                name_id=email,
                name_id_format=NameIdFormat.EMAIL,
                document={"userName": email},
                group_names=[name],
            )
            return "signed in"

        def post(name: str = name) -> int:
            return scim.post("Groups", group_body(name)).status_code

        status, _signed = race(post, sign_in)
        assert status == 201
        assert ExternalGroup.objects.filter(display_name=name).count() == 1
    assert ExternalGroup.objects.count() == Group.objects.count() == ROUNDS


# ---------------------------------------------------------------- a database that fails


def test_a_membership_deadlock_is_retried_then_applied_once(scim: Any) -> None:
    from django.db import connection as db
    from django.test import override_settings

    from tests.tools import FailingDatabase, deadlock

    alice = user(scim, "alice@example.com")
    group = create(scim)
    failing = FailingDatabase(deadlock, match='INTO "django_provisioning_groupgrant"', times=1)
    body = patch_body({"op": "add", "path": "members", "value": [{"value": alice}]})
    with override_settings(DJANGO_PROVISIONING={"WRITE_ATTEMPTS": 3, "WRITE_RETRY_BACKOFF": 0}):
        with db.execute_wrapper(failing):
            response = scim.patch(f"Groups/{group['id']}", body)
    assert response.status_code == 204, response.content
    assert failing.calls == 1
    row = ExternalGroup.objects.get()
    assert row.version == 2 and GroupGrant.objects.count() == 1
    assert row.group.user_set.count() == 1


def test_a_membership_change_the_database_refuses_is_503_and_changes_nothing(scim: Any) -> None:
    from django.db import connection as db

    from tests.tools import FailingDatabase, deadlock

    alice = user(scim, "alice@example.com")
    group = create(scim)
    failing = FailingDatabase(deadlock, match='INTO "django_provisioning_groupgrant"')
    body = patch_body(
        {"op": "replace", "path": "displayName", "value": "Renamed"},
        {"op": "add", "path": "members", "value": [{"value": alice}]},
    )
    with db.execute_wrapper(failing):
        response = scim.patch(f"Groups/{group['id']}", body)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["status"] == "503"
    row = ExternalGroup.objects.select_related("group").get()
    assert (row.display_name, row.version) == ("Engineering", 1)
    assert row.group.name == "acme: Engineering"
    assert not GroupGrant.objects.exists() and row.group.user_set.count() == 0


def test_a_member_deleted_during_the_change_is_400_not_500(scim: Any, monkeypatch: Any) -> None:
    """The member's user row is deleted (and committed) between the change's lookup of the
    member and its commit: PostgreSQL's deferred foreign key refuses the COMMIT. The write runs
    again, reads the member gone, and answers 400 naming it; nothing is written."""
    require_postgresql()
    import threading

    from django.contrib.auth import get_user_model
    from django.db import connection as db_connection

    from django_provisioning import grants

    member = user(scim, "leaving@example.com")
    group = create(scim)
    real_apply = grants.apply
    calls: list[int] = []

    def apply_after_a_delete(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:

            def delete() -> None:
                try:
                    get_user_model().objects.filter(
                        **{get_user_model().USERNAME_FIELD: "leaving@example.com"}
                    ).delete()
                finally:
                    db_connection.close()

            thread = threading.Thread(target=delete)
            thread.start()
            thread.join(60)
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(grants, "apply", apply_after_a_delete)
    body = patch_body({"op": "add", "path": "members", "value": [{"value": member}]})
    response = scim.patch(f"Groups/{group['id']}", body)

    assert response.status_code == 400, response.content
    assert response.json()["scimType"] == "invalidValue"
    assert member in response.json()["detail"]
    assert not GroupGrant.objects.exists()
    assert len(calls) == 1  # the second attempt refused before applying
