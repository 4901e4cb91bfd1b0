"""Sign-ins racing for one new IdP group, with real threads on PostgreSQL.

Two people of one connection sign in at the same moment, both named in an IdP group the app
has never seen. Of the two inserts of its link row, the second waits on the unique index and
then reads the first's row: one ExternalGroup, one local group, both people members.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from django_provisioning.jit import provision_from_saml
from django_provisioning.models import ExternalGroup, GroupGrant, NameIdFormat
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
