"""A SCIM filter is applied or refused, never dropped (RFC 7644 §3.4.2.2, §3.4.3).

An identity provider looks a user up before creating it (``filter=userName eq "x"``); a filter
the server silently ignores answers with every user of the connection, and the IdP links a
stranger. These tests attack every way a filter could fall back to "no filter": text the
form layer refuses (NUL, which django-filter's ``CharField`` dropped), empty and repeated
parameters, the parameter's name in another case, and -- the property test -- any text at
all: the answer is ``400 invalidFilter`` or exactly the users the in-memory evaluator
(:mod:`django_provisioning.scim.filtering.evaluate`) selects with the same parsed filter, through
``GET /Users`` and ``POST /Users/.search``, on SQLite and on PostgreSQL (which refuses NUL in
text: that must be a 400, not a 500).
"""

from __future__ import annotations

import json
import os
import string
import unicodedata
from typing import Any
from urllib.parse import urlencode

import pytest
from django.http import QueryDict
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from django_provisioning.schema.definitions import (
    ENTERPRISE_USER_SCHEMA,
    USER_RESOURCE,
    USER_SCHEMA,
)
from django_provisioning.scim.errors import InvalidFilter
from django_provisioning.scim.filtering import filterset
from django_provisioning.scim.filtering.evaluate import matches
from django_provisioning.scim.filtering.parser import parse_filter

from .test_hostile import GARBAGE, assert_scim_error

ENT = ENTERPRISE_USER_SCHEMA
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PROPERTY = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=os.environ.get("HYPOTHESIS_EXAMPLES") is None,
)

PEOPLE: list[dict[str, Any]] = [
    {
        "userName": "alice@example.com",
        "externalId": "00u-Alice",
        "displayName": "Alice Liddell",
        "title": "Tea taster",
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [
            {"value": "alice@example.com", "type": "work", "primary": True},
            {"value": "alice@home.test", "type": "home"},
        ],
        ENT: {"department": "R&D"},
    },
    {
        "userName": "bob@example.com",
        "externalId": "x-BOB",
        "displayName": "山田 Bob",
        "nickName": "‽!",
        "active": False,
        "emails": [{"value": "bob@home.test", "type": "home"}],
    },
    {"userName": "carol@example.com"},
    {"userName": "dave@example.com", "externalId": "🙂", "title": "%_\\", "nickName": "🙂"},
]


@pytest.fixture
def people(scim) -> list[dict[str, Any]]:
    """The connection's users as a client reads them (the in-memory evaluator's input)."""
    for person in PEOPLE:
        response = scim.post("Users", {"schemas": [USER_SCHEMA, ENT], **person})
        assert response.status_code == 201, response.content
    body = scim.get("Users", {"count": 100}).json()
    assert body["totalResults"] == len(PEOPLE)
    return body["Resources"]


def selected(text: str, people: list[dict[str, Any]]) -> set[str] | None:
    """The ids the filter *text* selects in memory; None when it is no valid filter."""
    try:
        expr = parse_filter(text)
        return {p["id"] for p in people if matches(expr, p, USER_RESOURCE)}
    except InvalidFilter:
        return None


def get_query(text: str) -> tuple[str, str]:
    """(the query string on the wire, the filter text the server decodes from it)."""
    # A lone surrogate travels as its UTF-8-ish bytes (%ED%A0%80), as a hostile client sends it.
    query = urlencode({"filter": text.encode("utf-8", "surrogatepass")})
    return query, QueryDict(query)["filter"]


def check_answer(response: Any, text: str, people: list[dict[str, Any]]) -> None:
    """400 invalidFilter, or exactly the users the same filter selects in memory."""
    if response.status_code == 400:
        assert_scim_error(response, 400, "invalidFilter")
        return
    assert response.status_code == 200, (text, response.status_code, response.content[:300])
    expected = selected(text, people)
    assert expected is not None, f"a filter that does not parse was answered 200: {text!r}"
    body = response.json()
    assert body["schemas"] == [LIST]
    found = {r["id"] for r in body["Resources"]}
    if not expected:
        assert len(found) < len(people), f"a filter that matches nobody returned everyone: {text!r}"
    assert found == expected, text
    assert body["totalResults"] == len(found)


# ------------------------------------------------------------------- named attacks

NUL_FILTERS = [
    'userName eq "nobody\x00"',
    'userName eq "\x00"',
    "\x00",
    'userName eq "alice@example.com"\x00',
    '\x00userName eq "alice@example.com"',
    'userName\x00 eq "alice@example.com"',
    'emails[value eq "alice@example.com\x00"]',
    'userName eq "nobody\\u0000"',  # the JSON escape of NUL inside the string
]


@pytest.mark.parametrize("text", NUL_FILTERS, ids=repr)
def test_nul_in_a_filter_is_invalid_filter_not_every_user(scim, people, text):
    """RFC 7644 §3.4.2.2: a filter the server cannot apply is 400 invalidFilter (also on
    PostgreSQL, which would refuse NUL in a query parameter with an error)."""
    query, _seen = get_query(text)
    assert_scim_error(scim.client.get(f"/scim/v2/Users?{query}"), 400, "invalidFilter")
    response = scim.post("Users/.search", {"schemas": [SEARCH], "filter": text})
    assert_scim_error(response, 400, "invalidFilter")


def test_percent_encoded_nul_from_the_issue(scim, people):
    response = scim.client.get('/scim/v2/Users?filter=userName%20eq%20"nobody%00"')
    assert_scim_error(response, 400, "invalidFilter")


@pytest.mark.parametrize(
    "query",
    [
        "filter=",
        "filter=%20%20",
        'filter=userName%20eq%20"alice@example.com"&filter=',
        'filter=&filter=userName%20eq%20"nobody"',
        'filter=userName%20eq%20"nobody"&filter=userName%20pr',
        'filter=userName%20eq%20"nobody"&Filter=userName%20pr',
    ],
)
def test_empty_or_repeated_filter_parameter_is_invalid_filter(scim, people, query):
    """An empty filter is no filter the grammar allows; two filters are ambiguous: the
    answer to either must not be "every user"."""
    assert_scim_error(scim.client.get(f"/scim/v2/Users?{query}"), 400, "invalidFilter")


@pytest.mark.parametrize(
    "search",
    [
        {"filter": ""},
        {"filter": "   "},
        {"filter": 'userName eq "nobody"', "Filter": "userName pr"},
        {"FILTER": 'userName eq "nobody"', "filter": 'userName eq "nobody"'},
    ],
)
def test_empty_or_ambiguous_search_filter_is_invalid_filter(scim, people, search):
    response = scim.post("Users/.search", {"schemas": [SEARCH], **search})
    assert_scim_error(response, 400, "invalidFilter")


@pytest.mark.parametrize("name", ["Filter", "FILTER", "fIlTeR"])
def test_filter_parameter_in_another_case_is_applied(scim, people, name):
    """Attribute names are case-insensitive in SCIM (RFC 7643 §2.1): a ``Filter`` member of a
    SearchRequest, or a ``Filter`` query parameter, filters rather than being ignored."""
    query = urlencode({name: 'userName eq "nobody@example.com"'})
    body = scim.client.get(f"/scim/v2/Users?{query}").json()
    assert (body["totalResults"], body["Resources"]) == (0, [])
    body = scim.post(
        "Users/.search", {"schemas": [SEARCH], name: 'userName eq "bob@example.com"'}
    ).json()
    assert [r["userName"] for r in body["Resources"]] == ["bob@example.com"]


def test_absent_or_null_filter_lists_everyone(scim, people):
    """The one way to ask for no filter: send none (``"filter": null`` in a SearchRequest)."""
    assert scim.get("Users").json()["totalResults"] == len(PEOPLE)
    body = scim.post("Users/.search", {"schemas": [SEARCH], "filter": None}).json()
    assert body["totalResults"] == len(PEOPLE)


def test_a_filterset_that_does_not_apply_the_filter_fails_closed(scim, people, monkeypatch):
    """Whatever django-filter does with the value (a validator refusing it, an empty-value
    shortcut, a future version's behaviour), a filter it did not apply is refused."""

    def drop_everything(self: Any, queryset: Any) -> Any:
        return queryset  # what FilterSet.qs does with a field whose form validation failed

    monkeypatch.setattr(filterset.ScimUserFilterSet, "filter_queryset", drop_everything)
    # (A lookup by userName, externalId or e-mail is read without the FilterSet: lookup.py.)
    response = scim.get("Users", {"filter": 'emails.value sw "nobody@example.com"'})
    assert_scim_error(response, 400, "invalidFilter")


def test_a_form_error_of_the_filterset_is_invalid_filter(scim, people, monkeypatch):
    """A value the FilterSet's form field refuses is a 400 naming the problem."""
    from django.core.exceptions import ValidationError

    def refuse(value: Any) -> None:
        raise ValidationError("refused by the form field")

    field = filterset.ScimUserFilterSet.base_filters["filter"]
    monkeypatch.setattr(field, "extra", {**field.extra, "validators": [refuse]})
    response = scim.get("Users", {"filter": 'userName sw "alice"'})
    body = assert_scim_error(response, 400, "invalidFilter")
    assert "refused by the form field" in body["detail"]


def test_the_hostile_suites_garbage_is_applied_exactly_or_refused(scim, people):
    """The garbage list of test_hostile answered 200 "or 400": a 200 must also be right."""
    for text in GARBAGE:
        query, seen = get_query(text)
        check_answer(scim.client.get(f"/scim/v2/Users?{query}&count=100"), seen, people)
        response = scim.post("Users/.search", {"schemas": [SEARCH], "filter": text, "count": 100})
        check_answer(response, text, people)


# ------------------------------------------------------------------- property test


def _stable(char: str) -> bool:
    """A character every database and the evaluator compare alike, case rules included.

    Uncased and unchanged by NFKC (userName is stored NFKC-normalised and casefolded, other
    text is folded by the database's UPPER/LIKE): a filter's meaning then cannot depend on
    the Unicode tables of the database, which is the normalisation rule's business, not the
    fail-closed rule's. Control characters, NUL, marks, CJK, emoji and surrogates remain.
    """
    return (
        not char.isspace()
        and char.lower() == char == char.upper()
        and char.casefold() == char
        and unicodedata.normalize("NFKC", char) == char
    )


STABLE = st.characters(exclude_categories=("Lu", "Ll", "Lt", "Zs")).filter(_stable)
ASCII = st.sampled_from(string.ascii_letters + string.digits + "@.-_%&!?*+'\\\" ")
PIECES = [
    "alice@example.com", "ALICE@EXAMPLE.COM", "bob", "example", "home", "work", "Alice",
    "山田", "R&D", "r&d", "00u-Alice", "x-BOB", "🙂", "%", "_", "\\", "", "Tea", "‽",
]  # fmt: skip
TEXT = st.one_of(
    st.sampled_from(PIECES),
    st.text(st.one_of(STABLE, ASCII), max_size=10),
    st.builds(lambda a, b: a + b, st.sampled_from(PIECES), st.text(STABLE, max_size=2)),
)


@st.composite
def string_literal(draw: Any) -> str:
    value = draw(TEXT)
    how = draw(st.sampled_from(["json", "ascii", "raw"]))
    if how == "raw":  # unescaped control characters and all, as a careless client sends them
        return '"' + value.replace("\\", "").replace('"', "") + '"'
    return json.dumps(value, ensure_ascii=how == "ascii")


STRING_PATHS = [
    "userName", "USERNAME", "displayName", "title", "nickName", "name.givenName",
    "name.familyName", "emails", "emails.value", "emails.type", "externalId", "id",
    f"{ENT}:department", "locale", "meta.resourceType",
]  # fmt: skip
ALL_PATHS = [*STRING_PATHS, "active", "meta.created", "meta.lastModified", "name", "emails.primary"]
OTHER_VALUES = ["true", "false", "null", "True", '"True"', "7", "-1.5", '"2020-01-01T00:00:00Z"']

leaf = st.one_of(
    st.builds(
        "{} {} {}".format,
        st.sampled_from(STRING_PATHS),
        st.sampled_from(["eq", "ne", "co", "sw", "ew", "EQ", "Co"]),
        string_literal(),
    ),
    st.builds("{} pr".format, st.sampled_from(ALL_PATHS)),
    st.builds(
        "{} {} {}".format,
        st.sampled_from(ALL_PATHS),
        st.sampled_from(["eq", "ne", "gt", "le"]),
        st.sampled_from(OTHER_VALUES),
    ),
    st.builds(
        "emails[{} {} {}]".format,
        st.sampled_from(["type", "value", "display"]),
        st.sampled_from(["eq", "ne", "co", "sw"]),
        string_literal(),
    ),
)
structured = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds("({}) and ({})".format, inner, inner),
        st.builds("{} or {}".format, inner, inner),
        st.builds("not ({})".format, inner),
    ),
    max_leaves=4,
)


@st.composite
def mutated(draw: Any) -> str:
    """A valid-looking filter with one arbitrary character inserted anywhere."""
    text = draw(structured)
    at = draw(st.integers(0, len(text)))
    char = draw(st.characters(min_codepoint=0, max_codepoint=0x10FFFF))
    return text[:at] + char + text[at:]


FILTERS = st.one_of(structured, mutated(), st.text(max_size=40))


@PROPERTY
@given(text=FILTERS)
@example(text='userName eq "nobody\x00"')
@example(text='userName eq "\ud800"')
@example(text='userName eq "alice@example.com" or userName eq "\x00"')
@example(text='displayName co "山田"')
@example(text='title eq "%_\\\\"')
@example(text="")
def test_a_filter_is_applied_exactly_or_refused(scim, people, text):
    """The property behind every test above, over arbitrary text: the answer is 400
    invalidFilter, or the users the in-memory evaluator selects with the same filter --
    never all users for a filter that matches nobody. GET and POST .search alike."""
    query, seen = get_query(text)
    check_answer(scim.client.get(f"/scim/v2/Users?{query}&count=100"), seen, people)
    response = scim.post("Users/.search", {"schemas": [SEARCH], "filter": text, "count": 100})
    check_answer(response, text, people)
