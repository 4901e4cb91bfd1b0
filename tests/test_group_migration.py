"""Migration 0004 carries the link rows the old group sync wrote.

Before it, a link row was named after its local group (``group_mapping``'s value) and every
membership of the connection's users in that group was the door's. After it, existing links
keep their groups and keep being synced: each is found by its IdP group's name, and the
memberships of the connection's users become grants (a product user's membership does not).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection as db
from django.db.migrations.executor import MigrationExecutor

from django_provisioning.models import (
    ConnectionCounter,
    ExternalGroup,
    ExternalIdentity,
    GroupGrant,
)
from django_provisioning.provisioning import sync_user_groups

pytestmark = pytest.mark.django_db(transaction=True)
APP = "django_provisioning"
BEFORE = [(APP, "0003_auditevent_source_choices")]
User = get_user_model()


def user(email: str) -> Any:
    u = User(**{User.USERNAME_FIELD: email, User.get_email_field_name(): email})
    u.set_unusable_password()
    u.save()
    return u


def test_existing_links_keep_their_groups_and_memberships() -> None:
    executor = MigrationExecutor(db)
    latest = [(APP, name) for app, name in executor.loader.graph.leaf_nodes() if app == APP]
    executor.migrate(BEFORE)
    try:
        old = executor.loader.project_state(BEFORE).apps
        OldExternalGroup = old.get_model(APP, "ExternalGroup")
        # The old Connection and link rows: today's saves claim its domains and count its
        # rows in tables 0003 does not have. Users and groups have the same columns.
        acme = old.get_model(APP, "Connection").objects.create(
            slug="acme", name="Acme", group_mapping={"Engineering": "engineers"}
        )
        engineers = Group.objects.create(name="engineers")
        retired = Group.objects.create(name="red-team")  # no longer in the mapping
        alice, carol = user("alice@example.com"), user("carol@example.com")
        identity = old.get_model(APP, "ExternalIdentity").objects.create(
            connection_id=acme.pk,
            user_id=alice.pk,
            user_name="alice@example.com",
            user_name_normalized="alice@example.com",
        )
        for group in (engineers, retired):
            OldExternalGroup.objects.create(
                connection_id=acme.pk, group_id=group.pk, display_name=group.name
            )
        alice.groups.add(engineers, retired)
        carol.groups.add(engineers)  # the product's own member, not linked to acme

        executor = MigrationExecutor(db)
        executor.migrate(latest)

        counter = ConnectionCounter.objects.get(connection_id=acme.pk)  # 0010 counted them
        assert (counter.users, counter.groups) == (1, 2)
        rows = {row.display_name: row for row in ExternalGroup.objects.all()}
        assert set(rows) == {"Engineering", "red-team"}
        assert rows["Engineering"].group == engineers and not rows["Engineering"].owns_group
        assert set(GroupGrant.objects.values_list("external_group__display_name", "user")) == {
            ("Engineering", alice.pk),
            ("red-team", alice.pk),
        }
        # The next sign-ins: the same row, alice's membership the door's, carol's not.
        identity = ExternalIdentity.objects.select_related("connection", "user").get()
        sync_user_groups(identity, ["Engineering"])
        assert ExternalGroup.objects.count() == 2
        sync_user_groups(identity, [])
        assert set(engineers.user_set.all()) == {carol}
        assert not alice.groups.exists()
    finally:
        MigrationExecutor(db).migrate(latest)
