"""/Users over HTTP: what an identity provider sends, what it reads back, what is stored."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from django_provisioning.models import AuditEvent, ExternalIdentity, ExternalIdentityValue
from django_provisioning.schema.definitions import ENTERPRISE_USER_SCHEMA, USER_SCHEMA

from .bodies import patch_body

ENT = ENTERPRISE_USER_SCHEMA
User = get_user_model()


def okta_user(user_name: str = "alice@example.com", **extra: Any) -> dict[str, Any]:
    """The body Okta POSTs to create a user (Okta "SCIM 2.0 reference").

    Its e-mail is its userName (given either way), as Okta's is unless mapped otherwise.
    """
    user_name = extra.pop("userName", user_name)
    body = {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": "Alice Liddell",
        "locale": "en-US",
        "externalId": "00u1abcd",
        "groups": [],
        "password": "s3cret-Passw0rd",
        "active": True,
    }
    body.update(extra)
    return body


def create(scim, **extra: Any) -> dict[str, Any]:
    response = scim.post("Users", okta_user(**extra))
    assert response.status_code == 201, response.content
    return response.json()


def username_of(user: Any) -> str:
    return user.get_username()


# -------------------------------------------------------------------- create


def test_post_creates_user_and_link(scim):
    response = scim.post("Users", okta_user())
    assert response.status_code == 201
    assert response["Content-Type"] == "application/scim+json"
    body = response.json()
    user = User.objects.get()
    identity = ExternalIdentity.objects.get()
    assert body["id"] == str(identity.scim_id) != str(user.pk)
    assert response["Location"] == f"http://testserver/scim/v2/Users/{body['id']}"
    assert response["ETag"] == body["meta"]["version"] == 'W/"1"'
    assert body["userName"] == "alice@example.com"
    assert body["externalId"] == "00u1abcd"
    assert body["name"] == {"givenName": "Alice", "familyName": "Liddell"}
    assert body["active"] is True
    assert body["meta"]["resourceType"] == "User"
    assert "password" not in body
    assert username_of(user) == "alice@example.com"
    assert user.check_password("s3cret-Passw0rd")
    assert user.is_active
    assert AuditEvent.objects.filter(action="create", source="scim").count() == 1
    assert ExternalIdentityValue.objects.filter(attribute="emails").count() == 1


def test_unmapped_attributes_round_trip(scim):
    body = okta_user(
        title="Tea taster",
        nickName="Ally",
        phoneNumbers=[{"value": "+1 555 0100", "type": "work"}],
        addresses=[{"type": "work", "locality": "Oxford", "country": "GB"}],
        **{
            ENT: {
                "employeeNumber": "701",
                "department": "Wonder",
                "costCenter": "42",
                "organization": "Acme",
                "division": "R&D",
                "manager": {"value": "boss-id"},
            }
        },
    )
    body["schemas"].append(ENT)
    created = scim.post("Users", body).json()
    read = scim.get(f"Users/{created['id']}").json()
    assert read["title"] == "Tea taster" and read["nickName"] == "Ally"
    assert read["phoneNumbers"] == [{"value": "+1 555 0100", "type": "work"}]
    assert read["addresses"] == [{"type": "work", "locality": "Oxford", "country": "GB"}]
    assert read[ENT]["employeeNumber"] == "701"
    assert read[ENT]["manager"] == {"value": "boss-id"}
    assert ENT in read["schemas"]


def test_attribute_names_are_case_insensitive(scim):
    response = scim.post(
        "Users",
        {"schemas": [USER_SCHEMA], "USERNAME": "bob@example.com", "Name": {"GivenName": "Bob"}},
    )
    assert response.status_code == 201
    assert response.json()["name"] == {"givenName": "Bob"}


def test_readonly_attributes_in_post_are_ignored(scim):
    response = scim.post(
        "Users", okta_user(id="chosen-by-client", meta={"version": "x"}, groups=[{"value": "g"}])
    )
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != "chosen-by-client"
    assert "groups" not in body


def test_duplicate_username_is_409_case_insensitively(scim):
    create(scim)
    response = scim.post("Users", okta_user("ALICE@example.COM", externalId="other"))
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    assert ExternalIdentity.objects.count() == 1 and User.objects.count() == 1


def test_missing_username_is_400(scim):
    body = okta_user()
    del body["userName"]
    response = scim.post("Users", body)
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert "userName" in response.json()["detail"]
    assert User.objects.count() == 0


@pytest.mark.parametrize(
    "change",
    [
        {"active": "maybe"},
        {"name": "Alice"},
        {"emails": "alice@example.com"},
        {
            "emails": [
                {"value": "a@example.com", "primary": True},
                {"value": "b@example.com", "primary": True},
            ]
        },
        {"userName": ["a", "b"]},
        {"schemas": "nope"},
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"]},
    ],
)
def test_bad_values_are_400_and_write_nothing(scim, change):
    response = scim.post("Users", okta_user(**change))
    assert response.status_code == 400
    assert response.json()["scimType"] in ("invalidValue", "invalidSyntax")
    assert User.objects.count() == 0 and ExternalIdentity.objects.count() == 0


def test_too_long_for_the_user_model_is_400_not_truncated(scim):
    field = User._meta.get_field(User.USERNAME_FIELD)
    too_long = "a" * (field.max_length + 1)
    response = scim.post("Users", okta_user(too_long, emails=[]))
    assert response.status_code == 400, response.content
    assert response.json()["scimType"] == "invalidValue"
    assert str(field.max_length) in response.json()["detail"]
    assert User.objects.count() == 0 and ExternalIdentity.objects.count() == 0


def test_mapped_field_values_are_never_truncated(scim):
    """A value longer than its mapped model field is a 400, not a silently cut value."""
    field_name = "first_name" if hasattr(User, "first_name") else "full_name"  # custom model
    limit = User._meta.get_field(field_name).max_length
    mapping = {"userName": User.USERNAME_FIELD, "nickName": field_name}
    with override_settings(DJANGO_PROVISIONING={"USER_ATTRIBUTE_MAP": mapping}):
        response = scim.post("Users", okta_user(nickName="n" * (limit + 1)))
    assert response.status_code == 400, response.content
    assert response.json()["scimType"] == "invalidValue"
    assert field_name in response.json()["detail"]
    assert User.objects.count() == 0 and ExternalIdentity.objects.count() == 0


def test_entra_boolean_strings_accepted(scim):
    response = scim.post("Users", okta_user(active="False"))
    assert response.status_code == 201
    assert response.json()["active"] is False
    assert User.objects.get().is_active is False


# -------------------------------------------------------------------- read


def test_get_by_id_and_unknown_ids(scim):
    created = create(scim)
    assert scim.get(f"Users/{created['id']}").json()["userName"] == "alice@example.com"
    for bad in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", "1"):
        response = scim.get(f"Users/{bad}")
        assert response.status_code == 404
        assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_db_pk_is_not_an_id(scim):
    create(scim)
    assert scim.get(f"Users/{User.objects.get().pk}").status_code == 404


def test_list_pagination_is_stable_and_count_zero(scim):
    for n in range(5):
        create(scim, user_name=f"user{n}@example.com", externalId=f"e{n}")
    page = scim.get("Users", {"startIndex": 2, "count": 2}).json()
    assert page["totalResults"] == 5 and page["startIndex"] == 2 and page["itemsPerPage"] == 2
    assert [r["userName"] for r in page["Resources"]] == ["user1@example.com", "user2@example.com"]
    only_total = scim.get("Users", {"count": 0}).json()
    assert only_total["totalResults"] == 5 and only_total["Resources"] == []
    past_end = scim.get("Users", {"startIndex": 99}).json()
    assert past_end["totalResults"] == 5 and past_end["Resources"] == []
    clamped = scim.get("Users", {"startIndex": -3, "count": -1}).json()
    assert clamped["startIndex"] == 1 and clamped["Resources"] == []
    assert scim.get("Users", {"count": "ten"}).status_code == 400


def test_okta_lookup_before_create(scim):
    """Okta: GET /Users?filter=userName eq "x"&startIndex=1&count=100 before POST."""
    empty = scim.get(
        "Users", {"filter": 'userName eq "alice@example.com"', "startIndex": 1, "count": 100}
    ).json()
    assert empty["totalResults"] == 0 and empty["Resources"] == []
    create(scim)
    found = scim.get(
        "Users", {"filter": 'userName eq "ALICE@example.com"', "startIndex": 1, "count": 100}
    ).json()
    assert found["totalResults"] == 1


def test_entra_lookup_by_external_id(scim):
    create(scim)
    hit = scim.get("Users", {"filter": 'externalId eq "00u1abcd"'}).json()
    miss = scim.get("Users", {"filter": 'externalId eq "00U1ABCD"'}).json()
    assert hit["totalResults"] == 1 and miss["totalResults"] == 0


def test_filter_errors_are_invalid_filter(scim):
    for text in ("userName eq", 'password eq "x"', 'nosuch eq "x"', '(userName eq "x"'):
        response = scim.get("Users", {"filter": text})
        assert response.status_code == 400, text
        assert response.json()["scimType"] == "invalidFilter"


def test_sorting(scim):
    for name in ("carol", "alice", "bob"):
        create(scim, user_name=f"{name}@example.com", externalId=name)
    asc = scim.get("Users", {"sortBy": "userName"}).json()["Resources"]
    desc = scim.get("Users", {"sortBy": "userName", "sortOrder": "descending"}).json()
    assert [r["userName"][0] for r in asc] == ["a", "b", "c"]
    assert [r["userName"][0] for r in desc["Resources"]] == ["c", "b", "a"]
    assert scim.get("Users", {"sortOrder": "sideways"}).status_code == 400


def test_attributes_and_excluded_attributes(scim):
    created = create(scim)
    only = scim.get(f"Users/{created['id']}", {"attributes": "userName"}).json()
    assert set(only) == {"schemas", "id", "userName"}
    without = scim.get("Users", {"excludedAttributes": "emails,name"}).json()["Resources"][0]
    assert "emails" not in without and "name" not in without and without["id"] == created["id"]


def test_search_endpoints(scim):
    create(scim)
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'userName sw "ali"',
        "attributes": ["userName"],
        "count": 10,
    }
    for path in ("Users/.search", ".search"):
        response = scim.post(path, body)
        assert response.status_code == 200, response.content
        result = response.json()
        assert result["totalResults"] == 1
        assert set(result["Resources"][0]) == {"schemas", "id", "userName"}
    assert scim.post("Users/.search", {"schemas": ["nope"]}).status_code == 400
    assert scim.post("Users/.search", ["x"]).status_code == 400


# -------------------------------------------------------------------- replace


def test_put_replaces_and_clears(scim):
    created = create(scim, title="Boss")
    body = okta_user(name={"givenName": "Alicia"}, password=None)
    del body["displayName"]
    response = scim.put(f"Users/{created['id']}", {**body, "id": created["id"]})
    assert response.status_code == 200, response.content
    read = response.json()
    assert read["name"] == {"givenName": "Alicia"}
    assert "title" not in read and "displayName" not in read
    assert read["meta"]["version"] == 'W/"2"'
    user = User.objects.get()
    assert getattr(user, "first_name", "Alicia") == "Alicia"
    assert user.check_password("s3cret-Passw0rd")  # no password sent: unchanged


def test_put_renames_but_not_onto_another_user(scim):
    a = create(scim)
    create(scim, user_name="bob@example.com", externalId="b")
    clash = scim.put(f"Users/{a['id']}", okta_user("BOB@example.com"))
    assert clash.status_code == 409 and clash.json()["scimType"] == "uniqueness"
    renamed = scim.put(f"Users/{a['id']}", okta_user("alice.l@example.com"))
    assert renamed.status_code == 200
    assert ExternalIdentity.objects.get(scim_id=a["id"]).user_name == "alice.l@example.com"


def test_put_sets_password(scim):
    created = create(scim)
    scim.put(f"Users/{created['id']}", okta_user(password="N3w-password!"))
    assert User.objects.get().check_password("N3w-password!")
    events = AuditEvent.objects.filter(action="update")
    assert "N3w-password!" not in str(list(events.values()))


# -------------------------------------------------------------------- patch


def test_patch_okta_deactivate_ends_sessions(scim, connection):
    created = create(scim)
    user = User.objects.get()
    browser = Client()
    browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    assert browser.get("/home/").content == b"home: alice@example.com"
    response = scim.patch(
        f"Users/{created['id']}", patch_body({"op": "replace", "value": {"active": False}})
    )
    assert response.status_code == 200
    assert response.json()["active"] is False
    user.refresh_from_db()
    assert user.is_active is False
    assert browser.get("/home/").content == b"home: anonymous"
    event = AuditEvent.objects.get(action="deactivate")
    assert event.detail["sessions_ended"] == 1


def test_patch_entra_dialect(scim):
    created = create(scim)
    body = patch_body(
        {"op": "Replace", "path": "name.givenName", "value": "Ally"},
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "ally@example.com"},
        {"op": "Replace", "value": {"name.familyName": "L.", f"{ENT}:department": "Tea"}},
        {"op": "Replace", "path": "active", "value": "True"},
    )
    response = scim.patch(f"Users/{created['id']}", body)
    assert response.status_code == 200, response.content
    read = response.json()
    assert read["name"] == {"givenName": "Ally", "familyName": "L."}
    assert read[ENT] == {"department": "Tea"}
    assert [e["value"] for e in read["emails"]] == ["ally@example.com"]
    user = User.objects.get()
    assert getattr(user, "last_name", "L.") == "L."


def test_patch_password_and_readonly(scim):
    created = create(scim)
    response = scim.patch(
        f"Users/{created['id']}",
        patch_body(
            {"op": "replace", "path": "password", "value": "Changed-pass-1"},
            {"op": "replace", "path": "id", "value": "hijack"},
        ),
    )
    assert response.status_code == 200
    assert response.json()["id"] == created["id"]
    assert User.objects.get().check_password("Changed-pass-1")


@pytest.mark.parametrize(
    "body",
    [
        {"Operations": [{"op": "replace", "path": "userName"}]},
        patch_body({"op": "explode", "path": "title", "value": "x"}),
        patch_body({"op": "remove", "path": "userName"}),
        patch_body({"op": "replace", "path": "emails[type eq", "value": "x"}),
        patch_body(),
        ["not", "an", "object"],
    ],
)
def test_bad_patch_is_400_and_changes_nothing(scim, body):
    created = create(scim)
    response = scim.patch(f"Users/{created['id']}", body)
    assert response.status_code == 400, response.content
    assert response.json()["scimType"] in {
        "invalidSyntax",
        "invalidValue",
        "invalidPath",
        "noTarget",
        "mutability",
    }
    identity = ExternalIdentity.objects.get()
    assert identity.version == 1 and identity.user_name == "alice@example.com"


# -------------------------------------------------------------------- versions


def test_etags(scim):
    created = create(scim)
    url = f"Users/{created['id']}"
    assert scim.get(url, HTTP_IF_NONE_MATCH='W/"1"').status_code == 304
    assert scim.get(url, HTTP_IF_NONE_MATCH='W/"7"').status_code == 200
    stale = scim.put(url, okta_user(title="x"), HTTP_IF_MATCH='W/"7"')
    assert stale.status_code == 412
    assert stale.json()["status"] == "412"
    assert ExternalIdentity.objects.get().version == 1
    fresh = scim.put(url, okta_user(title="x"), HTTP_IF_MATCH='W/"1"')
    assert fresh.status_code == 200 and fresh["ETag"] == 'W/"2"'
    assert (
        scim.patch(
            url, patch_body({"op": "add", "path": "title", "value": "y"}), HTTP_IF_MATCH='"1"'
        ).status_code
        == 412
    )
    assert scim.delete(url, HTTP_IF_MATCH='W/"1"').status_code == 412


# -------------------------------------------------------------------- delete


def test_delete_deactivates_by_default_then_404(scim):
    created = create(scim)
    assert scim.delete(f"Users/{created['id']}").status_code == 204
    assert scim.get(f"Users/{created['id']}").status_code == 404
    assert scim.delete(f"Users/{created['id']}").status_code == 404
    assert scim.get("Users").json()["totalResults"] == 0
    user = User.objects.get()
    assert user.is_active is False


def test_recreate_after_delete_reaches_the_same_account(scim):
    created = create(scim)
    scim.delete(f"Users/{created['id']}")
    again = create(scim)
    assert again["id"] != created["id"]
    assert User.objects.count() == 1 and User.objects.get().is_active


def test_delete_policy_deletes_user(scim, connection):
    connection.deprovision_policy = "delete"
    connection.save()
    created = create(scim)
    assert scim.delete(f"Users/{created['id']}").status_code == 204
    assert User.objects.count() == 0 and ExternalIdentity.objects.count() == 0
    assert AuditEvent.objects.filter(action="delete").count() == 1


def test_patch_multi_valued_end_to_end(scim):
    """remove with and without a filter, add on an empty filter: response, row and index."""
    created = create(
        scim,
        emails=[
            {"value": "alice@example.com", "type": "work", "primary": True},
            {"value": "alice@home.test", "type": "home"},
        ],
        phoneNumbers=[{"value": "+1 555 0100", "type": "work"}],
    )
    url = f"Users/{created['id']}"

    def found(text: str) -> int:
        return scim.get("Users", {"filter": text}).json()["totalResults"]

    assert found('emails[type eq "home"].value eq "alice@home.test"') == 1
    response = scim.patch(url, patch_body({"op": "remove", "path": 'emails[type eq "home"]'}))
    assert response.status_code == 200
    assert [e["type"] for e in response.json()["emails"]] == ["work"]
    assert found('emails[type eq "home"].value eq "alice@home.test"') == 0
    assert ExternalIdentity.objects.get().document["emails"][0]["type"] == "work"

    response = scim.patch(url, patch_body({"op": "remove", "path": "phoneNumbers"}))
    assert "phoneNumbers" not in response.json()
    assert found("phoneNumbers pr") == 0

    response = scim.patch(
        url,
        patch_body(
            {"op": "add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0199"}
        ),
    )
    assert response.json()["phoneNumbers"] == [{"type": "mobile", "value": "+1 555 0199"}]
    assert found('phoneNumbers[type eq "mobile"].value eq "+1 555 0199"') == 1


def test_put_without_active_means_active(scim):
    """RFC 7643 §4.1.1 leaves `active` to the service provider: absent means active."""
    created = create(scim, active=False)
    assert User.objects.get().is_active is False
    body = okta_user(password=None)
    del body["active"]
    response = scim.put(f"Users/{created['id']}", body)
    assert response.json()["active"] is True
    assert User.objects.get().is_active is True
