"""Hostile and odd input against the SCIM API: never a 500, always an RFC 7644 §3.12 body, and
nothing written when the answer is an error.

Every test that expects an error compares a snapshot of every row the SCIM door can write
(users, link rows, the value index, audit events, group links) before and after the request.
The suite runs on SQLite and on PostgreSQL (``DATABASE=postgres``), which is stricter: NUL
characters, lone surrogates and over-long strings are refused by the database there, so a
missing check in the code shows up as a 500 on PostgreSQL only.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_provisioning import provisioning
from django_provisioning.models import (
    AuditEvent,
    ExternalGroup,
    ExternalIdentity,
    ExternalIdentityValue,
    ScimToken,
)
from django_provisioning.schema.definitions import (
    ENTERPRISE_USER_SCHEMA,
    USER_RESOURCE,
    USER_SCHEMA,
)
from django_provisioning.schema.document import MAX_VALUES

from .bodies import patch_body
from .test_protocol_errors import ERROR
from .test_users_api import create, okta_user

User = get_user_model()
ENT = ENTERPRISE_USER_SCHEMA
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
USERNAME_FIELD = User.USERNAME_FIELD
#: On a user model whose username is the e-mail, userName is not written to it (the primary
#: e-mail is): then only the link row's column limits the userName.
EMAIL_MODEL = USERNAME_FIELD == User.get_email_field_name()
USERNAME_MAX = (
    255 if EMAIL_MODEL else min(255, User._meta.get_field(USERNAME_FIELD).max_length or 255)
)
FUZZ = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=os.environ.get("HYPOTHESIS_EXAMPLES") is None,
)


# ----------------------------------------------------------------------------- helpers


def snapshot() -> dict[str, Any]:
    """Every row the SCIM door writes, so "nothing changed" is checked column by column."""
    user_fields = [
        f.attname for f in User._meta.concrete_fields if f.attname not in ("last_login",)
    ]
    return {
        "users": list(User.objects.order_by("pk").values_list(*user_fields)),
        "identities": list(
            ExternalIdentity.objects.order_by("pk").values_list(
                "pk",
                "connection_id",
                "user_id",
                "scim_id",
                "external_id",
                "user_name",
                "user_name_normalized",
                "document",
                "version",
                "updated_at",
                "deleted_at",
            )
        ),
        "values": list(
            ExternalIdentityValue.objects.order_by("pk").values_list(
                "identity_id", "attribute", "type", "value", "primary"
            )
        ),
        # Refused authentications are audited (a trace of the refusal, not a change).
        "audit": list(
            AuditEvent.objects.exclude(action="auth_refused")
            .order_by("pk")
            .values_list("pk", "action", "detail")
        ),
        "memberships": sorted(
            User.groups.through.objects.values_list("pk", flat=True)  # type: ignore[attr-defined]
        )
        if hasattr(User, "groups")
        else [],
    }


def assert_scim_error(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/scim+json"
    body = json.loads(response.content)
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert isinstance(body["detail"], str) and body["detail"]
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body


def assert_client_error(response: Any) -> dict[str, Any]:
    """Any 4xx, as a SCIM error body (used where several statuses are defensible)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    return assert_scim_error(response, response.status_code)


def assert_refused(
    scim: Any,
    method: str,
    path: str,
    data: Any,
    status: int = 400,
    scim_type: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    before = snapshot()
    response = getattr(scim, method)(path, data, **extra)
    body = assert_scim_error(response, status, scim_type)
    assert snapshot() == before
    return body


def deep(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# ---------------------------------------------------------------- bodies: wrong types


WRONG_TYPES = [
    {"userName": None},
    {"userName": True},
    {"userName": []},
    {"userName": {}},
    {"userName": ["alice@example.com"]},
    {"userName": {"value": "alice@example.com"}},
    {"userName": ""},
    {"userName": "   "},
    {"name": "Alice"},
    {"name": ["Alice"]},
    {"name": 5},
    {"name": {"givenName": {}}},
    {"name": {"givenName": ["Alice"]}},
    {"name": {"givenName": True}},
    {"emails": "alice@example.com"},
    {"emails": 5},
    {"emails": [5]},
    {"emails": [[]]},
    {"emails": [["a@example.com"]]},
    {"emails": [{"value": {}}]},
    {"emails": [{"value": ["a@example.com"]}]},
    {"emails": [{"value": "a@example.com", "primary": "maybe"}]},
    {"emails": [{"value": "a@example.com", "primary": 1}]},
    {"emails": [{"value": "a@x.com", "primary": True}, {"value": "b@x.com", "primary": "True"}]},
    {"active": "yes"},
    {"active": 1},
    {"active": 0},
    {"active": []},
    {"active": {}},
    {"active": "1"},
    {"externalId": {}},
    {"externalId": []},
    {"externalId": True},
    {"schemas": "urn:ietf:params:scim:schemas:core:2.0:User"},
    {"schemas": [5]},
    {"schemas": {}},
    {"schemas": []},
    {"schemas": [None]},
    {"schemas": ["urn:example:not-a-user"]},
    {"password": 5},
    {"password": []},
    {"password": {}},
    {"password": True},
    {ENT: "x"},
    {ENT: []},
    {ENT: 5},
    {ENT: {"manager": "x"}},
    {ENT: {"manager": [1, 2]}},
    {ENT: {"department": {}}},
    {f"{ENT}:department": {}},
    {f"{ENT}:manager": "not-an-object"},
    {"phoneNumbers": [{"value": {"nested": "x"}}]},
    {"addresses": "Oxford"},
    {"addresses": [{"locality": []}]},
    {"x509Certificates": [{"value": 5, "primary": "no"}]},
    {"title": {}},
    {"title": []},
    {"title": True},
    {"nickName": [None, None]},
]


@pytest.mark.parametrize("change", WRONG_TYPES, ids=lambda c: json.dumps(c)[:60])
def test_post_wrong_types_are_400(scim, change):
    body = {**okta_user(), **change}
    assert_refused(scim, "post", "Users", body)


@pytest.mark.parametrize("change", WRONG_TYPES, ids=lambda c: json.dumps(c)[:60])
def test_put_wrong_types_are_400(scim, change):
    created = create(scim)
    body = {**okta_user(), **change}
    assert_refused(scim, "put", f"Users/{created['id']}", body)


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "userName", "value": None},
        {"op": "replace", "path": "userName", "value": []},
        {"op": "replace", "path": "userName", "value": {"x": 1}},
        {"op": "replace", "path": "userName", "value": True},
        {"op": "replace", "path": "userName", "value": ""},
        {"op": "replace", "path": "userName", "value": "   "},
        {"op": "remove", "path": "userName"},
        {"op": "replace", "path": "active", "value": "maybe"},
        {"op": "replace", "path": "active", "value": []},
        {"op": "replace", "path": "name", "value": "Alice"},
        {"op": "replace", "path": "name.givenName", "value": {"a": 1}},
        {"op": "add", "path": "emails", "value": [[1]]},
        {"op": "add", "path": "emails", "value": [{"value": {}}]},
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": []},
        {"op": "replace", "path": "externalId", "value": {}},
        {"op": "replace", "path": "password", "value": 5},
        {"op": "replace", "value": "not an object"},
        {"op": "replace", "value": ["not", "an", "object"]},
        {"op": "replace", "value": {"userName": None}},
        {"op": "replace", "value": {"active": "sometimes"}},
        {"op": 5, "path": "title", "value": "x"},
        {"op": None},
        {"op": "move", "path": "title", "value": "x"},
        {"op": "add", "path": 5, "value": "x"},
        {"op": "add", "path": [], "value": "x"},
        {"op": "add", "path": "title"},
        {"op": "add", "path": "nope", "value": "x"},
        {"op": "add", "path": "name.nope", "value": "x"},
        {"op": "add", "path": "emails[", "value": "x"},
        {"op": "add", "path": "emails[value eq]", "value": "x"},
        {"op": "add", "path": 'emails[nope eq "x"].value', "value": "x"},
        {"op": "add", "path": "a.b.c", "value": "x"},
        {"op": "add", "path": "\x00", "value": "x"},
        {"op": "add", "path": "title\x00", "value": "x"},
        {"op": "add", "path": "ti\ud800tle", "value": "x"},
        {"op": "add", "path": "(" * 5000, "value": "x"},
        {"op": "add", "path": "emails[" + "(" * 100 + "]", "value": "x"},
        {"op": "add", "path": "title" * 2000, "value": "x"},
        {"op": "replace", "path": "title", "value": {"a": [1, {"b": 2}]}},
        {"op": "replace", "path": ENT, "value": "x"},
        {"op": "replace", "path": f"{ENT}:manager", "value": [1, 2]},
        {"op": "replace", "path": f"{ENT}:manager", "value": {"value": {"x": 1}}},
        {"op": "remove", "path": "emails", "value": [[1]]},
        {"op": "remove", "path": "emails", "value": [True]},
        {"op": "remove"},
        {"op": "remove", "path": ""},
    ],
    ids=lambda o: json.dumps(o)[:70],
)
def test_patch_wrong_types_are_400(scim, operation):
    created = create(scim)
    assert_refused(scim, "patch", f"Users/{created['id']}", patch_body(operation))


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        5,
        "x",
        {},
        {"Operations": None},
        {"Operations": {}},
        {"Operations": "add"},
        {"Operations": [None]},
        {"Operations": [5]},
        {"Operations": [[]]},
        {"schemas": 5, "Operations": [{"op": "add", "path": "title", "value": "x"}]},
        {"schemas": {"a": 1}, "Operations": [{"op": "add", "path": "title", "value": "x"}]},
        {"schemas": ["urn:nope"], "Operations": [{"op": "add", "path": "title", "value": "x"}]},
        # The first operation is fine, the second is not: nothing of the first may be kept.
        {
            "Operations": [
                {"op": "replace", "path": "title", "value": "Boss"},
                {"op": "replace", "path": "active", "value": "maybe"},
            ]
        },
        {
            "Operations": [
                {"op": "replace", "path": "userName", "value": "bob@example.com"},
                {"op": "add", "path": "nope", "value": 1},
            ]
        },
    ],
    ids=lambda b: json.dumps(b)[:70],
)
def test_patch_bad_envelopes_are_400_and_atomic(scim, body):
    created = create(scim)
    raw = json.dumps(body)
    assert_refused(scim, "patch", f"Users/{created['id']}", raw)


def test_patch_with_too_many_operations_is_413(scim):
    created = create(scim)
    ops = [{"op": "replace", "path": "title", "value": str(i)} for i in range(1001)]
    assert_refused(scim, "patch", f"Users/{created['id']}", patch_body(*ops), status=413)


# ---------------------------------------------------------------- bodies: hostile JSON


@pytest.mark.parametrize(
    "raw",
    [
        deep(10_000),
        deep_object(10_000),
        '{"userName": "a", "name": ' + deep_object(10_000) + "}",
        '{"userName": "a", "emails": ' + deep(10_000) + "}",
        "[" * 100_000,
    ],
    ids=["array-10k", "object-10k", "nested-object-value", "nested-array-value", "unclosed"],
)
@pytest.mark.parametrize("method", ["post", "put", "patch", "search"])
def test_deeply_nested_json_is_400_not_recursion_error(scim, raw, method):
    created = create(scim)
    path = {"post": "Users", "search": "Users/.search"}.get(method, f"Users/{created['id']}")
    before = snapshot()
    response = getattr(scim, "post" if method == "search" else method)(path, raw)
    assert_scim_error(response, 400, "invalidSyntax")
    assert snapshot() == before


@pytest.mark.parametrize("depth", [50, 500, 900])
def test_moderately_nested_values_are_refused_cleanly(scim, depth):
    created = create(scim)
    nested = json.loads(deep(depth, '"x"'))
    assert_refused(scim, "post", "Users", okta_user("deep@example.com", title=nested))
    assert_refused(scim, "put", f"Users/{created['id']}", okta_user(title=nested))
    assert_refused(
        scim,
        "patch",
        f"Users/{created['id']}",
        patch_body({"op": "add", "path": "emails", "value": nested}),
    )
    # Unknown attributes are dropped whatever their shape: still no error and no recursion.
    response = scim.post("Users", okta_user("deep2@example.com", unknownThing=nested))
    assert response.status_code == 201, response.content[:300]
    assert "unknownThing" not in response.json()


def with_value(path: str, value: Any) -> dict[str, Any]:
    body = okta_user()
    if "." in path and not path.startswith("urn:"):
        parent, sub = path.split(".")
        body[parent] = {**body[parent], sub: value}
    else:
        body[path] = value
    return body


@pytest.mark.parametrize(
    "path,value",
    [
        ("userName", "al\x00ice@example.com"),
        ("externalId", "ext\x00"),
        ("displayName", "\x00"),
        ("name.givenName", "Al\x00ice"),
        ("title", "a\x00b"),
        ("emails", [{"value": "a\x00@example.com", "type": "work"}]),
        ("emails", [{"value": "a@example.com", "type": "wo\x00rk"}]),
        ("phoneNumbers", [{"value": "+1\x00"}]),
        ("addresses", [{"locality": "Ox\x00ford"}]),
        (ENT, {"department": "R\x00D"}),
        (ENT, {"manager": {"value": "m\x00"}}),
        ("password", "pass\x00word"),
    ],
)
def test_nul_characters_are_400(scim, path, value):
    body = with_value(path, value)
    assert_refused(scim, "post", "Users", body, scim_type="invalidValue")
    created = create(scim, userName="bob@example.com", emails=[])
    assert_refused(scim, "put", f"Users/{created['id']}", body, scim_type="invalidValue")
    assert_refused(
        scim,
        "patch",
        f"Users/{created['id']}",
        patch_body({"op": "replace", "path": path, "value": value}),
        scim_type="invalidValue",
    )


LONE = "\ud800"


@pytest.mark.parametrize(
    "path,value",
    [
        ("userName", f"al{LONE}ice@example.com"),
        ("externalId", f"ext{LONE}"),
        ("displayName", LONE),
        ("name.givenName", f"Al{LONE}ice"),
        ("name.familyName", "\udfff"),
        ("title", f"a{LONE}b"),
        ("emails", [{"value": f"a{LONE}@example.com", "type": "work"}]),
        ("phoneNumbers", [{"value": f"+1{LONE}", "type": "work"}]),
        (ENT, {"department": f"R{LONE}D"}),
        ("password", f"pass{LONE}word"),
    ],
)
def test_lone_surrogates_are_400(scim, path, value):
    body = with_value(path, value)
    # json.dumps writes the surrogate as the escape "\ud800", which json.loads turns back
    # into a lone surrogate: exactly what a client can send.
    raw = json.dumps(body)
    assert "\\ud800" in raw or "\\udfff" in raw
    assert_refused(scim, "post", "Users", raw, scim_type="invalidValue")
    created = create(scim, userName="bob@example.com", emails=[])
    assert_refused(scim, "put", f"Users/{created['id']}", raw, scim_type="invalidValue")
    assert_refused(
        scim,
        "patch",
        f"Users/{created['id']}",
        json.dumps(patch_body({"op": "replace", "path": path, "value": value})),
        scim_type="invalidValue",
    )


def test_lone_surrogate_in_an_unknown_attribute_is_dropped_not_stored(scim):
    response = scim.post("Users", json.dumps(okta_user(vendorThing=LONE)))
    assert response.status_code == 201
    assert "vendorThing" not in ExternalIdentity.objects.get().document


@pytest.mark.parametrize(
    "field,value",
    [
        ("userName", "a" * 300 + "@example.com"),
        ("userName", "a" * 5000),
        ("userName", "a" * (USERNAME_MAX + 1)),
        # NFKC + casefold make these longer than they look: U+FDFA is 18 characters in NFKC
        # and "ß" casefolds to "ss", so the normalised form overflows the 255-character column.
        ("userName", "\ufdfa" * 20),
        ("userName", "ß" * 200),
        ("externalId", "x" * 256),
        ("externalId", "x" * 100_000),
        ("userName", 10**4000),
    ],
    ids=[
        "300",
        "5000",
        "max+1",
        "nfkc-expands",
        "casefold-expands",
        "ext-256",
        "ext-100k",
        "int-4000-digits",
    ],
)
def test_strings_longer_than_their_column_are_400(scim, field, value):
    body = okta_user(**{field: value})
    assert_refused(scim, "post", "Users", body, scim_type="invalidValue")
    created = create(scim, userName="bob@example.com")
    assert_refused(
        scim,
        "put",
        f"Users/{created['id']}",
        {**body, "userName": body["userName"]}
        if field == "userName"
        else {**okta_user("bob@example.com"), field: value},
        scim_type="invalidValue",
    )
    assert_refused(
        scim,
        "patch",
        f"Users/{created['id']}",
        patch_body({"op": "replace", "path": field, "value": value}),
        scim_type="invalidValue",
    )
    assert_refused(
        scim,
        "patch",
        f"Users/{created['id']}",
        patch_body({"op": "replace", "value": {field: value}}),
        scim_type="invalidValue",
    )


def test_longest_allowed_user_name_round_trips_without_truncation(scim):
    user_name = "u" * (USERNAME_MAX - len("@example.com")) + "@example.com"
    assert len(user_name) == USERNAME_MAX
    body = create(scim, userName=user_name, emails=[{"value": "a@example.com"}])
    assert body["userName"] == user_name
    user = User.objects.get()
    assert user.get_username() == ("a@example.com" if EMAIL_MODEL else user_name)
    assert ExternalIdentity.objects.get().user_name == user_name
    ext = "e" * 255
    response = scim.patch(
        f"Users/{body['id']}", patch_body({"op": "replace", "path": "externalId", "value": ext})
    )
    assert response.status_code == 200, response.content
    assert response.json()["externalId"] == ext


def test_long_unmapped_strings_are_kept_whole(scim):
    title = "t" * 100_000
    body = create(scim, title=title)
    assert body["title"] == title
    assert scim.get(f"Users/{body['id']}").json()["title"] == title


@pytest.mark.parametrize(
    "change",
    [
        {"title": 10**300},
        {"title": 1e308},
        {"title": -0.0},
        {"title": 12345678901234567890},
        {"displayName": 1.5},
    ],
    ids=lambda c: repr(c)[:40],
)
def test_numbers_for_strings_are_stored_as_text(scim, change):
    body = create(scim, **change)
    key, value = next(iter(change.items()))
    assert body[key] == str(value)


@pytest.mark.parametrize("raw_number", ["1e400", "-1e400", "1" + "0" * 5000, "1E999999"])
def test_huge_json_numbers_never_500(scim, raw_number):
    before = snapshot()
    for key in ("title", "active", "userName", "externalId"):
        raw = json.dumps(okta_user()).replace('"active": true', f'"{key}x": 0')
        raw = raw[:-1] + f', "{key}": {raw_number}' + "}"
        response = scim.post("Users", raw)
        assert response.status_code in (201, 400), response.content
        if response.status_code == 400:
            assert_scim_error(response, 400)
            assert snapshot() == before
        else:
            assert json.loads(response.content)  # still valid JSON (no Infinity/NaN literals)
            ExternalIdentity.objects.all().delete()
            User.objects.all().delete()
            AuditEvent.objects.all().delete()
            before = snapshot()


def test_nan_and_infinity_literals_are_400(scim):
    for literal in ("NaN", "Infinity", "-Infinity"):
        raw = json.dumps(okta_user())[:-1] + f', "title": {literal}' + "}"
        assert_refused(scim, "post", "Users", raw, scim_type="invalidSyntax")


def test_duplicate_keys_last_one_wins(scim):
    raw = (
        '{"schemas": ["' + USER_SCHEMA + '"], "userName": "first@example.com",'
        ' "userName": "last@example.com", "active": true, "active": false}'
    )
    response = scim.post("Users", raw)
    assert response.status_code == 201, response.content
    assert response.json()["userName"] == "last@example.com"
    assert response.json()["active"] is False


def test_case_variant_duplicate_keys_are_resolved_deterministically(scim):
    raw = json.dumps(
        {"schemas": [USER_SCHEMA], "userName": "a@example.com", "USERNAME": "b@example.com"}
    )
    response = scim.post("Users", raw)
    assert response.status_code == 201
    assert response.json()["userName"] == "b@example.com"  # document order: the last one


@pytest.mark.parametrize("value,expected", [("True", True), ("false", False), (" TRUE ", True)])
def test_booleans_as_strings_are_accepted(scim, value, expected):
    body = create(scim, active=value, emails=[{"value": "a@example.com", "primary": str(value)}])
    assert body["active"] is expected
    assert body["emails"][0]["primary"] is expected


# --------------------------------------------------------------------- query parameters


GARBAGE = [
    "",
    " ",
    "\x00",
    "%00",
    "a\x00b",
    "\ud800",
    "é",
    "\U0001d518\U0001d52b\U0001d526",  # mathematical Fraktur letters
    "99999999999999999999",
    "-99999999999999999999",
    "1e400",
    "NaN",
    "[",
    "]",
    "(",
    ")",
    '"',
    "'",
    "\\",
    "userName",
    "userName eq",
    'userName eq "',
    'userName eq "a" and',
    "emails[",
    'emails[type eq "work"',
    'emails[type eq "work"]]',
    "not",
    "((((((((((((((((((((((((((((((((((((((((((((userName pr",
    "(" * 10_000,
    "not " * 10_000 + "userName pr",
    " or ".join(["userName pr"] * 1000),
    "a" * 100_000,
    "userName;DROP TABLE auth_user",
    'userName eq "x" or 1=1',
    'userName eq "%"',
    'userName co "_"',
    'meta.created gt "9999-12-31T23:59:59-14:00"',
    'meta.created lt "0001-01-01T00:00:00+14:00"',
    'meta.lastModified ge "0001-01-01T00:00:00Z"',
    'meta.created eq "2024-13-45T99:99:99Z"',
    'id eq "' + "f" * 10_000 + '"',
    'id gt "1"',
    "active gt true",
    'password eq "x"',
    "groups.$ref pr",
    "groups eq 5",
    "emails.value eq 1e400",
    "emails.value eq 1" + "0" * 5000,
    "title eq -0",
    "urn:nope:x eq 1",
    f'{ENT}:manager.value eq "x"',
    f'{ENT}:manager eq "x"',
    f'{ENT} eq "x"',
    "x509Certificates.value pr",
    'name eq "x"',
    'meta eq "x"',
    'schemas eq "x"',
    'emails[type eq "work" and value co "@"].display sw "a"',
    '$ref eq "x"',
]


@pytest.mark.parametrize(
    "param",
    ["filter", "sortBy", "sortOrder", "attributes", "excludedAttributes", "startIndex", "count"],
)
def test_garbage_query_parameters_never_500(scim, param):
    create(scim)
    create(scim, userName="bob@example.com", externalId="b")
    before = snapshot()
    for value in GARBAGE:
        # On the wire a lone surrogate arrives as its UTF-8-ish bytes (%ED%A0%80).
        query = urlencode({param: value.encode("utf-8", "surrogatepass")})
        response = scim.client.get(f"/scim/v2/Users?{query}")
        assert response.status_code in (200, 400), (param, value[:80], response.content[:300])
        if response.status_code == 400:
            assert_scim_error(response, 400)
        else:
            body = response.json()
            assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
            assert body["itemsPerPage"] == len(body["Resources"])
        # The same through POST /.search, where values also arrive with their JSON type.
        response = scim.post(".search", {"schemas": [SEARCH], param: value})
        assert response.status_code in (200, 400), (param, value[:80], response.content[:300])
        if response.status_code == 400:
            assert_scim_error(response, 400)
    assert snapshot() == before


@pytest.mark.parametrize(
    "params",
    [
        {"startIndex": "99999999999999999999"},
        {"startIndex": str(2**63)},
        {"startIndex": str(2**63 - 1)},
        {"startIndex": str(2**31)},
        {"startIndex": "100"},
        {"startIndex": "99999999999999999999", "count": "99999999999999999999"},
    ],
)
def test_start_index_beyond_the_results_is_an_empty_page(scim, params):
    create(scim)
    response = scim.get("Users", params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["totalResults"] == 1
    assert body["Resources"] == [] and body["itemsPerPage"] == 0
    assert body["startIndex"] == int(params["startIndex"])


def test_huge_count_is_capped(scim):
    create(scim)
    body = scim.get("Users", {"count": "99999999999999999999"}).json()
    assert body["totalResults"] == 1 and body["itemsPerPage"] == 1


@pytest.mark.parametrize(
    "search",
    [
        {"count": 1e400},
        {"count": -1e400},
        {"startIndex": 1e400},
        {"startIndex": 1e20},
        {"count": 2.5},
        {"startIndex": 1.5},
        {"count": True},
        {"count": [1]},
        {"count": {"n": 1}},
        {"startIndex": "1e3"},
        {"schemas": 5},
        {"schemas": True},
        {"schemas": "nope"},
        {"schemas": [5]},
        {"schemas": {}},
        {"filter": 5},
        {"filter": ["userName pr"]},
        {"filter": {"op": "eq"}},
        {"sortBy": 5},
        {"sortBy": ["userName"]},
        {"sortOrder": 5},
        {"sortOrder": ["ascending"]},
        {"attributes": 5},
        {"attributes": [5]},
        {"attributes": {"userName": 1}},
        {"excludedAttributes": [None]},
    ],
    ids=lambda s: json.dumps(s)[:50] if "e400" not in repr(s) else repr(s),
)
def test_search_request_with_wrong_types_is_400(scim, search):
    create(scim)
    body = {"schemas": [SEARCH], **search}
    raw = json.dumps(body).replace("Infinity", "1e400")
    before = snapshot()
    response = scim.post("Users/.search", raw)
    if response.status_code == 200:
        # Integral floats (1e20) are integers in JSON's data model: accepted as such.
        assert search in ({"startIndex": 1e20},), response.content
        assert response.json()["Resources"] == []
    else:
        assert_scim_error(response, 400)
    assert snapshot() == before


@pytest.mark.parametrize("attributes", ["a.b.c", 'emails[type eq "work"]', "name.", "x" * 5000])
def test_bad_attributes_on_a_write_refuse_the_write(scim, attributes):
    """The response projection is checked before the write, not after it was committed."""
    created = create(scim)
    url = f"Users/{created['id']}"
    for param in ("attributes", "excludedAttributes"):
        query = urlencode({param: attributes})
        assert_refused(
            scim, "post", f"Users?{query}", okta_user("bob@example.com"), scim_type="invalidValue"
        )
        assert_refused(
            scim, "put", f"{url}?{query}", okta_user(title="x"), scim_type="invalidValue"
        )
        assert_refused(
            scim,
            "patch",
            f"{url}?{query}",
            patch_body({"op": "replace", "path": "title", "value": "x"}),
            scim_type="invalidValue",
        )


def test_projection_applies_to_write_responses(scim):
    response = scim.post("Users?attributes=userName", okta_user())
    assert response.status_code == 201
    assert set(response.json()) == {"schemas", "id", "userName"}


def test_url_format_override_is_ignored(scim):
    create(scim)
    for fmt in ("xml", "api", "json", "\x00"):
        response = scim.get("Users", {"format": fmt})
        assert response.status_code == 200, (fmt, response.content)
        assert response["Content-Type"] == "application/scim+json"


@pytest.mark.parametrize(
    "query",
    [
        "filter=%00",
        "sortBy=%00",
        "attributes=%00",
        "startIndex=%00",
        "count=%00",
        "filter=%ff%fe",
        "filter=userName%20eq%20%22%ed%a0%80%22",
    ],
)
def test_raw_percent_encoded_garbage(scim, query):
    create(scim)
    response = scim.client.get(f"/scim/v2/Users?{query}")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert_scim_error(response, 400)


def _every_attribute_path() -> list[str]:
    paths = [
        "id",
        "externalId",
        "meta",
        "meta.created",
        "meta.lastModified",
        "meta.resourceType",
        "meta.location",
        "meta.version",
    ]
    for schema in (USER_RESOURCE.schema, *USER_RESOURCE.extensions):
        prefix = "" if schema.id == USER_SCHEMA else f"{schema.id}:"
        for attr in schema.attributes:
            paths.append(prefix + attr.name)
            paths += [f"{prefix}{attr.name}.{sub.name}" for sub in attr.sub_attributes]
    return paths


OPERANDS = ['"a"', '""', "true", "null", "5", "-1.5", '"2024-01-01T00:00:00Z"', '"\\u00e9"']


@pytest.mark.parametrize("path", _every_attribute_path())
def test_every_attribute_in_every_query_position_never_500(scim, path):
    """Each attribute reaches its own branch of the query compiler: try them all."""
    create(scim, title="T", nickName="N", **{ENT: {"department": "D", "manager": {"value": "m"}}})
    create(scim, userName="bob@example.com", externalId="b")
    group = Group.objects.create(name="G")
    ExternalGroup.objects.create(connection=scim.connection, group=group, display_name="G")
    User.objects.first().groups.add(group)
    before = snapshot()
    queries: list[dict[str, str]] = [
        {"sortBy": path},
        {"sortBy": path, "sortOrder": "descending"},
        {"attributes": path},
        {"excludedAttributes": path},
        {"filter": f"{path} pr"},
        {"filter": f"not ({path} pr)"},
    ]
    for op in ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"):
        queries += [{"filter": f"{path} {op} {operand}"} for operand in OPERANDS]
    if "." not in path.rpartition(":")[2]:
        queries.append({"filter": f'{path}[value eq "a" or type pr]'})
    for params in queries:
        response = scim.get("Users", params)
        assert response.status_code in (200, 400), (params, response.content[:300])
        if response.status_code == 400:
            assert_scim_error(response, 400)
    assert snapshot() == before


@pytest.mark.parametrize(
    "url",
    [
        "Schemas/%00",
        "Schemas/" + "x" * 5000,
        "Schemas/urn:%ed%a0%80",
        "ResourceTypes/%00",
        "ResourceTypes/..",
        "ServiceProviderConfig/x",
        "Bulk/x",
        "Users/.search/x",
    ],
)
def test_discovery_and_unknown_paths_are_scim_404(scim, url):
    response = scim.client.get(f"/scim/v2/{url}")
    assert_scim_error(response, 404)
    assert len(response.content) < 2000


@pytest.mark.parametrize("method", ["FOO", "TRACE", "CONNECT", "PROPFIND"])
def test_unknown_http_methods_are_scim_405(scim, method):
    created = create(scim)
    before = snapshot()
    for url in ("/scim/v2/Users", f"/scim/v2/Users/{created['id']}"):
        assert_scim_error(scim.client.generic(method, url), 405)
    assert snapshot() == before


# ----------------------------------------------------------------------- path parameters


BAD_IDS = [
    "..",
    "%2e%2e",
    "%00",
    "nope",
    "é",
    "%F0%9F%98%80",
    "%ed%a0%80",
    "0" * 10_000,
    "1",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "%20",
    "'%20OR%201=1--",
]


@pytest.mark.parametrize("bad_id", BAD_IDS, ids=lambda i: i[:20])
def test_bad_ids_are_scim_404_everywhere(scim, bad_id):
    create(scim)
    before = snapshot()
    url = f"Users/{bad_id}"
    for response in (
        scim.get(url),
        scim.put(url, okta_user()),
        scim.patch(url, patch_body({"op": "replace", "path": "active", "value": False})),
        scim.delete(url),
    ):
        assert_scim_error(response, 404)
        assert len(response.content) < 2000  # an id is not echoed back at any length
    assert snapshot() == before


def test_numeric_primary_key_is_not_an_id(scim):
    create(scim)
    pk = ExternalIdentity.objects.get().pk
    assert_scim_error(scim.get(f"Users/{pk}"), 404)
    assert_scim_error(scim.get(f"Users/{User.objects.get().pk}"), 404)


# ------------------------------------------------------------------------------ headers


@pytest.mark.parametrize(
    "header",
    [
        'W/"2"',
        '"2"',
        'W/"0"',
        "garbage",
        'W/"1',
        "W/",
        '""',
        ",",
        ", , ,",
        'W/"1 "',
        '"1"x',
        "\x00",
        "é",
        'W/"' + "1" * 10_000 + '"',
        ", ".join(f'W/"{i}"' for i in range(2, 500)),
    ],
    ids=lambda h: h[:20],
)
def test_if_match_that_does_not_match_is_412_and_writes_nothing(scim, header):
    created = create(scim)
    url = f"Users/{created['id']}"
    before = snapshot()
    responses = [
        scim.put(url, okta_user(title="new"), HTTP_IF_MATCH=header),
        scim.patch(
            url, patch_body({"op": "replace", "path": "title", "value": "x"}), HTTP_IF_MATCH=header
        ),
        scim.delete(url, HTTP_IF_MATCH=header),
    ]
    for response in responses:
        assert_scim_error(response, 412)
    assert snapshot() == before


@pytest.mark.parametrize("header", ['W/"1"', '"1"', "*", ' W/"1" ', 'W/"9", W/"1"', '"x", *'])
def test_if_match_that_matches_lets_the_write_through(scim, header):
    created = create(scim)
    response = scim.patch(
        f"Users/{created['id']}",
        patch_body({"op": "replace", "path": "title", "value": "x"}),
        HTTP_IF_MATCH=header,
    )
    assert response.status_code == 200, response.content
    assert response["ETag"] == 'W/"2"'


def test_if_none_match(scim):
    created = create(scim)
    url = f"Users/{created['id']}"
    assert scim.get(url, HTTP_IF_NONE_MATCH='W/"1"').status_code == 304
    assert scim.get(url, HTTP_IF_NONE_MATCH="*").status_code == 304
    assert scim.get(url, HTTP_IF_NONE_MATCH='W/"2"').status_code == 200
    assert scim.get(url, HTTP_IF_NONE_MATCH="garbage\x00").status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "Bearer  ",
        "bearer x",
        "Bearer scim_" + "x" * 10_000,
        "Bearer \x00",
        "Bearer scim_\x00",
        "Bearer \ud800",
        "Bearer é",
        "Bearer\tscim_x",
        "Basic Og==",
        "Digest username=x",
        "Bearer a b c",
        "Bearer " + "' OR '1'='1",
        "Bearer%20x",
        "\x00",
        "x" * 100_000,
    ],
    ids=lambda h: repr(h)[:24],
)
def test_garbage_authorization_is_401(scim, header):
    create(scim)
    before = snapshot()
    client = Client(HTTP_AUTHORIZATION=header)
    for method, data in (("get", None), ("post", okta_user("mallory@example.com"))):
        kwargs: dict[str, Any] = {}
        if data is not None:
            kwargs = {"data": json.dumps(data), "content_type": "application/scim+json"}
        response = getattr(client, method)("/scim/v2/Users", **kwargs)
        assert_scim_error(response, 401)
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert snapshot() == before
    refused = list(
        AuditEvent.objects.filter(action="auth_refused").values_list("detail", flat=True)
    )
    assert [d["status"] for d in refused] == [401, 401]
    credential = header.partition(" ")[2][:50]
    if len(credential) > 4:
        assert credential not in json.dumps(refused)  # the credential is never recorded


def test_token_with_whitespace_around_it_still_works(scim):
    client = Client(HTTP_AUTHORIZATION=f"Bearer   {scim.token}  ")
    assert client.get("/scim/v2/Users").status_code == 200


def test_token_of_inactive_connection_or_expired_is_401(scim, connection):
    connection.is_active = False
    connection.save()
    assert_scim_error(scim.get("Users"), 401)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/scim+json; charset=utf-8",
        "application/scim+json;charset=UTF-8",
        "application/scim+json",
        "application/json; charset=utf-8",
        "APPLICATION/SCIM+JSON",
        'application/scim+json; charset="utf-8"',
    ],
)
def test_json_content_types_with_parameters_are_accepted(scim, content_type):
    response = scim.post("Users", okta_user(), content_type=content_type)
    assert response.status_code == 201, response.content
    created = response.json()
    response = scim.patch(
        f"Users/{created['id']}",
        patch_body({"op": "replace", "path": "title", "value": "é"}),
        content_type=content_type,
    )
    assert response.status_code == 200, response.content
    assert response.json()["title"] == "é"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/scim+xml",
        "application/jsonx",
        "garbage",
        "\x00",
    ],
)
def test_other_content_types_are_415(scim, content_type):
    created = create(scim)
    raw = json.dumps(okta_user("bob@example.com"))
    assert_refused(scim, "post", "Users", raw, status=415, content_type=content_type)
    assert_refused(
        scim, "put", f"Users/{created['id']}", raw, status=415, content_type=content_type
    )


@pytest.mark.parametrize("charset", ["utf-16", "latin-1", "nope"])
def test_charset_that_does_not_match_the_body_is_a_client_error(scim, charset):
    raw = json.dumps(okta_user("zoë@example.com"), ensure_ascii=False).encode("utf-8")
    before = snapshot()
    # generic(): the test client's post() would re-encode the body in the named charset.
    response = scim.client.generic(
        "POST", "/scim/v2/Users", raw, content_type=f"application/scim+json; charset={charset}"
    )
    if response.status_code == 201:
        # latin-1 decodes any byte: the client said latin-1, so "zoÃ«" is what it sent.
        assert charset in ("latin-1", "nope")
    else:
        assert_client_error(response)
        assert snapshot() == before


@pytest.mark.parametrize("length", ["99999999999", str(2**64), "1048577"])
def test_content_length_lies_are_413(scim, length):
    created = create(scim)
    raw = json.dumps(okta_user("bob@example.com"))
    assert_refused(scim, "post", "Users", raw, status=413, CONTENT_LENGTH=length)
    assert_refused(scim, "put", f"Users/{created['id']}", raw, status=413, CONTENT_LENGTH=length)
    assert_refused(
        scim,
        "patch",
        f"Users/{created['id']}",
        patch_body({"op": "replace", "path": "title", "value": "x"}),
        status=413,
        CONTENT_LENGTH=length,
    )


@pytest.mark.parametrize("length", ["abc", "-1", "0"])
def test_nonsense_content_length_is_a_client_error(scim, length):
    raw = json.dumps(okta_user("bob@example.com"))
    before = snapshot()
    response = scim.post("Users", raw, CONTENT_LENGTH=length)
    assert_client_error(response)
    assert snapshot() == before


@pytest.mark.parametrize(
    "accept",
    [
        "text/html",
        "application/xml",
        "*/*;q=abc",
        "\x00",
        "application/scim+json;q=0",
        "a/b/c;;;",
        "x" * 10_000,
    ],
)
def test_any_accept_header_gets_scim_json(scim, accept):
    create(scim)
    response = scim.get("Users", HTTP_ACCEPT=accept)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/scim+json"


def test_options_is_a_scim_answer_without_internals(scim):
    response = scim.client.options("/scim/v2/Users")
    assert response["Content-Type"] == "application/scim+json"
    assert b"provisioning core" not in response.content  # no docstrings
    unauthenticated = Client().options("/scim/v2/Users")
    assert_scim_error(unauthenticated, 401)


def test_unexpected_host_is_400_before_anything_is_written(scim):
    """A Host outside ALLOWED_HOSTS is refused before the write, not after it (Location)."""
    before = snapshot()
    # Without CommonMiddleware, nothing validated the Host before the view.
    with override_settings(MIDDLEWARE=[]):
        response = Client(HTTP_AUTHORIZATION=f"Bearer {scim.token}").post(
            "/scim/v2/Users",
            json.dumps(okta_user()),
            content_type="application/scim+json",
            HTTP_HOST="evil.example",
        )
    assert_scim_error(response, 400)
    assert snapshot() == before


# ------------------------------------------------------------------------------ sequences


def test_create_delete_then_everything_is_404(scim):
    created = create(scim)
    url = f"Users/{created['id']}"
    assert scim.delete(url).status_code == 204
    before = snapshot()
    assert_scim_error(scim.get(url), 404)
    assert_scim_error(scim.delete(url), 404)
    assert_scim_error(
        scim.patch(url, patch_body({"op": "replace", "path": "active", "value": True})), 404
    )
    assert_scim_error(scim.put(url, okta_user()), 404)
    assert snapshot() == before
    assert (
        scim.get("Users", {"filter": 'userName eq "alice@example.com"'}).json()["totalResults"] == 0
    )


def test_delete_twice_under_delete_policy(scim, connection):
    connection.deprovision_policy = "delete"
    connection.save()
    created = create(scim)
    assert scim.delete(f"Users/{created['id']}").status_code == 204
    before = snapshot()
    assert_scim_error(scim.delete(f"Users/{created['id']}"), 404)
    assert snapshot() == before


def test_repost_after_delete_reuses_the_account_with_a_new_id(scim):
    created = create(scim)
    user_pk = User.objects.get().pk
    scim.delete(f"Users/{created['id']}")
    again = create(scim)
    assert again["id"] != created["id"]
    assert User.objects.get().pk == user_pk
    assert again["active"] is True
    assert_scim_error(scim.get(f"Users/{created['id']}"), 404)


def test_rename_onto_a_deleted_users_name_is_409_and_keeps_the_deleted_link(scim):
    alice = create(scim)
    bob = create(
        scim, userName="bob@example.com", externalId="b", emails=[{"value": "bob@example.com"}]
    )
    assert scim.delete(f"Users/{alice['id']}").status_code == 204
    before = snapshot()
    # The deleted user still owns the account and its username: a rename cannot take it.
    assert_scim_error(
        scim.patch(
            f"Users/{bob['id']}",
            patch_body(
                {"op": "replace", "path": "userName", "value": "alice@example.com"},
                # On an e-mail user model the local name is the e-mail: rename it too.
                {"op": "replace", "path": "emails[value pr].value", "value": "alice@example.com"},
            ),
        ),
        409,
        "uniqueness",
    )
    assert_scim_error(
        scim.put(f"Users/{bob['id']}", okta_user("ALICE@example.com")), 409, "uniqueness"
    )
    assert snapshot() == before


def test_duplicate_create_racing_past_the_check_is_409(scim, monkeypatch):
    """Two POSTs for one userName at once: both pass the check, the database decides."""
    create(scim)
    before = snapshot()
    monkeypatch.setattr(provisioning.records, "take_user_name", lambda *a, **k: None)
    monkeypatch.setattr(
        type(provisioning.get_adapter()), "find_user_by_user_name", lambda *a, **k: None
    )
    response = scim.post("Users", okta_user("Alice@Example.com", externalId="other"))
    assert_scim_error(response, 409, "uniqueness")
    assert snapshot() == before


def test_duplicate_create_is_409_every_time(scim):
    create(scim)
    before = snapshot()
    for name in (
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        " alice@example.com ",
        "\uff41\uff4c\uff49\uff43\uff45@example.com",  # fullwidth,
    ):
        assert_scim_error(scim.post("Users", okta_user(name)), 409, "uniqueness")
    assert snapshot() == before


def test_put_ignores_id_and_meta_of_another_user(scim):
    alice = create(scim)
    bob = create(scim, userName="bob@example.com", externalId="b")
    body = okta_user(
        "bob@example.com",
        externalId="b",
        title="Builder",
        id=alice["id"],
        meta={"version": 'W/"99"', "location": "x"},
    )
    response = scim.put(f"Users/{bob['id']}", body)
    assert response.status_code == 200, response.content
    assert response.json()["id"] == bob["id"]
    assert response.json()["meta"]["version"] == 'W/"2"'
    alice_now = scim.get(f"Users/{alice['id']}").json()
    assert alice_now == alice
    assert "Builder" not in json.dumps(alice_now)


def test_patch_id_of_another_user_is_ignored(scim):
    alice = create(scim)
    bob = create(scim, userName="bob@example.com", externalId="b")
    response = scim.patch(
        f"Users/{bob['id']}",
        patch_body(
            {"op": "replace", "path": "id", "value": alice["id"]},
            {"op": "replace", "value": {"id": alice["id"], "title": "x"}},
        ),
    )
    assert response.status_code == 200
    assert response.json()["id"] == bob["id"]
    assert scim.get(f"Users/{alice['id']}").json() == alice


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "replace", "path": "title", "value": "Boss"}],
        [{"op": "replace", "path": "active", "value": True}],
        [{"op": "replace", "path": "active", "value": "True"}],
        [
            {
                "op": "add",
                "path": "emails",
                "value": [{"primary": True, "value": "alice@example.com", "type": "work"}],
            }
        ],
        [{"op": "remove", "path": "nickName"}],
        [{"op": "remove", "path": 'emails[type eq "home"]'}],
        [{"op": "replace", "value": {"userName": "alice@example.com", "title": "Boss"}}],
        [
            {"op": "replace", "path": "title", "value": "tmp"},
            {"op": "replace", "path": "title", "value": "Boss"},
        ],
    ],
    ids=lambda o: json.dumps(o)[:60],
)
def test_patch_that_changes_nothing_keeps_the_version(scim, operations):
    """RFC 7232 §2.3: the entity tag changes when the representation does, and only then."""
    created = create(scim, title="Boss")
    url = f"Users/{created['id']}"
    before = snapshot()
    response = scim.patch(url, patch_body(*operations))
    assert response.status_code == 200, response.content
    assert response["ETag"] == 'W/"1"' == response.json()["meta"]["version"]
    assert response.json() == created
    assert snapshot() == before  # no version bump, no audit event, no updated_at change
    # A conditional write on the unchanged version still goes through.
    response = scim.patch(
        url, patch_body({"op": "replace", "path": "title", "value": "New"}), HTTP_IF_MATCH='W/"1"'
    )
    assert response.status_code == 200
    assert response["ETag"] == 'W/"2"'


def test_put_that_changes_nothing_keeps_the_version(scim):
    body = okta_user(title="Boss")
    created = scim.post("Users", body).json()
    before = snapshot()
    body.pop("password")
    response = scim.put(f"Users/{created['id']}", body)
    assert response.status_code == 200
    assert response["ETag"] == 'W/"1"'
    assert snapshot() == before


def test_a_password_change_is_a_change(scim):
    created = create(scim)
    response = scim.patch(
        f"Users/{created['id']}",
        patch_body({"op": "replace", "path": "password", "value": "An0ther-secret"}),
    )
    assert response.status_code == 200
    assert response["ETag"] == 'W/"2"'
    assert User.objects.get().check_password("An0ther-secret")


def test_multi_valued_attributes_hold_at_most_max_values(scim):
    """Unbounded lists made one 0.5 MiB PATCH (10 000 e-mails, 999 operations) cost 11 s."""
    emails = [{"value": f"a{i}@example.com", "type": "other"} for i in range(MAX_VALUES)]
    response = scim.post("Users", okta_user(emails=emails))
    assert response.status_code == 201, response.content[:300]
    created = response.json()
    assert ExternalIdentityValue.objects.filter(attribute="emails").count() == MAX_VALUES
    found = scim.get("Users", {"filter": f'emails.value eq "A{MAX_VALUES - 1}@example.com"'})
    assert found.json()["totalResults"] == 1
    too_many = [*emails, {"value": "one-more@example.com"}]
    assert_refused(
        scim,
        "post",
        "Users",
        okta_user("bob@example.com", emails=too_many),
        scim_type="invalidValue",
    )
    assert_refused(
        scim, "put", f"Users/{created['id']}", okta_user(emails=too_many), scim_type="invalidValue"
    )
    assert_refused(
        scim,
        "patch",
        f"Users/{created['id']}",
        patch_body({"op": "add", "path": "emails", "value": [{"value": "one-more@example.com"}]}),
        scim_type="invalidValue",
    )
    # Growing one element per operation is stopped at the operation that crosses the line.
    assert_refused(
        scim,
        "patch",
        f"Users/{created['id']}",
        patch_body(
            *[
                {"op": "add", "path": f'emails[value eq "b{i}@example.com"].type', "value": "x"}
                for i in range(3)
            ]
        ),
        scim_type="invalidValue",
    )
    assert_refused(
        scim,
        "patch",
        f"Users/{created['id']}",
        patch_body(
            {"op": "add", "path": "roles", "value": [{"value": str(i)} for i in range(1001)]}
        ),
        scim_type="invalidValue",
    )


# ---------------------------------------------------------------------- other connections


def test_other_connection_token_cannot_touch_by_id(scim, other_scim):
    alice = create(scim)
    url = f"Users/{alice['id']}"
    before = snapshot()
    assert_scim_error(other_scim.get(url), 404)
    assert_scim_error(other_scim.get(url, HTTP_IF_NONE_MATCH="*"), 404)
    assert_scim_error(other_scim.put(url, okta_user()), 404)
    assert_scim_error(
        other_scim.patch(url, patch_body({"op": "replace", "path": "active", "value": False})), 404
    )
    assert_scim_error(other_scim.delete(url), 404)
    assert_scim_error(other_scim.delete(url, HTTP_IF_MATCH="*"), 404)
    assert snapshot() == before


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"filter": "userName pr"},
        {"filter": 'userName eq "alice@example.com"'},
        {"filter": 'externalId eq "00u1abcd"'},
        {"filter": "id pr"},
        {"filter": 'emails.value co "alice"'},
        {"filter": 'emails[type eq "work"].value pr'},
        {"filter": "groups pr"},
        {"filter": 'groups.display eq "Engineering"'},
        {"filter": 'not (userName eq "nobody")'},
        {"filter": 'userName eq "x" or not (userName eq "x")'},
        {"filter": "meta.created pr"},
        {"filter": 'meta.resourceType eq "User"'},
        {"sortBy": "groups.display"},
        {"sortBy": "groups"},
        {"sortBy": "emails"},
        {"sortBy": f"{ENT}:manager.value"},
        {"attributes": "groups"},
    ],
    ids=lambda q: json.dumps(q)[:60],
)
def test_other_connection_sees_none_of_our_users(scim, other_scim, query):
    alice = create(scim)
    group = Group.objects.create(name="Engineering")
    ExternalGroup.objects.create(
        connection=scim.connection, group=group, display_name="Engineering"
    )
    User.objects.get().groups.add(group)
    assert scim.get(f"Users/{alice['id']}").json()["groups"][0]["display"] == "Engineering"
    body = other_scim.get("Users", query).json()
    assert body["totalResults"] == 0 and body["Resources"] == []
    search = other_scim.post(".search", {"schemas": [SEARCH], **query}).json()
    assert search["totalResults"] == 0


def test_filter_by_another_connections_group_id_matches_nothing(scim, other_scim):
    create(scim)
    bob = create(
        other_scim,
        userName="bob@globex.test",
        externalId="b",
        emails=[{"value": "bob@globex.test"}],
    )
    group = Group.objects.create(name="Shared")
    ours = ExternalGroup.objects.create(
        connection=scim.connection, group=group, display_name="Ours"
    )
    theirs = ExternalGroup.objects.create(
        connection=other_scim.connection, group=group, display_name="Theirs"
    )
    for user in User.objects.all():
        user.groups.add(group)
    # Our filter by their group's id finds nothing; by ours finds our user only.
    body = scim.get("Users", {"filter": f'groups.value eq "{theirs.scim_id}"'}).json()
    assert body["totalResults"] == 0
    body = scim.get("Users", {"filter": f'groups.value eq "{ours.scim_id}"'}).json()
    assert [r["userName"] for r in body["Resources"]] == ["alice@example.com"]
    # One auth.Group linked by both connections: each sees only its own link row.
    mine = scim.get("Users").json()["Resources"][0]["groups"]
    assert mine == [
        {
            "value": str(ours.scim_id),
            "display": "Ours",
            "type": "direct",
            "$ref": f"http://testserver/scim/v2/Groups/{ours.scim_id}",
        }
    ]
    theirs_view = other_scim.get(f"Users/{bob['id']}").json()["groups"]
    assert [g["display"] for g in theirs_view] == ["Theirs"]
    sorted_ = scim.get("Users", {"sortBy": "groups.display", "attributes": "groups"}).json()
    assert "Theirs" not in json.dumps(sorted_)


def test_patch_paths_cannot_reach_other_connections(scim, other_scim):
    alice = create(scim)
    bob = create(
        other_scim,
        userName="bob@globex.test",
        externalId="b",
        emails=[{"value": "bob@globex.test"}],
    )
    before_bob = other_scim.get(f"Users/{bob['id']}").json()
    response = scim.patch(
        f"Users/{alice['id']}",
        patch_body(
            {"op": "add", "path": "groups", "value": [{"value": bob["id"]}]},
            {"op": "replace", "path": f"{ENT}:manager", "value": {"value": bob["id"]}},
            {
                "op": "replace",
                "path": 'emails[value eq "bob@globex.test"].value',
                "value": "x@example.com",
            },
        ),
    )
    assert response.status_code == 200, response.content
    assert "groups" not in response.json()
    # manager.value is an opaque string we store; nothing of Bob is resolved or shown.
    assert response.json()[ENT]["manager"] == {"value": bob["id"]}
    assert "bob@globex.test" not in json.dumps(response.json())
    assert other_scim.get(f"Users/{bob['id']}").json() == before_bob


def test_same_user_name_in_two_connections_does_not_link_without_the_domain(scim, other_scim):
    create(scim)
    before = snapshot()
    response = other_scim.post("Users", okta_user())
    assert_scim_error(response, 409, "uniqueness")
    assert "alice" not in response.json()["detail"].lower()  # no data of the other tenant
    assert snapshot() == before


# ----------------------------------------------------------------------- secrets


def test_no_password_or_token_in_responses_audit_or_logs(scim, caplog):
    secret = "Pa55-word-never-shown"
    with caplog.at_level(logging.DEBUG):
        created = scim.post("Users", okta_user(password=secret)).json()
        url = f"Users/{created['id']}"
        responses = [
            scim.get(url),
            scim.put(url, okta_user(password=secret + "2")),
            scim.patch(
                url, patch_body({"op": "replace", "path": "password", "value": secret + "3"})
            ),
            scim.patch(url, patch_body({"op": "replace", "value": {"password": secret + "4"}})),
            scim.get("Users", {"attributes": "password"}),
            scim.get("Users", {"filter": 'password eq "x"'}),
            scim.post("Users", okta_user(password=secret + "5")),  # 409
            scim.patch(
                url, patch_body({"op": "replace", "path": "password", "value": secret + "\x00"})
            ),  # 400
        ]
        Client(HTTP_AUTHORIZATION=f"Bearer {scim.token}x").get("/scim/v2/Users")  # 401
    for response in responses:
        assert secret not in response.content.decode()
        assert scim.token not in response.content.decode()
    audit = json.dumps(list(AuditEvent.objects.values("action", "detail", "target")))
    assert secret not in audit and "password" not in audit.replace("password_changed", "")
    assert secret not in caplog.text
    assert scim.token not in caplog.text
    assert scim.token[12:] not in caplog.text
    token = ScimToken.objects.get()
    assert scim.token not in json.dumps([token.prefix, token.checksum, token.name])


def test_a_failing_signal_receiver_does_not_turn_a_committed_write_into_an_error(
    scim, caplog, django_capture_on_commit_callbacks
):
    from django_provisioning import signals

    heard = []

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    def listening(**kwargs: Any) -> None:
        heard.append(kwargs["user"].pk)

    signals.user_created.connect(broken)
    signals.user_created.connect(listening)
    try:
        with caplog.at_level(logging.ERROR, "django_provisioning"):
            with django_capture_on_commit_callbacks(execute=True):
                response = scim.post("Users", okta_user())
    finally:
        signals.user_created.disconnect(broken)
        signals.user_created.disconnect(listening)
    assert response.status_code == 201, response.content
    assert heard == [User.objects.get().pk]  # the receiver after the broken one still ran
    assert "receiver bug" in caplog.text


def test_location_behind_a_proxy(scim):
    with override_settings(
        USE_X_FORWARDED_HOST=True,
        SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
        ALLOWED_HOSTS=["sp.example.com"],
    ):
        response = scim.post(
            "Users",
            okta_user(),
            HTTP_HOST="internal:8000",
            HTTP_X_FORWARDED_HOST="sp.example.com",
            HTTP_X_FORWARDED_PROTO="https",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        expected = f"https://sp.example.com/scim/v2/Users/{body['id']}"
        assert response["Location"] == body["meta"]["location"] == expected
        listed = scim.get(
            "Users",
            HTTP_HOST="internal:8000",
            HTTP_X_FORWARDED_HOST="sp.example.com",
            HTTP_X_FORWARDED_PROTO="https",
        ).json()
        assert listed["Resources"][0]["meta"]["location"] == expected
        # A forwarded host that is not allowed is refused before anything is written: by
        # CommonMiddleware when the project has it (Django's own 400), else by the view.
        before = snapshot()
        response = scim.post(
            "Users", okta_user("bob@example.com"), HTTP_X_FORWARDED_HOST="evil.example"
        )
        assert response.status_code == 400
        assert snapshot() == before
        with override_settings(MIDDLEWARE=[]):
            # A new client: a client keeps the middleware chain it first loaded.
            response = Client(HTTP_AUTHORIZATION=f"Bearer {scim.token}").post(
                "/scim/v2/Users",
                json.dumps(okta_user("bob@example.com")),
                content_type="application/scim+json",
                HTTP_X_FORWARDED_HOST="evil.example",
            )
        assert_scim_error(response, 400)
        assert snapshot() == before


def test_location_without_proxy_settings_ignores_forwarded_headers(scim):
    response = scim.post(
        "Users", okta_user(), HTTP_X_FORWARDED_HOST="evil.example", HTTP_X_FORWARDED_PROTO="https"
    )
    assert response["Location"].startswith("http://testserver/scim/v2/Users/")


# ----------------------------------------------------------------------- property tests


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["True", "false", "", " ", "\x00", LONE, "a" * 300, "work", "home"])
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "value",
                    "type",
                    "primary",
                    "display",
                    "givenName",
                    "familyName",
                    "department",
                    "manager",
                    "$ref",
                    "x",
                    "",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)
user_keys = st.sampled_from(
    [
        "userName",
        "name",
        "displayName",
        "nickName",
        "title",
        "active",
        "emails",
        "phoneNumbers",
        "addresses",
        "externalId",
        "password",
        "schemas",
        "id",
        "meta",
        "groups",
        "roles",
        "entitlements",
        "x509Certificates",
        "locale",
        "timezone",
        ENT,
        f"{ENT}:manager",
        f"{ENT}:department",
        "USERNAME",
        "Emails",
        "unknown",
    ]
)
user_bodies = st.dictionaries(user_keys, json_values, max_size=8)


def _check_answer(response: Any, before: dict[str, Any], ok: tuple[int, ...]) -> None:
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        assert_scim_error(response, response.status_code)
        assert snapshot() == before
    else:
        assert response.status_code in ok, response.content[:300]
        body = response.json()
        assert "password" not in body


def _reset_to(created_id: str) -> None:
    ExternalIdentity.objects.exclude(scim_id=created_id).delete()


@FUZZ
@given(body=user_bodies)
def test_fuzz_post_bodies(scim, body):
    before = snapshot()
    body = {"schemas": [USER_SCHEMA], "userName": "fuzz@example.com", **body}
    response = scim.post("Users", json.dumps(body))
    _check_answer(response, before, (201,))
    ExternalIdentity.objects.all().delete()
    User.objects.all().delete()


@FUZZ
@given(body=user_bodies)
def test_fuzz_put_bodies(scim, body):
    created = ExternalIdentity.objects.first()
    if created is None:
        created = provisioning.create_user(scim.connection, {"userName": "fuzz@example.com"})
    before = snapshot()
    response = scim.put(f"Users/{created.scim_id}", json.dumps(body))
    _check_answer(response, before, (200,))


patch_ops = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "replace", "remove", "Add", "REPLACE", "nope"])},
    optional={
        "path": st.sampled_from(
            [
                "userName",
                "title",
                "name.givenName",
                "emails",
                'emails[type eq "work"].value',
                'emails[value co "@"]',
                "active",
                "externalId",
                "password",
                "groups",
                "id",
                f"{ENT}:department",
                f"{ENT}:manager",
                "manager",
                "nickName",
                "addresses",
                "phoneNumbers[primary eq true]",
                "",
                "meta.version",
                "x.y.z",
                "emails[",
            ]
        )
        | st.text(max_size=20),
        "value": json_values,
    },
)


@FUZZ
@given(operations=st.lists(patch_ops, min_size=1, max_size=5))
def test_fuzz_patch_bodies(scim, operations):
    created = ExternalIdentity.objects.first()
    if created is None:
        created = provisioning.create_user(
            scim.connection,
            {
                "userName": "fuzz@example.com",
                "title": "t",
                "emails": [{"value": "fuzz@example.com", "type": "work"}],
            },
        )
    before = snapshot()
    response = scim.patch(f"Users/{created.scim_id}", json.dumps(patch_body(*operations)))
    _check_answer(response, before, (200,))


query_text = (
    st.text(max_size=60)
    | st.sampled_from(GARBAGE)
    | st.from_regex(
        r"(userName|emails\.value|title|active|meta\.created|groups\.display|id|externalId) "
        r'(eq|ne|co|sw|ew|gt|ge|lt|le|pr) ("[^"]{0,10}"|true|false|null|-?[0-9]{1,25})',
        fullmatch=True,
    )
)


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "filter",
                "sortBy",
                "sortOrder",
                "attributes",
                "excludedAttributes",
                "startIndex",
                "count",
            ]
        ),
        query_text | json_values,
        max_size=4,
    )
)
def test_fuzz_search_requests(scim, params):
    if not ExternalIdentity.objects.exists():
        provisioning.create_user(
            scim.connection,
            {"userName": "fuzz@example.com", "emails": [{"value": "f@example.com"}]},
        )
    before = snapshot()
    response = scim.post("Users/.search", json.dumps({"schemas": [SEARCH], **params}))
    _check_answer(response, before, (200,))
    text_params = {
        k: v.encode("utf-8", "surrogatepass") for k, v in params.items() if isinstance(v, str)
    }
    response = scim.client.get(f"/scim/v2/Users?{urlencode(text_params)}")
    _check_answer(response, before, (200,))
