"""Cursor pagination (RFC 9865): walks, attacks, errors, and how it meets filters and budgets.

A cursor is the signed position of the last resource a page served, bound to the connection,
the resource type and the filter. Walking by cursor serves every resource exactly once, in the
default order, at the same cost at any depth (a keyset, not an offset).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core import signing
from django.test import override_settings

from django_provisioning.conf import provisioning_settings
from django_provisioning.scim import cursors

from .test_groups_api import create as create_group
from .test_groups_api import user
from .test_page_size import people
from .test_users_api import create

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def users(scim: Any, n: int, prefix: str = "user") -> list[str]:
    return [
        create(
            scim,
            userName=f"{prefix}{i:02d}@example.com",
            externalId=f"{prefix}-e{i:02d}",
            emails=[{"value": f"{prefix}{i:02d}@example.com", "type": "work"}],
        )["id"]
        for i in range(n)
    ]


def walk(scim: Any, path: str, params: dict[str, Any], *, search: bool = False) -> list[list[str]]:
    """Follow nextCursor from an empty cursor; the ids of each page."""
    pages: list[list[str]] = []
    cursor = ""
    while True:
        query = {**params, "cursor": cursor}
        if search:
            response = scim.post(f"{path}/.search", {"schemas": [SEARCH], **query})
        else:
            response = scim.get(path, query)
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        assert "startIndex" not in body
        ids = [r["id"] for r in body["Resources"]]
        assert body["itemsPerPage"] == len(ids)
        cap = provisioning_settings.SCIM_MAX_RESPONSE_BYTES
        assert len(ids) == 1 or len(response.content) <= cap
        pages.append(ids)
        if "nextCursor" not in body:
            return pages
        assert ids, "a page with a nextCursor serves at least one resource"
        cursor = body["nextCursor"]
        assert len(pages) < 100


def error(response: Any, status: int, scim_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["scimType"] == scim_type
    return body


@pytest.mark.parametrize("search", [False, True])
def test_walking_by_cursor_serves_every_user_once_in_order(scim, search):
    ids = users(scim, 7)
    pages = walk(scim, "Users", {"count": 3}, search=search)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == ids
    first = scim.get("Users", {"cursor": "", "count": 3}).json()
    assert first["totalResults"] == 7


def test_an_exact_last_page_ends_without_an_empty_page(scim):
    ids = users(scim, 4)
    pages = walk(scim, "Users", {"count": 2})
    assert pages == [ids[:2], ids[2:]]


def test_walking_by_cursor_serves_every_group_once(scim):
    ids = [create_group(scim, f"Group {i}")["id"] for i in range(5)]
    assert [i for p in walk(scim, "Groups", {"count": 2}) for i in p] == ids
    assert [i for p in walk(scim, "Groups", {"count": 2}, search=True) for i in p] == ids


def test_cursor_with_a_filter_and_attributes(scim):
    users(scim, 5, "alpha")
    betas = users(scim, 4, "beta")
    params = {"count": 3, "filter": 'userName sw "beta"', "attributes": "userName"}
    pages = walk(scim, "Users", params)
    assert [i for p in pages for i in p] == betas
    page = scim.get("Users", {**params, "cursor": ""}).json()
    assert page["totalResults"] == 4
    assert set(page["Resources"][0]) == {"schemas", "id", "userName"}


def test_writes_between_pages_neither_repeat_nor_skip(scim):
    ids = users(scim, 4)
    first = scim.get("Users", {"cursor": "", "count": 2}).json()
    assert [r["id"] for r in first["Resources"]] == ids[:2]
    assert scim.delete(f"Users/{ids[0]}").status_code == 204  # before the cursor
    late = users(scim, 1, "late")
    rest = scim.get("Users", {"cursor": first["nextCursor"], "count": 10}).json()
    assert [r["id"] for r in rest["Resources"]] == ids[2:] + late
    assert "nextCursor" not in rest


@override_settings(DJANGO_PROVISIONING={"SCIM_MAX_RESPONSE_BYTES": 6000})
def test_pages_cut_by_the_byte_budget_continue_from_the_last_resource_served(scim):
    ids = people(scim, [10, 2000, 3000, 10, 2500, 10, 10])
    pages = walk(scim, "Users", {"count": 5})
    assert [i for p in pages for i in p] == ids
    assert any(len(p) < 5 for p in pages[:-1])  # some pages were cut short


def test_count_zero_answers_the_total_only(scim):
    users(scim, 2)
    body = scim.get("Users", {"cursor": "", "count": 0}).json()
    assert body["totalResults"] == 2 and body["Resources"] == [] and "nextCursor" not in body


def test_tampered_cursors_are_invalid(scim):
    users(scim, 3)
    cursor = scim.get("Users", {"cursor": "", "count": 1}).json()["nextCursor"]
    payload, _sig = cursor.rsplit(":", 1)
    flipped = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    for bad in [flipped, "garbage", payload + ":", "x" * 600, cursor + "x"]:
        error(scim.get("Users", {"cursor": bad}), 400, "invalidCursor")
    # A position signed with another key, or forged without one.
    forged = signing.dumps(["x", None, None], salt="django_provisioning.scim.cursor:1", key="k")
    error(scim.get("Users", {"cursor": forged}), 400, "invalidCursor")
    # In a SearchRequest the cursor must be a string.
    response = scim.post("Users/.search", {"schemas": [SEARCH], "cursor": 5})
    error(response, 400, "invalidCursor")


def test_a_cursor_of_one_connection_is_invalid_on_another(scim, other_scim):
    users(scim, 3)
    users(other_scim, 3, "other")
    cursor = scim.get("Users", {"cursor": "", "count": 1}).json()["nextCursor"]
    body = error(other_scim.get("Users", {"cursor": cursor}), 400, "invalidCursor")
    assert "other" not in body["detail"]


def test_a_cursor_of_one_list_is_invalid_on_another(scim):
    users(scim, 3)
    create_group(scim, "G1")
    create_group(scim, "G2")
    cursor = scim.get("Users", {"cursor": "", "count": 1}).json()["nextCursor"]
    # another filter, another resource type
    error(scim.get("Users", {"cursor": cursor, "filter": "userName pr"}), 400, "invalidCursor")
    error(scim.get("Groups", {"cursor": cursor}), 400, "invalidCursor")
    filtered = scim.get("Users", {"cursor": "", "count": 1, "filter": "userName pr"}).json()
    error(scim.get("Users", {"cursor": filtered["nextCursor"]}), 400, "invalidCursor")
    group_cursor = scim.get("Groups", {"cursor": "", "count": 1}).json()["nextCursor"]
    error(scim.get("Users", {"cursor": group_cursor}), 400, "invalidCursor")


def test_an_old_cursor_is_expired(scim, monkeypatch):
    users(scim, 3)
    timeout = provisioning_settings.SCIM_CURSOR_TIMEOUT
    past = signing.b62_encode(int(signing.time.time()) - timeout - 10)
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: past)
    cursor = scim.get("Users", {"cursor": "", "count": 1}).json()["nextCursor"]
    monkeypatch.undo()
    error(scim.get("Users", {"cursor": cursor}), 400, "expiredCursor")


def test_cursor_with_start_index_or_sort_by_is_refused(scim):
    users(scim, 2)
    error(scim.get("Users", {"cursor": "", "startIndex": 1}), 400, "invalidValue")
    error(scim.get("Groups", {"cursor": "", "startIndex": 2}), 400, "invalidValue")
    error(scim.get("Users", {"cursor": "", "sortBy": "userName"}), 400, "invalidValue")
    root = scim.post(".search", {"schemas": [SEARCH], "cursor": ""})
    error(root, 400, "invalidValue")


def test_index_pagination_is_unchanged(scim):
    ids = users(scim, 5)
    body = scim.get("Users", {"startIndex": 2, "count": 2}).json()
    assert body["startIndex"] == 2 and "nextCursor" not in body
    assert [r["id"] for r in body["Resources"]] == ids[1:3]


def test_service_provider_config_advertises_both_methods(scim):
    body = scim.get("ServiceProviderConfig").json()
    assert body["pagination"] == {
        "cursor": True,
        "index": True,
        "defaultPaginationMethod": "index",
        "defaultPageSize": provisioning_settings.SCIM_DEFAULT_COUNT,
        "maxPageSize": provisioning_settings.SCIM_MAX_RESULTS,
        "cursorTimeout": provisioning_settings.SCIM_CURSOR_TIMEOUT,
    }


def test_a_cursor_page_costs_the_same_at_any_depth(scim, django_assert_max_num_queries):
    users(scim, 6)
    scim.get("Users", {"count": 1})  # token last_used_at written once
    cursor = ""
    for _page in range(3):
        # count, the page's keys (after the cursor), their groups, the rows
        with django_assert_max_num_queries(5) as queries:
            body = scim.get("Users", {"cursor": cursor, "count": 2}).json()
        keys = [q["sql"] for q in queries.captured_queries if "LIMIT 3" in q["sql"]]
        assert len(keys) == 1 and "OFFSET" not in keys[0]
        cursor = body.get("nextCursor", "")


def test_the_cursor_module_refuses_oversized_values_before_verifying(scim, monkeypatch):
    users(scim, 1)
    calls: list[Any] = []
    monkeypatch.setattr(cursors.signing, "loads", lambda *a, **k: calls.append(a))
    error(
        scim.get("Users", {"cursor": "y" * (cursors.MAX_CURSOR_LENGTH + 1)}), 400, "invalidCursor"
    )
    assert calls == []


@override_settings(DJANGO_PROVISIONING={"SCIM_MAX_RESPONSE_BYTES": 3000})
def test_group_pages_read_members_only_as_far_as_the_budget(scim, django_assert_max_num_queries):
    members = [user(scim, f"member{i:02d}@example.com") for i in range(30)]
    sizes = {"G0": members, "G1": members[:2], "G2": members, "G3": members[:1]}
    ids = {create_group(scim, name, list(group))["id"]: name for name, group in sizes.items()}

    def check(pages: list[list[dict[str, Any]]]) -> None:
        served = [g for page in pages for g in page]
        assert [g["displayName"] for g in served] == list(sizes)
        for group in served:  # each group whole, never cut
            assert {m["value"] for m in group["members"]} == set(sizes[group["displayName"]])
        assert [len(p) for p in pages] == [1, 1, 1, 1]  # G1 + G2 would pass the budget

    by_index, start = [], 1
    while start <= len(ids):
        with django_assert_max_num_queries(6):  # count, keys, rows, members (+ a big first)
            body = scim.get("Groups", {"startIndex": start, "count": 10}).json()
        by_index.append(body["Resources"])
        start += body["itemsPerPage"]
    check(by_index)
    by_cursor, cursor = [], ""
    while cursor is not None:
        body = scim.get("Groups", {"cursor": cursor, "count": 10}).json()
        by_cursor.append(body["Resources"])
        cursor = body.get("nextCursor")
    check(by_cursor)


def test_resources_created_in_the_same_instant_are_each_served_once(scim, connection):
    from django.utils import timezone

    from django_provisioning.models import ExternalGroup, ExternalIdentity

    users(scim, 5)
    groups = [create_group(scim, f"Tied {i}")["id"] for i in range(4)]
    now = timezone.now()
    ExternalIdentity.objects.filter(connection=connection).update(created_at=now)
    ExternalGroup.objects.filter(connection=connection).update(created_at=now)
    by_pk = list(
        ExternalIdentity.objects.filter(connection=connection)
        .order_by("pk")
        .values_list("scim_id", flat=True)
    )
    assert [i for p in walk(scim, "Users", {"count": 2}) for i in p] == [str(i) for i in by_pk]
    served = [i for p in walk(scim, "Groups", {"count": 1}) for i in p]
    assert sorted(served) == sorted(groups) and len(served) == len(groups)
