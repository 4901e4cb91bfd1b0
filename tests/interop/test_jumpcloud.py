"""JumpCloud's SCIM 2.0 client, as far as its public documentation shows its requests: a lookup by
``userName`` before creating, ``POST``, ``PUT`` for attribute changes, ``PATCH`` ``active`` to
deactivate, ``DELETE`` when the user leaves the application. See docs/idp/jumpcloud.rst.
"""

from __future__ import annotations

from typing import Any

from .conftest import Idp

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def jumpcloud_user(email: str, *, title: str = "Engineer") -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": email,
        "externalId": "5f0c1b2a3d4e5f6a7b8c9d0e",
        "name": {"givenName": "Ada", "familyName": "Byron", "formatted": "Ada Byron"},
        "displayName": "Ada Byron",
        "title": title,
        "emails": [{"value": email, "type": "work", "primary": True}],
        "active": True,
    }


def test_lifecycle(idp: Idp) -> None:
    status, found = idp.filter('userName eq "ada@jumpcloud.example"')
    assert (status, found["totalResults"]) == (200, 0)
    status, created = idp.call("POST", "Users", jumpcloud_user("ada@jumpcloud.example"))
    assert status == 201, created
    user_id = created["id"]
    assert created["name"]["formatted"] == "Ada Byron"

    status, put = idp.call(
        "PUT", f"Users/{user_id}", jumpcloud_user("ada@jumpcloud.example", title="CTO")
    )
    assert (status, put["title"]) == (200, "CTO")

    status, patched = idp.call(
        "PATCH",
        f"Users/{user_id}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]},
    )
    assert (status, patched["active"]) == (200, False)

    status, _ = idp.call("DELETE", f"Users/{user_id}")
    assert status == 204
    status, found = idp.filter('userName eq "ada@jumpcloud.example"')
    assert found["totalResults"] == 0


GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def test_group_members_as_a_value_list(idp: Idp) -> None:
    """JumpCloud adds and removes members with a ``members`` value list, no filter."""
    status, user = idp.call("POST", "Users", jumpcloud_user("grace@jumpcloud.example"))
    assert status == 201, user
    status, group = idp.call("POST", "Groups", {"schemas": [GROUP], "displayName": "Engineers"})
    assert status == 201, group
    for operation in ("add", "remove"):
        status, body = idp.call(
            "PATCH",
            f"Groups/{group['id']}",
            {
                "schemas": [PATCH],
                "Operations": [
                    {"op": operation, "path": "members", "value": [{"value": user["id"]}]}
                ],
            },
        )
        assert status in (200, 204), body
        status, read = idp.get(f"Groups/{group['id']}")
        expected = [user["id"]] if operation == "add" else []
        assert [m["value"] for m in read.get("members", [])] == expected
