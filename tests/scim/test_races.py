"""SCIM requests racing each other, with real threads on PostgreSQL.

One local account per normalised userName, across connections, is a unique column of this
app's own (``UserNameClaim``), so it holds when two connections POST the same person at once.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from django_provisioning.adapter import get_adapter
from django_provisioning.jit import provision_from_saml
from django_provisioning.models import (
    ExternalIdentity,
    ExternalIdentityValue,
    NameIdFormat,
    UserNameClaim,
)
from django_provisioning.value_index import ROW_COLUMNS, reindex, value_rows
from tests.concurrency import race
from tests.tools import require_postgresql

from .test_users_api import okta_user

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()
ROUNDS = 20


def test_posts_of_one_name_to_two_connections_make_one_account(scim, other_scim):
    require_postgresql()
    for round_ in range(ROUNDS):
        lower, upper = f"x{round_}@shared.test", f"X{round_}@SHARED.TEST"
        first, second = race(
            lambda lower=lower, round_=round_: scim.post(
                "Users", okta_user(lower, externalId=f"a{round_}")
            ),
            lambda upper=upper, round_=round_: other_scim.post(
                "Users", okta_user(upper, externalId=f"b{round_}")
            ),
        )
        statuses = sorted([first.status_code, second.status_code])
        assert statuses == [201, 409], (first.content, second.content)
        loser = first if first.status_code == 409 else second
        assert loser.json()["scimType"] == "uniqueness"
        usernames = [
            name
            for name in User.objects.values_list(User.USERNAME_FIELD, flat=True)
            if name.casefold() == lower.casefold()
        ]
        assert len(usernames) == 1, usernames
        assert ExternalIdentity.objects.filter(user_name_normalized=lower.casefold()).count() == 1
        assert UserNameClaim.objects.filter(user_name_normalized=lower.casefold()).count() == 1


def test_posts_of_one_name_with_the_username_hook_make_two_accounts(scim, other_scim, settings):
    """With ``generate_username`` installed, the loser of the race for a name is not a 409:
    its transaction starts again, sees the name taken, and the hook names its account."""
    require_postgresql()
    settings.DJANGO_PROVISIONING = {"ADAPTER": "tests.test_extension_points.NumberingAdapter"}
    for round_ in range(ROUNDS):
        name = f"y{round_}.z@shared.test"  # numbered: y1.z2@..., never another round's name
        first, second = race(
            lambda name=name, round_=round_: scim.post(
                "Users", okta_user(name, externalId=f"a{round_}")
            ),
            lambda name=name, round_=round_: other_scim.post(
                "Users", okta_user(name, externalId=f"b{round_}")
            ),
        )
        assert [first.status_code, second.status_code] == [201, 201], (
            first.content,
            second.content,
        )
        assert first.json()["userName"] == second.json()["userName"] == name
        local_names = sorted(
            getattr(identity.user, User.USERNAME_FIELD)
            for identity in ExternalIdentity.objects.filter(user_name_normalized=name)
        )
        assert local_names == sorted([name, f"y{round_}.z2@shared.test"])
        assert (
            UserNameClaim.objects.filter(
                user__external_identities__user_name_normalized=name
            ).count()
            == 2
        )


def test_a_sign_in_racing_a_post_of_its_name_with_the_username_hook(
    scim, other_connection, settings
):
    """The JIT door loses or wins the race for a name like a POST: with the hook, both accounts
    are made (one with a generated name), neither door sees an error."""
    require_postgresql()
    settings.DJANGO_PROVISIONING = {"ADAPTER": "tests.test_extension_points.NumberingAdapter"}
    for round_ in range(ROUNDS):
        name = f"j{round_}.z@shared.test"
        posted, (identity, created) = race(
            lambda name=name, round_=round_: scim.post(
                "Users", okta_user(name, externalId=f"a{round_}")
            ),
            lambda name=name: provision_from_saml(
                other_connection,
                name_id=name,
                name_id_format=NameIdFormat.EMAIL,
                document={"userName": name},
            ),
        )
        assert posted.status_code == 201, posted.content
        assert created is True
        identity.refresh_from_db()
        assert identity.user_name == name
        local_names = sorted(
            getattr(link.user, User.USERNAME_FIELD)
            for link in ExternalIdentity.objects.filter(user_name_normalized=name)
        )
        assert local_names == sorted([name, f"j{round_}.z2@shared.test"])


def test_reindex_racing_a_put_indexes_the_users_new_values(scim):
    """``reindex_values`` locks a link row, then reads its user again under the user's lock:
    racing a PUT that waited for, it indexes the values the PUT wrote to the user row
    (``name.givenName`` is a model field), not those read before it waited."""
    require_postgresql()
    created = scim.post("Users", okta_user("racer@example.com"))
    assert created.status_code == 201, created.content
    scim_id = created.json()["id"]
    for round_ in range(ROUNDS):
        given = f"Given{round_}"
        put = okta_user("racer@example.com", name={"givenName": given, "familyName": "R"})
        response, _count = race(lambda put=put: scim.put(f"Users/{scim_id}", put), reindex)
        assert response.status_code == 200, response.content
        stored = ExternalIdentityValue.objects.filter(identity__scim_id=scim_id)
        assert list(stored.filter(attribute="name.givenName").values_list("value", flat=True)) == [
            given
        ], round_


def test_two_patches_of_one_user_leave_exactly_the_rows_of_its_values(scim):
    """Two PATCHes of different indexed values of one user at once: each reads the stored
    value rows under the link row's lock, so the second sees the first's rows and the index
    ends with exactly the rows of the user's final values (none lost, none twice)."""
    require_postgresql()
    created = scim.post("Users", okta_user("twin@example.com"))
    assert created.status_code == 201, created.content
    scim_id = created.json()["id"]

    def patch(path: str, value: str):
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": path, "value": value}],
        }
        return lambda: scim.patch(f"Users/{scim_id}", body)

    for round_ in range(ROUNDS):
        title, nick = f"Title{round_}", f"Nick{round_}"
        responses = race(patch("title", title), patch("nickName", nick))
        assert [r.status_code for r in responses] == [200, 200], round_
        identity = ExternalIdentity.objects.select_related("user", "connection").get(
            scim_id=scim_id
        )
        document = get_adapter().user_to_document(
            identity.user, identity.document, identity.connection
        )
        wanted = sorted(
            tuple(getattr(row, c) for c in ROW_COLUMNS) for row in value_rows(identity, document)
        )
        stored = sorted(
            ExternalIdentityValue.objects.filter(identity=identity).values_list(*ROW_COLUMNS)
        )
        assert stored == wanted, round_
        assert ("title", "", title) in {r[:3] for r in stored}, round_
        assert ("nickName", "", nick) in {r[:3] for r in stored}, round_
