"""Group PATCH in every form identity providers send (Okta, Microsoft Entra ID, RFC 7644)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from django_provisioning.models import ExternalGroup, GroupGrant

from .bodies import patch_body
from .test_groups_api import create, user


@pytest.fixture
def people(scim) -> list[str]:
    return [user(scim, f"u{i}@example.com") for i in range(3)]


def members_of() -> set[str]:
    """The SCIM ids of the local group's members (what the product sees)."""
    users = Group.objects.get().user_set
    return {str(s) for s in users.values_list("external_identities__scim_id", flat=True)}


def patch(scim, group: dict, *ops: dict[str, Any], status: int = 204) -> Any:
    response = scim.patch(f"Groups/{group['id']}", patch_body(*ops))
    assert response.status_code == status, response.content
    return response


def test_add_members_list(scim, people):
    group = create(scim)
    ops = {"op": "add", "path": "members", "value": [{"value": p} for p in people[:2]]}
    response = patch(scim, group, ops)
    assert response.content == b"" and response["ETag"] == 'W/"2"'
    assert members_of() == set(people[:2])


def test_remove_by_value_filter(scim, people):
    group = create(scim, members=people)
    patch(scim, group, {"op": "remove", "path": f'members[value eq "{people[0]}"]'})
    assert members_of() == set(people[1:])
    both = f'members[value eq "{people[1]}" or value eq "{people[2]}"]'
    patch(scim, group, {"op": "remove", "path": both})
    assert members_of() == set()


def test_entra_remove_with_value_list_and_capitalised_op(scim, people):
    group = create(scim, members=people)
    patch(scim, group, {"op": "Remove", "path": "members", "value": [{"value": people[0]}]})
    assert members_of() == set(people[1:])


def test_remove_members_without_value_removes_all(scim, people):
    group = create(scim, members=people)
    patch(scim, group, {"op": "remove", "path": "members"})
    assert not GroupGrant.objects.exists()
    assert Group.objects.get().user_set.count() == 0


def test_replace_members(scim, people):
    group = create(scim, members=people[:2])
    patch(scim, group, {"op": "replace", "path": "members", "value": [{"value": people[2]}]})
    assert members_of() == {people[2]}


def test_okta_no_path_replace_renames_and_ignores_id(scim, people):
    group = create(scim)
    value = {"id": "something-else", "displayName": "Renamed"}
    patch(scim, group, {"op": "replace", "value": value})
    row = ExternalGroup.objects.get()
    assert row.display_name == "Renamed" and str(row.scim_id) == group["id"]
    assert row.group.name == "acme: Renamed"
    # Okta repeats the rename with each membership update: no new version for the name.
    patch(
        scim,
        group,
        {"op": "replace", "value": value},
        {"op": "add", "path": "members", "value": [{"value": people[0], "$ref": None}]},
    )
    assert members_of() == {people[0]}
    assert ExternalGroup.objects.get().version == 3


def test_no_path_members_and_external_id(scim, people):
    group = create(scim)
    patch(
        scim,
        group,
        {"op": "add", "value": {"members": [{"value": people[0]}], "externalId": "x1"}},
    )
    assert members_of() == {people[0]} and ExternalGroup.objects.get().external_id == "x1"
    patch(scim, group, {"op": "remove", "path": "externalId"})
    assert ExternalGroup.objects.get().external_id is None


def test_operations_apply_in_order(scim, people):
    group = create(scim, members=people[:1])
    patch(
        scim,
        group,
        {"op": "remove", "path": "members"},
        {"op": "add", "path": "members", "value": [{"value": people[1]}]},
        {"op": "remove", "path": f'members[value eq "{people[1]}"]'},
        {"op": "add", "path": "members", "value": [{"value": people[2]}]},
    )
    assert members_of() == {people[2]}


def test_removing_a_deleted_user_is_no_error(scim, people):
    group = create(scim, members=people[:1])
    gone = "6a0b2c1e-8a7e-4b5e-9d8c-1f2e3d4c5b6a"
    patch(scim, group, {"op": "remove", "path": f'members[value eq "{gone}"]'})
    assert members_of() == {people[0]}


def test_patch_with_attributes_answers_200_without_members(scim, people):
    group = create(scim, members=people)
    response = scim.patch(
        f"Groups/{group['id']}?excludedAttributes=members",
        patch_body({"op": "replace", "path": "displayName", "value": "New"}),
    )
    assert response.status_code == 200
    assert response.json()["displayName"] == "New" and "members" not in response.json()


@pytest.mark.parametrize(
    ("op", "scim_type"),
    [
        ({"op": "remove", "path": "displayName"}, "invalidValue"),
        ({"op": "replace", "path": "displayName", "value": ""}, "invalidValue"),
        ({"op": "replace", "path": "displayName", "value": 7}, "invalidValue"),
        ({"op": "remove"}, "noTarget"),
        ({"op": "move", "path": "members"}, "invalidSyntax"),
        ({"op": "add", "path": "nope", "value": 1}, "invalidPath"),
        ({"op": "add", "path": "members", "value": [{"value": 3}]}, "invalidValue"),
        (
            {"op": "add", "path": "members", "value": [{"value": "a", "type": "Group"}]},
            "invalidValue",
        ),
        ({"op": "add", "path": "members", "value": [{"value": "not-a-uuid"}]}, "invalidValue"),
        ({"op": "replace", "path": 'members[value eq "x"]', "value": []}, "invalidPath"),
        ({"op": "remove", "path": 'members[display eq "x"]'}, "invalidFilter"),
        ({"op": "add", "path": "members.value", "value": "x"}, "invalidPath"),
        ({"op": "replace", "value": "x"}, "invalidValue"),
    ],
)
def test_bad_operation_is_refused_and_nothing_applied(scim, people, op, scim_type):
    group = create(scim, members=people[:1])
    rename = {"op": "replace", "path": "displayName", "value": "Renamed"}
    add = {"op": "add", "path": "members", "value": [{"value": people[1]}]}
    response = scim.patch(f"Groups/{group['id']}", patch_body(rename, add, op))
    assert response.status_code == 400, response.content
    assert response.json()["scimType"] == scim_type
    row = ExternalGroup.objects.get()
    assert (row.display_name, row.version) == ("Engineering", 1)
    assert members_of() == {people[0]}


def test_rename_to_a_taken_name_is_409_and_nothing_applied(scim, people):
    create(scim, "Taken")
    group = create(scim)
    response = scim.patch(
        f"Groups/{group['id']}",
        patch_body(
            {"op": "add", "path": "members", "value": [{"value": people[0]}]},
            {"op": "replace", "path": "displayName", "value": "Taken"},
        ),
    )
    assert response.status_code == 409
    assert not GroupGrant.objects.exists()
