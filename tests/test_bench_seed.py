"""The benchmark's seeder writes what the core writes: SCIM cannot tell its users apart.

``benchmarks/seed.py`` loads users and groups in bulk (COPY on PostgreSQL). These tests seed a
few, read them back over SCIM and from the tables, then delete everything, create the same
users and groups through SCIM POST, and compare: the same resources, the same link, index,
claim, grant and audit rows. Filters find the seeded users and PATCH changes them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from django_provisioning.models import (
    AuditEvent,
    ExternalGroup,
    ExternalIdentity,
    ExternalIdentityValue,
    GroupGrant,
    UserNameClaim,
)
from django_provisioning.value_index import ROW_COLUMNS

from .conftest import ScimClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import seed as seeding

pytestmark = pytest.mark.django_db(transaction=False)

USERS = 12
GROUPS = 3
VOLATILE = {"id", "meta", "password", "date_joined", "last_login", "created_at", "updated_at"}


def body(response: Any) -> Any:
    if getattr(response, "streaming", False):
        return json.loads(b"".join(response.streaming_content))
    return response.json()


def strip(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in VOLATILE}


def snapshot(scim: ScimClient) -> dict[str, Any]:
    """Everything a client reads and the core wrote, keyed by userName / displayName."""
    user_model = get_user_model()
    names: dict[str, str] = {}
    users: dict[str, Any] = {}
    for identity in ExternalIdentity.objects.select_related("user").order_by("pk"):
        response = scim.get(f"Users/{identity.scim_id}")
        assert response.status_code == 200
        names[str(identity.scim_id)] = identity.user_name
        user = identity.user
        fields = {
            f.attname: getattr(user, f.attname)
            for f in user_model._meta.concrete_fields
            if f.attname not in VOLATILE
        }
        resource = strip(body(response))
        # A group's id is new when it is written again: compare the groups by name.
        resource["groups"] = sorted(
            (g["display"], g.get("type")) for g in resource.get("groups", [])
        )
        users[identity.user_name] = {
            "resource": resource,
            "link": {
                "document": identity.document,
                "user_name_normalized": identity.user_name_normalized,
                "external_id": identity.external_id,
                "name_id": identity.name_id,
                "version": identity.version,
                "deleted_at": identity.deleted_at,
            },
            "user": fields,
            "usable_password": user.has_usable_password(),
            "claims": sorted(
                UserNameClaim.objects.filter(user=user).values_list(
                    "user_name_normalized", flat=True
                )
            ),
            "values": sorted(
                ExternalIdentityValue.objects.filter(identity=identity).values_list(*ROW_COLUMNS)
            ),
            "audit": sorted(
                AuditEvent.objects.filter(target=str(identity.scim_id)).values_list(
                    "source", "action", "detail"
                )
            ),
        }
    groups: dict[str, Any] = {}
    for row in ExternalGroup.objects.select_related("group").order_by("pk"):
        response = scim.get(f"Groups/{row.scim_id}")
        assert response.status_code == 200
        resource = strip(body(response))
        resource["members"] = sorted(names[m["value"]] for m in resource.get("members", []))
        groups[row.display_name] = {
            "resource": resource,
            "row": (row.external_id, row.document, row.owns_group, row.version),
            "local_group": row.group.name if row.group else None,
            "local_members": sorted(
                names_by_user(pk) for pk in row.group.user_set.values_list("pk", flat=True)
            )
            if row.group is not None and hasattr(row.group, "user_set")
            else None,
            "grants": sorted(
                (names_by_user(g.user_id), g.source)
                for g in GroupGrant.objects.filter(external_group=row)
            ),
            "audit": sorted(
                (a.action, json.dumps(a.detail, sort_keys=True))
                for a in AuditEvent.objects.filter(target=str(row.scim_id))
            ),
        }
    return {"users": users, "groups": groups}


def names_by_user(user_pk: Any) -> str:
    return ExternalIdentity.objects.get(user_id=user_pk).user_name


def wipe() -> None:
    ExternalGroup.objects.all().delete()
    Group.objects.all().delete()
    get_user_model().objects.all().delete()
    AuditEvent.objects.all().delete()


def test_seeded_users_and_groups_read_as_core_written_ones(scim: ScimClient) -> None:
    result = seeding.seed(USERS, GROUPS, connection=scim.connection)
    assert result["users"] == USERS
    assert ExternalIdentity.objects.count() == USERS
    seeded = snapshot(scim)
    assert set(seeded["users"]) == {seeding.user_name(i) for i in range(USERS)}
    assert len(seeded["groups"]) == GROUPS
    assert all(group["resource"]["members"] for group in seeded["groups"].values())

    wipe()
    for i in range(USERS):
        response = scim.post("Users", seeding.user_body(i))
        assert response.status_code == 201, body(response)
    ids = {identity.user_name: str(identity.scim_id) for identity in ExternalIdentity.objects.all()}
    for name, group in seeded["groups"].items():
        response = scim.post(
            "Groups",
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": name,
                "externalId": group["row"][0],
                "members": [{"value": ids[user]} for user in group["resource"]["members"]],
            },
        )
        assert response.status_code == 201, body(response)
    written = snapshot(scim)
    for kind in ("users", "groups"):
        assert set(written[kind]) == set(seeded[kind])
        for name, rows in seeded[kind].items():
            for key, value in rows.items():
                assert written[kind][name][key] == value, (kind, name, key)


@pytest.mark.parametrize("bulk", [False, True], ids=["rows", "bulk load"])
def test_filters_find_seeded_users_and_patch_changes_them(scim: ScimClient, bulk: bool) -> None:
    seeding.seed(USERS, GROUPS, connection=scim.connection, bulk=bulk)
    i = 6  # has a home e-mail too (every third user)
    expressions = [
        f'userName eq "{seeding.user_name(i)}"',
        f'externalId eq "{seeding.external_id(i)}"',
        f'emails[type eq "work"].value eq "{seeding.user_name(i)}"',
        f'userName sw "user{i:07d}"',
        f'userName ew "{i:07d}@example.com"',
        f'userName co "r{i:07d}@"',
    ]
    found_id = None
    for expression in expressions:
        response = scim.get("Users", {"filter": expression})
        assert response.status_code == 200
        page = body(response)
        assert page["totalResults"] == 1, expression
        assert page["Resources"][0]["userName"] == seeding.user_name(i)
        found_id = page["Resources"][0]["id"]
    home = seeding.user_body(i)["emails"][1]["value"]
    page = body(scim.get("Users", {"filter": f'emails.value eq "{home}"'}))
    assert [r["id"] for r in page["Resources"]] == [found_id]

    response = scim.patch(
        f"Users/{found_id}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": "Seeded and patched"}],
        },
    )
    assert response.status_code in (200, 204)
    assert body(scim.get(f"Users/{found_id}"))["title"] == "Seeded and patched"
    page = body(scim.get("Users", {"filter": 'title eq "Seeded and patched"'}))
    assert [r["id"] for r in page["Resources"]] == [found_id]
    # The list counts every seeded user; a group's displayName finds it.
    assert body(scim.get("Users", {"count": "1"}))["totalResults"] == USERS
    page = body(scim.get("Groups", {"filter": 'displayName eq "Group 000001"'}))
    assert page["totalResults"] == 1


def test_seeding_twice_appends_after_the_rows_already_there(scim: ScimClient) -> None:
    """Primary keys continue after existing rows, so a later core write gets a free key."""
    seeding.seed(4, 1, connection=scim.connection)
    response = scim.post("Users", seeding.user_body(100))
    assert response.status_code == 201, body(response)
    assert ExternalIdentity.objects.count() == 5


def index_definitions() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c "
            "ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() ORDER BY 1"
        )
        return [row[0] for row in cursor.fetchall()]


def test_a_bulk_load_leaves_every_index_and_check_as_it_was(scim: ScimClient) -> None:
    """On PostgreSQL the command line drops the secondary indexes while it loads and builds
    them again; foreign keys are checked again once it is done."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the bulk load changes nothing off PostgreSQL (covered above)")
    before = index_definitions()
    assert any("gin_trgm_ops" in definition for definition in before)
    settings = ["session_replication_role", "maintenance_work_mem"]

    def current() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting(name) FROM unnest(%s::text[]) AS name", [settings]
            )
            return [row[0] for row in cursor.fetchall()]

    # (The test's transaction encloses the seed's: SET LOCAL would outlive it.)
    settings_before = current()
    seeding.seed(USERS, GROUPS, connection=scim.connection, bulk=True)
    assert index_definitions() == before
    assert current() == settings_before
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"
        # A row that breaks a foreign key is refused (at the commit of the deferred check).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        from django.db import IntegrityError, transaction

        with pytest.raises(IntegrityError), transaction.atomic():
            ExternalIdentityValue.objects.create(identity_id=10**9, attribute="emails")
