from __future__ import annotations

from django.test import Client

from django_provisioning.schema.definitions import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_SCHEMA,
    USER_SCHEMA,
)


def test_service_provider_config_is_truthful(db):
    body = Client().get("/scim/v2/ServiceProviderConfig").json()
    assert body["patch"]["supported"] is True
    assert body["bulk"]["supported"] is True
    assert body["filter"] == {"supported": True, "maxResults": 200}
    assert body["sort"]["supported"] and body["etag"]["supported"]
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"


def test_resource_types(db):
    client = Client()
    listing = client.get("/scim/v2/ResourceTypes").json()
    assert listing["totalResults"] == 2
    user, group = listing["Resources"]
    assert user["endpoint"] == "/Users" and user["schema"] == USER_SCHEMA
    assert user["schemaExtensions"] == [{"schema": ENTERPRISE_USER_SCHEMA, "required": False}]
    assert client.get("/scim/v2/ResourceTypes/User").json()["id"] == "User"
    assert group["endpoint"] == "/Groups" and group["schema"] == GROUP_SCHEMA
    assert group["schemaExtensions"] == []
    assert client.get("/scim/v2/ResourceTypes/Group").json()["endpoint"] == "/Groups"
    assert client.get("/scim/v2/ResourceTypes/Device").status_code == 404


def test_schemas(db):
    client = Client()
    listing = client.get("/scim/v2/Schemas").json()
    assert {s["id"] for s in listing["Resources"]} == {
        USER_SCHEMA,
        ENTERPRISE_USER_SCHEMA,
        GROUP_SCHEMA,
    }
    group = client.get(f"/scim/v2/Schemas/{GROUP_SCHEMA}").json()
    members = next(a for a in group["attributes"] if a["name"] == "members")
    assert members["multiValued"] is True
    assert {s["name"] for s in members["subAttributes"]} == {"value", "$ref", "display", "type"}
    user = client.get(f"/scim/v2/Schemas/{USER_SCHEMA}").json()
    attrs = {a["name"]: a for a in user["attributes"]}
    assert attrs["userName"]["uniqueness"] == "server" and not attrs["userName"]["caseExact"]
    assert attrs["password"]["returned"] == "never"
    assert attrs["password"]["mutability"] == "writeOnly"
    assert client.get("/scim/v2/Schemas/urn:nope").status_code == 404


def test_discovery_refuses_a_bad_token(db):
    response = Client(HTTP_AUTHORIZATION="Bearer wrong").get("/scim/v2/Schemas")
    assert response.status_code == 401
