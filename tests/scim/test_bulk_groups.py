"""``POST /Bulk`` with Groups: RFC 7644 §3.7's examples (a group whose members are users created
in the same request; two groups that are members of each other, §3.7.1) and the members rules."""

from __future__ import annotations

from typing import Any

from django_provisioning.models import ExternalGroup, ExternalIdentity

from .test_bulk import bulk, post_op, results

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def group_op(bulk_id: str, name: str, *members: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/Groups",
        "bulkId": bulk_id,
        "data": {
            "schemas": [GROUP],
            "displayName": name,
            "members": [{"type": "User", "value": m} for m in members],
        },
    }


def members_of(scim: Any, name: str) -> set[str]:
    group = ExternalGroup.objects.get(display_name=name)
    response = scim.get(f"Groups/{group.scim_id}")
    assert response.status_code == 200
    body = (
        response.json()
        if not getattr(response, "streaming", False)
        else __import__("json").loads(b"".join(response.streaming_content))
    )
    return {m["value"] for m in body.get("members", [])}


def user_id(name: str) -> str:
    return str(ExternalIdentity.objects.get(user_name=name).scim_id)


def test_a_group_of_users_created_in_the_same_request(scim: Any) -> None:
    """RFC 7644 §3.7.1: the group comes first in the request, its members after."""
    response = scim.post(
        "Bulk",
        bulk(
            group_op("tour", "Tour Guides", "bulkId:qwerty", "bulkId:ytrewq"),
            post_op("qwerty", "alice@example.com"),
            post_op("ytrewq", "bob@example.com"),
        ),
    )
    group, alice, bob = results(response)
    assert [group["status"], alice["status"], bob["status"]] == ["201", "201", "201"]
    tour = ExternalGroup.objects.get(display_name="Tour Guides")
    assert group["location"] == f"http://testserver/scim/v2/Groups/{tour.scim_id}"
    assert group["version"]
    assert members_of(scim, "Tour Guides") == {
        user_id("alice@example.com"),
        user_id("bob@example.com"),
    }


def test_circular_references_between_new_groups(scim: Any) -> None:
    """RFC 7644 §3.7.1's circular example: each group is a member of the other. Groups
    cannot be members here (no nested groups), so the cycle is broken as the RFC shows and
    the member that is a group is refused in the follow-up PATCH, naming it; a cycle through
    users only (below) completes."""
    response = scim.post(
        "Bulk",
        bulk(
            group_op("a", "Group A", "bulkId:b", "bulkId:u"),
            group_op("b", "Group B", "bulkId:a"),
            post_op("u", "ua@example.com"),
        ),
    )
    group_a, group_b, user = results(response)
    assert user["status"] == "201"
    # B waited for A; A held B back (the cycle) and was created with its user. B's member A is
    # a group: refused. A's held-back member B never existed: A says so, with its location.
    assert (group_b["status"], group_b["response"]["scimType"]) == ("400", "invalidValue")
    assert group_a["status"] == "409"
    assert "members b:" in group_a["response"]["detail"]
    a = ExternalGroup.objects.get(display_name="Group A")
    assert group_a["location"] == f"http://testserver/scim/v2/Groups/{a.scim_id}"
    assert members_of(scim, "Group A") == {user_id("ua@example.com")}
    assert not ExternalGroup.objects.filter(display_name="Group B").exists()


def test_a_circle_broken_by_holding_a_member_back_completes(scim: Any) -> None:
    """The RFC's resolution when it can succeed: group G lists user U, and U names G's id in
    an attribute (here the enterprise ``organization``). G is created without U, U is created,
    then U is added to G by a PATCH."""
    ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    response = scim.post(
        "Bulk",
        bulk(
            group_op("g", "Guild", "bulkId:u"),
            post_op("u", "uu@example.com", **{ENT: {"organization": "bulkId:g"}}),
        ),
    )
    guild, user = results(response)
    assert (guild["status"], user["status"]) == ("201", "201")
    g = ExternalGroup.objects.get(display_name="Guild")
    assert members_of(scim, "Guild") == {user_id("uu@example.com")}
    document = ExternalIdentity.objects.get(user_name="uu@example.com").document
    assert document[ENT]["organization"] == str(g.scim_id)


def test_an_unbreakable_circle_is_409_naming_the_bulk_ids(scim: Any) -> None:
    """Two users whose managers are each other: nothing to hold back, so 409."""
    ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    ops = [
        post_op("x", "x@example.com", **{ENT: {"manager": {"value": "bulkId:y"}}}),
        post_op("y", "y@example.com", **{ENT: {"manager": {"value": "bulkId:x"}}}),
    ]
    first, second = results(scim.post("Bulk", bulk(*ops)))
    assert (first["status"], second["status"]) == ("409", "409")
    assert "Circular" in first["response"]["detail"] and "y" in first["response"]["detail"]
    assert not ExternalIdentity.objects.exists()


def test_group_operations_by_bulk(scim: Any) -> None:
    alice = scim.post(
        "Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a@x.org"}
    ).json()
    response = scim.post(
        "Bulk",
        bulk(
            group_op("g", "Ops"),
            {
                "method": "PATCH",
                "path": "/Groups/bulkId:g",
                "data": {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [
                        {"op": "add", "path": "members", "value": [{"value": alice["id"]}]},
                        {"op": "replace", "path": "displayName", "value": "Operations"},
                    ],
                },
            },
        ),
    )
    create, patch = results(response)
    assert (create["status"], patch["status"]) in {("201", "204"), ("201", "200")}
    assert members_of(scim, "Operations") == {alice["id"]}
    group = ExternalGroup.objects.get(display_name="Operations")
    [delete] = results(
        scim.post("Bulk", bulk({"method": "DELETE", "path": f"/Groups/{group.scim_id}"}))
    )
    assert delete["status"] == "204"
    assert not ExternalGroup.objects.filter(pk=group.pk).exists()


def test_a_member_of_another_connection_fails_that_operation_only(
    scim: Any, other_scim: Any
) -> None:
    theirs = other_scim.post(
        "Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "t@g.test"}
    ).json()
    ok, refused = results(
        scim.post("Bulk", bulk(group_op("ok", "Fine"), group_op("no", "Leaky", theirs["id"])))
    )
    assert (ok["status"], refused["status"]) == ("201", "400")
    assert refused["response"]["scimType"] == "invalidValue"
    assert theirs["id"] in refused["response"]["detail"]
    assert not ExternalGroup.objects.filter(display_name="Leaky").exists()


def test_fail_on_errors_never_drops_held_back_members_silently(scim: Any) -> None:
    """The group of a broken circle is created; processing stops before its held-back member
    is added: its result says so (with its location), not 201."""
    ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    bad = {
        "method": "PATCH",
        "path": "/Users/bulkId:u",
        "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []},
    }
    response = scim.post(
        "Bulk",
        bulk(
            group_op("g", "Guild", "bulkId:u"),
            post_op("u", "uu@example.com", **{ENT: {"organization": "bulkId:g"}}),
            bad,
            bad,
            failOnErrors=1,
        ),
    )
    done = results(response)
    guild = next(r for r in done if r.get("bulkId") == "g")
    assert guild["status"] == "409"
    assert "failOnErrors" in guild["response"]["detail"]
    g = ExternalGroup.objects.get(display_name="Guild")
    assert guild["location"] == f"http://testserver/scim/v2/Groups/{g.scim_id}"
    assert members_of(scim, "Guild") == set()
