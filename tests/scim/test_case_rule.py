"""One case rule: the conflict check, the filter and every lookup of userName agree.

userName is compared in one normalised form (``adapter.normalize_user_name``: NFKC, then case
folding), stored in this app's own columns. Whenever POST answers 409, ``filter=userName eq``
finds the account (in the same connection), and whenever the filter finds nothing, POST creates.
Case-insensitive filters on other text fold non-ASCII letters on every database.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps as global_apps
from django.contrib.auth import get_user_model

from django_provisioning.adapter import get_adapter
from django_provisioning.models import Connection, ExternalIdentity, UserNameClaim

from ..factories import scim_user
from .test_users_api import okta_user

User = get_user_model()

# (existing, posted): pairs the normalisation makes equal or keeps apart. The letters are in
# the domain so that an e-mail-as-username model accepts them too.
PAIRS = [
    ("kim@\u0131rmak.example", "kim@irmak.example"),  # dotless i: UPPER says equal, casefold not
    ("kim@ÉLODIE.example", "kim@élodie.example"),  # SQLite's UPPER/LIKE fold ASCII only
    ("kim@STRASSE.example", "kim@straße.example"),  # ß casefolds to ss
    ("kim@\u212aelvin.example", "kim@kelvin.example"),  # KELVIN SIGN
    ("kim@\ufb01ne.example", "kim@fine.example"),  # the ﬁ ligature: NFKC
]


def same(a: str, b: str) -> bool:
    normalize = get_adapter().normalize_user_name
    return normalize(a) == normalize(b)


@pytest.mark.parametrize(("existing", "posted"), PAIRS)
def test_conflict_exactly_when_the_filter_finds_it(scim: Any, existing: str, posted: str) -> None:
    assert scim.post("Users", okta_user(existing, externalId="1")).status_code == 201

    found = scim.get("Users", {"filter": f'userName eq "{posted}"'}).json()["totalResults"]
    response = scim.post("Users", okta_user(posted, externalId="2"))

    if same(existing, posted):
        assert found == 1
        assert response.status_code == 409
        assert response.json()["scimType"] == "uniqueness"
    else:
        assert found == 0
        assert response.status_code == 201, response.content
        again = scim.get("Users", {"filter": f'userName eq "{posted}"'}).json()
        assert [r["userName"] for r in again["Resources"]] == [posted]


@pytest.mark.parametrize(("existing", "posted"), PAIRS)
def test_one_account_per_normalised_name_across_connections(
    scim: Any, other_scim: Any, existing: str, posted: str
) -> None:
    assert scim.post("Users", okta_user(existing, externalId="1")).status_code == 201

    response = other_scim.post("Users", okta_user(posted, externalId="2"))

    if same(existing, posted):
        assert response.status_code == 409, response.content
        assert response.json()["scimType"] == "uniqueness"
        assert User.objects.count() == 1
    else:
        assert response.status_code == 201, response.content
        assert User.objects.count() == 2


def test_rename_onto_another_connections_name_is_refused(scim: Any, other_scim: Any) -> None:
    scim.post("Users", okta_user("kim@ÉLODIE.example", externalId="1"))
    created = other_scim.post("Users", okta_user("sam@example.com", externalId="2")).json()

    response = other_scim.patch(
        f"Users/{created['id']}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "replace", "path": "userName", "value": "KIM@élodie.example"},
                # On an e-mail user model, the local name is the e-mail: rename it too.
                {
                    "op": "replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "KIM@élodie.example",
                },
            ],
        },
    )

    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    assert ExternalIdentity.objects.get(scim_id=created["id"]).user_name == "sam@example.com"


def test_rename_releases_the_old_name(scim: Any, other_scim: Any) -> None:
    created = scim.post("Users", okta_user("kim@example.com", externalId="1")).json()
    renamed = scim.patch(
        f"Users/{created['id']}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "replace", "path": "userName", "value": "kim.l@example.com"},
                {
                    "op": "replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "kim.l@example.com",
                },
            ],
        },
    )
    assert renamed.status_code == 200, renamed.content
    assert list(UserNameClaim.objects.values_list("user_name_normalized", flat=True)) == [
        "kim.l@example.com"
    ]
    assert other_scim.post("Users", okta_user("KIM@example.com")).status_code == 201


def test_one_person_linked_from_two_connections_holds_one_claim(
    connection: Connection, other_connection: Connection, monkeypatch: Any
) -> None:
    # An adapter that lets a second connection link an account the first one provisioned.
    monkeypatch.setattr(type(get_adapter()), "can_link_user", lambda *args: True)
    first = scim_user(connection, "kim@example.com")
    # The domain moves to the second connection (a domain is verified for one at a time).
    connection.verified_domains = []
    connection.save()
    other_connection.link_by_email = True
    other_connection.verified_domains = ["example.com"]
    other_connection.save()

    second = scim_user(other_connection, "KIM@example.com")

    assert second.user_id == first.user_id
    assert User.objects.count() == 1
    assert list(UserNameClaim.objects.values_list("user_name_normalized", "user_id")) == [
        ("kim@example.com", first.user_id)
    ]


# ------------------------------------------------------------ filters fold non-ASCII text


@pytest.fixture
def elodie(connection: Connection) -> ExternalIdentity:
    scim_user(connection, "someone@example.com", displayName="Zed", name={"givenName": "Zoë"})
    return scim_user(
        connection,
        "elodie@example.com",
        displayName="Élodie Ørsted",
        title="Straße",
        name={"givenName": "Élodie", "familyName": "Ørsted"},
    )


@pytest.mark.parametrize(
    "text",
    [
        'displayName sw "ÉLO"',
        'displayName sw "élo"',
        'displayName eq "ÉLODIE ØRSTED"',
        'displayName co "DIE ØR"',
        'displayName ew "ørsted"',
        'name.givenName eq "élodie"',
        'name.givenName sw "ÉL"',
        'name.familyName co "ØRS"',
        'title eq "straße"',
    ],
)
def test_case_insensitive_filters_fold_non_ascii(scim: Any, elodie: Any, text: str) -> None:
    found = scim.get("Users", {"filter": text}).json()
    assert [r["userName"] for r in found["Resources"]] == ["elodie@example.com"], text


def test_case_insensitive_order_folds_non_ascii(connection: Connection, scim: Any) -> None:
    for user_name, display in (
        ("a@example.com", "ÉLAN"),
        ("b@example.com", "Ézra"),
        ("c@example.com", "élan"),
        ("d@example.com", "Eve"),
    ):
        scim_user(connection, user_name, displayName=display)

    order = [
        r["displayName"] for r in scim.get("Users", {"sortBy": "displayName"}).json()["Resources"]
    ]
    upper = scim.get("Users", {"filter": 'displayName gt "ÉLAM"'}).json()["Resources"]
    lower = scim.get("Users", {"filter": 'displayName gt "élam"'}).json()["Resources"]

    # ÉLAN and élan are one value when case is ignored: side by side, on the same side of élam.
    assert abs(order.index("ÉLAN") - order.index("élan")) == 1, order
    assert {r["displayName"] for r in upper} == {r["displayName"] for r in lower}
    assert {"ÉLAN", "élan"} <= {r["displayName"] for r in upper}


# ------------------------------------------------------------ the claims migration


def test_claims_migration_backfills_and_survives_duplicates(
    connection: Connection, other_connection: Connection
) -> None:
    """Rows from before the constraint: two connections' accounts that differ only in case."""
    first = scim_user(connection, "kim@example.com")
    second = scim_user(other_connection, "sam@example.com")
    # What the old check-then-insert let through: another account under a case variant.
    ExternalIdentity.objects.filter(pk=second.pk).update(
        user_name="KIM@example.com", user_name_normalized="kim@example.com"
    )
    scim_user(connection, "lee@example.com")
    UserNameClaim.objects.all().delete()
    migration = importlib.import_module("django_provisioning.migrations.0002_username_claims")

    migration.backfill_claims(global_apps, None)
    migration.backfill_claims(global_apps, None)  # idempotent

    claims = dict(UserNameClaim.objects.values_list("user_name_normalized", "user_id"))
    assert claims == {
        "kim@example.com": first.user_id,
        "lee@example.com": claims["lee@example.com"],
    }


@pytest.mark.parametrize(
    "operand",
    ["\uff41lice@example.com", " alice@example.com", "ALICE@EXAMPLE.COM", "alice@example.com "],
)
def test_the_evaluator_follows_the_one_username_rule(scim, connection, operand):
    """The in-memory evaluator (PATCH value filters, the reference semantics of filters)
    selects what the compiled filter selects for userName: NFKC, case folding, stripped."""
    from django_provisioning.schema.definitions import USER_RESOURCE
    from django_provisioning.scim.filtering.evaluate import matches
    from django_provisioning.scim.filtering.parser import parse_filter

    scim_user(connection, "alice@example.com")
    text = f'userName eq "{operand}"'
    found = scim.get("Users", {"filter": text}).json()["totalResults"]
    assert found == 1
    assert matches(parse_filter(text), {"userName": "alice@example.com"}, USER_RESOURCE)


# ------------------------------------------------------------ local accounts (no claim)

#: A local username with a letter outside ASCII whose case fold is ASCII, and the ASCII name
#: it folds to. SQLite's LOWER() leaves those letters as they are.
FOLDS_TO_ASCII = [
    ("kim@straße.example", "kim@strasse.example"),
    ("kim@STRAẞE.example", "KIM@strasse.example"),
    ("kim@\u212aelvin.example", "kim@kelvin.example"),  # KELVIN SIGN
    ("kim@\u017fun.example", "kim@sun.example"),  # LONG S
    ("kim@o\ufb00ice.example", "kim@office.example"),  # the ﬀ ligature
    # More spellings than SQLite's index is asked for (db.MAX_SPELLINGS): folded row by row.
    ("kim@mi\u017f\u017fi\u00dfippi-sa\u00dfafras.example", "kim@mississippi-sassafras.example"),
]


@pytest.mark.parametrize(("existing", "posted"), FOLDS_TO_ASCII)
def test_a_local_account_whose_name_folds_to_the_posted_one_is_a_clash(
    scim: Any, existing: str, posted: str
) -> None:
    """A local account this app did not provision (no claim): found by its username, folded
    fully, on SQLite as before its LOWER() index, and on PostgreSQL through UPPER() of each
    spelling (UPPER() = UPPER() alone missed these letters)."""
    assert same(existing, posted)
    User.objects.create(**{User.USERNAME_FIELD: existing})

    response = scim.post("Users", okta_user(posted, externalId="2"))

    assert response.status_code == 409, response.content
    assert response.json()["scimType"] == "uniqueness"
    assert User.objects.count() == 1
