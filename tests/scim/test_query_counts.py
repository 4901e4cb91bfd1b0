"""Query budgets: a list page costs the same whatever its size (no N+1)."""

from __future__ import annotations

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
    with django_assert_max_num_queries(6):
        body = scim.get("Users", {"filter": 'userName eq "user7@example.com"'}).json()
    assert body["totalResults"] == 1


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
