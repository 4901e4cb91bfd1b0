"""The SCIM filter grammar (RFC 7644 §3.4.2.2), PATCH paths (§3.5.2) and in-memory matching.

No database: parsing and evaluation are pure.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from django_provisioning.schema.definitions import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_SCHEMA,
    USER_RESOURCE,
    USER_SCHEMA,
)
from django_provisioning.scim.errors import InvalidFilter, InvalidPath
from django_provisioning.scim.filtering.evaluate import matches, matches_element
from django_provisioning.scim.filtering.nodes import (
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    MAX_TERMS,
    And,
    AttrPath,
    Compare,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
)
from django_provisioning.scim.filtering.parser import (
    parse_attr_path,
    parse_filter,
    parse_patch_path,
)

ENT = ENTERPRISE_USER_SCHEMA


def cmp(attr: str, op: str, value: Any, sub: str | None = None, urn: str | None = None) -> Compare:
    return Compare(AttrPath(urn, attr, sub), op, value)


# ------------------------------------------------------------------------------ grammar


@pytest.mark.parametrize("op", ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"])
def test_every_compare_operator(op: str) -> None:
    assert parse_filter(f'userName {op} "bjensen"') == cmp("userName", op, "bjensen")


@pytest.mark.parametrize("text", ['userName EQ "x"', 'userName Eq "x"', 'userName eQ "x"'])
def test_operators_are_case_insensitive(text: str) -> None:
    assert parse_filter(text) == cmp("userName", "eq", "x")


def test_present() -> None:
    assert parse_filter("title pr") == Present(AttrPath(None, "title"))
    assert parse_filter("title PR") == Present(AttrPath(None, "title"))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("active eq true", True),
        ("active eq FALSE", False),
        ("active eq True", True),
        ("title eq null", None),
        ("x eq 42", 42),
        ("x eq -7", -7),
        ("x eq 0", 0),
        ("x eq 1.5", 1.5),
        ("x eq 2e3", 2000.0),
        ("x eq -1.25E-2", -0.0125),
    ],
)
def test_literal_values(text: str, value: Any) -> None:
    expr = parse_filter(text)
    assert isinstance(expr, Compare)
    assert expr.value == value
    assert type(expr.value) is type(value)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'"a\"b"', 'a"b'),
        (r'"back\\slash"', "back\\slash"),
        (r'"tab\there"', "tab\there"),
        (r'"\u00e9t\u00e9"', "été"),
        (r'"\ud83d\ude00"', "\U0001f600"),
        (r'"slash\/"', "slash/"),
        ('"quote ) and ( or ] ["', "quote ) and ( or ] ["),
        ('""', ""),
        ('"日本語"', "日本語"),
    ],
)
def test_string_escapes(literal: str, value: str) -> None:
    assert parse_filter(f"displayName eq {literal}") == cmp("displayName", "eq", value)


def test_sub_attribute() -> None:
    assert parse_filter('name.givenName eq "Barbara"') == cmp("name", "eq", "Barbara", "givenName")
    assert parse_filter('meta.lastModified gt "2011-05-13T04:42:34Z"') == cmp(
        "meta", "gt", "2011-05-13T04:42:34Z", "lastModified"
    )


def test_attribute_names_are_kept_as_written() -> None:
    assert parse_filter('USERNAME eq "x"') == cmp("USERNAME", "eq", "x")
    assert parse_filter("groups.$ref pr") == Present(AttrPath(None, "groups", "$ref"))
    assert parse_filter('x-custom_1 eq "y"') == cmp("x-custom_1", "eq", "y")


def test_urn_prefix_is_canonicalised() -> None:
    assert parse_filter(f'{ENT}:department eq "R&D"') == cmp("department", "eq", "R&D", urn=ENT)
    assert parse_filter(f"{ENT.upper()}:department pr") == Present(AttrPath(ENT, "department"))
    assert parse_filter(f'{ENT}:manager.value eq "26118915"') == cmp(
        "manager", "eq", "26118915", "value", ENT
    )
    assert parse_filter(f'{USER_SCHEMA.lower()}:name.givenName sw "B"') == cmp(
        "name", "sw", "B", "givenName", USER_SCHEMA
    )
    assert parse_filter(f'{GROUP_SCHEMA.lower()}:displayName eq "x"') == cmp(
        "displayName", "eq", "x", urn=GROUP_SCHEMA
    )


def test_unknown_urn_is_kept_as_written() -> None:
    expr = parse_filter('urn:example:Acme:2.0:User:shoeSize.left eq "9"')
    assert expr == cmp("shoeSize", "eq", "9", "left", "urn:example:Acme:2.0:User")


def test_precedence_not_and_or() -> None:
    a, b, c, d = (cmp(n, "eq", 1) for n in "abcd")
    assert parse_filter("a eq 1 or b eq 1 and c eq 1") == Or(a, And(b, c))
    assert parse_filter("a eq 1 and b eq 1 or c eq 1") == Or(And(a, b), c)
    assert parse_filter("not (a eq 1) and b eq 1") == And(Not(a), b)
    assert parse_filter("a eq 1 or not (b eq 1) and c eq 1 or d eq 1") == Or(
        Or(a, And(Not(b), c)), d
    )


def test_left_associativity() -> None:
    a, b, c = (cmp(n, "eq", 1) for n in "abc")
    assert parse_filter("a eq 1 and b eq 1 and c eq 1") == And(And(a, b), c)
    assert parse_filter("a eq 1 or b eq 1 or c eq 1") == Or(Or(a, b), c)


def test_parentheses_override_precedence() -> None:
    a, b, c = (cmp(n, "eq", 1) for n in "abc")
    assert parse_filter("(a eq 1 or b eq 1) and c eq 1") == And(Or(a, b), c)
    assert parse_filter("((a eq 1))") == a
    assert parse_filter("not ((a eq 1 or b eq 1))") == Not(Or(a, b))


def test_not_is_lenient_about_parentheses() -> None:
    a, b = cmp("a", "eq", 1), cmp("b", "eq", 1)
    assert parse_filter("not a eq 1 and b eq 1") == And(Not(a), b)
    assert parse_filter("NOT not (a eq 1)") == Not(Not(a))


def test_whitespace_is_flexible() -> None:
    assert parse_filter('  userName   eq\t"x"  ') == cmp("userName", "eq", "x")
    assert parse_filter('(userName eq"x")and(title pr)') == And(
        cmp("userName", "eq", "x"), Present(AttrPath(None, "title"))
    )


def test_rfc_examples() -> None:
    """The filter examples of RFC 7644 §3.4.2.2 all parse."""
    examples = [
        'userName Eq "john"',
        'title pr and userType eq "Employee"',
        'title pr or userType eq "Intern"',
        'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
        'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
        'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
        'userType eq "Employee" and (emails.type eq "work")',
        'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
        'emails[type eq "work" and value co "@example.com"] or '
        'ims[type eq "xmpp" and value co "@foo.com"]',
        'meta.lastModified gt "2011-05-13T04:42:34Z"',
        'urn:ietf:params:scim:schemas:core:2.0:User:name.familyName co "O\'Malley"',
    ]
    for text in examples:
        parse_filter(text)


# ------------------------------------------------------------------------------ value paths


def test_value_path() -> None:
    assert parse_filter('emails[type eq "work" and value co "@example.com"]') == ValuePath(
        AttrPath(None, "emails"),
        And(cmp("type", "eq", "work"), cmp("value", "co", "@example.com")),
    )


def test_value_path_with_sub_attribute_is_desugared() -> None:
    assert parse_filter('emails[type eq "work"].value eq "x@example.com"') == ValuePath(
        AttrPath(None, "emails"),
        And(cmp("type", "eq", "work"), cmp("value", "eq", "x@example.com")),
    )
    assert parse_filter('emails[type eq "work"].value pr') == ValuePath(
        AttrPath(None, "emails"), And(cmp("type", "eq", "work"), Present(AttrPath(None, "value")))
    )


def test_value_path_inner_logic_and_combination() -> None:
    expr = parse_filter('emails[not (type eq "work") or primary eq true] and title pr')
    assert expr == And(
        ValuePath(
            AttrPath(None, "emails"),
            Or(Not(cmp("type", "eq", "work")), cmp("primary", "eq", True)),
        ),
        Present(AttrPath(None, "title")),
    )


def test_value_path_with_urn() -> None:
    assert parse_filter(f'{USER_SCHEMA}:emails[type eq "work"]') == ValuePath(
        AttrPath(USER_SCHEMA, "emails"), cmp("type", "eq", "work")
    )


def test_membership_probe_from_entra() -> None:
    assert parse_filter('id eq "g" and members[value eq "u"]') == And(
        cmp("id", "eq", "g"), ValuePath(AttrPath(None, "members"), cmp("value", "eq", "u"))
    )


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ('userName eq "x', "Unterminated string starting at position 12"),
        ('(userName eq "x"', "Expected ')'"),
        ('userName eq "x")', "Unexpected ')' at position 15"),
        ('emails[type eq "work"', "Expected ']'"),
        ('emails[type eq "work"]]', "Unexpected ']'"),
        ('userName eq "x" ]', "Unexpected ']'"),
        ("()", "Expected an attribute name or '('"),
        ('userName is "x"', "Expected an operator"),
        (
            "userName",
            "Expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) at position 8",
        ),
        ('userName eq "x" foo', "Unexpected 'foo' at position 16"),
        ('userName eq "x" and', "Expected an attribute name or '(' at position 19"),
        ('userName eq "x" or or title pr', "found 'or'"),
        ('and userName eq "x"', "Expected an attribute name at position 0, found 'and'"),
        ("userName eq", "Expected a value"),
        ("userName eq bjensen", "Expected a value"),
        ("userName eq 1.2.3", "Expected a value"),
        ("userName eq 01", "Expected a value"),
        ("userName eq (", "Expected a value"),
        ('userName eq "a\\x"', "Invalid escape in the string at position 12"),
        ('userName eq "\\u00"', "Invalid escape"),
        ('userName eq "nul\\u0000"', "NUL"),
        ('userName eq "\\ud800"', "not valid Unicode"),
        ('userName eq "x" ; drop table users', "Unexpected character ';' at position 16"),
        ("userName eq 'x'", 'Unexpected character "\'"'),
        ('name.givenName.first eq "x"', "too deep"),
        ('1abc eq "x"', "Invalid attribute name '1abc'"),
        ('name. eq "x"', "Invalid attribute name ''"),
        (f"{ENT} pr", "names a schema, not an attribute"),
        (f"{ENT}: pr", "names a schema, not an attribute"),
        ('emails[type eq "work"] eq "x"', "Unexpected 'eq'"),
        ('emails[type eq "work"].value', "Expected an operator"),
        ('emails[type eq "work"].1x eq "y"', "Invalid sub-attribute '.1x'"),
        ('emails[value[type eq "a"] pr]', "cannot be nested"),
        ('emails[emails.type eq "work"]', "Inside '[...]' name a sub-attribute alone"),
        (f'emails[{ENT}:type eq "work"]', "Inside '[...]' name a sub-attribute alone"),
        ('emails.value[type eq "work"]', "follows the attribute, not its sub-attribute"),
        ('.value eq "x"', "Expected an attribute name"),
        ("not", "Expected an attribute name or '('"),
        ("x eq 1e999", "out of range"),
    ],
)
def test_invalid_filters(text: str, fragment: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_filter(text)
    assert fragment in info.value.detail
    assert info.value.scim_type == "invalidFilter"
    assert info.value.status == 400


def test_non_string_filter() -> None:
    with pytest.raises(InvalidFilter, match="must be a string"):
        parse_filter(None)  # type: ignore[arg-type]
    for value in (['userName eq "a"'], {"filter": 'userName eq "a"'}):  # unhashable
        with pytest.raises(InvalidFilter, match="must be a string"):
            parse_filter(value)  # type: ignore[arg-type]


def test_a_kept_filter_follows_the_configured_extensions() -> None:
    """A schema URN is split by the extensions configured now, not when first parsed."""
    from .test_extensions import ACME, EXT, provisioning

    text = f'{EXT.upper()}:costCenter eq "x"'
    assert parse_filter(text).path.urn == EXT.upper()  # no such schema: kept as written
    with override_settings(DJANGO_PROVISIONING=provisioning(USER_SCHEMA_EXTENSIONS={EXT: ACME})):
        assert parse_filter(text).path.urn == EXT
    assert parse_filter(text).path.urn == EXT.upper()


def test_too_long() -> None:
    text = 'userName eq "' + "a" * 100_000 + '"'
    with pytest.raises(InvalidFilter, match=r"too long \(100014 characters; at most 4096\)"):
        parse_filter(text)
    parse_filter('userName eq "' + "a" * (MAX_FILTER_LENGTH - 14) + '"')


@pytest.mark.parametrize(
    "text",
    [
        "(" * 5000 + 'a eq "x"' + ")" * 5000,
        "(" * (MAX_DEPTH + 1) + 'a eq "x"' + ")" * (MAX_DEPTH + 1),
        "not " * 1000 + 'a eq "x"',
        "not (" * (MAX_DEPTH + 1) + 'a eq "x"' + ")" * (MAX_DEPTH + 1),
        "[" * 3000,
        "(" * 3000,
    ],
)
def test_deep_nesting_is_refused_without_recursion_error(text: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_filter(text[:MAX_FILTER_LENGTH])
    assert "nested too deeply" in info.value.detail or "Expected" in info.value.detail


def test_nesting_up_to_the_limit_is_fine() -> None:
    depth = MAX_DEPTH
    expr = parse_filter("(" * depth + 'a eq "x"' + ")" * depth)
    assert expr == cmp("a", "eq", "x")


def test_too_many_terms() -> None:
    ok = " or ".join(f'a eq "{i}"' for i in range(MAX_TERMS))
    parse_filter(ok)
    with pytest.raises(InvalidFilter, match="too many comparisons"):
        parse_filter(ok + ' or b eq "x"')


def test_long_flat_chains_do_not_recurse() -> None:
    """A long and/or chain parses iteratively and evaluates without deep recursion."""
    text = " and ".join(["title pr"] * MAX_TERMS)
    expr = parse_filter(text)
    assert matches(expr, {"title": "x"}, USER_RESOURCE)
    assert not matches(expr, {}, USER_RESOURCE)


@pytest.mark.parametrize(
    "text",
    [
        "\x00",
        '"',
        "[]",
        "]",
        ")(",
        '"\\',
        "eq eq eq",
        "a pr pr",
        "a eq [",
        "🙂 eq 1",
        'a eq "x" and (b eq "y" or (c pr)',
        "emails[]",
        "emails[ ]",
        "a[b pr].",
        "a[b pr].c",
        "urn:",
        "a..b pr",
    ],
)
def test_garbage_raises_invalid_filter_only(text: str) -> None:
    with pytest.raises(InvalidFilter):
        parse_filter(text)


# ------------------------------------------------------------------------------ attr paths


def test_parse_attr_path() -> None:
    assert parse_attr_path("name.familyName") == AttrPath(None, "name", "familyName")
    assert parse_attr_path(f"{ENT}:employeeNumber") == AttrPath(ENT, "employeeNumber")
    with pytest.raises(InvalidFilter):
        parse_attr_path("name eq 1")
    with pytest.raises(InvalidFilter):
        parse_attr_path("")


# ------------------------------------------------------------------------------ PATCH paths


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("emails", PatchPath(AttrPath(None, "emails"))),
        ("name.givenName", PatchPath(AttrPath(None, "name", "givenName"))),
        (
            'emails[type eq "work"]',
            PatchPath(AttrPath(None, "emails"), cmp("type", "eq", "work")),
        ),
        (
            'emails[type eq "work"].value',
            PatchPath(AttrPath(None, "emails"), cmp("type", "eq", "work"), "value"),
        ),
        (
            'members[value eq "2819c223"]',
            PatchPath(AttrPath(None, "members"), cmp("value", "eq", "2819c223")),
        ),
        (
            'members[value eq "a" or value eq "b"]',
            PatchPath(
                AttrPath(None, "members"), Or(cmp("value", "eq", "a"), cmp("value", "eq", "b"))
            ),
        ),
        (f"{ENT}:manager.value", PatchPath(AttrPath(ENT, "manager", "value"))),
        (f"{ENT}:department", PatchPath(AttrPath(ENT, "department"))),
        (f"{ENT.lower()}:Department", PatchPath(AttrPath(ENT, "Department"))),
        (f"{USER_SCHEMA}:userName", PatchPath(AttrPath(USER_SCHEMA, "userName"))),
        ("  active ", PatchPath(AttrPath(None, "active"))),
    ],
)
def test_patch_paths(text: str, expected: PatchPath) -> None:
    assert parse_patch_path(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("emails[", "Expected an attribute name"),
        ('emails[type eq "work"', "Expected ']'"),
        ('emails[type eq "work"] extra', "expected the end of the path"),
        ('emails[type eq "work"].value.x', "Invalid sub-attribute"),
        ("name.givenName.x", "too deep"),
        ("emails eq", "expected the end of the path"),
        ('emails.value[type eq "work"]', "not its sub-attribute"),
        (f"{ENT}", "names a schema"),
        ("a" * 5000, "too long"),
        ("(emails)", "Expected an attribute name"),
    ],
)
def test_invalid_patch_paths(text: str, fragment: str) -> None:
    with pytest.raises(InvalidPath) as info:
        parse_patch_path(text)
    assert fragment in info.value.detail
    assert info.value.scim_type == "invalidPath"


# ------------------------------------------------------------------------------ matching

DOC: dict[str, Any] = {
    "id": "2819c223-7f76-453a-919d-413861904646",
    "externalId": "EXT-Bjensen",
    "userName": "BJensen@Example.com",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "title": "Tour Guide",
    "active": True,
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
    ENT: {"department": "Tour Operations", "manager": {"value": "26118915"}},
    "meta": {
        "resourceType": "User",
        "created": "2010-01-23T04:56:22Z",
        "lastModified": "2011-05-13T04:42:34Z",
    },
}


def match(text: str, doc: dict[str, Any] = DOC) -> bool:
    return matches(parse_filter(text), doc, USER_RESOURCE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # caseExact false: case-insensitive
        ('userName eq "bjensen@example.com"', True),
        ('USERNAME eq "BJENSEN@EXAMPLE.COM"', True),
        ('title co "GUIDE"', True),
        ('title sw "tour"', True),
        ('title ew "guide"', True),
        ('title ew "tour"', False),
        ('title gt "a"', True),
        ('title lt "a"', False),
        ('title ge "tour guide"', True),
        ('title le "TOUR GUIDE"', True),
        # caseExact true: id and externalId
        ('externalId eq "EXT-Bjensen"', True),
        ('externalId eq "ext-bjensen"', False),
        ('externalId co "Bjen"', True),
        ('externalId co "bjen"', False),
        ('id eq "2819c223-7f76-453a-919d-413861904646"', True),
        ('id eq "2819C223-7F76-453A-919D-413861904646"', False),
        ('meta.resourceType eq "User"', True),
        ('meta.resourceType eq "user"', False),
        # ne, not and absent attributes
        ('title ne "Tour Guide"', False),
        ('title ne "Pilot"', True),
        ('nickName ne "Babs"', True),
        ('not (nickName eq "Babs")', True),
        ('nickName eq "Babs"', False),
        ('nickName gt "a"', False),
        ("nickName pr", False),
        ("title pr", True),
        ("title eq null", False),
        ("nickName eq null", True),
        ("nickName ne null", False),
        ("title ne null", True),
        # sub-attributes and URNs
        ('name.givenName eq "barbara"', True),
        ("name.middleName pr", False),
        ("name pr", True),
        (f'{ENT}:department eq "tour operations"', True),
        (f'{ENT.upper()}:DEPARTMENT co "operations"', True),
        (f'{ENT}:manager.value eq "26118915"', True),
        (f'{ENT}:manager eq "26118915"', True),
        (f"{ENT}:costCenter pr", False),
        (f'{USER_SCHEMA}:name.familyName eq "JENSEN"', True),
        ('urn:example:unknown:User:shoeSize eq "9"', False),
        # multi-valued: any element
        ('emails eq "BABS@jensen.org"', True),
        ('emails.value eq "bjensen@example.com"', True),
        ('emails.type eq "home"', True),
        ('emails.type eq "other"', False),
        ('emails.type ne "work"', False),
        ('emails.type ne "other"', True),
        ('emails co "jensen.org"', True),
        ("emails pr", True),
        ("ims pr", False),
        ('ims.value ne "x"', True),
        ('phoneNumbers.value sw "555"', True),
        ("emails.primary eq true", True),
        # value paths: all conditions on the same element
        ('emails[type eq "work" and value co "@example.com"]', True),
        ('emails[type eq "home" and value co "@example.com"]', False),
        ('emails[type eq "WORK"].value eq "bjensen@example.com"', True),
        ('emails[type eq "home"].value eq "bjensen@example.com"', False),
        ('emails[not (type eq "work")]', True),
        ('emails[primary eq true and type eq "home"]', False),
        ("emails[display pr]", False),
        ('name[givenName eq "Barbara"]', True),
        ('ims[type eq "xmpp"]', False),
        # booleans (Entra sends strings)
        ("active eq true", True),
        ('active eq "True"', True),
        ('active eq "false"', False),
        ("active ne false", True),
        # dateTime compared as instants
        ('meta.created eq "2010-01-23T04:56:22Z"', True),
        ('meta.created eq "2010-01-23T05:56:22+01:00"', True),
        ('meta.created eq "2010-01-23T04:56:22.000Z"', True),
        ('meta.lastModified gt "2011-05-13T04:42:33Z"', True),
        ('meta.lastModified gt "2011-05-13T04:42:34Z"', False),
        ('meta.lastModified ge "2011-05-13T04:42:34Z"', True),
        ('meta.lastModified lt "2011-05-14T00:00:00-02:00"', True),
        ('meta.lastModified le "2010-01-01T00:00:00Z"', False),
        # numbers compare as the text strings store
        ("title eq 5", False),
        # logic
        ('title pr and userName eq "bjensen@example.com"', True),
        ("title pr and nickName pr", False),
        ("nickName pr or title pr", True),
        ("not (title pr and nickName pr)", True),
        ("(nickName pr or title pr) and not (active eq false)", True),
    ],
)
def test_matches(text: str, expected: bool) -> None:
    assert match(text) is expected


def test_numbers_against_string_attributes() -> None:
    assert match(f"{ENT}:employeeNumber eq 701984", {ENT: {"employeeNumber": "701984"}})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("active gt true", "boolean"),
        ('active co "t"', "boolean"),
        ('active eq "maybe"', "compare it with true or false"),
        ('meta.created co "2010"', "dateTime"),
        ('meta.created gt "yesterday"', "not an xsd:dateTime"),
        ("meta.created gt 5", "not an xsd:dateTime"),
        ("title eq true", "is a string"),
        ('name eq "Barbara"', "is complex"),
        ('password eq "secret"', "cannot be filtered"),
        ('title.value eq "x"', "has no sub-attributes"),
        ('name.nickname eq "x"', "Unknown sub-attribute 'name.nickname'"),
        ("title gt null", "only 'eq' and 'ne' accept null"),
        ('title[value eq "x"]', "is not complex"),
    ],
)
def test_matches_refuses_ill_typed_filters(text: str, fragment: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        match(text)
    assert fragment in info.value.detail


def test_matches_unknown_attribute_compares_by_stored_type() -> None:
    doc = {"shoeSize": "Nine", "vip": True, "score": 7, "tags": ["A", "b"]}
    assert match('shoeSize eq "nine"', doc)
    assert match("vip eq true", doc)
    assert match('vip eq "True"', doc)
    assert not match("vip eq false", doc)
    assert match("score gt 5", doc)
    assert match('tags eq "a"', doc)
    assert not match("shoeSize pr and missing pr", doc)


def test_matches_element_for_value_paths() -> None:
    emails = USER_RESOURCE.find(None, "emails")
    work = {"value": "bjensen@example.com", "type": "Work", "primary": True}
    assert matches_element(parse_filter('type eq "work"'), work, emails)
    assert matches_element(parse_filter('type eq "work" and primary eq "True"'), work, emails)
    assert not matches_element(parse_filter("display pr"), work, emails)
    # without a schema, strings still compare case-insensitively
    assert matches_element(parse_filter('value eq "BJENSEN@example.com"'), work, None)
    member = {"value": "2819c223", "display": "Babs"}
    assert matches_element(parse_filter('value eq "2819c223"'), member, None)
    assert not matches_element(parse_filter('value eq "other"'), member, None)
    # the element as a "resource": an unknown attribute of User falls back to the stored type
    assert matches(parse_filter('type eq "WORK"'), work, USER_RESOURCE)


def test_matches_element_refuses_nested_value_paths() -> None:
    emails = USER_RESOURCE.find(None, "emails")
    nested = ValuePath(AttrPath(None, "x"), cmp("y", "eq", 1))
    with pytest.raises(InvalidFilter, match="cannot be nested"):
        matches_element(nested, {"x": {"y": 1}}, emails)


def test_matches_is_lenient_about_key_case_in_documents() -> None:
    assert match('userName eq "a"', {"USERNAME": "A"})
    assert match(f'{ENT}:department eq "x"', {ENT.lower(): {"Department": "X"}})


def test_random_token_soup_raises_only_protocol_errors() -> None:
    """A seeded fuzz over the grammar's pieces: nothing escapes but InvalidFilter/InvalidPath."""
    import random

    pieces = [
        "userName",
        "emails",
        "name.givenName",
        f"{ENT}:department",
        "value",
        "type",
        ".value",
        "eq",
        "ne",
        "co",
        "pr",
        "gt",
        "and",
        "or",
        "not",
        "(",
        ")",
        "[",
        "]",
        '"x"',
        '"\\u00e9"',
        '"\\',
        "true",
        "null",
        "12",
        "-1.5e3",
        " ",
        "urn:",
        ":",
        ".",
        "$ref",
        "'",
        "\x00",
        "é",
    ]
    rng = random.Random(7644)
    for _ in range(3000):
        text = "".join(
            rng.choice(pieces) + rng.choice(("", " ")) for _ in range(rng.randint(1, 12))
        )
        try:
            expr = parse_filter(text)
        except InvalidFilter:
            pass
        else:
            try:
                matches(expr, DOC, USER_RESOURCE)
            except InvalidFilter:
                pass
        try:
            parse_patch_path(text)
        except InvalidPath:
            pass
