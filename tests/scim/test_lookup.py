"""An IdP's lookup by ``userName eq`` or ``externalId eq`` is read in one statement
(``django_provisioning/scim/lookup.py``) and answers exactly what the general path answers."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from django_provisioning.adapter import DefaultAdapter
from django_provisioning.models import ExternalGroup
from django_provisioning.scim import group_views, views
from django_provisioning.scim.filtering import filterset
from django_provisioning.scim.filtering.backend import ScimFilterBackend

from .test_groups_api import create as create_group
from .test_hostile import assert_scim_error
from .test_users_api import create

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


#: An e-mail address longer than the value index keeps (it stores its start and a digest).
LONG = "l" * 1100 + "@example.com"


@pytest.fixture
def people(scim: Any) -> dict[str, str]:
    """userName -> id: case, NFKC and shared externalIds, e-mails and given names; a long
    e-mail address; one deleted user."""
    made = {}
    for user_name, external_id, given_name, other in [
        ("Alice@Example.com", "abc", "Ann", "team@example.com"),
        ("bob@example.com", "ABC", "Ann", "team@example.com"),
        ("ﬁona@example.com", "shared", "Straße", LONG),  # "fi": NFKC makes it "fi"
        ("Ärger@example.com", "shared", "Ärger", LONG[:-1] + "g"),
        ("carol@example.com", "7", "Carol", "carol@Example.com"),
        ("gone@example.com", "gone", "Gone", "gone@example.com"),
    ]:
        emails = [
            {"value": f"{external_id}.{len(made)}@example.com", "primary": True, "type": "work"},
            {"value": other, "type": "other"},
        ]
        made[user_name] = create(
            scim,
            userName=user_name,
            externalId=external_id,
            emails=emails,
            name={"givenName": given_name, "familyName": "Doe"},
        )["id"]
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
    'emails.value eq "abc.0@example.com"',
    'emails.value eq "ABC.0@Example.COM"',
    'emails eq "abc.1@example.com"',
    f'{USER}:emails.value eq "7.4@example.com"',
    'emails.value eq "team@example.com"',
    'emails.value eq "CAROL@example.com"',
    f'emails.value eq "{LONG}"',
    f'emails.value eq "{LONG.upper()}"',
    f'emails.value eq "{LONG[:1024]}"',
    'emails.value eq "gone.5@example.com"',
    'emails.value eq "nobody@example.com"',
    'emails.value eq ""',
    'emails.type eq "work"',
    'emails.display eq "x"',
    'name.givenName eq "ann"',
    'name.givenName eq "STRASSE"',
    'name.givenName eq "ärger"',
    'name.familyName eq "Doe"',
    'name.givenName eq "Gone"',
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


def answers(scim: Any, resource: str, text: str, pages: list[dict[str, Any]]) -> list[Any]:
    """The pages of ``GET /<resource>?filter=<text>``, checked equal to ``/.search``'s."""
    found = []
    for page in pages:
        response = scim.get(resource, {"filter": text, **page})
        assert response.status_code == 200, response.content[:300]
        found.append(response.json())
        response = scim.post(f"{resource}/.search", {"filter": text, **page})
        assert response.status_code == 200, response.content[:300]
        assert response.json() == found[-1]
    return found


@pytest.mark.parametrize("text", FILTERS)
def test_the_lookup_answers_what_the_general_path_answers(scim, people, monkeypatch, text):
    looked_up = answers(scim, "Users", text, PAGES)
    general(monkeypatch)
    assert answers(scim, "Users", text, PAGES) == looked_up


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
    assert ids('emails.value eq "ABC.0@example.com"') == [people["Alice@Example.com"]]
    assert ids('emails eq "carol@example.com"') == [people["carol@example.com"]]
    assert ids('emails.value eq "team@example.com"') == [
        people["Alice@Example.com"],
        people["bob@example.com"],
    ]
    assert ids(f'emails.value eq "{LONG}"') == [people["ﬁona@example.com"]]
    assert ids(f'emails.value eq "{LONG[:1024]}"') == []  # the start a long value is kept by
    assert ids('name.givenName eq "strasse"') == [people["ﬁona@example.com"]]
    assert ids('emails.value eq "gone.5@example.com"') == ids('name.givenName eq "gone"') == []


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
    for text in ('emails.value eq "ABC.0@example.com"', f'emails eq "{LONG.upper()}"'):
        with django_assert_num_queries(3):
            body = scim.get("Users", {"filter": text}).json()
        assert body["totalResults"] == 1, text
    with django_assert_num_queries(3):
        body = scim.get("Users", {"filter": 'name.givenName eq "STRASSE"'}).json()
    assert body["Resources"][0]["userName"] == "ﬁona@example.com"
    # Two matches: the lookup, then the general path (count, keys, groups, rows).
    for text in ('externalId eq "shared"', 'emails.value eq "team@example.com"'):
        with django_assert_num_queries(6):
            body = scim.get("Users", {"filter": text}).json()
        assert body["totalResults"] == 2, text


def test_a_lookup_stays_in_its_connection(scim, other_scim, people):
    """Another connection's user with the same externalId is not found."""
    create(other_scim, userName="alice2@example.com", externalId="abc")
    create(other_scim, userName="dave@example.com", externalId="dave")
    [found] = scim.get("Users", {"filter": 'externalId eq "abc"'}).json()["Resources"]
    assert found["id"] == people["Alice@Example.com"]
    # Alice's address, not as the primary one: with an e-mail user model, a primary address
    # is the local account's username, which two connections cannot share.
    emails = [{"value": "ann@example.com", "primary": True}, {"value": "abc.0@example.com"}]
    create(other_scim, userName="ann@example.com", emails=emails)
    [found] = scim.get("Users", {"filter": 'emails.value eq "abc.0@example.com"'}).json()[
        "Resources"
    ]
    assert found["id"] == people["Alice@Example.com"]
    for text in (
        'userName eq "dave@example.com"',
        'externalId eq "dave"',
        'emails.value eq "dave@example.com"',
    ):
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


def test_the_sql_of_an_e_mail_lookup_is_the_value_index_lookup(scim, people):
    with CaptureQueriesContext(db) as captured:
        scim.get("Users", {"filter": 'emails.value eq "abc.0@example.com"'})
    [lookup] = [q["sql"] for q in captured.captured_queries if '"value_normalized" =' in q["sql"]]
    assert "LIMIT 2" in lookup and "COUNT(" not in lookup and "ORDER BY" not in lookup
    if db.vendor == "sqlite":
        with db.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {lookup}", ())
            plan = " | ".join(str(row[-1]) for row in cursor.fetchall())
        assert "dp_value_lookup (attribute=? AND value_normalized=?)" in plan, plan
        assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), plan


class Narrowed(views.UserListView):
    """A host's list view with a filter backend of its own."""

    class OnlyActive(ScimFilterBackend):
        pass

    filter_backends = [ScimFilterBackend, OnlyActive]


def test_only_the_default_filtering_takes_the_lookup():
    assert views.UserListView().default_filtering()
    assert views.UserSearchView().default_filtering()
    assert not Narrowed().default_filtering()

    class OwnSet(views.UserListView):
        filterset_class = filterset.ScimUserFilterSet

    assert not OwnSet().default_filtering()


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


# ------------------------------------------------------------------------------ groups

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def teams(scim: Any, people: dict[str, str]) -> dict[str, str]:
    """displayName -> id: case, ß, an externalId, members (one group has none)."""
    made = {}
    for name, external_id, members in [
        ("Sales", "g-1", ["Alice@Example.com", "bob@example.com"]),
        ("Straße", "G-1", ["Ärger@example.com"]),
        ("Ops", None, []),
        ("Ärger Team", "7", ["carol@example.com"]),
    ]:
        extra = {"externalId": external_id} if external_id else {}
        made[name] = create_group(scim, name, members=[people[m] for m in members], **extra)["id"]
    return made


GROUP_FILTERS = [
    'displayName eq "Sales"',
    'displayName eq "sales"',
    'DISPLAYNAME EQ "SALES"',
    f'{GROUP}:displayName eq "sales"',
    'displayName eq "straße"',
    'displayName eq "STRASSE"',
    'displayName eq "ärger team"',
    'displayName eq "Ops"',
    'displayName eq "nobody"',
    'displayName eq ""',
    'displayName eq "Sales "',
    'externalId eq "g-1"',
    'externalId eq "G-1"',
    'externalId eq "g-2"',
    "externalId eq 7",
    'externalId eq ""',
    'displayName sw "S"',
]
GROUP_PAGES: list[dict[str, Any]] = [
    {},
    {"startIndex": 2},
    {"count": 0},
    {"excludedAttributes": "members"},
    {"attributes": "displayName"},
    {"sortBy": "displayName", "sortOrder": "descending"},
]


@pytest.mark.parametrize("text", GROUP_FILTERS)
def test_a_group_lookup_answers_what_the_general_path_answers(scim, teams, monkeypatch, text):
    looked_up = answers(scim, "Groups", text, GROUP_PAGES)
    monkeypatch.setattr(group_views, "group_lookup", lambda *args: None)
    assert answers(scim, "Groups", text, GROUP_PAGES) == looked_up


def test_a_group_lookup_finds_the_right_group(scim, people, teams):
    def ids(text: str) -> list[str]:
        return [r["id"] for r in scim.get("Groups", {"filter": text}).json()["Resources"]]

    assert ids('displayName eq "SALES"') == [teams["Sales"]]
    assert ids('externalId eq "g-1"') == [teams["Sales"]]
    assert ids('externalId eq "G-1"') == [teams["Straße"]]
    assert ids('displayName eq "nobody"') == ids('externalId eq "nobody"') == []
    [sales] = scim.get("Groups", {"filter": 'displayName eq "sales"'}).json()["Resources"]
    assert sorted(m["value"] for m in sales["members"]) == sorted(
        [people["Alice@Example.com"], people["bob@example.com"]]
    )


def test_a_group_lookup_is_one_statement(scim, teams, django_assert_num_queries):
    scim.get("Groups", {"count": 1})  # the token's last_used_at written once
    # the token, the matches (at most two), their members
    with django_assert_num_queries(3):
        body = scim.get("Groups", {"filter": 'displayName eq "sales"'}).json()
    assert body["totalResults"] == 1 and len(body["Resources"][0]["members"]) == 2
    with django_assert_num_queries(2):  # members not asked for: not read
        body = scim.get(
            "Groups", {"filter": 'externalId eq "g-1"', "excludedAttributes": "members"}
        ).json()
    assert body["totalResults"] == 1 and "members" not in body["Resources"][0]
    with django_assert_num_queries(2):  # no match: no members to read
        body = scim.get("Groups", {"filter": 'displayName eq "nobody"'}).json()
    assert body["totalResults"] == 0 and body["Resources"] == []


def test_two_matching_groups_go_the_general_way(scim, teams, django_assert_num_queries):
    """Should two groups match one displayName (a name written before it was folded), the
    lookup hands over to the general path, which counts and orders them."""
    ops = ExternalGroup.objects.get(scim_id=teams["Ops"])
    ExternalGroup.objects.filter(pk=ops.pk).update(display_name="SALES")
    scim.get("Groups", {"count": 1})  # the token's last_used_at written once
    # the token, the lookup, then the general way: count, keys, rows, members
    with django_assert_num_queries(6):
        body = scim.get("Groups", {"filter": 'displayName eq "sales"'}).json()
    assert body["totalResults"] == 2
    assert [r["displayName"] for r in body["Resources"]] == ["Sales", "SALES"]


def test_a_group_lookup_stays_in_its_connection(scim, other_scim, teams):
    create_group(other_scim, "Sales", externalId="g-1")
    create_group(other_scim, "Finance", externalId="f-1")
    assert (
        scim.get("Groups", {"filter": 'displayName eq "Sales"'}).json()["Resources"][0]["id"]
        == teams["Sales"]
    )
    for text in ('displayName eq "Finance"', 'externalId eq "f-1"'):
        assert scim.get("Groups", {"filter": text}).json()["totalResults"] == 0
        assert other_scim.get("Groups", {"filter": text}).json()["totalResults"] == 1


@pytest.mark.parametrize(
    "text",
    ['displayName eq "a" and', 'nosuch eq "x"', "displayName eq true", 'displayName.x eq "a"'],
)
def test_a_bad_group_filter_is_refused_before_the_page(scim, teams, text):
    expected = assert_scim_error(scim.get("Groups", {"filter": text}), 400, "invalidFilter")
    for response in (
        scim.get("Groups", {"filter": text, "sortOrder": "sideways"}),
        scim.post("Groups/.search", {"filter": text, "count": "all"}),
    ):
        assert assert_scim_error(response, 400, "invalidFilter")["detail"] == expected["detail"]


def test_a_root_search_by_display_name_finds_groups_and_users(scim, people, teams):
    response = scim.post(".search", {"schemas": [SEARCH], "filter": 'displayName eq "sales"'})
    assert response.status_code == 200, response.content[:300]
    assert [r["id"] for r in response.json()["Resources"]] == [teams["Sales"]]


def test_only_the_default_group_filtering_takes_the_lookup():
    class Own(group_views.GroupListView):
        filterset_class = type("Own", (group_views.ScimGroupFilterSet,), {})

    assert group_views.GroupListView().default_filtering()
    assert group_views.GroupSearchView().default_filtering()
    assert not Own().default_filtering()
