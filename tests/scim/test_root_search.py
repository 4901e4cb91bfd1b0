"""``POST /.search`` at the root (RFC 7644 §3.4.3): Users, then Groups, paged as one list."""

from __future__ import annotations

from typing import Any

from .test_hostile import assert_scim_error

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def search(scim: Any, **params: Any) -> dict[str, Any]:
    response = scim.post(".search", {"schemas": [SEARCH], **params})
    assert response.status_code == 200, response.content
    return dict(response.json())


def seed(scim: Any) -> tuple[list[str], list[str]]:
    users = [
        scim.post("Users", {"schemas": [USER], "userName": f"u{i}@example.com"}).json()["id"]
        for i in range(3)
    ]
    groups = [  # the group's body is streamed: its id from Location
        scim.post("Groups", {"schemas": [GROUP], "displayName": f"G{i}"})["Location"].rsplit(
            "/", 1
        )[-1]
        for i in range(2)
    ]
    return users, groups


def test_users_then_groups_paged_as_one_list(scim: Any) -> None:
    users, groups = seed(scim)
    everything = search(scim)
    assert everything["totalResults"] == 5
    assert [r["id"] for r in everything["Resources"]] == users + groups
    assert [r["schemas"][0] for r in everything["Resources"]] == [USER] * 3 + [GROUP] * 2

    page = search(scim, startIndex=3, count=2)
    assert (page["totalResults"], page["itemsPerPage"], page["startIndex"]) == (5, 2, 3)
    assert [r["id"] for r in page["Resources"]] == [users[2], groups[0]]
    last = search(scim, startIndex=5, count=10)
    assert [r["id"] for r in last["Resources"]] == [groups[1]]
    assert search(scim, startIndex=6)["Resources"] == []


def test_a_filter_matches_each_type_it_applies_to(scim: Any) -> None:
    users, groups = seed(scim)
    by_id = search(scim, filter=f'id eq "{groups[1]}"', attributes=["displayName"])
    assert [r["id"] for r in by_id["Resources"]] == [groups[1]]
    assert by_id["Resources"][0]["displayName"] == "G1"
    # userName is a User attribute: Groups match nothing, no error.
    by_name = search(scim, filter='userName eq "u1@example.com"')
    assert [r["id"] for r in by_name["Resources"]] == [users[1]]
    by_group_name = search(scim, filter='displayName eq "G0"')
    assert [r["id"] for r in by_group_name["Resources"]] == [groups[0]]


def test_a_filter_no_type_understands_is_400(scim: Any) -> None:
    seed(scim)
    for expression in ('shoeSize eq "9"', 'userName eq "x" and members pr', "userName eq"):
        response = scim.post(".search", {"schemas": [SEARCH], "filter": expression})
        assert_scim_error(response, 400, "invalidFilter")


def test_another_connections_resources_are_not_searched(scim: Any, other_scim: Any) -> None:
    seed(other_scim)
    assert search(scim)["totalResults"] == 0


def test_an_or_across_types_finds_both(scim: Any) -> None:
    """An attribute one type lacks compares false for it: the other branch still matches."""
    users, groups = seed(scim)
    both = search(scim, filter='userName eq "u1@example.com" or displayName eq "G0"')
    assert [r["id"] for r in both["Resources"]] == [users[1], groups[0]]
    negated = search(scim, filter="not (members pr)")
    assert [r["id"] for r in negated["Resources"]] == users + groups  # no group has members


def test_sort_by_an_attribute_one_type_lacks_orders_within_the_other(scim: Any) -> None:
    users, groups = seed(scim)
    page = search(scim, sortBy="userName", sortOrder="descending")
    assert [r["id"] for r in page["Resources"]] == users[::-1] + groups
    assert page["totalResults"] == 5
