"""Filtered pages and prefixes reach their rows through the filter's index.

SQLite plans without statistics (Django never runs ``ANALYZE``): ``ORDER BY created_at, id
LIMIT n`` over a filter tempted it to walk the list-order index and test the filter on every
row of the connection (an ``externalId eq`` read all 20,000 rows of the benchmark), its
``LIKE`` is served only by a ``NOCASE`` index, and it started a user's groups from every group
of the connection. PostgreSQL's plans are checked on 200,000 rows by ``test_read_indexes``.
The answers are checked on both databases: the same pages, in creation order, whichever way
a page is sorted, and prefixes at the edges of Unicode.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from django_provisioning.local_groups import groups_through
from django_provisioning.scim import paging, rendering, views
from django_provisioning.scim.filtering.patterns import prefix_successor

from .test_cursor_pagination import users
from .test_groups_api import create as create_group

sqlite_only = pytest.mark.skipif(
    db.vendor != "sqlite",
    reason="SQLite's plans without statistics (PostgreSQL: test_read_indexes)",
)


def sqlite_plans(scim: Any, path: str, params: dict[str, Any]) -> dict[str, str]:
    """{SQL: its EXPLAIN QUERY PLAN} of each SELECT the request ran."""
    with CaptureQueriesContext(db) as captured:
        response = scim.get(path, params)
    assert response.status_code == 200, response.content[:300]
    plans = {}
    with db.cursor() as cursor:
        for query in captured.captured_queries:
            if query["sql"].startswith("SELECT"):
                cursor.execute(f"EXPLAIN QUERY PLAN {query['sql']}")
                plans[query["sql"]] = " | ".join(str(row[-1]) for row in cursor.fetchall())
    return plans


@sqlite_only
@pytest.mark.parametrize(
    ("text", "index"),
    [
        ('externalId eq "user-e03"', "dp_identity_externalid (connection_id=? AND external_id=?)"),
        ('externalId sw "user-e0"', "dp_identity_externalid (connection_id=? AND external_id>?"),
        ('userName sw "user0"', "(connection_id=? AND user_name_normalized>?"),
    ],
)
def test_a_filtered_page_reads_its_keys_through_the_filters_index(scim, monkeypatch, text, index):
    # The general path (an externalId two users share); a lookup of fewer: test_lookup.
    monkeypatch.setattr(views, "lookup_key", lambda *args: None)
    users(scim, 6)
    plans = sqlite_plans(scim, "Users", {"filter": text, "count": 2})
    [keys] = [plan for sql, plan in plans.items() if "LIMIT" in sql and '"user_id" AS' in sql]
    assert index in keys, keys
    assert "dp_identity_live_order" not in keys, keys
    [count] = [plan for sql, plan in plans.items() if "COUNT(*)" in sql]
    assert index in count, count


@sqlite_only
def test_the_groups_of_a_page_start_from_its_users_memberships(scim):
    ids = users(scim, 3)
    create_group(scim, "Engineering", members=[ids[0]])
    create_group(scim, "Sales", members=[ids[1]])
    plans = sqlite_plans(scim, "Users", {"count": 3})
    [groups] = [plan for sql, plan in plans.items() if "display_name" in sql and "IN (" in sql]
    through, user_column, _group_column = groups_through(get_user_model())
    first = groups.split(" | ")[0]
    assert through._meta.db_table in first and f"({user_column}=?)" in first, groups


@sqlite_only
def test_a_pages_rows_are_read_by_primary_key(scim):
    """Not in list order, where SQLite walked the connection's list-order index testing
    ``id IN (...)`` on each row to the end of the connection."""
    users(scim, 4)
    plans = sqlite_plans(scim, "Users", {"count": 3})
    [rows] = [plan for sql, plan in plans.items() if '"document"' in sql and "IN (" in sql]
    assert "rowid=?" in rows and "dp_identity_live_order" not in rows, rows


@sqlite_only
def test_a_group_pages_rows_and_members_start_from_the_groups(scim):
    ids = users(scim, 3)
    for i in range(3):
        create_group(scim, f"G{i}", members=ids[: i + 1])
    plans = sqlite_plans(scim, "Groups", {"count": 2})
    [rows] = [plan for sql, plan in plans.items() if '"document"' in sql and "IN (" in sql]
    assert "rowid=?" in rows and "dp_group_order" not in rows, rows
    [members] = [plan for sql, plan in plans.items() if "groupgrant" in sql and "IN (" in sql]
    first = members.split(" | ")[0]
    assert "groupgrant" in first and "(external_group_id=?)" in first, members


def test_a_filtered_page_is_the_same_sorted_either_way(scim, monkeypatch):
    """Sorting the matches (few) and walking the order index (many) serve the same pages,
    in creation order, forwards and by cursor."""
    users(scim, 7)
    text = 'emails.value ew "@example.com"'

    def pages() -> list[Any]:
        by_index = [
            [
                r["userName"]
                for r in scim.get("Users", {"filter": text, "startIndex": s, "count": 3}).json()[
                    "Resources"
                ]
            ]
            for s in (1, 4, 7)
        ]
        body = scim.get("Users", {"filter": text, "cursor": "", "count": 4}).json()
        following = scim.get(
            "Users", {"filter": text, "cursor": body["nextCursor"], "count": 4}
        ).json()
        by_cursor = [[r["userName"] for r in page["Resources"]] for page in (body, following)]
        return [by_index, by_cursor]

    sorted_matches = pages()
    monkeypatch.setattr(paging, "SORT_MATCHES_LIMIT", 3)
    walked = pages()
    names = [f"user{i:02d}@example.com" for i in range(7)]
    assert sorted_matches == walked == [[names[:3], names[3:6], names[6:]], [names[:4], names[4:]]]


def test_sort_matches_keeps_the_order_above_the_limit(scim, connection):
    from django_provisioning.models import ExternalIdentity
    from django_provisioning.scim.filtering.compiler import order_by_for

    order = order_by_for(None, connection, descending=True)
    ordered = ExternalIdentity.objects.filter(connection=connection).order_by(*order)
    assert paging.sort_matches(ordered, paging.SORT_MATCHES_LIMIT + 1) is ordered
    sql = str(paging.sort_matches(ordered, 5).query)
    assert sql.count("COALESCE") == 2 and sql.rstrip().endswith("DESC"), sql


@pytest.mark.parametrize(
    ("prefix", "successor"),
    [
        ("abc", "abd"),
        ("a\ud7ff", "a\ue000"),  # past the surrogates, which UTF-8 cannot hold
        ("a\U0010ffff", None),  # nothing follows the last code point
        ("a\uffff", "a\U00010000"),
    ],
)
def test_prefix_successor(prefix, successor):
    assert prefix_successor(prefix) == successor


@pytest.mark.parametrize(
    "names",
    [
        ["a\ud7ffz", "a\ue000", "a\ud7fe", "a\ud7ff"],
        ["b\U0010ffffx", "b\U0010ffff", "c", "b\U0010fffe"],
        ["d\uffffy", "d\U00010000", "d\ufffe"],
    ],
)
def test_prefixes_at_the_edges_of_unicode_match_exactly(scim, names):
    """``externalId`` is case-exact free text: any code point, the prefix's range included."""
    for i, name in enumerate(names):
        response = scim.post(
            "Users",
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"edge{i}@example.com",
                "externalId": name,
            },
        )
        assert response.status_code == 201, (i, response.content[:300])
    prefix = names[0][:2]
    body = scim.get("Users", {"filter": f'externalId sw "{prefix}"'}).json()
    expected = sorted(n for n in names if n.startswith(prefix))
    assert sorted(r["externalId"] for r in body["Resources"]) == expected
    assert body["totalResults"] == len(expected)


def test_a_folded_prefix_matches_exactly(scim):
    """The folded ``userName``'s range ends at the prefix's successor, exclusive."""
    names = ["userz@example.com", "UserZ1@example.com", "usery9@example.com", "users@example.com"]
    for name in names:
        response = scim.post(
            "Users",
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name},
        )
        assert response.status_code == 201, response.content[:300]
    body = scim.get("Users", {"filter": 'userName sw "USERZ"'}).json()
    assert sorted(r["userName"] for r in body["Resources"]) == sorted(names[:2])
    assert body["totalResults"] == 2


def test_a_list_page_works_out_the_base_url_once(scim):
    users(scim, 5)
    with mock.patch.object(rendering, "reverse", wraps=rendering.reverse) as reverse:
        response = scim.get("Users", {"count": 5})
    assert response.status_code == 200
    body = response.json()
    assert len(body["Resources"]) == 5
    assert all(r["meta"]["location"].endswith(f"/Users/{r['id']}") for r in body["Resources"])
    assert reverse.call_count == 1
