"""Okta's SCIM 2.0 client, as its developer documentation ("SCIM 2.0 reference", "SCIM provisioning
integration test") shows its requests, replayed in order against the example project.

Okta looks a user up by ``userName`` (with ``startIndex=1&count=100``) before creating one, expects
``409`` for a duplicate, sends only ``givenName``/``familyName``, a ``password`` and ``groups: []``,
never DELETEs a user (it deactivates with a no-path PATCH ``replace`` of ``active`` or a full PUT
that echoes ``id`` and ``meta``), and pages with ``count=100``.
"""

from __future__ import annotations

from typing import Any

from .conftest import Idp

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def okta_create_body(user_name: str, external_id: str) -> dict[str, Any]:
    """Okta's documented POST /Users body (test.user@okta.local, password, groups, locale)."""
    given, family = user_name.split("@")[0].split(".")
    return {
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": given.title(), "familyName": family.title()},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": f"{given.title()} {family.title()}",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


def test_user_lifecycle(idp: Idp) -> None:
    # 1. Does the user exist? (userName, startIndex=1, count=100)
    status, found = idp.filter('userName eq "test.user@okta.local"', startIndex=1, count=100)
    assert status == 200
    assert found["schemas"] == [LIST]
    assert (found["totalResults"], found["Resources"], found["startIndex"]) == (0, [], 1)

    # 2. Create.
    status, created = idp.call("POST", "Users", okta_create_body("test.user@okta.local", "00u1"))
    assert status == 201, created
    user_id = created["id"]
    assert created["userName"] == "test.user@okta.local"
    assert created["active"] is True
    assert created["name"] == {"givenName": "Test", "familyName": "User"}  # no formatted made up
    assert "password" not in created
    assert created["meta"]["location"].endswith(f"/Users/{user_id}")

    # 3. The same user again: 409, and the lookup finds it whatever the case.
    status, error = idp.call("POST", "Users", okta_create_body("test.user@okta.local", "00u1"))
    assert (status, error["scimType"]) == (409, "uniqueness")
    status, found = idp.filter('userName eq "TEST.USER@okta.local"', startIndex=1, count=100)
    assert [r["id"] for r in found["Resources"]] == [user_id]

    # 4. Read; profile update by PATCH (Okta sends replace without a path for attributes).
    status, read = idp.get(f"Users/{user_id}")
    assert status == 200 and read["id"] == user_id
    status, patched = idp.call(
        "PATCH",
        f"Users/{user_id}",
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "replace", "value": {"name": {"givenName": "Another", "familyName": "User"}}}
            ],
        },
    )
    assert status == 200, patched
    assert patched["name"] == {"givenName": "Another", "familyName": "User"}

    # 5. Password sync.
    status, patched = idp.call(
        "PATCH",
        f"Users/{user_id}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"password": "n3w-Pa55"}}]},
    )
    assert status == 200 and "password" not in patched

    # 6. Deactivate (never DELETE): PATCH replace without a path.
    status, patched = idp.call(
        "PATCH",
        f"Users/{user_id}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]},
    )
    assert (status, patched["active"]) == (200, False)

    # 7. Reactivate, then deactivate, with a full PUT that echoes id and meta.
    for active in (True, False):
        body = {**read, "active": active}
        status, put = idp.call("PUT", f"Users/{user_id}", body)
        assert (status, put["active"], put["id"]) == (200, active, user_id)
    status, read = idp.get(f"Users/{user_id}")
    assert read["active"] is False  # still readable: Okta reads deactivated users back


def test_paging_with_count_100_is_stable(idp: Idp) -> None:
    """Okta's import pages with count=100: every user once, in the same order each time."""
    # Seeded in one Bulk request (not Okta's way, only faster than 230 round trips).
    operations = [
        {
            "method": "POST",
            "path": "/Users",
            "bulkId": f"p{number}",
            # Without a password: hashing 230 of them would be the whole cost of the test.
            "data": {
                **okta_create_body(f"page.user{number}@okta.local", f"p{number}"),
                "password": None,
            },
        }
        for number in range(230)
    ]
    status, body = idp.call("POST", "Bulk", {"schemas": [BULK], "Operations": operations})
    assert status == 200, body
    assert {r["status"] for r in body["Operations"]} == {"201"}
    seen: list[str] = []
    start, total = 1, None
    while True:
        status, page = idp.get(f"Users?startIndex={start}&count=100")
        assert status == 200
        total = page["totalResults"] if total is None else total
        assert page["totalResults"] == total
        seen += [r["id"] for r in page["Resources"]]
        if not page["Resources"]:
            break
        start += page["itemsPerPage"]
    assert len(seen) == len(set(seen)) == total >= 230
    status, again = idp.get("Users?startIndex=101&count=100")
    assert [r["id"] for r in again["Resources"]] == seen[100:200]


GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def test_group_push(idp: Idp) -> None:
    """Okta's group push: look up by displayName, create, rename by a no-path replace that
    carries ``id``, add and remove members (the rename repeated with each update), delete."""
    status, alice = idp.call("POST", "Users", okta_create_body("push.alice@okta.local", "g1"))
    assert status == 201, alice
    status, bob = idp.call("POST", "Users", okta_create_body("push.bob@okta.local", "g2"))
    assert status == 201, bob

    status, found = idp.get(
        "Groups?filter=displayName%20eq%20%22Test%20SCIMv2%22&startIndex=1&count=100"
    )
    assert (status, found["totalResults"]) == (200, 0)
    status, group = idp.call(
        "POST", "Groups", {"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []}
    )
    assert status == 201, group
    group_id = group["id"]
    status, read = idp.get(f"Groups/{group_id}")
    assert (status, read["displayName"], read.get("members", [])) == (200, "Test SCIMv2", [])

    def patch_group(*operations: dict[str, Any]) -> None:
        status, body = idp.call(
            "PATCH", f"Groups/{group_id}", {"schemas": [PATCH], "Operations": list(operations)}
        )
        assert status in (200, 204), body

    rename = {"op": "replace", "value": {"id": group_id, "displayName": "Test SCIMv2 Renamed"}}
    patch_group(rename)
    patch_group(
        rename,
        {
            "op": "add",
            "path": "members",
            "value": [
                {"value": alice["id"], "display": "push.alice@okta.local"},
                {"value": bob["id"], "display": "push.bob@okta.local"},
            ],
        },
    )
    status, read = idp.get(f"Groups/{group_id}")
    assert read["displayName"] == "Test SCIMv2 Renamed"
    assert {m["value"] for m in read["members"]} == {alice["id"], bob["id"]}
    status, user = idp.get(f"Users/{alice['id']}")
    assert [g["value"] for g in user["groups"]] == [group_id]
    status, referenced = scim_ref(idp, user["groups"][0]["$ref"])
    assert (status, referenced["id"]) == (200, group_id)

    patch_group(rename, {"op": "remove", "path": f'members[value eq "{bob["id"]}"]'})
    status, read = idp.get(f"Groups/{group_id}")
    assert [m["value"] for m in read["members"]] == [alice["id"]]

    status, _ = idp.call("DELETE", f"Groups/{group_id}")
    assert status == 204
    status, _ = idp.get(f"Groups/{group_id}")
    assert status == 404


def scim_ref(idp: Idp, url: str) -> tuple[int, Any]:
    """GET an absolute ``$ref`` with the token: it must resolve."""
    assert url.startswith(idp.base_url), url
    return idp.get(url[len(idp.base_url) :])
