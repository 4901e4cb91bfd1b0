"""Custom User schema extensions (``USER_SCHEMA_EXTENSIONS``): discovery, bodies, PATCH,
filters, projection, attribute mapping, reload on a changed setting, and the system checks."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from django_provisioning.checks import check_settings
from django_provisioning.exceptions import InvalidPath
from django_provisioning.models import AuditEvent, ExternalIdentity
from django_provisioning.schema.definitions import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_SCHEMA,
    USER_RESOURCE,
    USER_SCHEMA,
)
from django_provisioning.schema.paths import parse_mapped_path

from .bodies import patch_body

ENT = ENTERPRISE_USER_SCHEMA
EXT = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
OTHER = "urn:ietf:params:scim:schemas:extension:globex:1.0:User"
User = get_user_model()

ACME = {
    "name": "AcmeUser",
    "description": "Acme's custom attributes (Okta profile editor).",
    "attributes": [
        {"name": "costCenter", "type": "string", "description": "Cost center code."},
        {"name": "seatType", "canonicalValues": ["full", "viewer"]},
        {"name": "seats", "type": "integer"},
        {"name": "beta", "type": "boolean"},
        {"name": "licenses", "multiValued": True},
        {
            "name": "badge",
            "type": "complex",
            "subAttributes": [{"name": "number", "caseExact": True}, {"name": "issued"}],
        },
        {"name": "hiredAs", "mutability": "immutable"},
        {"name": "secret", "returned": "never", "mutability": "writeOnly"},
        {"name": "notes", "returned": "request"},
    ],
}


def provisioning(**extra: Any) -> dict[str, Any]:
    """The test settings' DJANGO_PROVISIONING with *extra* keys."""
    return {**settings.DJANGO_PROVISIONING, **extra}


@pytest.fixture
def acme() -> Any:
    with override_settings(DJANGO_PROVISIONING=provisioning(USER_SCHEMA_EXTENSIONS={EXT: ACME})):
        yield


def body(user_name: str = "alice@example.com", **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA, EXT],
        "userName": user_name,
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        **extra,
    }


def create(scim: Any, user_name: str = "alice@example.com", **extra: Any) -> dict[str, Any]:
    response = scim.post("Users", body(user_name, **extra))
    assert response.status_code == 201, response.content
    return response.json()


# ---------------------------------------------------------------------------------- discovery


def test_schemas_list_and_serve_the_extension(acme, db):
    client = Client()
    listing = client.get("/scim/v2/Schemas").json()
    assert [s["id"] for s in listing["Resources"]] == [USER_SCHEMA, ENT, EXT, GROUP_SCHEMA]
    served = client.get(f"/scim/v2/Schemas/{EXT.upper().replace('URN:', 'urn:')}").json()
    assert served["id"] == EXT and served["name"] == "AcmeUser"
    assert served["description"] == ACME["description"]
    assert served["meta"]["location"] == f"http://testserver/scim/v2/Schemas/{EXT}"
    attrs = {a["name"]: a for a in served["attributes"]}
    # RFC 7643 §7 defaults for what the setting leaves out.
    assert attrs["seatType"] == {
        "name": "seatType",
        "type": "string",
        "multiValued": False,
        "description": "",
        "required": False,
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
        "canonicalValues": ["full", "viewer"],
    }
    assert attrs["licenses"]["multiValued"] is True
    assert [s["name"] for s in attrs["badge"]["subAttributes"]] == ["number", "issued"]
    assert attrs["badge"]["subAttributes"][0]["caseExact"] is True
    assert attrs["secret"]["returned"] == "never"


def test_resource_type_names_the_extension(acme, db):
    user = Client().get("/scim/v2/ResourceTypes/User").json()
    assert user["schemaExtensions"] == [
        {"schema": ENT, "required": False},
        {"schema": EXT, "required": False},
    ]


def test_without_the_setting_discovery_is_as_before(db):
    client = Client()
    listing = client.get("/scim/v2/Schemas").json()
    assert [s["id"] for s in listing["Resources"]] == [USER_SCHEMA, ENT, GROUP_SCHEMA]
    assert client.get(f"/scim/v2/Schemas/{EXT}").status_code == 404
    user = client.get("/scim/v2/ResourceTypes/User").json()
    assert user["schemaExtensions"] == [{"schema": ENT, "required": False}]
    assert USER_RESOURCE.extensions == (USER_RESOURCE.extension(ENT),)


# ------------------------------------------------------------------------------------ bodies


def test_post_round_trips_the_extension(acme, scim):
    values = {
        "costCenter": "CC-42",
        "SEATTYPE": "full",  # names are case-insensitive; stored in the schema's spelling
        "seats": 3,
        "beta": "True",  # Entra's string booleans
        "licenses": ["editor", "reviewer"],
        "badge": {"number": "B-7", "issued": "2024"},
        "secret": "s3",
        "unknown": "dropped",
    }
    created = create(scim, **{EXT: values})
    expected = {
        "costCenter": "CC-42",
        "seatType": "full",
        "seats": 3,
        "beta": True,
        "licenses": ["editor", "reviewer"],
        "badge": {"number": "B-7", "issued": "2024"},
    }
    assert created[EXT] == expected
    assert created["schemas"] == [USER_SCHEMA, EXT]
    read = scim.get(f"Users/{created['id']}").json()
    assert read[EXT] == expected
    stored = ExternalIdentity.objects.get().document
    assert stored[EXT] == {**expected, "secret": "s3"}  # writeOnly: kept, never returned


def test_post_with_flattened_keys(acme, scim):
    """Entra sends extension attributes as ``urn:...:User:attribute`` keys."""
    created = create(scim, **{f"{EXT}:costCenter": "CC-1", f"{EXT.lower()}:seats": 2})
    assert created[EXT] == {"costCenter": "CC-1", "seats": 2}
    assert scim.get(f"Users/{created['id']}").json()[EXT] == {"costCenter": "CC-1", "seats": 2}


def test_put_replaces_the_extension(acme, scim):
    created = create(scim, **{EXT: {"costCenter": "CC-1", "seats": 2}})
    response = scim.put(f"Users/{created['id']}", body(**{EXT: {"costCenter": "CC-2"}}))
    assert response.status_code == 200, response.content
    assert response.json()[EXT] == {"costCenter": "CC-2"}


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        ("seats", "three", f"{EXT}:seats"),
        ("beta", "maybe", f"{EXT}:beta"),
        ("costCenter", {"code": 1}, f"{EXT}:costCenter"),
        ("licenses", [{"a": 1}], f"{EXT}:licenses"),
        ("badge", "B-7", f"{EXT}:badge"),
        ("costCenter", ["a", "b"], f"{EXT}:costCenter"),
    ],
)
def test_a_wrong_type_is_invalid_value_and_writes_nothing(acme, scim, key, value, path):
    response = scim.post("Users", body(**{EXT: {key: value}}))
    assert response.status_code == 400
    error = response.json()
    assert error["scimType"] == "invalidValue"
    assert path in error["detail"]
    assert not User.objects.exists() and not ExternalIdentity.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_wrong_type_in_a_flattened_key_is_refused(acme, scim):
    response = scim.post("Users", body(**{f"{EXT}:seats": "many"}))
    assert response.status_code == 400 and response.json()["scimType"] == "invalidValue"
    assert f"{EXT}:seats" in response.json()["detail"]
    assert not User.objects.exists()


def test_a_wrong_type_on_put_leaves_the_user_unchanged(acme, scim):
    created = create(scim, **{EXT: {"seats": 2}})
    response = scim.put(f"Users/{created['id']}", body(**{EXT: {"seats": "two"}}))
    assert response.status_code == 400 and response.json()["scimType"] == "invalidValue"
    identity = ExternalIdentity.objects.get()
    assert identity.document[EXT] == {"seats": 2} and identity.version == 1


def test_an_immutable_extension_attribute_keeps_its_value(acme, scim):
    created = create(scim, **{EXT: {"hiredAs": "contractor"}})
    response = scim.put(f"Users/{created['id']}", body(**{EXT: {"hiredAs": "employee"}}))
    assert response.status_code == 400 and response.json()["scimType"] == "mutability"
    assert f"{EXT}:hiredAs" in response.json()["detail"]
    same = scim.put(f"Users/{created['id']}", body(**{EXT: {"hiredAs": "contractor"}}))
    assert same.status_code == 200


def test_a_required_extension_attribute_is_required_when_the_extension_is_sent(scim):
    required = {**ACME, "attributes": [*ACME["attributes"], {"name": "site", "required": True}]}
    with override_settings(
        DJANGO_PROVISIONING=provisioning(USER_SCHEMA_EXTENSIONS={EXT: required})
    ):
        response = scim.post("Users", body(**{EXT: {"costCenter": "CC-1"}}))
        assert response.status_code == 400 and response.json()["scimType"] == "invalidValue"
        assert f"{EXT}:site" in response.json()["detail"]
        assert not User.objects.exists()
        # The extension is optional: a user without it is fine.
        assert scim.post("Users", body()).status_code == 201


# ------------------------------------------------------------------------------------- PATCH


def test_patch_add_replace_remove(acme, scim):
    created = create(scim)
    url = f"Users/{created['id']}"
    added = scim.patch(url, patch_body({"op": "add", "path": f"{EXT}:costCenter", "value": "A"}))
    assert added.status_code == 200, added.content
    assert added.json()[EXT] == {"costCenter": "A"} and EXT in added.json()["schemas"]
    replaced = scim.patch(
        url, patch_body({"op": "replace", "path": f"{EXT.upper()}:COSTCENTER", "value": "B"})
    )
    assert replaced.json()[EXT] == {"costCenter": "B"}
    assert ExternalIdentity.objects.get().document[EXT] == {"costCenter": "B"}
    removed = scim.patch(url, patch_body({"op": "remove", "path": f"{EXT}:costCenter"}))
    assert removed.status_code == 200
    assert EXT not in removed.json() and EXT not in removed.json()["schemas"]
    assert EXT not in ExternalIdentity.objects.get().document


def test_patch_without_path_and_on_sub_attributes(acme, scim):
    created = create(scim)
    url = f"Users/{created['id']}"
    operation = {"op": "add", "value": {EXT: {"seats": 4, "badge": {"number": "N1"}}}}
    assert scim.patch(url, patch_body(operation)).json()[EXT] == {
        "seats": 4,
        "badge": {"number": "N1"},
    }
    sub = {"op": "replace", "path": f"{EXT}:badge.number", "value": "N2"}
    assert scim.patch(url, patch_body(sub)).json()[EXT]["badge"] == {"number": "N2"}


def test_patch_with_a_wrong_type_is_refused(acme, scim):
    created = create(scim, **{EXT: {"seats": 1}})
    operation = {"op": "replace", "path": f"{EXT}:seats", "value": "lots"}
    response = scim.patch(f"Users/{created['id']}", patch_body(operation))
    assert response.status_code == 400 and response.json()["scimType"] == "invalidValue"
    assert ExternalIdentity.objects.get().document[EXT] == {"seats": 1}


# ------------------------------------------------------------------------ filters, projection


def test_filter_on_an_extension_attribute(acme, scim):
    alice = create(scim, **{EXT: {"costCenter": "x", "beta": True}})
    create(scim, "bob@example.com", **{EXT: {"costCenter": "y"}})
    create(scim, "carol@example.com")

    def found(text: str) -> list[str]:
        response = scim.get("Users", {"filter": text})
        assert response.status_code == 200, response.content
        return [r["userName"] for r in response.json()["Resources"]]

    assert found(f'{EXT}:costCenter eq "x"') == [alice["userName"]]
    assert found(f'{EXT.upper()}:costcenter eq "X"') == [alice["userName"]]  # caseExact false
    assert found(f"{EXT}:beta eq true") == [alice["userName"]]
    assert sorted(found(f"{EXT}:costCenter pr")) == ["alice@example.com", "bob@example.com"]


def test_filter_on_an_unknown_extension_attribute_is_invalid_filter(acme, scim):
    response = scim.get("Users", {"filter": f'{EXT}:nope eq "x"'})
    assert response.status_code == 400 and response.json()["scimType"] == "invalidFilter"


@pytest.mark.parametrize(
    "subs",
    [
        [{"name": "value"}],
        [{"name": n} for n in ("value", "type", "display")]
        + [{"name": "primary", "type": "boolean"}],
    ],
)
def test_an_extension_attribute_named_as_a_core_indexed_one_is_not_the_core_one(scim, subs):
    """An extension's multi-valued ``emails`` is not the value index's (core) ``emails``: a
    filter or a sortBy on it is refused (400), never a 500 nor the core e-mails' answer."""
    own = {
        "name": "AcmeUser",
        "attributes": [
            {"name": "emails", "type": "complex", "multiValued": True, "subAttributes": subs}
        ],
    }
    with override_settings(DJANGO_PROVISIONING=provisioning(USER_SCHEMA_EXTENSIONS={EXT: own})):
        create(scim, "core@example.com", **{EXT: {"emails": [{"value": "ext@example.com"}]}})
        for text in (
            f'{EXT}:emails.value eq "core@example.com"',
            f'{EXT}:emails eq "core@example.com"',
            f'{EXT}:emails[value eq "core@example.com"]',
            f"{EXT}:emails pr",
        ):
            for response in (
                scim.get("Users", {"filter": text}),
                scim.post("Users/.search", {"filter": text}),
            ):
                assert response.status_code == 400, (text, response.content)
                assert response.json()["scimType"] == "invalidFilter"
        response = scim.get("Users", {"sortBy": f"{EXT}:emails.value"})
        assert response.status_code == 400, response.content
        # The core attribute is filtered as ever.
        found = scim.get("Users", {"filter": 'emails.value eq "core@example.com"'}).json()
        assert found["totalResults"] == 1


def test_attributes_projects_extension_attributes(acme, scim):
    create(scim, **{EXT: {"costCenter": "x", "seats": 2}})
    listing = scim.get("Users", {"attributes": f"{EXT}:costCenter"}).json()
    (user,) = listing["Resources"]
    assert user[EXT] == {"costCenter": "x"}
    assert "userName" not in user and user["schemas"] == [USER_SCHEMA, EXT]
    excluded = scim.get("Users", {"excludedAttributes": EXT}).json()["Resources"][0]
    assert EXT not in excluded and excluded["schemas"] == [USER_SCHEMA]


def test_returned_never_and_request_are_kept_back(acme, scim):
    created = create(scim, **{EXT: {"secret": "s3", "notes": "n"}})
    assert EXT not in created and created["schemas"] == [USER_SCHEMA]
    assert EXT not in scim.get(f"Users/{created['id']}").json()
    assert EXT not in scim.get("Users").json()["Resources"][0]
    asked = scim.get(f"Users/{created['id']}", {"attributes": f"{EXT}:notes,{EXT}:secret"})
    assert asked.json()[EXT] == {"notes": "n"}
    assert ExternalIdentity.objects.get().document[EXT] == {"secret": "s3", "notes": "n"}


# ---------------------------------------------------------------------------- mapping, reload


def test_an_extension_path_maps_onto_a_model_field(scim):
    field = "last_name" if User.USERNAME_FIELD == "username" else "department"
    mapping = {"userName": User.USERNAME_FIELD, f"{EXT}:costCenter": field}
    with override_settings(
        DJANGO_PROVISIONING=provisioning(
            USER_SCHEMA_EXTENSIONS={EXT: ACME}, USER_ATTRIBUTE_MAP=mapping
        )
    ):
        assert check_settings() == []
        created = create(scim, **{EXT: {"costCenter": "CC-9"}})
        assert getattr(User.objects.get(), field) == "CC-9"
        assert scim.get(f"Users/{created['id']}").json()[EXT] == {"costCenter": "CC-9"}
        found = scim.get("Users", {"filter": f'{EXT}:costCenter eq "cc-9"'}).json()
        assert found["totalResults"] == 1


def test_a_changed_setting_takes_effect_without_a_restart(scim):
    path = f"{EXT}:costCenter"
    with override_settings(DJANGO_PROVISIONING=provisioning(USER_SCHEMA_EXTENSIONS={EXT: ACME})):
        assert parse_mapped_path(path).urn == EXT
        first = create(scim, **{EXT: {"costCenter": "x"}})
        assert first[EXT] == {"costCenter": "x"}
    other = {"name": "GlobexUser", "attributes": [{"name": "seatType"}]}
    with override_settings(DJANGO_PROVISIONING=provisioning(USER_SCHEMA_EXTENSIONS={OTHER: other})):
        ids = [s["id"] for s in Client().get("/scim/v2/Schemas").json()["Resources"]]
        assert ids == [USER_SCHEMA, ENT, OTHER, GROUP_SCHEMA]
        with pytest.raises(InvalidPath):
            parse_mapped_path(path)  # not a stale parse of the first setting
        second = create(
            scim, "bob@example.com", **{EXT: {"costCenter": "y"}, OTHER: {"seatType": "full"}}
        )
        assert EXT not in second and second[OTHER] == {"seatType": "full"}
        response = scim.get("Users", {"filter": f'{EXT}:costCenter eq "x"'})
        assert response.status_code == 400 and response.json()["scimType"] == "invalidFilter"
    assert [s["id"] for s in Client().get("/scim/v2/Schemas").json()["Resources"]] == [
        USER_SCHEMA,
        ENT,
        GROUP_SCHEMA,
    ]
    with pytest.raises(InvalidPath):
        parse_mapped_path(path)


def test_the_extensions_are_built_once_per_setting(acme, scim):
    from django_provisioning.schema.registry import user_extensions

    built = USER_RESOURCE.extensions
    assert built == USER_RESOURCE.extensions
    assert all(a is b for a, b in zip(built, USER_RESOURCE.extensions, strict=True))  # cached
    generation = user_extensions.generation
    create(scim, **{EXT: {"costCenter": "x"}})
    assert user_extensions.generation == generation


# ------------------------------------------------------------------------------------ checks


def check_ids(value: Any) -> list[str]:
    with override_settings(DJANGO_PROVISIONING=provisioning(USER_SCHEMA_EXTENSIONS=value)):
        messages = check_settings()
    return [m.id.removeprefix("django_provisioning.") for m in messages if m.id]


def test_a_good_setting_passes_the_checks():
    assert check_ids({EXT: ACME, OTHER: {"name": "G", "attributes": [{"name": "x"}]}}) == []
    assert check_ids({}) == []


def attr(**spec: Any) -> dict[str, Any]:
    return {EXT: {"name": "AcmeUser", "attributes": [{"name": "costCenter", **spec}]}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([EXT], ["E016"]),
        ({EXT: "AcmeUser"}, ["E016"]),
        ({EXT: {"attributes": [{"name": "a"}]}}, ["E016"]),
        ({EXT: {"name": "A", "attributes": []}}, ["E016"]),
        ({EXT: {"name": "A", "attributes": [{"name": "a"}], "extra": 1}}, ["E016"]),
        ({"acme:costCenter": {"name": "A", "attributes": [{"name": "a"}]}}, ["E017"]),
        ({"urn:acme:user:": {"name": "A", "attributes": [{"name": "a"}]}}, ["E017"]),
        ({"urn:acme:us er": {"name": "A", "attributes": [{"name": "a"}]}}, ["E017"]),
        ({ENT.upper(): {"name": "A", "attributes": [{"name": "a"}]}}, ["E017"]),
        ({USER_SCHEMA: {"name": "A", "attributes": [{"name": "a"}]}}, ["E017"]),
        ({f"{USER_SCHEMA}:x": {"name": "A", "attributes": [{"name": "a"}]}}, ["E017"]),
        (
            {
                EXT: {"name": "A", "attributes": [{"name": "a"}]},
                EXT.lower(): {"name": "B", "attributes": [{"name": "b"}]},
            },
            ["E017"],
        ),
        ({EXT: {"name": "A", "attributes": ["costCenter"]}}, ["E018"]),
        ({EXT: {"name": "A", "attributes": [{"type": "string"}]}}, ["E018"]),
        ({EXT: {"name": "A", "attributes": [{"name": "cost center"}]}}, ["E018"]),
        ({EXT: {"name": "A", "attributes": [{"name": "a"}, {"name": "A"}]}}, ["E018"]),
        (attr(multivalued=True), ["E018"]),
        (attr(multiValued="yes"), ["E018"]),
        (attr(canonicalValues="full"), ["E018"]),
        (attr(type="str"), ["E019"]),
        (attr(mutability="readwrite"), ["E020"]),
        (attr(returned="sometimes"), ["E020"]),
        (attr(uniqueness="unique"), ["E020"]),
        (attr(subAttributes=[{"name": "a"}]), ["E021"]),
        (attr(type="complex"), ["E021"]),
        (
            attr(
                type="complex",
                subAttributes=[{"name": "inner", "type": "complex", "subAttributes": []}],
            ),
            ["E021"],
        ),
        (
            attr(type="complex", subAttributes=[{"name": "9lives", "type": "integr"}]),
            ["E018", "E019"],
        ),
    ],
)
def test_each_bad_setting_is_a_check_error(value, expected):
    assert check_ids(value) == expected


def test_check_messages_name_the_urn_and_attribute_and_say_the_fix():
    with override_settings(
        DJANGO_PROVISIONING=provisioning(USER_SCHEMA_EXTENSIONS=attr(type="str"))
    ):
        (message,) = check_settings()
    assert EXT in message.msg and "costCenter" in message.msg and "'str'" in message.msg
    assert "USER_SCHEMA_EXTENSIONS" in message.msg
    assert message.hint and "string" in message.hint and "dateTime" in message.hint


def test_a_bad_extension_is_left_out_and_the_good_ones_served(db):
    value = {EXT: ACME, OTHER: {"name": "G", "attributes": [{"name": "x", "type": "str"}]}}
    with override_settings(DJANGO_PROVISIONING=provisioning(USER_SCHEMA_EXTENSIONS=value)):
        ids = [s["id"] for s in Client().get("/scim/v2/Schemas").json()["Resources"]]
    assert ids == [USER_SCHEMA, ENT, EXT, GROUP_SCHEMA]


def test_an_unqualified_path_in_two_extensions_must_be_qualified(acme, scim):
    """costCenter is in the Enterprise User extension and in Acme's: the path must say which."""
    created = create(scim)
    url = f"Users/{created['id']}"
    response = scim.patch(url, patch_body({"op": "add", "path": "costCenter", "value": "A"}))
    assert response.status_code == 400 and response.json()["scimType"] == "invalidPath"
    assert ENT in response.json()["detail"] and EXT in response.json()["detail"]
    seats = scim.patch(url, patch_body({"op": "add", "path": "seats", "value": 2}))
    assert seats.status_code == 200 and seats.json()[EXT] == {"seats": 2}  # only Acme's


def test_sort_by_an_extension_attribute(acme, scim):
    create(scim, **{EXT: {"costCenter": "b"}})
    create(scim, "bob@example.com", **{EXT: {"costCenter": "a"}})
    response = scim.get("Users", {"sortBy": f"{EXT}:costCenter"})
    assert response.status_code == 200, response.content
    assert [r["userName"] for r in response.json()["Resources"]] == [
        "bob@example.com",
        "alice@example.com",
    ]
