"""``attributes`` / ``excludedAttributes`` (RFC 7644 §3.4.2.5) and ``returned`` (RFC 7643 §2.4)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from django_provisioning.schema.definitions import (
    ENTERPRISE_USER_SCHEMA,
    GROUP,
    GROUP_SCHEMA,
    USER_RESOURCE,
    USER_SCHEMA,
    Attribute,
    ResourceType,
    Schema,
)
from django_provisioning.scim import errors
from django_provisioning.scim.rendering import AttrRef, parse_attribute_list, project

ENT = ENTERPRISE_USER_SCHEMA
GROUP_RESOURCE = ResourceType(name="Group", endpoint="/Groups", schema=GROUP)
WIDGET = ResourceType(
    name="Widget",
    endpoint="/Widgets",
    schema=Schema(
        id="urn:example:params:scim:schemas:core:2.0:Widget",
        name="Widget",
        description="A test resource exercising every 'returned' value.",
        attributes=(
            Attribute("label"),
            Attribute("secretHash", returned="never"),
            Attribute("auditTrail", returned="request"),
            Attribute("tenant", returned="always"),
            Attribute(
                "spec",
                type="complex",
                sub_attributes=(
                    Attribute("size"),
                    Attribute("internal", returned="never"),
                    Attribute("debug", returned="request"),
                    Attribute("kind", returned="always"),
                ),
            ),
        ),
    ),
)


def rendered_user() -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA, ENT],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "bjensen",
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara Jensen"},
        "displayName": "Babs Jensen",
        "active": True,
        "password": "must-never-leak",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@home.example", "type": "home"},
        ],
        "groups": [{"value": "g1", "display": "Engineering", "type": "direct"}],
        ENT: {"department": "Tour Operations", "manager": {"value": "m-1", "displayName": "Boss"}},
        "meta": {
            "resourceType": "User",
            "created": "2024-01-01T00:00:00Z",
            "lastModified": "2024-01-02T00:00:00Z",
            "location": "https://sp.example.com/scim/v2/Users/2819c223",
            "version": 'W/"3"',
        },
    }


# -- parse_attribute_list -------------------------------------------------------------------


def test_parse_none_and_empty() -> None:
    assert parse_attribute_list(None, USER_RESOURCE) == []
    assert parse_attribute_list("", USER_RESOURCE) == []
    assert parse_attribute_list(" , ,", USER_RESOURCE) == []


def test_parse_comma_separated_case_insensitive_canonical() -> None:
    refs = parse_attribute_list(" USERNAME , name.GIVENname,emails ,ID", USER_RESOURCE)
    assert refs == [
        AttrRef(None, "userName"),
        AttrRef(None, "name", "givenName"),
        AttrRef(None, "emails"),
        AttrRef(None, "id"),
    ]


def test_parse_urn_qualified() -> None:
    text = (
        f"{USER_SCHEMA}:userName,{ENT}:department,{ENT.upper()}:MANAGER.value,{ENT.lower()},"
        "meta.lastModified"
    )
    assert parse_attribute_list(text, USER_RESOURCE) == [
        AttrRef(None, "userName"),
        AttrRef(ENT, "department"),
        AttrRef(ENT, "manager", "value"),
        AttrRef(ENT, None),
        AttrRef(None, "meta", "lastModified"),
    ]


def test_parse_list_input_and_duplicates() -> None:
    refs = parse_attribute_list(["userName,emails", "username", "displayName"], USER_RESOURCE)
    assert refs == [
        AttrRef(None, "userName"),
        AttrRef(None, "emails"),
        AttrRef(None, "displayName"),
    ]


def test_parse_ignores_unknown_names_and_schemas() -> None:
    text = (
        "nickname,favouriteColour,name.nope,userName.sub,"
        "urn:example:vendor:2.0:User:badge,"
        f"{USER_SCHEMA}"
    )
    assert parse_attribute_list(text, USER_RESOURCE) == [AttrRef(None, "nickName")]


@pytest.mark.parametrize(
    "text",
    [
        "name.givenName.x",
        'emails[type eq "work"]',
        "emails[type eq work].value",
        "user name",
        "1abc",
        "name.",
        ".name",
        "name..givenName",
        f"{ENT}:manager.value.x",
        ["userName", 3],
        42,
        {"userName": True},
        "a" * 5000,
    ],
)
def test_parse_malformed_is_invalid_value(text: Any) -> None:
    with pytest.raises(errors.ScimError) as info:
        parse_attribute_list(text, USER_RESOURCE)
    assert type(info.value) is errors.InvalidValue
    assert info.value.scim_type == "invalidValue"


# -- project: defaults ----------------------------------------------------------------------


def test_default_returns_everything_but_never_attributes() -> None:
    out = project(rendered_user(), USER_RESOURCE)
    expected = rendered_user()
    del expected["password"]
    assert out == expected


def test_input_is_not_mutated_and_output_is_a_new_dict() -> None:
    doc = rendered_user()
    snapshot = copy.deepcopy(doc)
    out = project(doc, USER_RESOURCE, "name.givenName")
    assert doc == snapshot
    out["schemas"].append("x")
    assert doc["schemas"] == snapshot["schemas"]


# -- project: attributes --------------------------------------------------------------------


def test_attributes_returns_named_plus_always() -> None:
    out = project(rendered_user(), USER_RESOURCE, "userName")
    assert out == {
        "schemas": [USER_SCHEMA],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "userName": "bjensen@example.com",
    }


def test_attributes_sub_attribute() -> None:
    out = project(rendered_user(), USER_RESOURCE, "name.givenName")
    assert out["name"] == {"givenName": "Barbara"}
    assert set(out) == {"schemas", "id", "name"}


def test_attributes_sub_attribute_of_multi_valued() -> None:
    out = project(rendered_user(), USER_RESOURCE, "emails.value,emails.type")
    assert out["emails"] == [
        {"value": "bjensen@example.com", "type": "work"},
        {"value": "babs@home.example", "type": "home"},
    ]


def test_attributes_extension_attribute() -> None:
    out = project(rendered_user(), USER_RESOURCE, f"{ENT}:department")
    assert out == {
        "schemas": [USER_SCHEMA, ENT],
        "id": "2819c223-7f76-453a-919d-413861904646",
        ENT: {"department": "Tour Operations"},
    }


def test_attributes_extension_sub_attribute() -> None:
    out = project(rendered_user(), USER_RESOURCE, f"{ENT}:manager.value")
    assert out[ENT] == {"manager": {"value": "m-1"}}


def test_attributes_whole_extension() -> None:
    out = project(rendered_user(), USER_RESOURCE, f"userName,{ENT}")
    assert out[ENT] == rendered_user()[ENT]
    assert out["schemas"] == [USER_SCHEMA, ENT]
    assert "emails" not in out


def test_attributes_without_extension_drops_its_urn_from_schemas() -> None:
    out = project(rendered_user(), USER_RESOURCE, "displayName")
    assert ENT not in out and out["schemas"] == [USER_SCHEMA]


def test_attributes_meta_is_default_not_always() -> None:
    assert "meta" not in project(rendered_user(), USER_RESOURCE, "userName")
    out = project(rendered_user(), USER_RESOURCE, "meta.created,meta.version")
    assert out["meta"] == {"created": "2024-01-01T00:00:00Z", "version": 'W/"3"'}


def test_attributes_cannot_reveal_never() -> None:
    out = project(rendered_user(), USER_RESOURCE, "password,userName")
    assert "password" not in out


def test_attributes_missing_from_resource() -> None:
    out = project(rendered_user(), USER_RESOURCE, "nickName")
    assert set(out) == {"schemas", "id"}


def test_attributes_accepts_attr_refs_and_lists() -> None:
    refs = parse_attribute_list("userName", USER_RESOURCE)
    assert project(rendered_user(), USER_RESOURCE, refs) == project(
        rendered_user(), USER_RESOURCE, ["userName"]
    )


# -- project: excludedAttributes ------------------------------------------------------------


def test_excluded_attributes_and_extension() -> None:
    out = project(rendered_user(), USER_RESOURCE, excluded=f"emails,{ENT}")
    assert "emails" not in out and ENT not in out
    assert out["schemas"] == [USER_SCHEMA]
    assert out["userName"] == "bjensen@example.com" and "meta" in out


def test_excluded_cannot_remove_always() -> None:
    out = project(rendered_user(), USER_RESOURCE, excluded="id,schemas,userName")
    assert out["id"] == "2819c223-7f76-453a-919d-413861904646"
    assert out["schemas"] == [USER_SCHEMA, ENT]
    assert "userName" not in out


def test_excluded_sub_attribute() -> None:
    out = project(rendered_user(), USER_RESOURCE, excluded="name.familyName,emails.primary")
    assert out["name"] == {"givenName": "Barbara", "formatted": "Ms. Barbara Jensen"}
    assert out["emails"][0] == {"value": "bjensen@example.com", "type": "work"}


def test_excluded_extension_attribute_leaving_it_empty() -> None:
    out = project(rendered_user(), USER_RESOURCE, excluded=f"{ENT}:department,{ENT}:manager")
    assert ENT not in out and out["schemas"] == [USER_SCHEMA]
    out = project(rendered_user(), USER_RESOURCE, excluded=f"{ENT}:department")
    assert out[ENT] == {"manager": {"value": "m-1", "displayName": "Boss"}}


def test_excluded_meta_and_groups() -> None:
    out = project(rendered_user(), USER_RESOURCE, excluded="meta,groups")
    assert "meta" not in out and "groups" not in out


def test_group_excluded_members() -> None:
    # Okta and Entra read groups with excludedAttributes=members.
    doc = {
        "schemas": [GROUP_SCHEMA],
        "id": "g1",
        "displayName": "Engineering",
        "members": [{"value": "u1", "display": "Babs"}],
        "meta": {"resourceType": "Group"},
    }
    out = project(doc, GROUP_RESOURCE, excluded="members")
    assert out == {
        "schemas": [GROUP_SCHEMA],
        "id": "g1",
        "displayName": "Engineering",
        "meta": {"resourceType": "Group"},
    }


def test_attributes_wins_over_excluded_attributes() -> None:
    out = project(rendered_user(), USER_RESOURCE, "userName,emails", "emails,userName")
    assert set(out) == {"schemas", "id", "userName", "emails"}


def test_empty_lists_mean_not_given() -> None:
    assert project(rendered_user(), USER_RESOURCE, [], []) == project(
        rendered_user(), USER_RESOURCE
    )


# -- project: every 'returned' value --------------------------------------------------------


def widget() -> dict[str, Any]:
    return {
        "schemas": ["urn:example:params:scim:schemas:core:2.0:Widget"],
        "id": "w1",
        "label": "Widget",
        "secretHash": "x",
        "auditTrail": "created",
        "tenant": "acme",
        "spec": {"size": 3, "internal": "x", "debug": "on", "kind": "round"},
        "vendorExtra": "kept by default",
    }


def test_returned_default_view() -> None:
    assert project(widget(), WIDGET) == {
        "schemas": ["urn:example:params:scim:schemas:core:2.0:Widget"],
        "id": "w1",
        "label": "Widget",
        "tenant": "acme",
        "spec": {"size": 3, "kind": "round"},
        "vendorExtra": "kept by default",
    }


def test_returned_request_only_when_named() -> None:
    out = project(widget(), WIDGET, "auditTrail,spec.debug")
    assert out == {
        "schemas": ["urn:example:params:scim:schemas:core:2.0:Widget"],
        "id": "w1",
        "tenant": "acme",
        "auditTrail": "created",
        "spec": {"debug": "on", "kind": "round"},
    }


def test_returned_always_and_never_ignore_parameters() -> None:
    out = project(widget(), WIDGET, excluded="tenant,spec.kind,label,secretHash")
    assert out["tenant"] == "acme" and out["spec"] == {"size": 3, "kind": "round"}
    assert "label" not in out and "secretHash" not in out
    out = project(widget(), WIDGET, "secretHash,spec.internal")
    assert "secretHash" not in out and out["spec"] == {"kind": "round"}
