"""/Groups over HTTP: CRUD, members, ETags, errors, what is stored."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from django_provisioning.models import AuditEvent, ExternalGroup, GroupGrant
from django_provisioning.schema.definitions import GROUP_SCHEMA

from .bodies import patch_body

MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def user(scim, name: str) -> str:
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name}
    response = scim.post("Users", body)
    assert response.status_code == 201, response.content
    return response.json()["id"]


def group_body(name: str = "Engineering", members: list[str] = (), **extra: Any) -> dict:
    body = {
        "schemas": [GROUP_SCHEMA],
        "displayName": name,
        "members": [{"value": m, "display": "x"} for m in members],
    }
    body.update(extra)
    return body


def create(scim, name: str = "Engineering", members: list[str] = (), **extra: Any) -> dict:
    response = scim.post("Groups", group_body(name, members, **extra))
    assert response.status_code == 201, response.content
    return body_of(response)


def body_of(response: Any) -> dict:
    import json

    if getattr(response, "streaming", False):
        return json.loads(b"".join(response.streaming_content))
    return response.json()


def member_values(body: dict) -> set[str]:
    return {m["value"] for m in body.get("members", [])}


def grants() -> set[tuple[str, Any]]:
    return set(GroupGrant.objects.values_list("external_group__display_name", "user_id"))


# -------------------------------------------------------------------- create / read


def test_post_creates_group_with_members(scim, connection):
    alice, bob = user(scim, "alice@example.com"), user(scim, "bob@example.com")
    response = scim.post("Groups", group_body(members=[alice, bob], externalId="okta-1"))
    assert response.status_code == 201
    body = body_of(response)
    row = ExternalGroup.objects.get()
    assert body["id"] == str(row.scim_id)
    assert response["Location"] == f"http://testserver/scim/v2/Groups/{row.scim_id}"
    assert response["ETag"] == body["meta"]["version"] == 'W/"1"'
    assert body["schemas"] == [GROUP_SCHEMA]
    assert body["displayName"] == "Engineering" and body["externalId"] == "okta-1"
    assert body["meta"]["resourceType"] == "Group"
    # display is returned on request only (members.display: returned "request"), so a
    # client that compares what it sent with what it reads finds them equal.
    assert {(m["value"], m["type"]) for m in body["members"]} == {(alice, "User"), (bob, "User")}
    assert all("display" not in m for m in body["members"])
    assert body["members"][0]["$ref"].startswith("http://testserver/scim/v2/Users/")
    asked = body_of(scim.get(f"Groups/{row.scim_id}", {"attributes": "members.display"}))
    assert {m["display"] for m in asked["members"]} == {"alice@example.com", "bob@example.com"}
    assert Group.objects.get(pk=row.group_id).name == "acme: Engineering"
    assert Group.objects.get(pk=row.group_id).user_set.count() == 2
    assert len(grants()) == 2


def test_get_reads_back_and_user_groups_ref_resolves(scim):
    alice = user(scim, "alice@example.com")
    created = create(scim, members=[alice])
    response = scim.get(f"Groups/{created['id']}")
    assert response.status_code == 200
    assert body_of(response) == created
    (group_ref,) = scim.get(f"Users/{alice}").json()["groups"]
    assert group_ref["value"] == created["id"]
    ref = group_ref["$ref"].removeprefix("http://testserver/scim/v2/")
    assert body_of(scim.get(ref))["displayName"] == "Engineering"


def test_empty_group_has_no_members_attribute(scim):
    body = create(scim)
    assert "members" not in body
    assert "members" not in body_of(scim.get(f"Groups/{body['id']}"))


def test_entra_extra_schema_urn_is_accepted(scim):
    response = scim.post("Groups", group_body(schemas=[GROUP_SCHEMA, MS_GROUP]))
    assert response.status_code == 201


def test_duplicate_display_name_is_409(scim):
    create(scim)
    response = scim.post("Groups", group_body())
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    assert ExternalGroup.objects.count() == 1


def test_post_takes_over_the_group_a_sign_in_made(scim, connection):
    saml_row = ExternalGroup.objects.create(
        connection=connection, display_name="Engineering", external_id="Engineering"
    )
    body = create(scim, externalId="00g1")
    assert body["id"] == str(saml_row.scim_id)
    assert ExternalGroup.objects.get().external_id == "00g1"


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ({"schemas": [GROUP_SCHEMA]}, "invalidValue"),
        ({"schemas": [GROUP_SCHEMA], "displayName": ""}, "invalidValue"),
        ({"schemas": [GROUP_SCHEMA], "displayName": "x" * 256}, "invalidValue"),
        ({"schemas": ["urn:nope"], "displayName": "x"}, "invalidSyntax"),
        ([], "invalidSyntax"),
        (group_body(members=["not-a-uuid"]), "invalidValue"),
        (group_body(members=["6a0b2c1e-8a7e-4b5e-9d8c-1f2e3d4c5b6a"]), "invalidValue"),
        ({**group_body(), "members": [{"display": "no value"}]}, "invalidValue"),
        ({**group_body(), "members": "x"}, "invalidValue"),
    ],
)
def test_bad_post_is_refused_and_writes_nothing(scim, body, scim_type):
    response = scim.post("Groups", body)
    assert response.status_code == 400, response.content
    assert response.json()["scimType"] == scim_type
    assert not ExternalGroup.objects.exists() and not Group.objects.exists()


def test_unknown_member_is_named_and_nothing_applied(scim):
    alice = user(scim, "alice@example.com")
    missing = "6a0b2c1e-8a7e-4b5e-9d8c-1f2e3d4c5b6a"
    response = scim.post("Groups", group_body(members=[alice, missing]))
    assert response.status_code == 400
    assert missing in response.json()["detail"]
    assert not ExternalGroup.objects.exists() and not GroupGrant.objects.exists()


def test_member_of_another_connection_is_refused(scim, other_scim):
    stranger = user(other_scim, "eve@globex.test")
    group = create(scim)
    response = scim.patch(
        f"Groups/{group['id']}",
        patch_body({"op": "add", "path": "members", "value": [{"value": stranger}]}),
    )
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert stranger in response.json()["detail"]
    assert not GroupGrant.objects.exists()
    assert ExternalGroup.objects.get().version == 1


def test_group_of_another_connection_is_404(scim, other_scim):
    group = create(scim)
    for call in (
        lambda: other_scim.get(f"Groups/{group['id']}"),
        lambda: other_scim.put(f"Groups/{group['id']}", group_body("Stolen")),
        lambda: other_scim.patch(
            f"Groups/{group['id']}",
            patch_body({"op": "replace", "path": "displayName", "value": "Stolen"}),
        ),
        lambda: other_scim.delete(f"Groups/{group['id']}"),
    ):
        response = call()
        assert response.status_code == 404
        assert response.json()["status"] == "404"
    assert ExternalGroup.objects.get().display_name == "Engineering"
    assert other_scim.get("Groups").json()["totalResults"] == 0


@pytest.mark.parametrize("scim_id", ["nope", "6a0b2c1e-8a7e-4b5e-9d8c-1f2e3d4c5b6a"])
def test_unknown_group_is_404(scim, scim_id):
    assert scim.get(f"Groups/{scim_id}").status_code == 404


# -------------------------------------------------------------------- PUT / DELETE / ETags


def test_put_replaces_name_external_id_and_members(scim):
    alice, bob = user(scim, "alice@example.com"), user(scim, "bob@example.com")
    group = create(scim, members=[alice], externalId="e1")
    response = scim.put(f"Groups/{group['id']}", group_body("Platform", [bob]))
    assert response.status_code == 200
    body = body_of(response)
    assert body["displayName"] == "Platform" and "externalId" not in body
    assert member_values(body) == {bob}
    assert response["ETag"] == 'W/"2"'
    row = ExternalGroup.objects.get()
    assert row.group.name == "acme: Platform"
    assert row.group.user_set.get().get_username() == "bob@example.com"


def test_if_match_mismatch_is_412_and_nothing_changes(scim):
    alice = user(scim, "alice@example.com")
    group = create(scim)
    stale = {"HTTP_IF_MATCH": 'W/"7"'}
    add = patch_body({"op": "add", "path": "members", "value": [{"value": alice}]})
    assert scim.patch(f"Groups/{group['id']}", add, **stale).status_code == 412
    assert scim.put(f"Groups/{group['id']}", group_body("X"), **stale).status_code == 412
    assert scim.delete(f"Groups/{group['id']}", **stale).status_code == 412
    assert ExternalGroup.objects.get().display_name == "Engineering"
    assert not GroupGrant.objects.exists()
    ok = scim.patch(f"Groups/{group['id']}", add, HTTP_IF_MATCH='W/"1"')
    assert ok.status_code == 204 and ok["ETag"] == 'W/"2"'


def test_if_none_match_is_304(scim):
    group = create(scim)
    response = scim.get(f"Groups/{group['id']}", HTTP_IF_NONE_MATCH=group["meta"]["version"])
    assert response.status_code == 304


def test_membership_change_gives_a_new_version_a_no_op_does_not(scim):
    alice = user(scim, "alice@example.com")
    group = create(scim)
    add = patch_body({"op": "add", "path": "members", "value": [{"value": alice}]})
    assert scim.patch(f"Groups/{group['id']}", add)["ETag"] == 'W/"2"'
    assert scim.patch(f"Groups/{group['id']}", add)["ETag"] == 'W/"2"'


def test_delete_removes_group_and_memberships(scim):
    alice = user(scim, "alice@example.com")
    group = create(scim, members=[alice])
    assert scim.delete(f"Groups/{group['id']}").status_code == 204
    assert not ExternalGroup.objects.exists() and not Group.objects.exists()
    assert scim.get(f"Groups/{group['id']}").status_code == 404
    assert "groups" not in scim.get(f"Users/{alice}").json()
    assert AuditEvent.objects.filter(action="group_delete").count() == 1


# -------------------------------------------------------------------- list, paging, projection


def test_list_sorts_pages_and_counts(scim):
    for name in ("b", "C", "a"):
        create(scim, name)
    body = scim.get("Groups", {"sortBy": "displayName", "count": 2}).json()
    assert body["totalResults"] == 3 and body["itemsPerPage"] == 2
    assert [g["displayName"] for g in body["Resources"]] == ["a", "b"]
    body = scim.get("Groups", {"sortBy": "displayName", "startIndex": 3}).json()
    assert [g["displayName"] for g in body["Resources"]] == ["C"]
    body = scim.get("Groups", {"sortBy": "displayName", "sortOrder": "descending"}).json()
    assert [g["displayName"] for g in body["Resources"]] == ["C", "b", "a"]


def test_list_and_search_render_members_unless_excluded(scim):
    alice = user(scim, "alice@example.com")
    create(scim, "a", [alice])
    create(scim, "b")
    listed = scim.get("Groups").json()["Resources"]
    assert [member_values(g) for g in listed] == [{alice}, set()]
    excluded = scim.get("Groups", {"excludedAttributes": "members"}).json()["Resources"]
    assert all("members" not in g for g in excluded)
    searched = scim.post(
        "Groups/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'displayName eq "A"',
            "attributes": ["displayName"],
        },
    ).json()
    assert searched["totalResults"] == 1
    assert searched["Resources"] == [
        {"schemas": [GROUP_SCHEMA], "id": listed[0]["id"], "displayName": "a"}
    ]


def test_attributes_on_one_group(scim):
    alice = user(scim, "alice@example.com")
    group = create(scim, members=[alice])
    only_value = body_of(scim.get(f"Groups/{group['id']}", {"attributes": "members.value"}))
    assert only_value == {
        "schemas": [GROUP_SCHEMA],
        "id": group["id"],
        "members": [{"value": alice}],
    }
    no_members = body_of(scim.get(f"Groups/{group['id']}", {"excludedAttributes": "members"}))
    assert "members" not in no_members and no_members["displayName"] == "Engineering"


@pytest.mark.parametrize(
    "params",
    [{"sortBy": "members"}, {"sortOrder": "sideways"}, {"count": "x"}, {"filter": "nope eq 1"}],
)
def test_bad_list_parameters_are_400(scim, params):
    create(scim)
    response = scim.get("Groups", params)
    assert response.status_code == 400
    assert response.json()["scimType"] in ("invalidFilter", "invalidValue")


def test_discovery_advertises_groups(scim):
    types = scim.get("ResourceTypes").json()["Resources"]
    assert {t["endpoint"] for t in types} == {"/Users", "/Groups"}


# -------------------------------------------------------------------- signals


def test_signals_of_each_request_after_commit(scim, django_capture_on_commit_callbacks):
    from django_provisioning import signals

    names = ["group_created", "group_updated", "group_deleted"]
    names += ["group_members_added", "group_members_removed"]
    seen: list[tuple[str, str, Any]] = []

    def receiver(sender: str, signal: Any, **kwargs: Any) -> None:
        seen.append((next(n for n in names if getattr(signals, n) is signal), sender, kwargs))

    for name in names:
        getattr(signals, name).connect(receiver, dispatch_uid=f"t-{name}")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            alice, bob = user(scim, "alice@example.com"), user(scim, "bob@example.com")
            group = create(scim, members=[alice])
            path = f"Groups/{group['id']}"
            add_bob = {"op": "add", "path": "members", "value": [{"value": bob}]}
            rename = {"op": "replace", "path": "displayName", "value": "Eng"}
            scim.patch(path, patch_body(rename, add_bob))
            scim.patch(path, patch_body(rename, add_bob))  # changes nothing: no signal
            scim.patch(path, patch_body(add_bob, {"op": "remove", "path": "nope"}))  # refused
            scim.patch(path, patch_body({"op": "remove", "path": f'members[value eq "{alice}"]'}))
            scim.delete(path)
    finally:
        for name in names:
            getattr(signals, name).disconnect(dispatch_uid=f"t-{name}")
    assert [(name, sender) for name, sender, _kw in seen] == [
        ("group_created", "scim"),
        ("group_members_added", "scim"),
        ("group_updated", "scim"),
        ("group_members_added", "scim"),
        ("group_members_removed", "scim"),
        ("group_deleted", "scim"),
    ]
    by_name = {u.get_username(): u.pk for u in get_user_model().objects.all()}
    assert seen[1][2]["user_ids"] == [by_name["alice@example.com"]]
    assert seen[2][2]["group"].name == "acme: Eng"
    assert seen[3][2]["user_ids"] == [by_name["bob@example.com"]]
    assert seen[4][2]["user_ids"] == [by_name["alice@example.com"]]


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ({"schemas": [GROUP_SCHEMA], "members": []}, "invalidValue"),
        (group_body("Renamed", externalId="x" * 256), "invalidValue"),
        (group_body("Renamed", ["6a0b2c1e-8a7e-4b5e-9d8c-1f2e3d4c5b6a"]), "invalidValue"),
        ({**group_body("Renamed"), "members": [{"value": "a", "type": "Group"}]}, "invalidValue"),
        ("not an object", "invalidSyntax"),
    ],
)
def test_bad_put_is_refused_and_changes_nothing(scim, body, scim_type):
    alice = user(scim, "alice@example.com")
    group = create(scim, members=[alice], externalId="e1")
    response = scim.put(f"Groups/{group['id']}", body)
    assert response.status_code == 400, response.content
    assert response.json()["scimType"] == scim_type
    row = ExternalGroup.objects.get()
    assert (row.display_name, row.external_id, row.version) == ("Engineering", "e1", 1)
    assert GroupGrant.objects.count() == 1


def test_put_to_a_taken_name_is_409_and_changes_nothing(scim):
    alice = user(scim, "alice@example.com")
    create(scim, "Taken")
    group = create(scim)
    response = scim.put(f"Groups/{group['id']}", group_body("Taken", [alice]))
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    assert not GroupGrant.objects.exists()
