"""/Groups at size: membership changes in a fixed number of queries whatever the number of
members, and a 5,000-member group read with fixed queries and memory that does not grow with
it (the benchmark takes 50,000)."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from django_provisioning.models import Connection, ExternalIdentity, GroupGrant

from .bodies import patch_body
from .test_groups_api import create


def bulk_users(connection: Connection, n: int, prefix: str = "m") -> list[str]:
    """*n* linked users of *connection*, written in bulk; their SCIM ids."""
    model = get_user_model()
    field = model.USERNAME_FIELD
    names = [f"{prefix}{i}@example.com" for i in range(n)]
    model.objects.bulk_create([model(**{field: name}) for name in names], batch_size=2000)
    users = model.objects.filter(**{f"{field}__in": names}).values_list("pk", field)
    rows = [
        ExternalIdentity(
            connection=connection, user_id=pk, user_name=name, user_name_normalized=name
        )
        for pk, name in users
    ]
    ExternalIdentity.objects.bulk_create(rows, batch_size=2000)
    return [
        str(s)
        for s in ExternalIdentity.objects.filter(user_name__in=names).values_list(
            "scim_id", flat=True
        )
    ]


def statements(captured: CaptureQueriesContext) -> int:
    """The statements run, a bulk INSERT counted once: SQLite's driver splits one at 999
    parameters (``max_query_params``), into consecutive INSERTs into the same table."""
    count, last = 0, None
    for query in captured.captured_queries:
        sql = query["sql"]
        insert = sql.split(" (", 1)[0] if sql.startswith("INSERT ") else None
        if insert is None or insert != last:
            count += 1
        last = insert
    return count


def queries(call: Any) -> tuple[int, Any]:
    with CaptureQueriesContext(db) as captured:
        response = call()
        if getattr(response, "streaming", False):
            response.body = b"".join(response.streaming_content)
    return statements(captured), response


def members_op(op: str, ids: list[str]) -> dict[str, Any]:
    if op == "remove":
        return {"op": "remove", "path": "members", "value": [{"value": i} for i in ids]}
    return {"op": op, "path": "members", "value": [{"value": i} for i in ids]}


@pytest.mark.parametrize("op", ["add", "remove", "replace"])
def test_membership_change_costs_the_same_for_1_and_500(
    scim, connection, op, django_assert_max_num_queries
):
    ids = bulk_users(connection, 501)
    counts = []
    for n in (1, 500):
        group = create(scim, f"g{n}", members=ids[500:] if op != "add" else [])
        chosen = ids[:n] if op != "remove" else ids[500:]
        if op == "remove":
            scim.patch(f"Groups/{group['id']}", patch_body(members_op("add", ids[:n])))
            chosen = ids[:n]
        with django_assert_max_num_queries(20):
            count, response = queries(
                lambda g=group, c=chosen: scim.patch(
                    f"Groups/{g['id']}", patch_body(members_op(op, c))
                )
            )
        assert response.status_code == 204, response.content
        counts.append(count)
    assert counts[0] == counts[1]
    expected = {"add": 500, "remove": 1, "replace": 500}[op]
    assert GroupGrant.objects.filter(external_group__display_name="g500").count() == expected


def test_core_add_remove_fixed_queries(connection, django_assert_num_queries):
    from django_provisioning import groups

    ids = bulk_users(connection, 500)
    counts = []
    for n in (1, 500):
        row = groups.create_group(connection, f"core{n}")
        with CaptureQueriesContext(db) as added:
            groups.add_group_members(row, ids[:n])
        with CaptureQueriesContext(db) as removed:
            groups.remove_group_members(row, ids[:n])
        counts.append((statements(added), statements(removed)))
    assert counts[0] == counts[1]
    row = groups.create_group(connection, "exact")
    with django_assert_num_queries(counts[0][0]):  # one member: no statement is split
        groups.add_group_members(row, ids[:1])


@pytest.fixture
def big_group(scim, connection) -> dict[str, Any]:
    from django_provisioning import groups
    from django_provisioning.models import ExternalGroup

    ids = bulk_users(connection, 5000)
    body = create(scim, "Everyone")
    groups.add_group_members(ExternalGroup.objects.get(display_name="Everyone"), ids)
    small = create(scim, "Few", members=ids[:3])
    return {"id": body["id"], "small": small["id"], "ids": ids}


def test_get_streams_every_member_with_fixed_queries(scim, big_group):
    small_count, _small = queries(lambda: scim.get(f"Groups/{big_group['small']}"))
    count, response = queries(lambda: scim.get(f"Groups/{big_group['id']}"))
    assert response.status_code == 200 and response.streaming
    assert count == small_count
    body = json.loads(response.body)
    assert {m["value"] for m in body["members"]} == set(big_group["ids"])
    assert body["members"][0]["$ref"].endswith(f"/Users/{body['members'][0]['value']}")


def _peak(scim, scim_id: str) -> int:
    response = scim.get(f"Groups/{scim_id}")
    tracemalloc.start()
    try:
        size = sum(len(chunk) for chunk in response.streaming_content)
        return tracemalloc.get_traced_memory()[1] if size else 0
    finally:
        tracemalloc.stop()


def test_streaming_memory_does_not_grow_with_members(scim, connection, big_group):
    from django_provisioning import groups
    from django_provisioning.models import ExternalGroup

    row = groups.create_group(connection, "Half")
    groups.add_group_members(row, big_group["ids"][:2500])
    half = ExternalGroup.objects.get(display_name="Half").scim_id
    _peak(scim, str(half))  # first use: caches, compiled statements
    peak_2500 = _peak(scim, str(half))
    peak_5000 = _peak(scim, big_group["id"])
    # Whole, 2,500 members more would be ~1 MB more of rows and JSON.
    assert peak_5000 < peak_2500 + 200_000, (peak_2500, peak_5000)


def test_excluded_members_and_patch_never_load_members(scim, big_group):
    def loads_members(captured: CaptureQueriesContext) -> bool:
        return any(
            "groupgrant" in q["sql"].lower() and "user_name" in q["sql"].lower()
            for q in captured.captured_queries
        )

    for path, params in (
        ("Groups", {"excludedAttributes": "members"}),
        (f"Groups/{big_group['id']}", {"excludedAttributes": "members"}),
        (f"Groups/{big_group['id']}", {"attributes": "displayName"}),
    ):
        with CaptureQueriesContext(db) as captured:
            response = scim.get(path, params)
        assert response.status_code == 200 and not response.streaming
        assert not loads_members(captured), path
    rename = patch_body({"op": "replace", "value": {"displayName": "All"}})
    with CaptureQueriesContext(db) as captured:
        response = scim.patch(f"Groups/{big_group['id']}", rename)
    assert response.status_code == 204 and response.content == b""
    assert not loads_members(captured)
    counts = []
    for scim_id, name in ((big_group["small"], "S"), (big_group["id"], "B")):
        rename = patch_body({"op": "replace", "path": "displayName", "value": name})
        count, response = queries(lambda i=scim_id, r=rename: scim.patch(f"Groups/{i}", r))
        assert response.status_code == 204
        counts.append(count)
    assert counts[0] == counts[1]
