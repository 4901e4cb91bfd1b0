"""An IdP's lookup by ``userName eq`` or ``externalId eq`` is read in one statement
(``django_provisioning/scim/lookup.py``) and answers exactly what the general path answers."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from django_provisioning.adapter import DefaultAdapter
from django_provisioning.scim import views
from django_provisioning.scim.filtering.backend import ScimFilterBackend

from .test_groups_api import create as create_group
from .test_hostile import assert_scim_error
from .test_users_api import create

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@pytest.fixture
def people(scim: Any) -> dict[str, str]:
    """userName -> id: case, NFKC and shared externalIds; one deleted user."""
    made = {}
    for user_name, external_id in [
        ("Alice@Example.com", "abc"),
        ("bob@example.com", "ABC"),
        ("ﬁona@example.com", "shared"),  # the "fi" ligature: NFKC makes it "fi"
        ("Ärger@example.com", "shared"),
        ("carol@example.com", "7"),
        ("gone@example.com", "gone"),
    ]:
        email = {"value": f"{external_id}.{len(made)}@example.com", "primary": True}
        made[user_name] = create(scim, userName=user_name, externalId=external_id, emails=[email])[
            "id"
        ]
    assert scim.delete(f"Users/{made['gone@example.com']}").status_code == 204
    return made


FILTERS = [
    'userName eq "alice@example.com"',
    'userName eq "ALICE@EXAMPLE.COM"',
    'USERNAME EQ "Alice@Example.com"',
    f'{USER}:userName eq "bob@example.com"',
    'userName eq "fiona@example.com"',
    'userName eq "ärger@example.com"',
    'userName eq "gone@example.com"',
    'userName eq "nobody@example.com"',
    'userName eq ""',
    'externalId eq "abc"',
    'externalId eq "ABC"',
    'externalId eq "Abc"',
    'externalid eq "abc"',
    'externalId eq "shared"',
    'externalId eq "gone"',
    "externalId eq 7",
    'externalId eq ""',
    'externalId eq "abc "',
]
PAGES: list[dict[str, Any]] = [
    {},
    {"startIndex": 2},
    {"count": 0},
    {"count": 1, "attributes": "userName"},
    {"sortBy": "userName", "sortOrder": "descending"},
]


def general(monkeypatch: Any) -> None:
    """Every list request through the FilterSet, the count and the page's keys."""
    monkeypatch.setattr(views, "lookup_key", lambda *args: None)


@pytest.mark.parametrize("text", FILTERS)
def test_the_lookup_answers_what_the_general_path_answers(scim, people, monkeypatch, text):
    answers = []
    for page in PAGES:
        response = scim.get("Users", {"filter": text, **page})
        assert response.status_code == 200, response.content[:300]
        answers.append(response.json())
        response = scim.post("Users/.search", {"filter": text, **page})
        assert response.status_code == 200, response.content[:300]
        assert response.json() == answers[-1]
    general(monkeypatch)
    assert [scim.get("Users", {"filter": text, **page}).json() for page in PAGES] == answers


def test_a_lookup_finds_the_right_rows(scim, people):
    def ids(text: str) -> list[str]:
        return [r["id"] for r in scim.get("Users", {"filter": text}).json()["Resources"]]

    assert ids('userName eq "ALICE@example.com"') == [people["Alice@Example.com"]]
    assert ids('userName eq "fiona@example.com"') == [people["ﬁona@example.com"]]
    assert ids('externalId eq "abc"') == [people["Alice@Example.com"]]
    assert ids('externalId eq "ABC"') == [people["bob@example.com"]]
    assert ids('externalId eq "shared"') == [
        people["ﬁona@example.com"],
        people["Ärger@example.com"],
    ]
    assert ids("externalId eq 7") == [people["carol@example.com"]]
    assert ids('externalId eq "gone"') == ids('userName eq "gone@example.com"') == []


def test_a_lookup_is_one_statement(scim, people, django_assert_num_queries):
    scim.get("Users", {"count": 1})  # the token's last_used_at written once
    # the token, the matches (at most two), the user's groups
    with django_assert_num_queries(3):
        body = scim.get("Users", {"filter": 'externalId eq "abc"'}).json()
    assert body["totalResults"] == 1 and body["Resources"][0]["userName"] == "Alice@Example.com"
    with django_assert_num_queries(3):
        body = scim.get("Users", {"filter": 'userName eq "BOB@example.com"'}).json()
    assert body["totalResults"] == 1
    with django_assert_num_queries(2):  # no match: no groups to read
        body = scim.get("Users", {"filter": 'userName eq "nobody@example.com"'}).json()
    assert body == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0,
        "itemsPerPage": 0,
        "startIndex": 1,
        "Resources": [],
    }
    # Two matches: the lookup, then the general path (count, keys, groups, rows).
    with django_assert_num_queries(6):
        body = scim.get("Users", {"filter": 'externalId eq "shared"'}).json()
    assert body["totalResults"] == 2


def test_a_lookup_stays_in_its_connection(scim, other_scim, people):
    """Another connection's user with the same externalId is not found."""
    create(other_scim, userName="alice2@example.com", externalId="abc")
    create(other_scim, userName="dave@example.com", externalId="dave")
    [found] = scim.get("Users", {"filter": 'externalId eq "abc"'}).json()["Resources"]
    assert found["id"] == people["Alice@Example.com"]
    for text in ('userName eq "dave@example.com"', 'externalId eq "dave"'):
        assert scim.get("Users", {"filter": text}).json()["totalResults"] == 0
        assert other_scim.get("Users", {"filter": text}).json()["totalResults"] == 1


def test_a_bad_filter_is_refused_as_before(scim, people):
    for text in ('userName eq "a" and', 'nosuch eq "x"', 'password eq "x"', "userName eq"):
        response = scim.get("Users", {"filter": text})
        assert response.status_code == 400, text
        assert response.json()["scimType"] == "invalidFilter", text


def test_a_root_search_by_an_attribute_users_lack_finds_the_group(scim, people):
    """POST /.search: a Group attribute compares false for Users (root_search.py), so an
    ``eq`` on it is no refused lookup but a search that finds the group."""
    member = people["bob@example.com"]
    group = create_group(scim, "Bob's", members=[member])["id"]
    for text in (f'members.value eq "{member}"', f'members eq "{member}"'):
        response = scim.post(".search", {"schemas": [SEARCH], "filter": text})
        assert response.status_code == 200, (text, response.content[:300])
        assert [r["id"] for r in response.json()["Resources"]] == [group], text


@pytest.mark.parametrize(
    "text",
    ['userName eq "a" and', 'nosuch eq "x"', "externalId eq true", 'userName.x eq "a"'],
)
@pytest.mark.parametrize(
    "page",
    [
        {"sortOrder": "sideways"},
        {"sortBy": "shoeSize"},
        {"startIndex": "first"},
        {"count": "all"},
        {"cursor": "garbage"},
        {"attributes": "user name"},
    ],
)
def test_the_filter_is_refused_before_the_other_parameters(scim, text, page):
    """As before the lookup: the filter is checked first, then sorting and paging."""
    expected = assert_scim_error(scim.get("Users", {"filter": text}), 400, "invalidFilter")
    for response in (
        scim.get("Users", {"filter": text, **page}),
        scim.post("Users/.search", {"filter": text, **page}),
    ):
        assert assert_scim_error(response, 400, "invalidFilter")["detail"] == expected["detail"]


def test_a_lookup_with_a_bad_page_is_refused_for_the_page(scim, people):
    response = scim.get("Users", {"filter": 'userName eq "bob@example.com"', "count": "all"})
    assert_scim_error(response, 400, "invalidValue")


def test_a_cursor_page_is_read_the_general_way(scim, people):
    body = scim.get("Users", {"filter": 'externalId eq "abc"', "cursor": ""}).json()
    assert [r["id"] for r in body["Resources"]] == [people["Alice@Example.com"]]
    assert "startIndex" not in body and "nextCursor" not in body


@pytest.mark.parametrize(
    ("text", "column", "index"),
    [
        ('externalId eq "abc"', "external_id", "dp_identity_externalid "),
        # The unique constraint (connection, user_name_normalized): SQLite names it itself.
        ('userName eq "BOB@example.com"', "user_name_normalized", ""),
    ],
)
def test_the_sql_is_the_index_lookup(scim, people, text, column, index):
    with CaptureQueriesContext(db) as captured:
        scim.get("Users", {"filter": text})
    [lookup] = [q["sql"] for q in captured.captured_queries if f'"{column}" =' in q["sql"]]
    assert "LIMIT 2" in lookup and "COUNT(" not in lookup and "ORDER BY" not in lookup
    if db.vendor == "sqlite":
        with db.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {lookup}", ())
            plan = " | ".join(str(row[-1]) for row in cursor.fetchall())
        assert f"{index}(connection_id=? AND {column}=?)" in plan, plan


class Narrowed(views.UserListView):
    """A host's list view with a filter backend of its own."""

    class OnlyActive(ScimFilterBackend):
        pass

    filter_backends = [ScimFilterBackend, OnlyActive]


def test_only_the_default_filtering_takes_the_lookup():
    assert views.UserListView().default_filtering()
    assert views.UserSearchView().default_filtering()
    assert not Narrowed().default_filtering()


def test_an_adapter_that_narrows_the_users_is_not_bypassed(scim, people, settings):
    """An adapter with its own get_identity_queryset scopes the lookup too."""
    settings.DJANGO_PROVISIONING = {
        **getattr(settings, "DJANGO_PROVISIONING", {}),
        "ADAPTER": f"{__name__}.HideAlice",
    }
    assert scim.get("Users", {"filter": 'externalId eq "abc"'}).json()["totalResults"] == 0
    assert scim.get("Users", {"filter": 'externalId eq "ABC"'}).json()["totalResults"] == 1


class HideAlice(DefaultAdapter):
    def get_identity_queryset(self, connection: Any) -> Any:
        return super().get_identity_queryset(connection).exclude(external_id="abc")
