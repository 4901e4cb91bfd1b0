"""Assertion attributes -> SCIM document, user name choice and group mapping (no database)."""

from __future__ import annotations

import pytest

from django_provisioning.models import Connection, NameIdFormat
from django_provisioning.saml.attributes import (
    DEFAULT_ATTRIBUTE_NAMES,
    build_document,
    canonical_document,
    group_names_for,
    user_name_for,
)
from django_provisioning.saml.errors import SamlError

EMAIL = NameIdFormat.EMAIL
PERSISTENT = NameIdFormat.PERSISTENT
TRANSIENT = NameIdFormat.TRANSIENT


def test_defaults_cover_every_documented_idp() -> None:
    names = {name for names in DEFAULT_ATTRIBUTE_NAMES.values() for name in names}
    for expected in [
        "email", "firstName", "lastName", "groups",  # Okta
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "http://schemas.microsoft.com/identity/claims/displayname",
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
        "User.email", "User.FirstName", "User.LastName", "memberOf",  # OneLogin
        "urn:oid:0.9.2342.19200300.100.1.3", "urn:oid:2.5.4.42", "urn:oid:2.5.4.4",
        "urn:oid:2.16.840.1.113730.3.1.241", "urn:oid:1.3.6.1.4.1.5923.1.1.1.6",
        "urn:oid:1.3.6.1.4.1.5923.1.5.1.1",
    ]:  # fmt: skip
        assert expected in names


@pytest.mark.parametrize(
    ("name_id", "fmt", "attributes", "expected"),
    [
        ("alice@example.com", EMAIL, {}, "alice@example.com"),
        ("alice@example.com", PERSISTENT, {"email": ["other@example.com"]}, "alice@example.com"),
        ("00u123", PERSISTENT, {"email": ["a@example.com"]}, "a@example.com"),
        ("00u123", PERSISTENT, {}, "00u123"),
        ("_t1", TRANSIENT, {"email": ["a@example.com"]}, "a@example.com"),
        ("_t1", TRANSIENT, {}, None),
        ("00u123", PERSISTENT, {"eduPersonPrincipalName": ["a@uni.edu"]}, "a@uni.edu"),
    ],
)
def test_user_name_choice(name_id, fmt, attributes, expected) -> None:
    assert user_name_for(Connection(), name_id, fmt, attributes) == expected


def test_build_and_canonicalize_document() -> None:
    doc = build_document(
        Connection(),
        "alice@example.com",
        EMAIL,
        {"EMAIL": ["alice@example.com"], "givenname": ["Alice"], "displayName": ["  Al  "]},
    )
    assert doc["emails"] == [{"value": "alice@example.com", "type": "work", "primary": True}]
    assert doc["name"] == {"givenName": "Alice"}  # case-insensitive name fallback
    assert doc["displayName"] == "Al"
    canonical = canonical_document(doc)
    assert canonical["userName"] == "alice@example.com"
    assert "schemas" not in canonical


def test_invalid_document_is_a_readable_error() -> None:
    with pytest.raises(SamlError) as info:
        canonical_document({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]})
    assert info.value.code == "invalid_attributes"
    assert info.value.status == 400


def test_mapping_override_string_or_list() -> None:
    connection = Connection(attribute_mapping={"displayName": "dn", "emails": ["mailbox"]})
    doc = build_document(connection, "x", PERSISTENT, {"dn": ["D"], "mailbox": ["m@x.org"]})
    assert doc["displayName"] == "D"
    assert doc["userName"] == "m@x.org"


def test_group_names() -> None:
    assert group_names_for(Connection(), {"groups": ["a"]}) is None
    # The IdP's values (the core finds their link rows), only those group_mapping lists.
    mapped = Connection(group_mapping={"a": "Alpha", "b": None})
    assert group_names_for(mapped, {"memberOf": ["b", "a", "zzz", "a"]}) == ["b", "a"]
    assert group_names_for(mapped, {}) == []
    custom = Connection(group_mapping={"a": "Alpha"}, groups_attribute="roles")
    assert group_names_for(custom, {"groups": ["a"], "roles": []}) == []
    assert group_names_for(custom, {"roles": ["a"]}) == ["a"]
