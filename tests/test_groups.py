"""IdP groups belong to connections: link rows, local groups, and the memberships doors grant."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from django_provisioning import groups, signals
from django_provisioning.adapter import DefaultAdapter
from django_provisioning.exceptions import Conflict, InvalidData
from django_provisioning.models import AuditEvent, ExternalGroup, GroupGrant
from django_provisioning.provisioning import sync_user_groups

from .factories import UserFactory, scim_user

User = get_user_model()


def names(identity: Any) -> list[str]:
    return sorted(identity.user.groups.values_list("name", flat=True))


# ---------------------------------------------------------------- the two defects of issue 8


def test_two_connections_naming_one_idp_group_get_two_local_groups(
    connection: Any, other_connection: Any
) -> None:
    alice = scim_user(connection, "alice@example.com")
    bob = scim_user(other_connection, "bob@globex.test")
    sync_user_groups(alice, ["Engineering"])
    sync_user_groups(bob, ["Engineering"])
    assert not set(alice.user.groups.all()) & set(bob.user.groups.all())
    assert names(alice) == ["acme: Engineering"] and names(bob) == ["globex: Engineering"]
    # Removing bob from globex's group leaves acme's alone.
    sync_user_groups(bob, [])
    assert names(alice) == ["acme: Engineering"] and names(bob) == []


def test_a_product_membership_is_never_removed_by_a_door(connection: Any) -> None:
    staff = Group.objects.create(name="staff")
    connection.group_mapping = {"Admins": "staff"}
    connection.save()
    alice = scim_user(connection, "alice@example.com")
    alice.user.groups.add(staff)  # the product's doing
    sync_user_groups(alice, ["Admins"])
    assert not GroupGrant.objects.exists()  # already a member: no grant recorded
    assert not AuditEvent.objects.filter(action="groups").exists()  # nor a change audited
    sync_user_groups(alice, [])
    assert names(alice) == ["staff"]
    link = ExternalGroup.objects.get()
    assert (link.group, link.owns_group, link.display_name) == (staff, False, "Admins")


def test_mapping_onto_an_existing_group_is_explicit_and_per_connection(
    connection: Any, other_connection: Any
) -> None:
    Group.objects.create(name="staff")
    connection.group_mapping = {"staff": "staff"}
    connection.save()
    alice = scim_user(connection, "alice@example.com")
    bob = scim_user(other_connection, "bob@globex.test")
    sync_user_groups(alice, ["staff"])
    sync_user_groups(bob, ["staff"])  # globex maps nothing: the same name is not the group
    assert names(alice) == ["staff"]
    assert names(bob) == ["globex: staff"]


def test_a_mapping_never_reaches_another_connections_group(
    connection: Any, other_connection: Any, caplog: Any
) -> None:
    alice = scim_user(connection, "alice@example.com")
    sync_user_groups(alice, ["Engineering"])
    other_connection.group_mapping = {"Eng": "acme: Engineering"}
    other_connection.save()
    bob = scim_user(other_connection, "bob@globex.test")
    with caplog.at_level(logging.WARNING, logger="django_provisioning"):
        sync_user_groups(bob, ["Eng"])
    assert names(bob) == []
    assert not ExternalGroup.objects.filter(connection=other_connection).exists()
    assert "does not exist (or belongs to another connection)" in caplog.text


def test_a_mapping_onto_a_missing_group_creates_no_global_group(
    connection: Any, caplog: Any
) -> None:
    connection.group_mapping = {"Engineering": "engineers"}
    connection.save()
    alice = scim_user(connection, "alice@example.com")
    with caplog.at_level(logging.WARNING, logger="django_provisioning"):
        sync_user_groups(alice, ["Engineering"])
    assert not Group.objects.exists() and not ExternalGroup.objects.exists()
    assert "'engineers', which does not exist" in caplog.text


# ---------------------------------------------------------------- local group names


def test_long_names_are_cut_with_a_hash_and_stay_apart(connection: Any) -> None:
    alice = scim_user(connection, "alice@example.com")
    long_a, long_b = "x" * 200 + "a", "x" * 200 + "b"
    sync_user_groups(alice, [long_a, long_b, "y" * 256])  # 256: too long for the IdP's name
    local = names(alice)
    assert len(local) == 2 and len(set(local)) == 2
    assert all(len(n) == 150 and n.startswith("acme: xxx") for n in local)
    assert ExternalGroup.objects.count() == 2


def test_a_taken_name_is_never_joined(connection: Any) -> None:
    product = Group.objects.create(name="acme: Engineering")
    member = UserFactory()
    member.groups.add(product)
    alice = scim_user(connection, "alice@example.com")
    sync_user_groups(alice, ["Engineering"])
    link = ExternalGroup.objects.get()
    assert link.group != product and link.owns_group
    assert link.group.name.startswith("acme: Engineering~")
    assert list(product.user_set.all()) == [member]


# ---------------------------------------------------------------- one IdP group, one link row


def test_entra_saml_object_id_and_scim_external_id_are_one_row(connection: Any) -> None:
    object_id = str(uuid.uuid4())
    alice = scim_user(connection, "alice@example.com")
    sync_user_groups(alice, [object_id])  # Entra's SAML group claim: the object id
    row = groups.create_group(connection, "Engineering", external_id=object_id, document={"a": 1})
    assert ExternalGroup.objects.count() == 1 and row.pk == ExternalGroup.objects.get().pk
    assert names(alice) == ["acme: Engineering"]  # its own group, renamed with it
    sync_user_groups(alice, [object_id])  # the next sign-in finds it by id
    assert ExternalGroup.objects.count() == 1 and names(alice) == ["acme: Engineering"]


def test_okta_names_in_saml_and_ids_in_scim_are_one_row(connection: Any) -> None:
    alice = scim_user(connection, "alice@example.com")
    sync_user_groups(alice, ["Engineering"])
    row = groups.create_group(connection, "Engineering", external_id="00g1", document={"a": 1})
    assert (row.external_id, ExternalGroup.objects.count()) == ("00g1", 1)
    sync_user_groups(alice, ["Engineering"])  # by name now
    assert ExternalGroup.objects.count() == 1 and names(alice) == ["acme: Engineering"]
    # A SCIM client's own row is not taken over a second time.
    with pytest.raises(Conflict):
        groups.create_group(connection, "Engineering", external_id="00g1")
    with pytest.raises(Conflict):
        groups.create_group(connection, "Engineering", external_id="00g2")


def test_rename_conflicts_and_explicit_groups_keep_their_names(connection: Any) -> None:
    staff = Group.objects.create(name="staff")
    connection.group_mapping = {"00admins": "staff"}
    connection.save()
    admins = groups.create_group(connection, "Admins", external_id="00admins", document={"a": 1})
    eng = groups.create_group(connection, "Eng", external_id="00eng", document={"a": 1})
    with pytest.raises(Conflict):
        groups.update_group(eng, display_name="Admins")
    groups.update_group(admins, display_name="Administrators")
    groups.update_group(eng, display_name="Engineering")
    staff.refresh_from_db()
    assert staff.name == "staff"
    assert ExternalGroup.objects.get(pk=eng.pk).group.name == "acme: Engineering"
    with pytest.raises(InvalidData):
        groups.create_group(connection, "x" * 256)


# ---------------------------------------------------------------- memberships


def test_two_idp_groups_onto_one_local_group_share_the_membership(connection: Any) -> None:
    Group.objects.create(name="staff")
    connection.group_mapping = {"Admins": "staff", "Ops": "staff"}
    connection.save()
    alice = scim_user(connection, "alice@example.com")
    sync_user_groups(alice, ["Admins", "Ops"])
    assert GroupGrant.objects.count() == 2
    sync_user_groups(alice, ["Ops"])  # still in staff through Ops
    assert names(alice) == ["staff"]
    sync_user_groups(alice, ["Admins"])  # moved from one to the other: never dropped
    assert names(alice) == ["staff"]
    sync_user_groups(alice, [])
    assert names(alice) == [] and not GroupGrant.objects.exists()


@pytest.mark.parametrize("n", [1, 500])
def test_member_changes_are_set_operations(
    connection: Any, n: int, django_assert_max_num_queries: Any
) -> None:
    identities = [scim_user(connection, f"user{i}@example.com") for i in range(n + 1)]
    ids = [i.scim_id for i in identities]
    product_member = identities[-1]
    group = groups.create_group(connection, "Everyone")
    product_member.user.groups.add(group.group)
    bound = 14  # the same for 1 and 500 members
    with django_assert_max_num_queries(bound):
        groups.add_group_members(group, ids[:n])
    assert group.group.user_set.count() == n + 1
    with django_assert_max_num_queries(bound):
        groups.replace_group_members(group, ids[-1:])  # keeps only the product's member
    assert list(group.group.user_set.all()) == [product_member.user]
    with django_assert_max_num_queries(bound):
        groups.replace_group_members(group, ids)
    with django_assert_max_num_queries(bound):
        groups.remove_group_members(group, ids)
    assert list(group.group.user_set.all()) == [product_member.user]
    assert not GroupGrant.objects.exists()


def test_unknown_members_are_refused_and_nothing_is_written(
    connection: Any, other_connection: Any
) -> None:
    alice = scim_user(connection, "alice@example.com")
    bob = scim_user(other_connection, "bob@globex.test")
    group = groups.create_group(connection, "Everyone")
    for wrong in ([alice.scim_id, bob.scim_id], [alice.scim_id, "not-a-uuid"]):
        with pytest.raises(InvalidData, match="members: no user"):
            groups.add_group_members(group, wrong)
    assert not GroupGrant.objects.exists() and not alice.user.groups.exists()


def test_deleting_a_group(connection: Any) -> None:
    staff = Group.objects.create(name="staff")
    connection.group_mapping = {"Admins": "staff"}
    connection.save()
    alice, bob = (scim_user(connection, f"{n}@example.com") for n in ("alice", "bob"))
    bob.user.groups.add(staff)  # the product's
    admins = groups.create_group(connection, "Admins")
    eng = groups.create_group(connection, "Engineering")
    groups.add_group_members(admins, [alice.scim_id, bob.scim_id])
    groups.add_group_members(eng, [alice.scim_id])
    groups.delete_group(admins)
    groups.delete_group(eng)
    assert list(Group.objects.values_list("name", flat=True)) == ["staff"]  # own one deleted
    assert list(staff.user_set.all()) == [bob.user]
    assert not ExternalGroup.objects.exists() and not GroupGrant.objects.exists()
    assert AuditEvent.objects.filter(action="group_delete").count() == 2


# ---------------------------------------------------------------- signals


@pytest.fixture
def received() -> Any:
    seen: list[tuple[str, str, dict[str, Any]]] = []
    names_ = [
        "group_created",
        "group_updated",
        "group_deleted",
        "group_members_added",
        "group_members_removed",
    ]

    def receiver(sender: str, signal: Any, **kwargs: Any) -> None:
        name = next(n for n in names_ if getattr(signals, n) is signal)
        seen.append((name, sender, kwargs))

    for name in names_:
        getattr(signals, name).connect(receiver, dispatch_uid=f"test-{name}")
    yield seen
    for name in names_:
        getattr(signals, name).disconnect(dispatch_uid=f"test-{name}")


def test_group_signals_after_commit(
    connection: Any, received: Any, django_capture_on_commit_callbacks: Any
) -> None:
    alice, bob = (scim_user(connection, f"{n}@example.com") for n in ("alice", "bob"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sync_user_groups(alice, ["Engineering"])
    assert received == []  # not before commit
    for callback in callbacks:
        callback()
    with django_capture_on_commit_callbacks(execute=True):
        row = ExternalGroup.objects.select_related("group").get()
        local = row.group
        groups.add_group_members(row, [alice.scim_id, bob.scim_id])
        groups.update_group(row, display_name="Eng")
        groups.remove_group_members(row, [alice.scim_id, bob.scim_id])
        groups.delete_group(row)
    assert [(name, sender) for name, sender, _kw in received] == [
        ("group_created", "saml"),
        ("group_members_added", "saml"),
        ("group_members_added", "scim"),
        ("group_updated", "scim"),
        ("group_members_removed", "scim"),
        ("group_deleted", "scim"),
    ]
    created, added_saml, added_scim, updated, removed, deleted = (kw for _n, _s, kw in received)
    assert created["group"] == local and created["external_group"].pk == row.pk
    assert created["connection"] == connection
    assert added_saml["user_ids"] == [alice.user.pk]
    assert added_scim["user_ids"] == [bob.user.pk]  # alice was a member already
    assert updated["group"].name == "acme: Eng"
    assert sorted(removed["user_ids"]) == sorted([alice.user.pk, bob.user.pk])
    assert deleted["external_group"].pk is None  # an unsaved copy of what was deleted
    assert deleted["external_group"].display_name == "Eng"


# ---------------------------------------------------------------- the adapter's hooks


@dataclass(frozen=True)
class Team:
    """The product's own group model, in memory."""

    pk: int
    name: str


class TeamAdapter(DefaultAdapter):
    """Maps IdP groups onto the product's teams, and attaches each to the tenant."""

    teams: dict[int, Team] = {}
    members: set[tuple[int, Any]] = set()
    attached: list[tuple[Any, Any, Any]] = []

    def get_tenant(self, connection: Any) -> Any:
        return f"org-of-{connection.slug}"

    def attach_group_to_tenant(self, group: Any, tenant: Any, connection: Any) -> None:
        self.attached.append((group, tenant, connection.slug))

    def get_or_create_local_group(self, connection: Any, external_group: Any) -> Any:
        team = Team(len(self.teams) + 1, external_group.display_name)
        self.teams[external_group.pk] = team
        return team, True

    def local_memberships(self, connection: Any, pairs: Any) -> set[tuple[Any, Any]]:
        return {(eg.pk, u) for eg, u in pairs if (eg.pk, u) in self.members}

    def add_local_memberships(self, connection: Any, pairs: Any) -> None:
        self.members.update((eg.pk, u) for eg, u in pairs)

    def remove_local_memberships(self, connection: Any, pairs: Any) -> None:
        self.members.difference_update((eg.pk, u) for eg, u in pairs)


def test_hooks_map_groups_onto_the_products_own_model(connection: Any, settings: Any) -> None:
    TeamAdapter.teams, TeamAdapter.members, TeamAdapter.attached = {}, set(), []
    settings.DJANGO_PROVISIONING = {
        **settings.DJANGO_PROVISIONING,
        "ADAPTER": "tests.test_groups.TeamAdapter",
    }
    alice = scim_user(connection, "alice@example.com")
    sync_user_groups(alice, ["Engineering", "Ops"])
    rows = {row.display_name: row for row in ExternalGroup.objects.all()}
    assert not Group.objects.exists()
    assert all(row.group is None and row.owns_group for row in rows.values())
    assert TeamAdapter.members == {
        (rows["Engineering"].pk, alice.user.pk),
        (rows["Ops"].pk, alice.user.pk),
    }
    assert [(g.name, t, c) for g, t, c in TeamAdapter.attached] == [
        ("Engineering", "org-of-acme", "acme"),
        ("Ops", "org-of-acme", "acme"),
    ]
    sync_user_groups(alice, ["Ops"])
    assert TeamAdapter.members == {(rows["Ops"].pk, alice.user.pk)}


def test_deleting_a_group_in_the_admin_goes_through_the_core(
    admin_client: Any, connection: Any
) -> None:
    alice, bob = (scim_user(connection, f"{n}@example.com") for n in ("alice", "bob"))
    sync_user_groups(alice, ["Engineering"])
    row = ExternalGroup.objects.get()
    bob.user.groups.add(row.group)
    assert admin_client.get("/admin/django_provisioning/externalgroup/add/").status_code == 403
    response = admin_client.post(
        f"/admin/django_provisioning/externalgroup/{row.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not ExternalGroup.objects.exists() and not Group.objects.exists()
    assert AuditEvent.objects.get(action="group_delete").source == "admin"


def test_a_group_scim_created_is_not_taken_over_by_name(connection: Any) -> None:
    groups.create_group(connection, "Everyone")
    with pytest.raises(Conflict):
        groups.create_group(connection, "Everyone")
    row = groups.create_group(connection, "Ops", external_id="00ops")
    groups.update_group(row, external_id=None)
    assert ExternalGroup.objects.get(pk=row.pk).external_id is None
    groups.update_group(row, display_name="Operations")  # keeps externalId as it is
    assert ExternalGroup.objects.get(pk=row.pk).display_name == "Operations"
