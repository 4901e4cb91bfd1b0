"""Microsoft Entra ID's SCIM client, as Microsoft's documentation ("Tutorial: develop a sample SCIM
endpoint", "Known issues and resolutions with SCIM 2.0 protocol compliance") shows its requests,
replayed against the example project; with and without its newer behaviour (the
``aadOptscim062020`` flag on the tenant URL).

Without the flag Entra capitalises ops (``Replace``, ``Add``), sends booleans as the strings
``"True"``/``"False"`` and the manager as a bare id; with it, ops are lower case, booleans are
booleans, and a no-path ``replace`` carries keys such as ``name.givenName`` or a full extension
URN with the attribute appended. Either way: ``userName`` is a UPN-like name, the mailbox is in
``emails``, users are matched by ``externalId`` (a GUID) or ``userName``, and "Test connection"
filters on a random ``userName`` expecting an empty list.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import pytest

from .conftest import Idp

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


def entra_create_body(tag: str) -> dict[str, Any]:
    """Microsoft's documented "Create User" request."""
    return {
        "schemas": [USER, ENT],
        "externalId": str(uuid.uuid5(uuid.NAMESPACE_DNS, tag)),
        "userName": f"Test_User_{tag}@contoso.onmicrosoft.com",
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": f"{tag}@contoso.com"}],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName",
        },
        "roles": [],
    }


def test_test_connection_is_an_empty_list(idp: Idp) -> None:
    status, body = idp.filter(f'userName eq "{uuid.uuid4()}"')
    assert status == 200, body
    assert (body["totalResults"], body["Resources"]) == (0, [])


@pytest.mark.parametrize("flag", [False, True], ids=["without-flag", "aadOptscim062020"])
def test_user_lifecycle(idp: Idp, flag: bool) -> None:
    tag = f"life-{'new' if flag else 'old'}"
    op = (lambda name: name.lower()) if flag else (lambda name: name.title())
    true, false = (True, False) if flag else ("True", "False")
    body = entra_create_body(tag)

    # Matching: by externalId (the object id), nothing yet; then create.
    status, found = idp.filter(f'externalId eq "{body["externalId"]}"')
    assert (status, found["totalResults"]) == (200, 0)
    status, created = idp.call("POST", "Users", body)
    assert status == 201, created
    user_id = created["id"]
    assert created["userName"] == body["userName"]  # the UPN, as sent
    assert created["emails"][0]["value"] == f"{tag}@contoso.com"  # the mailbox, apart
    for expression in (
        f'externalId eq "{body["externalId"]}"',
        f'userName eq "{body["userName"]}"',
        f'emails[type eq "work"].value eq "{tag}@contoso.com"',
    ):
        status, found = idp.filter(expression)
        assert [r["id"] for r in found["Resources"]] == [user_id], expression

    # Multi-valued and single-valued updates.
    status, updated = idp.call(
        "PATCH",
        f"Users/{user_id}",
        patch(
            {
                "op": op("Replace"),
                "path": 'emails[type eq "work"].value',
                "value": f"new.{tag}@contoso.com",
            },
            {"op": op("Replace"), "path": "name.familyName", "value": "updatedFamilyName"},
        ),
    )
    assert status in (200, 204), updated
    status, read = idp.get(f"Users/{user_id}")
    assert read["emails"] == [{"primary": True, "type": "work", "value": f"new.{tag}@contoso.com"}]
    assert read["name"]["familyName"] == "updatedFamilyName"

    # Manager set and removed through the enterprise extension path.
    status, manager = idp.call("POST", "Users", entra_create_body(f"{tag}-manager"))
    assert status == 201, manager
    value: Any = manager["id"] if not flag else {"value": manager["id"]}
    status, updated = idp.call(
        "PATCH",
        f"Users/{user_id}",
        patch({"op": op("Add"), "path": f"{ENT}:manager", "value": value}),
    )
    assert status in (200, 204), updated
    status, read = idp.get(f"Users/{user_id}")
    assert read[ENT]["manager"]["value"] == manager["id"]
    status, updated = idp.call(
        "PATCH", f"Users/{user_id}", patch({"op": op("Remove"), "path": f"{ENT}:manager"})
    )
    assert status in (200, 204), updated
    status, read = idp.get(f"Users/{user_id}")
    assert "manager" not in read.get(ENT, {})

    if flag:
        # No-path replace with dotted and URN-qualified keys.
        status, updated = idp.call(
            "PATCH",
            f"Users/{user_id}",
            patch(
                {
                    "op": "replace",
                    "value": {
                        "displayName": "Display",
                        "name.givenName": "Given",
                        f"{ENT}:employeeNumber": "7",
                        "active": True,
                    },
                }
            ),
        )
        assert status in (200, 204), updated
        status, read = idp.get(f"Users/{user_id}")
        assert (read["displayName"], read["name"]["givenName"]) == ("Display", "Given")
        assert read[ENT]["employeeNumber"] == "7"

    # Disable (a string "False" without the flag), enable, disable, then delete.
    for state, expected in ((false, False), (true, True), (false, False)):
        status, updated = idp.call(
            "PATCH",
            f"Users/{user_id}",
            patch({"op": op("Replace"), "path": "active", "value": state}),
        )
        assert status in (200, 204), updated
        status, read = idp.get(f"Users/{user_id}")
        assert read["active"] is expected
    status, _ = idp.call("DELETE", f"Users/{user_id}")
    assert status == 204
    status, gone = idp.get(f"Users/{user_id}")
    assert status == 404, gone


def test_add_a_work_email_when_there_is_none(idp: Idp) -> None:
    body = {**entra_create_body("no-mail"), "emails": []}
    status, created = idp.call("POST", "Users", body)
    assert status == 201, created
    status, updated = idp.call(
        "PATCH",
        f"Users/{created['id']}",
        patch(
            {"op": "Add", "path": 'emails[type eq "work"].value', "value": "no-mail@contoso.com"}
        ),
    )
    assert status in (200, 204), updated
    status, read = idp.get(f"Users/{created['id']}")
    assert read["emails"] == [{"type": "work", "value": "no-mail@contoso.com"}]


def test_the_flag_in_the_tenant_url_reaches_every_request(idp: Idp) -> None:
    """Set as ``https://.../scim/v2/?aadOptscim062020``, the flag may arrive on any request's
    query string: it is ignored, whatever the method."""
    body = entra_create_body("flagged")
    status, created = idp.call("POST", "Users?aadOptscim062020", body)
    assert status == 201, created
    status, found = idp.get(
        f"Users?aadOptscim062020&filter=userName%20eq%20%22{body['userName']}%22"
    )
    assert [r["id"] for r in found["Resources"]] == [created["id"]]
    status, updated = idp.call(
        "PATCH",
        f"Users/{created['id']}?aadOptscim062020",
        patch({"op": "replace", "path": "active", "value": False}),
    )
    assert status in (200, 204), updated
    status, read = idp.get(f"Users/{created['id']}?aadOptscim062020")
    assert (status, read["active"]) == (200, False)


GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


@pytest.mark.parametrize("flag", [False, True], ids=["without-flag", "aadOptscim062020"])
def test_group_provisioning(idp: Idp, flag: bool) -> None:
    tag = "new" if flag else "old"
    op = (lambda name: name.lower()) if flag else (lambda name: name.title())
    status, user = idp.call("POST", "Users", entra_create_body(f"member-{tag}"))
    assert status == 201, user
    external_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"group-{tag}"))

    status, found = idp.get(
        f"Groups?excludedAttributes=members&filter=displayName%20eq%20%22Group%20{tag}%22"
    )
    assert (status, found["totalResults"]) == (200, 0)
    status, group = idp.call(
        "POST",
        "Groups",
        {
            "schemas": [GROUP, MS_GROUP],
            "externalId": external_id,
            "displayName": f"Group {tag}",
            "meta": {"resourceType": "Group"},
        },
    )
    assert status == 201, group
    group_id = group["id"]
    status, read = idp.get(f"Groups/{group_id}?excludedAttributes=members")
    assert status == 200 and "members" not in read
    status, found = idp.get(f"Groups?filter=externalId%20eq%20%22{external_id}%22")
    assert [g["id"] for g in found["Resources"]] == [group_id]

    def probe() -> int:
        expression = f'id eq "{group_id}" and members[value eq "{user["id"]}"]'
        status, body = idp.get(f"Groups?excludedAttributes=members&filter={quote(expression)}")
        assert status == 200, body
        return int(body["totalResults"])

    def patch_group(*operations: dict[str, Any]) -> None:
        status, body = idp.call("PATCH", f"Groups/{group_id}", patch(*operations))
        assert status in (200, 204), body
        assert "members" not in body  # answered without the member list

    assert probe() == 0
    patch_group(
        {"op": op("Add"), "path": "members", "value": [{"$ref": None, "value": user["id"]}]}
    )
    assert probe() == 1
    if flag:
        patch_group({"op": "remove", "path": f'members[value eq "{user["id"]}"]'})
    else:
        patch_group(
            {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": user["id"]}]}
        )
    assert probe() == 0
    patch_group({"op": op("Replace"), "path": "displayName", "value": f"Group {tag} renamed"})
    status, read = idp.get(f"Groups/{group_id}")
    assert read["displayName"] == f"Group {tag} renamed"
    status, _ = idp.call("DELETE", f"Groups/{group_id}")
    assert status == 204
