"""Sign-ins racing for one new IdP group, with real threads on PostgreSQL.

Two people of one connection sign in at the same moment, both named in an IdP group the app
has never seen. Of the two inserts of its link row, the second waits on the unique index and
then reads the first's row: one ExternalGroup, one local group, both people members.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from django.contrib.auth.models import Group

from django_provisioning import groups
from django_provisioning.adapter import DefaultAdapter
from django_provisioning.jit import provision_from_saml
from django_provisioning.models import ExternalGroup, ExternalIdentity, GroupGrant, NameIdFormat
from tests.concurrency import race
from tests.tools import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True)
ROUNDS = 10


def sign_in(connection: Any, email: str, group_values: list[str]) -> Any:
    def call() -> Any:
        identity, _created = provision_from_saml(
            connection,
            name_id=email,
            name_id_format=NameIdFormat.EMAIL,
            document={"userName": email},
            group_names=group_values,
        )
        return identity.user_id

    return call


def test_two_sign_ins_naming_one_new_group_make_one_group(connection: Any) -> None:
    require_postgresql()
    for round_ in range(ROUNDS):
        # Several new groups, named in opposite orders: the inserts must not deadlock.
        values = [f"Round {round_} {name}" for name in ("Engineering", "Everyone", "Ops")]
        alice, bob = race(
            sign_in(connection, f"alice{round_}@example.com", values),
            sign_in(connection, f"bob{round_}@example.com", values[::-1]),
        )
        for value in values:
            row = ExternalGroup.objects.select_related("group").get(
                connection=connection, display_name=value
            )
            assert row.owns_group and row.group.name == f"acme: {value}"
            members = set(row.group.user_set.values_list("pk", flat=True))
            assert members == {alice, bob}
            assert GroupGrant.objects.filter(external_group=row).count() == 2
    assert ExternalGroup.objects.count() == Group.objects.count() == 3 * ROUNDS


class Interleaving(DefaultAdapter):
    """Holds a sign-in right after it has locked its user, and a /Groups change right after
    it has locked its group, until both are there: the two orders meet."""

    sign_in_has_user = threading.Event()
    change_has_group = threading.Event()

    def is_user_active(self, user: Any) -> bool:
        if threading.current_thread().name == "sign-in" and not self.sign_in_has_user.is_set():
            self.sign_in_has_user.set()
            assert self.change_has_group.wait(10)
        return super().is_user_active(user)

    def local_memberships(self, connection: Any, pairs: Any) -> Any:
        if threading.current_thread().name == "change" and not self.change_has_group.is_set():
            self.change_has_group.set()
            assert self.sign_in_has_user.wait(10)
        return super().local_memberships(connection, pairs)


def test_a_group_change_and_a_sign_in_do_not_deadlock(
    connection: Any, settings: Any, caplog: Any
) -> None:
    """A /Groups change writes rows naming a user that a sign-in holds locked: it must not
    wait for the sign-in, which waits for the group's link row (no deadlock, no retry)."""
    require_postgresql()
    sign_in(connection, "alice@example.com", [])()
    identity = ExternalIdentity.objects.get()
    group = groups.create_group(connection, "Engineering")
    Interleaving.sign_in_has_user.clear()
    Interleaving.change_has_group.clear()
    settings.DJANGO_PROVISIONING = {
        **settings.DJANGO_PROVISIONING,
        "ADAPTER": "tests.test_group_races.Interleaving",
    }

    def named(name: str, call: Any) -> Any:
        def run() -> Any:
            threading.current_thread().name = name
            return call()

        return run

    with caplog.at_level(logging.WARNING, logger="django_provisioning"):
        race(
            named("sign-in", sign_in(connection, "alice@example.com", ["Engineering"])),
            named("change", lambda: groups.add_group_members(group, [identity.scim_id])),
        )
    assert "retrying" not in caplog.text
    assert list(group.group.user_set.all()) == [identity.user]
    assert GroupGrant.objects.get().user_id == identity.user_id
