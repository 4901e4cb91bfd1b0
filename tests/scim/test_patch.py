"""SCIM PATCH (RFC 7644 §3.5.2) on canonical documents: pure, no database.

Request bodies marked "Entra" and "Okta" follow the shapes those clients document
(Microsoft "Known issues and resolutions with SCIM 2.0 protocol compliance" / "Tutorial:
develop a sample SCIM endpoint"; Okta "SCIM 2.0 reference").
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from django_provisioning.schema.definitions import (
    ENTERPRISE_USER_SCHEMA,
    GROUP,
    USER_RESOURCE,
    Attribute,
    ResourceType,
    Schema,
)
from django_provisioning.scim import errors
from django_provisioning.scim.messages import PATCH_OP_SCHEMA
from django_provisioning.scim.patch import MAX_OPERATIONS, apply_patch

ENT = ENTERPRISE_USER_SCHEMA
GROUP_RESOURCE = ResourceType(name="Group", endpoint="/Groups", schema=GROUP)
TENANT_SCHEMA = Schema(
    id="urn:example:params:scim:schemas:core:2.0:Device",
    name="Device",
    description="A test resource with an immutable attribute.",
    attributes=(
        Attribute("serial", required=True),
        Attribute("tenantCode", mutability="immutable"),
        Attribute("label"),
    ),
)
DEVICE_RESOURCE = ResourceType(name="Device", endpoint="/Devices", schema=TENANT_SCHEMA)


def body(*operations: Any) -> dict[str, Any]:
    return {"schemas": [PATCH_OP_SCHEMA], "Operations": list(operations)}


def user(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs Jensen",
        "active": True,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@home.example", "type": "home"},
        ],
    }
    doc.update(extra)
    return doc


def group(*member_ids: str) -> dict[str, Any]:
    return {"displayName": "Engineering", "members": [{"value": m} for m in member_ids]}


def patch(doc: dict[str, Any], *operations: Any, resource: ResourceType = USER_RESOURCE) -> Any:
    new, _password = apply_patch(doc, body(*operations), resource)
    return new


def raises(
    kind: type[errors.ScimError],
    scim_type: str | None,
    doc: dict[str, Any],
    payload: Any,
    resource: ResourceType = USER_RESOURCE,
) -> errors.ScimError:
    with pytest.raises(errors.ScimError) as info:
        apply_patch(doc, payload, resource)
    assert type(info.value) is kind, info.value
    assert info.value.scim_type == scim_type
    return info.value


# -- the PatchOp message ----------------------------------------------------------------------


@pytest.mark.parametrize("payload", [None, [], "add", 3, [{"op": "add"}]])
def test_body_must_be_an_object(payload: Any) -> None:
    raises(errors.InvalidSyntax, "invalidSyntax", user(), payload)


@pytest.mark.parametrize(
    "schemas", [["urn:ietf:params:scim:schemas:core:2.0:User"], PATCH_OP_SCHEMA, [], None]
)
def test_schemas_when_present_must_name_patchop(schemas: Any) -> None:
    payload = {"schemas": schemas, "Operations": [{"op": "replace", "path": "title", "value": "x"}]}
    raises(errors.InvalidSyntax, "invalidSyntax", user(), payload)


def test_schemas_may_be_omitted_and_is_case_insensitive() -> None:
    op = {"op": "replace", "path": "title", "value": "CEO"}
    assert apply_patch(user(), {"Operations": [op]}, USER_RESOURCE)[0]["title"] == "CEO"
    payload = {"schemas": [PATCH_OP_SCHEMA.upper()], "operations": [op]}
    assert apply_patch(user(), payload, USER_RESOURCE)[0]["title"] == "CEO"


@pytest.mark.parametrize("operations", [None, [], {}, {"op": "add"}, "add", 1])
def test_operations_must_be_a_non_empty_list(operations: Any) -> None:
    payload = {"schemas": [PATCH_OP_SCHEMA], "Operations": operations}
    raises(errors.InvalidSyntax, "invalidSyntax", user(), payload)


def test_operations_missing() -> None:
    raises(errors.InvalidSyntax, "invalidSyntax", user(), {"schemas": [PATCH_OP_SCHEMA]})


def test_too_many_operations_is_413() -> None:
    ops = [{"op": "replace", "path": "title", "value": "0"}] * (MAX_OPERATIONS + 1)
    error = raises(errors.PayloadTooLarge, None, user(), body(*ops))
    assert error.status == 413
    assert patch(user(), *ops[:MAX_OPERATIONS])["title"] == "0"


@pytest.mark.parametrize("op", ["move", "copy", "", None, 1, ["add"], {"op": "add"}])
def test_unknown_op(op: Any) -> None:
    raises(errors.InvalidSyntax, "invalidSyntax", user(), body({"op": op, "value": {}}))


@pytest.mark.parametrize("operation", ["add", None, 1, ["op"]])
def test_operation_must_be_an_object(operation: Any) -> None:
    raises(errors.InvalidSyntax, "invalidSyntax", user(), body(operation))


@pytest.mark.parametrize("op", ["add", "Add", "ADD", "replace", "Replace", " replace "])
def test_ops_are_case_insensitive(op: str) -> None:
    assert patch(user(), {"op": op, "path": "nickName", "value": "Babs"})["nickName"] == "Babs"


def test_remove_is_case_insensitive() -> None:
    assert "nickName" not in patch(user(nickName="B"), {"op": "Remove", "path": "nickName"})


def test_member_names_are_case_insensitive() -> None:
    assert patch(user(), {"OP": "Replace", "Path": "title", "VALUE": "x"})["title"] == "x"


@pytest.mark.parametrize("op", ["add", "replace"])
def test_value_missing(op: str) -> None:
    raises(errors.InvalidValue, "invalidValue", user(), body({"op": op, "path": "title"}))
    raises(errors.InvalidValue, "invalidValue", user(), body({"op": op}))


@pytest.mark.parametrize("value", [None, [], ["x"], "x", 1, True])
def test_no_path_value_must_be_an_object(value: Any) -> None:
    raises(errors.InvalidValue, "invalidValue", user(), body({"op": "replace", "value": value}))


@pytest.mark.parametrize("path", [None, "", "  "])
def test_remove_without_path_is_no_target(path: Any) -> None:
    operation = {"op": "remove", "value": {"title": "x"}}
    if path is not None:
        operation["path"] = path
    raises(errors.NoTarget, "noTarget", user(), body(operation))


@pytest.mark.parametrize(
    "path",
    [
        1,
        ["title"],
        {"a": 1},
        True,
        'emails[type eq "work"',
        "emails[type eq]",
        "emails]",
        "name..givenName",
        "name.givenName.x",
        "nonexistent",
        "name.nope",
        "userName.value",
        'name[givenName eq "x"]',
        'emails[nope eq "x"]',
        'emails[type eq "work"].nope',
        'emails[type eq "work"][value eq "x"]',
        f"{ENT}:nope",
        f"{ENT}:manager.nope",
        "urn:ietf:params:scim:schemas:core:2.0:User:nope",
    ],
)
def test_bad_paths_are_invalid_path(path: Any) -> None:
    operation = {"op": "replace", "path": path, "value": "x"}
    raises(errors.InvalidPath, "invalidPath", user(), body(operation))


# -- paths ----------------------------------------------------------------------------------


def test_replace_simple_attribute() -> None:
    assert (
        patch(user(), {"op": "replace", "path": "displayName", "value": "B"})["displayName"] == "B"
    )


def test_replace_sub_attribute_keeps_siblings() -> None:
    new = patch(user(), {"op": "replace", "path": "name.givenName", "value": "Babs"})
    assert new["name"] == {"givenName": "Babs", "familyName": "Jensen"}


def test_attribute_names_are_case_insensitive_and_canonicalised() -> None:
    new = patch(user(), {"op": "replace", "path": "NAME.GIVENNAME", "value": "Babs"})
    assert new["name"] == {"givenName": "Babs", "familyName": "Jensen"}
    new = patch(user(), {"op": "add", "path": "DISPLAYname", "value": "X"})
    assert new["displayName"] == "X" and "DISPLAYname" not in new
    new = patch(user(), {"op": "add", "path": f"{ENT.upper()}:DEPARTMENT", "value": "IT"})
    assert new[ENT] == {"department": "IT"}


def test_core_urn_qualified_path() -> None:
    path = "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName"
    assert patch(user(), {"op": "replace", "path": path, "value": "J"})["name"]["familyName"] == "J"


def test_replace_sub_attribute_of_absent_complex_creates_it() -> None:
    doc = user()
    del doc["name"]
    assert patch(doc, {"op": "replace", "path": "name.givenName", "value": "B"})["name"] == {
        "givenName": "B"
    }


def test_replace_multi_valued_without_filter_replaces_the_list() -> None:
    value = [{"value": "new@example.com", "type": "work"}]
    assert patch(user(), {"op": "replace", "path": "emails", "value": value})["emails"] == value


def test_replace_filtered_element_replaces_the_whole_element() -> None:
    new = patch(
        user(),
        {"op": "replace", "path": 'emails[type eq "home"]', "value": {"value": "x@home.example"}},
    )
    assert new["emails"][1] == {"value": "x@home.example"}
    assert new["emails"][0]["value"] == "bjensen@example.com"


def test_replace_filtered_sub_attribute() -> None:
    new = patch(
        user(), {"op": "replace", "path": 'emails[type eq "work"].value', "value": "n@example.com"}
    )
    assert new["emails"][0] == {"value": "n@example.com", "type": "work", "primary": True}
    assert new["emails"][1]["value"] == "babs@home.example"


def test_filter_compares_by_the_sub_attribute_case_rules() -> None:
    # "type" is caseExact false: "WORK" matches "work".
    new = patch(user(), {"op": "replace", "path": 'emails[type eq "WORK"].display', "value": "W"})
    assert new["emails"][0]["display"] == "W"
    new = patch(
        user(), {"op": "replace", "path": 'emails[value ew "HOME.EXAMPLE"].display', "value": "H"}
    )
    assert new["emails"][1]["display"] == "H"


def test_filter_with_and_or_not_and_boolean() -> None:
    path = 'emails[type eq "work" and primary eq true].display'
    assert patch(user(), {"op": "add", "path": path, "value": "A"})["emails"][0]["display"] == "A"
    path = 'emails[not (type eq "work") or value sw "nobody"].display'
    new = patch(user(), {"op": "add", "path": path, "value": "B"})
    assert [e.get("display") for e in new["emails"]] == [None, "B"]
    path = "emails[primary pr].display"
    assert patch(user(), {"op": "add", "path": path, "value": "C"})["emails"][0]["display"] == "C"


def test_replace_filtered_sub_attribute_with_no_match_creates_the_element() -> None:
    # Entra: replace emails[type eq "work"].value when the user has no work e-mail.
    doc = user(emails=[{"value": "babs@home.example", "type": "home"}])
    new = patch(doc, {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "w@x.io"})
    assert new["emails"] == [
        {"value": "babs@home.example", "type": "home"},
        {"type": "work", "value": "w@x.io"},
    ]


def test_add_filtered_sub_attribute_with_no_match_creates_the_element() -> None:
    doc = user()
    del doc["emails"]
    new = patch(doc, {"op": "add", "path": 'emails[type eq "work"].value', "value": "x"})
    assert new["emails"] == [{"type": "work", "value": "x"}]


def test_add_with_compound_eq_filter_seeds_every_clause() -> None:
    path = 'phoneNumbers[type eq "mobile" and primary eq true].value'
    new = patch(user(), {"op": "add", "path": path, "value": "+1 555"})
    assert new["phoneNumbers"] == [{"type": "mobile", "primary": True, "value": "+1 555"}]


def test_add_filtered_element_with_no_match_creates_it() -> None:
    new = patch(user(), {"op": "add", "path": 'ims[type eq "xmpp"]', "value": {"value": "b@j"}})
    assert new["ims"] == [{"type": "xmpp", "value": "b@j"}]


def test_add_filtered_element_merges_into_matches() -> None:
    new = patch(user(), {"op": "add", "path": 'emails[type eq "home"]', "value": {"display": "H"}})
    assert new["emails"][1] == {"value": "babs@home.example", "type": "home", "display": "H"}


def test_replace_filtered_element_with_no_match_is_no_target() -> None:
    operation = {"op": "replace", "path": 'emails[type eq "other"]', "value": {"value": "x"}}
    raises(errors.NoTarget, "noTarget", user(), body(operation))


@pytest.mark.parametrize(
    "path",
    [
        'emails[type ne "work" and type ne "home"].value',
        'emails[type eq "a" or type eq "b"].value',
        'emails[value co "zzz"].value',
        "emails[display pr].value",
        'emails[type eq "a" and type eq "b"].value',
    ],
)
@pytest.mark.parametrize("op", ["add", "replace"])
def test_unseedable_filter_without_match_is_no_target(path: str, op: str) -> None:
    raises(errors.NoTarget, "noTarget", user(), body({"op": op, "path": path, "value": "x"}))


def test_addresses_filtered_sub_attribute() -> None:
    path = 'addresses[type eq "work"].streetAddress'
    new = patch(user(), {"op": "replace", "path": path, "value": "1 Main St"})
    assert new["addresses"] == [{"type": "work", "streetAddress": "1 Main St"}]
    new = patch(new, {"op": "replace", "path": path, "value": "2 Main St"})
    assert new["addresses"] == [{"type": "work", "streetAddress": "2 Main St"}]
    new = patch(new, {"op": "add", "path": 'addresses[type eq "work"].locality', "value": "Oslo"})
    assert new["addresses"] == [{"type": "work", "streetAddress": "2 Main St", "locality": "Oslo"}]


def test_sub_attribute_of_multi_valued_without_filter_applies_to_every_element() -> None:
    new = patch(user(), {"op": "replace", "path": "emails.display", "value": "D"})
    assert [e["display"] for e in new["emails"]] == ["D", "D"]
    new = patch(new, {"op": "remove", "path": "emails.display"})
    assert all("display" not in e for e in new["emails"])


def test_extension_attribute_path() -> None:
    new = patch(user(), {"op": "replace", "path": f"{ENT}:department", "value": "Sales"})
    assert new[ENT] == {"department": "Sales"}
    new = patch(new, {"op": "add", "path": f"{ENT}:costCenter", "value": "4130"})
    assert new[ENT] == {"department": "Sales", "costCenter": "4130"}


def test_extension_sub_attribute_path() -> None:
    new = patch(user(), {"op": "add", "path": f"{ENT}:manager.value", "value": "m-1"})
    assert new[ENT] == {"manager": {"value": "m-1"}}


@pytest.mark.parametrize(
    "value",
    [
        "2819c223-7f76-453a-919d-413861904646",
        {"value": "2819c223-7f76-453a-919d-413861904646"},
        [{"$ref": None, "value": "2819c223-7f76-453a-919d-413861904646"}],
    ],
)
def test_entra_manager_shapes(value: Any) -> None:
    new = patch(user(), {"op": "Add", "path": f"{ENT}:manager", "value": value})
    assert new[ENT] == {"manager": {"value": "2819c223-7f76-453a-919d-413861904646"}}


def test_unqualified_extension_attribute_resolves_to_its_extension() -> None:
    new = patch(user(), {"op": "Add", "path": "manager", "value": [{"value": "m-2"}]})
    assert new[ENT] == {"manager": {"value": "m-2"}}


def test_replace_manager_keeps_unspecified_sub_attributes() -> None:
    doc = user(**{ENT: {"manager": {"value": "m-1", "$ref": "../Users/m-1"}}})
    new = patch(doc, {"op": "replace", "path": f"{ENT}:manager", "value": {"value": "m-2"}})
    assert new[ENT]["manager"] == {"value": "m-2", "$ref": "../Users/m-1"}


def test_whole_extension_path() -> None:
    doc = user(**{ENT: {"department": "IT", "division": "R&D"}})
    new = patch(doc, {"op": "replace", "path": ENT, "value": {"department": "Sales"}})
    assert new[ENT] == {"department": "Sales", "division": "R&D"}
    assert ENT not in patch(doc, {"op": "remove", "path": ENT})
    with pytest.raises(errors.InvalidValue):
        patch(doc, {"op": "replace", "path": ENT, "value": "Sales"})


def test_unknown_extension_is_ignored() -> None:
    doc = user()
    path = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:worksiteId"
    assert patch(doc, {"op": "add", "path": path, "value": "180"}) == doc
    assert patch(doc, {"op": "remove", "path": path}) == doc


# -- no path --------------------------------------------------------------------------------


def test_no_path_plain_keys() -> None:
    # Okta deactivation.
    new = patch(user(), {"op": "replace", "value": {"active": False}})
    assert new["active"] is False


def test_no_path_dotted_and_urn_keys_entra_aadoptscim062020() -> None:
    operation = {
        "op": "replace",
        "value": {
            "displayName": "Pvlo",
            'emails[type eq "work"].value': "TestBcwqnm@test.microsoft.com",
            "name.givenName": "Gtfd",
            "name.familyName": "Pkqf",
            "externalId": "Eqpj",
            f"{ENT}:employeeNumber": "Eqpj",
        },
    }
    new = patch(user(), operation)
    assert new["displayName"] == "Pvlo"
    assert new["name"] == {"givenName": "Gtfd", "familyName": "Pkqf"}
    assert new["emails"][0] == {
        "value": "TestBcwqnm@test.microsoft.com",
        "type": "work",
        "primary": True,
    }
    assert new["externalId"] == "Eqpj"
    assert new[ENT] == {"employeeNumber": "Eqpj"}


def test_no_path_extension_key_with_object() -> None:
    new = patch(user(), {"op": "add", "value": {ENT: {"department": "X", "manager": "m-3"}}})
    assert new[ENT] == {"department": "X", "manager": {"value": "m-3"}}


def test_no_path_extension_key_with_non_object_is_invalid_value() -> None:
    operation = {"op": "add", "value": {ENT: ["department"]}}
    raises(errors.InvalidValue, "invalidValue", user(), body(operation))


def test_no_path_complex_value_merges_sub_attributes() -> None:
    # RFC 7644 §3.5.2.3: sub-attributes not given are left unchanged.
    new = patch(user(), {"op": "replace", "value": {"name": {"givenName": "Babs"}}})
    assert new["name"] == {"givenName": "Babs", "familyName": "Jensen"}


def test_no_path_okta_group_rename_ignores_id() -> None:
    doc = group("u1")
    operation = {
        "op": "replace",
        "value": {"id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b", "displayName": "Test SCIMv2"},
    }
    new = patch(doc, operation, resource=GROUP_RESOURCE)
    assert new == {"displayName": "Test SCIMv2", "members": [{"value": "u1"}]}


def test_no_path_ignores_unknown_and_read_only_keys() -> None:
    operation = {
        "op": "replace",
        "value": {
            "schemas": ["x"],
            "id": "1",
            "meta": {"version": "W/1"},
            "groups": [{"value": "g"}],
            "favouriteColour": "blue",
            "urn:example:vendor:2.0:User:badge": "7",
            "nickName": "Babs",
        },
    }
    assert patch(user(), operation) == {**user(), "nickName": "Babs"}


# -- add semantics --------------------------------------------------------------------------


def test_add_singular_sets_the_value() -> None:
    assert patch(user(), {"op": "add", "path": "title", "value": "CTO"})["title"] == "CTO"
    assert (
        patch(user(title="CEO"), {"op": "add", "path": "title", "value": "CTO"})["title"] == "CTO"
    )


def test_add_complex_singular_merges() -> None:
    new = patch(user(), {"op": "add", "path": "name", "value": {"middleName": "Jane"}})
    assert new["name"] == {"givenName": "Barbara", "familyName": "Jensen", "middleName": "Jane"}


def test_add_multi_valued_appends_and_dedupes() -> None:
    value = [
        {"value": "babs@home.example", "type": "home"},
        {"value": "b@other.example", "type": "other"},
        {"value": "b@other.example", "type": "other"},
    ]
    new = patch(user(), {"op": "add", "path": "emails", "value": value})
    assert [e["value"] for e in new["emails"]] == [
        "bjensen@example.com",
        "babs@home.example",
        "b@other.example",
    ]


def test_add_multi_valued_accepts_a_single_object() -> None:
    new = patch(user(), {"op": "add", "path": "emails", "value": {"value": "x@y.z"}})
    assert new["emails"][-1] == {"value": "x@y.z"}


def test_add_null_is_a_no_op_and_replace_null_unassigns() -> None:
    assert patch(user(title="CEO"), {"op": "add", "path": "title", "value": None})["title"] == "CEO"
    assert "title" not in patch(
        user(title="CEO"), {"op": "replace", "path": "title", "value": None}
    )


# -- remove ---------------------------------------------------------------------------------


def test_remove_attribute_and_sub_attribute() -> None:
    assert "displayName" not in patch(user(), {"op": "remove", "path": "displayName"})
    new = patch(user(), {"op": "remove", "path": "name.givenName"})
    assert new["name"] == {"familyName": "Jensen"}
    new = patch(new, {"op": "remove", "path": "name.familyName"})
    assert "name" not in new


def test_remove_multi_valued_attribute() -> None:
    assert "emails" not in patch(user(), {"op": "remove", "path": "emails"})


def test_remove_filtered_elements() -> None:
    new = patch(user(), {"op": "remove", "path": 'emails[type eq "work"]'})
    assert new["emails"] == [{"value": "babs@home.example", "type": "home"}]
    new = patch(new, {"op": "remove", "path": 'emails[type eq "home"]'})
    assert "emails" not in new


def test_remove_filtered_sub_attribute() -> None:
    new = patch(user(), {"op": "remove", "path": 'emails[type eq "work"].primary'})
    assert new["emails"][0] == {"value": "bjensen@example.com", "type": "work"}


def test_remove_is_idempotent() -> None:
    doc = user()
    assert patch(doc, {"op": "remove", "path": 'emails[type eq "other"]'}) == doc
    assert patch(doc, {"op": "remove", "path": "nickName"}) == doc
    assert patch(doc, {"op": "remove", "path": "name.middleName"}) == doc
    assert patch(doc, {"op": "remove", "path": f"{ENT}:department"}) == doc


def test_remove_last_extension_attribute_drops_the_extension() -> None:
    new = patch(user(**{ENT: {"department": "IT"}}), {"op": "remove", "path": f"{ENT}:department"})
    assert ENT not in new
    doc = user(**{ENT: {"manager": {"value": "m"}}})
    assert ENT not in patch(doc, {"op": "remove", "path": f"{ENT}:manager.value"})


def test_entra_remove_manager_with_value() -> None:
    doc = user(**{ENT: {"manager": {"value": "m-1"}, "department": "IT"}})
    operation = {"op": "Remove", "path": f"{ENT}:manager", "value": [{"value": "m-1"}]}
    assert patch(doc, operation)[ENT] == {"department": "IT"}


def test_remove_group_member_by_filter_okta() -> None:
    path = 'members[value eq "89bb1940-b905-4575-9e7f-6f887cfb368e"]'
    doc = group("89bb1940-b905-4575-9e7f-6f887cfb368e", "u2")
    new = patch(doc, {"op": "remove", "path": path}, resource=GROUP_RESOURCE)
    assert new["members"] == [{"value": "u2"}]


def test_remove_group_members_by_value_list_entra() -> None:
    doc = group("id1", "id2", "id3")
    operation = {"op": "Remove", "path": "members", "value": [{"value": "id1"}, {"value": "id3"}]}
    assert patch(doc, operation, resource=GROUP_RESOURCE)["members"] == [{"value": "id2"}]
    operation = {"op": "Remove", "path": "members", "value": [{"value": "gone"}]}
    assert patch(doc, operation, resource=GROUP_RESOURCE) == doc
    operation = {"op": "Remove", "path": "members", "value": []}
    assert patch(doc, operation, resource=GROUP_RESOURCE) == doc
    operation = {"op": "Remove", "path": "members", "value": [{"value": "id1"}, {"value": "id2"}]}
    new = patch(group("id1", "id2"), operation, resource=GROUP_RESOURCE)
    assert new == {"displayName": "Engineering"}


def test_remove_all_group_members() -> None:
    new = patch(group("a", "b"), {"op": "remove", "path": "members"}, resource=GROUP_RESOURCE)
    assert new == {"displayName": "Engineering"}


def test_add_group_members_okta_and_entra() -> None:
    doc = group("a")
    okta = {
        "op": "add",
        "path": "members",
        "value": [{"value": "b", "display": "test.user@okta.local"}, {"value": "a"}],
    }
    new = patch(doc, okta, resource=GROUP_RESOURCE)
    assert new["members"] == [{"value": "a"}, {"value": "b"}]
    entra = {"op": "Add", "path": "members", "value": [{"value": "c"}]}
    assert patch(new, entra, resource=GROUP_RESOURCE)["members"][-1] == {"value": "c"}


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "remove", "path": "userName"},
        {"op": "replace", "path": "userName", "value": None},
        {"op": "replace", "value": {"userName": None}},
    ],
)
def test_removing_a_required_attribute_is_mutability(operation: dict[str, Any]) -> None:
    # RFC 7644 §3.5.2.2: a required attribute removed or left unassigned -> "mutability".
    raises(errors.Mutability, "mutability", user(), body(operation))


def test_removing_required_group_display_name() -> None:
    operation = {"op": "remove", "path": "displayName"}
    raises(errors.Mutability, "mutability", group("a"), body(operation), GROUP_RESOURCE)


# -- primary --------------------------------------------------------------------------------


def test_added_primary_clears_other_primaries() -> None:
    value = [{"value": "new@example.com", "type": "other", "primary": True}]
    new = patch(user(), {"op": "add", "path": "emails", "value": value})
    assert [e.get("primary") for e in new["emails"]] == [False, None, True]


def test_replaced_primary_clears_other_primaries() -> None:
    path = 'emails[type eq "home"].primary'
    new = patch(user(), {"op": "replace", "path": path, "value": "True"})
    assert new["emails"] == [
        {"value": "bjensen@example.com", "type": "work", "primary": False},
        {"value": "babs@home.example", "type": "home", "primary": True},
    ]


def test_two_primaries_at_once_is_invalid_value() -> None:
    value = [{"value": "a@x", "primary": True}, {"value": "b@x", "primary": True}]
    operation: dict[str, Any] = {"op": "add", "path": "emails", "value": value}
    raises(errors.InvalidValue, "invalidValue", user(), body(operation))
    operation = {"op": "replace", "path": "emails.primary", "value": True}
    raises(errors.InvalidValue, "invalidValue", user(), body(operation))


# -- booleans sent as strings (Entra without aadOptscim062020) ------------------------------


@pytest.mark.parametrize(("text", "expected"), [("True", True), ("False", False), ("fAlSe", False)])
def test_string_booleans_with_path(text: str, expected: bool) -> None:
    assert patch(user(), {"op": "Replace", "path": "active", "value": text})["active"] is expected


def test_string_booleans_without_path_and_in_sub_attributes() -> None:
    new = patch(user(), {"op": "replace", "value": {"active": "False"}})
    assert new["active"] is False
    value = [{"value": "n@x", "primary": "true"}]
    new = patch(user(), {"op": "add", "path": "emails", "value": value})
    assert new["emails"][-1] == {"value": "n@x", "primary": True}


@pytest.mark.parametrize("value", ["yes", 1, "", [True]])
def test_non_boolean_is_invalid_value(value: Any) -> None:
    operation = {"op": "replace", "path": "active", "value": value}
    raises(errors.InvalidValue, "invalidValue", user(), body(operation))


# -- mutability -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "id", "value": "x"},
        {"op": "add", "path": "meta.version", "value": "W/1"},
        {"op": "replace", "path": "meta", "value": {"version": "W/1"}},
        {"op": "add", "path": "groups", "value": [{"value": "g"}]},
        {"op": "remove", "path": "groups"},
        {"op": "replace", "path": "schemas", "value": ["x"]},
        {"op": "replace", "path": f"{ENT}:manager.displayName", "value": "Boss"},
    ],
)
def test_read_only_attributes_are_ignored(operation: dict[str, Any]) -> None:
    assert patch(user(), operation) == user()


def test_group_member_display_is_read_only() -> None:
    path = 'members[value eq "a"].display'
    doc = group("a")
    assert patch(doc, {"op": "add", "path": path, "value": "A"}, resource=GROUP_RESOURCE) == doc


def test_immutable_attribute_can_be_set_once() -> None:
    doc = {"serial": "S1"}
    new = patch(doc, {"op": "add", "path": "tenantCode", "value": "T"}, resource=DEVICE_RESOURCE)
    assert new == {"serial": "S1", "tenantCode": "T"}
    same = {"op": "replace", "path": "tenantCode", "value": "T"}
    assert patch(new, same, resource=DEVICE_RESOURCE) == new
    for operation in (
        {"op": "replace", "path": "tenantCode", "value": "U"},
        {"op": "add", "value": {"tenantCode": "U"}},
        {"op": "remove", "path": "tenantCode"},
    ):
        raises(errors.Mutability, "mutability", new, body(operation), DEVICE_RESOURCE)


def test_immutable_sub_attribute_of_existing_element() -> None:
    operation: dict[str, Any] = {
        "op": "replace",
        "path": 'members[value eq "a"].value',
        "value": "b",
    }
    raises(errors.Mutability, "mutability", group("a"), body(operation), GROUP_RESOURCE)
    operation = {"op": "replace", "path": 'members[value eq "a"]', "value": {"value": "b"}}
    raises(errors.Mutability, "mutability", group("a"), body(operation), GROUP_RESOURCE)
    operation = {"op": "add", "path": 'members[value eq "a"].type', "value": "User"}
    new = patch(group("a"), operation, resource=GROUP_RESOURCE)
    assert new["members"] == [{"value": "a", "type": "User"}]


# -- password -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "password", "value": "s3cret!"},
        {"op": "add", "path": "PASSWORD", "value": "s3cret!"},
        {"op": "replace", "value": {"password": "s3cret!"}},
    ],
)
def test_password_is_returned_not_stored(operation: dict[str, Any]) -> None:
    new, password = apply_patch(user(), body(operation), USER_RESOURCE)
    assert password == "s3cret!"
    assert new == user()


def test_no_password_returns_none_and_remove_password_is_ignored() -> None:
    new, password = apply_patch(user(), body({"op": "remove", "path": "password"}), USER_RESOURCE)
    assert (new, password) == (user(), None)


def test_non_string_password_is_invalid_value() -> None:
    operation = {"op": "replace", "path": "password", "value": {"x": 1}}
    raises(errors.InvalidValue, "invalidValue", user(), body(operation))


# -- real client bodies ---------------------------------------------------------------------


def test_entra_user_update_without_flag() -> None:
    payload = {
        "schemas": [PATCH_OP_SCHEMA],
        "Operations": [
            {"op": "Replace", "path": "title", "value": "tester"},
            {"op": "Add", "path": 'emails[type eq "work"].value', "value": "joe@contoso.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": f"{ENT}:department", "value": "Finance"},
        ],
    }
    new, password = apply_patch(user(), payload, USER_RESOURCE)
    assert password is None
    assert new["title"] == "tester"
    assert new["emails"][0] == {"value": "joe@contoso.com", "type": "work", "primary": True}
    assert new["name"]["familyName"] == "updatedFamilyName"
    assert new["active"] is False
    assert new[ENT] == {"department": "Finance"}


def test_entra_group_update() -> None:
    payload = {
        "schemas": [PATCH_OP_SCHEMA],
        "Operations": [
            {"op": "Replace", "path": "displayName", "value": "updatedDisplayName"},
            {"op": "Add", "path": "members", "value": [{"value": "u2"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "u1"}]},
        ],
    }
    new, _password = apply_patch(group("u1"), payload, GROUP_RESOURCE)
    assert new == {"displayName": "updatedDisplayName", "members": [{"value": "u2"}]}


def test_entra_remove_member_with_flag() -> None:
    payload = body({"op": "remove", "path": 'members[value eq "u1"]'})
    assert apply_patch(group("u1"), payload, GROUP_RESOURCE)[0] == {"displayName": "Engineering"}


def test_okta_password_and_profile_update() -> None:
    payload = {
        "schemas": [PATCH_OP_SCHEMA],
        "Operations": [{"op": "replace", "value": {"password": "newPass1!", "active": True}}],
    }
    new, password = apply_patch(user(active=False), payload, USER_RESOURCE)
    assert password == "newPass1!" and new["active"] is True


# -- robustness -----------------------------------------------------------------------------


def test_input_is_not_mutated() -> None:
    doc = user(**{ENT: {"department": "IT", "manager": {"value": "m"}}})
    snapshot = copy.deepcopy(doc)
    payload = body(
        {"op": "add", "path": "emails", "value": [{"value": "n@x", "primary": True}]},
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "w@x"},
        {"op": "remove", "path": "name.givenName"},
        {"op": "replace", "path": f"{ENT}:manager.value", "value": "m2"},
        {"op": "remove", "path": f"{ENT}:department"},
    )
    payload_snapshot = copy.deepcopy(payload)
    new, _password = apply_patch(doc, payload, USER_RESOURCE)
    assert doc == snapshot
    assert payload == payload_snapshot
    assert new is not doc and new != doc


def test_failed_patch_leaves_input_untouched() -> None:
    doc = user()
    snapshot = copy.deepcopy(doc)
    payload = body(
        {"op": "replace", "path": "title", "value": "x"}, {"op": "remove", "path": "userName"}
    )
    with pytest.raises(errors.Mutability):
        apply_patch(doc, payload, USER_RESOURCE)
    assert doc == snapshot


HOSTILE: list[Any] = [
    {"Operations": {"op": "add"}},
    {"Operations": [{"op": "add", "path": "emails", "value": "not-a-list-of-objects"}]},
    {"Operations": [{"op": "add", "path": "emails", "value": [1, 2]}]},
    {"Operations": [{"op": "add", "path": "emails", "value": [[{"value": "x"}]]}]},
    {"Operations": [{"op": "replace", "path": "name", "value": [{"givenName": "a"}, {}]}]},
    {"Operations": [{"op": "replace", "path": "name", "value": "Babs"}]},
    {"Operations": [{"op": "replace", "path": "name", "value": {"givenName": {"a": 1}}}]},
    {"Operations": [{"op": "replace", "path": "userName", "value": ["a", "b"]}]},
    {"Operations": [{"op": "replace", "path": "userName", "value": {"x": 1}}]},
    {"Operations": [{"op": "replace", "path": "userName", "value": "a\x00b"}]},
    {"Operations": [{"op": "replace", "path": 'emails[type eq "work"]', "value": ["a", "b"]}]},
    {"Operations": [{"op": "replace", "path": 'emails[type eq "work"].value', "value": [1, 2]}]},
    {"Operations": [{"op": "replace", "path": 42, "value": 1}]},
    {"Operations": [{"op": "replace", "path": "(" * 5000, "value": 1}]},
    {"Operations": [{"op": "replace", "path": "emails[" + "(" * 200 + "]", "value": 1}]},
    {"Operations": [{"op": "replace", "path": "x" * 100_000, "value": 1}]},
    {"Operations": [{"op": "remove", "path": "members", "value": [1.5, None, True]}]},
    {"Operations": [{"op": "remove", "path": "emails", "value": [["x"]]}]},
    {"Operations": [{"op": "replace", "value": {ENT: "x"}}]},
    {"Operations": [{"op": "replace", "value": {f"{ENT}:manager": [1, 2]}}]},
    {"Operations": [{"op": "add", "value": {"emails[": "x"}}]},
    {"Operations": [{"op": "add", "path": "meta", "value": None}], "schemas": "x"},
    {"Operations": [None]},
    {"Operations": [{"op": {"nested": "add"}}]},
]


@pytest.mark.parametrize("payload", HOSTILE)
@pytest.mark.parametrize("resource", [USER_RESOURCE, GROUP_RESOURCE])
def test_hostile_input_raises_only_scim_errors(payload: Any, resource: ResourceType) -> None:
    doc = user() if resource is USER_RESOURCE else group("a")
    snapshot = copy.deepcopy(doc)
    try:
        apply_patch(doc, payload, resource)
    except errors.ScimError as exc:
        assert 400 <= exc.status < 500
    assert doc == snapshot


def test_large_membership_changes_are_linear() -> None:
    # Adding or removing N members must not compare every pair (DESIGN: set operations).
    import time

    n = 20_000
    doc = group(*(f"u{i}" for i in range(n)))
    started = time.monotonic()
    add = {"op": "add", "path": "members", "value": [{"value": f"v{i}"} for i in range(n)]}
    new = patch(doc, add, resource=GROUP_RESOURCE)
    assert len(new["members"]) == 2 * n
    remove = {"op": "Remove", "path": "members", "value": [{"value": f"u{i}"} for i in range(n)]}
    new = patch(new, remove, resource=GROUP_RESOURCE)
    assert new["members"][0] == {"value": "v0"} and len(new["members"]) == n
    assert time.monotonic() - started < 10
