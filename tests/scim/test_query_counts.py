"""Query budgets: a list page costs the same whatever its size (no N+1)."""

from __future__ import annotations

import json

from django.contrib.auth.models import Group

from django_provisioning.provisioning import sync_user_groups
from tests.factories import scim_user


def _users(connection, n):
    identities = [
        scim_user(
            connection,
            f"user{i}@example.com",
            externalId=f"e{i}",
            emails=[{"value": f"user{i}@example.com", "primary": True}],
        )
        for i in range(n)
    ]
    return identities


def test_list_page_of_100_costs_the_same_as_10(
    scim, connection, django_assert_max_num_queries, django_assert_num_queries
):
    identities = _users(connection, 100)
    for identity in identities:
        sync_user_groups(identity, ["engineering", "everyone"])
    scim.get("Users", {"count": 1})  # token last_used_at written once
    # count, the page's keys, their groups, the rows (read in chunks, up to the byte cap)
    with django_assert_num_queries(5) as small:
        assert len(scim.get("Users", {"count": 10}).json()["Resources"]) == 10
    with django_assert_num_queries(5) as large:
        page = scim.get("Users", {"count": 100}).json()
    assert len(page["Resources"]) == 100
    assert len(small.captured_queries) == len(large.captured_queries)
    assert {g["display"] for g in page["Resources"][0]["groups"]} == {"engineering", "everyone"}
    with django_assert_max_num_queries(6):  # first use writes last_used_at
        scim.client.get("/scim/v2/Users", {"count": 100}, HTTP_AUTHORIZATION=f"Bearer {scim.token}")


def test_get_by_id_at_most_4(scim, connection, django_assert_max_num_queries):
    identity = _users(connection, 1)[0]
    with django_assert_max_num_queries(4):
        assert scim.get(f"Users/{identity.scim_id}").status_code == 200


def test_filter_username_costs_the_same(scim, connection, django_assert_max_num_queries):
    _users(connection, 20)
    scim.get("Users", {"count": 1})  # token last_used_at written once
    # the token, the matches read at once (scim/lookup.py), the user's groups
    with django_assert_max_num_queries(3):
        body = scim.get("Users", {"filter": 'userName eq "user7@example.com"'}).json()
    assert body["totalResults"] == 1
    with django_assert_max_num_queries(3):
        body = scim.get("Users", {"filter": 'externalId eq "e7"'}).json()
    assert body["Resources"][0]["userName"] == "user7@example.com"


def test_group_sync_is_a_set_operation(connection, django_assert_max_num_queries):
    small, large, first = _users(connection, 3)
    # The groups exist (a new IdP group costs a few queries once: its local group is made).
    sync_user_groups(first, [f"g{i}" for i in range(50)])
    with django_assert_max_num_queries(14) as adding_3:
        sync_user_groups(small, [f"g{i}" for i in range(3)])
    with django_assert_max_num_queries(len(adding_3.captured_queries)):
        sync_user_groups(large, [f"g{i}" for i in range(50)])
    assert large.user.groups.count() == 50
    with django_assert_max_num_queries(12) as removing_3:
        sync_user_groups(small, [])
    with django_assert_max_num_queries(len(removing_3.captured_queries)):
        sync_user_groups(large, [])
    assert large.user.groups.count() == 0 and small.user.groups.count() == 0
    assert Group.objects.count() == 50
    sync_user_groups(large, ["g1", "g2"])
    # Nothing changes: the link row and user locks, the groups named, the user's grants (and
    # the savepoint of the test's transaction).
    with django_assert_max_num_queries(6):
        sync_user_groups(large, ["g1", "g2"])


# Single-resource writes: budgets per request, including the token's SELECT, the transaction
# statements (BEGIN / COMMIT, or the test's SAVEPOINT / RELEASE) and the response's groups.
# Before issue 10 they were POST 25, PUT 16, PATCH 16, DELETE 19 (users) and POST 18,
# PUT 15, PATCH 13, DELETE 14 (groups).
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _bob(**extra):
    return {
        "schemas": [USER_SCHEMA],
        "userName": "bob@example.com",
        "externalId": "b1",
        "name": {"givenName": "Bob", "familyName": "B"},
        "emails": [{"value": "bob@example.com", "primary": True, "type": "work"}],
        **extra,
    }


def _user_table_lookups(queries):
    from django.contrib.auth import get_user_model

    table = get_user_model()._meta.db_table
    return [
        q["sql"] for q in queries if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"]
    ]


def test_user_writes_within_budget(scim, django_assert_max_num_queries):
    scim.get("Users", {"count": 1})  # token last_used_at written once
    with django_assert_max_num_queries(13) as post:
        created = scim.post("Users", _bob())
    assert created.status_code == 201
    # No e-mail linking on this connection: the one user-table lookup is the username's.
    assert len(_user_table_lookups(post.captured_queries)) == 1
    user_id = created.json()["id"]
    with django_assert_max_num_queries(3):
        assert scim.get(f"Users/{user_id}").status_code == 200
    # A changed indexed value: the stored value rows read, the changed ones deleted and
    # inserted (13); a write that changes none (a password) reads them only (11).
    with django_assert_max_num_queries(13):
        renamed = _bob(name={"givenName": "Robert", "familyName": "B"})
        assert scim.put(f"Users/{user_id}", renamed).status_code == 200
    with django_assert_max_num_queries(11):
        operation = {"op": "replace", "path": "password", "value": "n3w-Passw0rd!"}
        patch = {"schemas": [PATCH_SCHEMA], "Operations": [operation]}
        assert scim.patch(f"Users/{user_id}", patch).status_code in (200, 204)
    with django_assert_max_num_queries(13):
        operation = {"op": "replace", "path": "name.givenName", "value": "Rob"}
        patch = {"schemas": [PATCH_SCHEMA], "Operations": [operation]}
        assert scim.patch(f"Users/{user_id}", patch).status_code == 200
    with django_assert_max_num_queries(14):
        assert scim.delete(f"Users/{user_id}").status_code == 204


def test_post_linking_by_email_looks_each_candidate_up_once(
    scim, connection, django_assert_max_num_queries
):
    connection.link_by_email = True
    connection.save()
    scim.get("Users", {"count": 1})
    with django_assert_max_num_queries(14) as post:
        assert scim.post("Users", _bob()).status_code == 201
    # userName and primary e-mail are one address: one username lookup, one e-mail lookup
    # (the username lookup also serves the collision check).
    lookups = _user_table_lookups(post.captured_queries)
    assert len(lookups) == 2, lookups


def test_group_writes_within_budget(scim, connection, django_assert_max_num_queries):
    member = scim_user(connection, "ann@example.com")
    scim.get("Users", {"count": 1})
    group = {
        "schemas": [GROUP_SCHEMA],
        "displayName": "Eng",
        "members": [{"value": str(member.scim_id)}],
    }
    with django_assert_max_num_queries(19):
        created = scim.post("Groups", group)
    assert created.status_code == 201
    group_id = json.loads(
        b"".join(created.streaming_content) if created.streaming else created.content
    )["id"]
    with django_assert_max_num_queries(3):
        assert scim.get(f"Groups/{group_id}").status_code == 200
    with django_assert_max_num_queries(12):
        assert scim.put(f"Groups/{group_id}", {**group, "displayName": "Eng2"}).status_code == 200
    with django_assert_max_num_queries(10):
        operation = {"op": "replace", "path": "displayName", "value": "Eng3"}
        patch = {"schemas": [PATCH_SCHEMA], "Operations": [operation]}
        assert scim.patch(f"Groups/{group_id}", patch).status_code in (200, 204)
    with django_assert_max_num_queries(14):
        assert scim.delete(f"Groups/{group_id}").status_code == 204
