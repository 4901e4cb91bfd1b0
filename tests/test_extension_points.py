"""The adapter's extension points a SaaS needs: usernames, the pre-JIT hook, a general map.

Run on both user models (``auth.User``, and the e-mail-as-username ``testapp.EmailUser`` with
``TEST_USER_MODEL=custom``): every expectation here holds on each.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.test import override_settings

from django_provisioning import claims as claims_module
from django_provisioning.adapter import DefaultAdapter
from django_provisioning.checks import check_settings
from django_provisioning.exceptions import Conflict
from django_provisioning.mapping import configured_attribute_map
from django_provisioning.models import Connection, ExternalIdentity, UserNameClaim
from django_provisioning.schema.definitions import ENTERPRISE_USER_SCHEMA as ENT
from django_provisioning.schema.definitions import USER_SCHEMA
from django_provisioning.usernames import numbered_username

from .conftest import ScimClient
from .scim.bodies import patch_body

User = get_user_model()
ADAPTERS = "tests.test_extension_points"

#: What the hooks below were called with, per test.
CALLS: list[Any] = []


@pytest.fixture(autouse=True)
def _fresh_calls() -> Any:
    CALLS.clear()
    yield
    CALLS.clear()


class NumberingAdapter(DefaultAdapter):
    """A product whose people may belong to several customers: taken names get a number."""

    def generate_username(
        self, connection: Connection, document: dict[str, Any], proposed: str, *, attempt: int
    ) -> str | None:
        CALLS.append((connection.slug, proposed, attempt))
        return numbered_username(proposed, attempt)


class StubbornAdapter(DefaultAdapter):
    """A broken hook: always proposes a taken name."""

    def generate_username(
        self, connection: Connection, document: dict[str, Any], proposed: str, *, attempt: int
    ) -> str | None:
        CALLS.append(attempt)
        return proposed


class ShortNameAdapter(DefaultAdapter):
    """Makes a name that fits when the IdP's does not."""

    def generate_username(
        self, connection: Connection, document: dict[str, Any], proposed: str, *, attempt: int
    ) -> str | None:
        return f"short{attempt}@example.com"


def body(user_name: str, **extra: Any) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": user_name, **extra}


def local(user: Any) -> str:
    return str(getattr(user, User.USERNAME_FIELD))


def claims() -> set[str]:
    return set(UserNameClaim.objects.values_list("user_name_normalized", flat=True))


def rows() -> tuple[int, int, int]:
    return User.objects.count(), ExternalIdentity.objects.count(), UserNameClaim.objects.count()


# ---------------------------------------------------------------- generate_username


def test_a_taken_name_is_409_without_the_hook(scim: ScimClient, other_scim: ScimClient) -> None:
    assert scim.post("Users", body("alice@example.com")).status_code == 201
    before = rows()
    response = other_scim.post("Users", body("Alice@Example.com"))
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    assert rows() == before


def test_the_hook_names_the_account_and_user_name_round_trips(
    scim: ScimClient, other_scim: ScimClient, settings: Any
) -> None:
    settings.DJANGO_PROVISIONING = {"ADAPTER": f"{ADAPTERS}.NumberingAdapter"}
    first = scim.post("Users", body("alice@example.com")).json()
    response = other_scim.post("Users", body("Alice@Example.com", externalId="e-2"))

    assert response.status_code == 201, response.content
    created = response.json()
    assert created["userName"] == "Alice@Example.com"  # the IdP's value, as sent
    second = ExternalIdentity.objects.get(scim_id=created["id"]).user
    assert local(second) == "Alice2@Example.com"
    assert CALLS == [(other_scim.connection.slug, "Alice@Example.com", 1)]
    assert claims() == {"alice@example.com", "alice2@example.com"}
    # Found by the IdP's userName, in its own connection only.
    found = other_scim.get("Users", {"filter": 'userName eq "alice@example.com"'}).json()
    assert [r["id"] for r in found["Resources"]] == [created["id"]]
    assert other_scim.get(f"Users/{created['id']}").json()["userName"] == "Alice@Example.com"
    assert scim.get(f"Users/{first['id']}").json()["userName"] == "alice@example.com"

    # The IdP sends the same userName again: the generated name stays.
    put = other_scim.put(f"Users/{created['id']}", body("Alice@Example.com", externalId="e-2"))
    assert put.status_code == 200, put.content
    second.refresh_from_db()
    assert local(second) == "Alice2@Example.com"
    assert len(CALLS) == 1

    # A rename at the IdP: the local name follows, and the old claim goes.
    patched = other_scim.patch(
        f"Users/{created['id']}",
        patch_body({"op": "replace", "path": "userName", "value": "ally@example.com"}),
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["userName"] == "ally@example.com"
    second.refresh_from_db()
    assert local(second) == "ally@example.com"
    assert claims() == {"alice@example.com", "ally@example.com"}


def test_the_hook_is_asked_again_while_its_names_are_taken(
    scim: ScimClient, other_scim: ScimClient, settings: Any
) -> None:
    settings.DJANGO_PROVISIONING = {"ADAPTER": f"{ADAPTERS}.NumberingAdapter"}
    assert scim.post("Users", body("bob@example.com")).status_code == 201
    assert scim.post("Users", body("bob2@example.com")).status_code == 201
    response = other_scim.post("Users", body("bob@example.com"))
    assert response.status_code == 201, response.content
    user = ExternalIdentity.objects.get(scim_id=response.json()["id"]).user
    assert local(user) == "bob3@example.com"
    assert [c[2] for c in CALLS] == [1, 2]


def test_a_hook_that_runs_out_of_names_is_409_and_writes_nothing(
    scim: ScimClient, other_scim: ScimClient, settings: Any
) -> None:
    settings.DJANGO_PROVISIONING = {
        "ADAPTER": f"{ADAPTERS}.StubbornAdapter",
        "USERNAME_ATTEMPTS": 3,
    }
    assert scim.post("Users", body("carol@example.com")).status_code == 201
    before = rows()
    response = other_scim.post("Users", body("carol@example.com"))
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    assert CALLS == [1, 2, 3]
    assert rows() == before


def _unfit_name() -> str:
    """A userName the link row holds whole but USERNAME_FIELD refuses."""
    field = User._meta.get_field(User.USERNAME_FIELD)
    if field.get_internal_type() == "CharField" and not User.USERNAME_FIELD.endswith("email"):
        return "a" * ((field.max_length or 150) + 20)
    return "not an e-mail address"


def test_a_name_that_does_not_fit_is_400_without_the_hook(scim: ScimClient) -> None:
    response = scim.post("Users", body(_unfit_name()))
    assert response.status_code == 400, response.content
    assert response.json()["scimType"] == "invalidValue"
    assert rows() == (0, 0, 0)


def test_the_hook_names_an_account_whose_user_name_does_not_fit(
    scim: ScimClient, settings: Any
) -> None:
    settings.DJANGO_PROVISIONING = {"ADAPTER": f"{ADAPTERS}.ShortNameAdapter"}
    name = _unfit_name()
    response = scim.post("Users", body(name))
    assert response.status_code == 201, response.content
    assert response.json()["userName"] == name
    assert local(User.objects.get()) == "short1@example.com"


def test_numbered_username_keeps_the_domain_and_the_length() -> None:
    assert numbered_username("bob", 1) == "bob2"
    assert numbered_username("bob@example.com", 9) == "bob10@example.com"
    assert len(numbered_username("x" * 150, 1)) == 150
    assert numbered_username("x" * 150, 1).endswith("2")


# ---------------------------------------------------------------- the general map

SEEN: list[tuple[Any, Any, str]] = []


def remember_cost_center(user: Any, value: Any, connection: Any) -> None:
    """A callable target: the product keeps the value elsewhere (here, a list)."""
    assert user.pk is not None  # called once the user is saved
    SEEN.append((user.pk, value, connection.slug))


@pytest.fixture
def cost_center_map(settings: Any) -> Any:
    SEEN.clear()
    mapping = {
        **configured_attribute_map(),
        f"{ENT}:costCenter": f"{ADAPTERS}.remember_cost_center",
    }
    settings.DJANGO_PROVISIONING = {
        **settings.DJANGO_PROVISIONING,
        "USER_ATTRIBUTE_MAP": mapping,
    }
    yield
    SEEN.clear()


def test_a_path_mapped_to_a_callable_over_scim(scim: ScimClient, cost_center_map: Any) -> None:
    created = scim.post("Users", {**body("dan@example.com"), ENT: {"costCenter": "CC-1"}}).json()
    user = User.objects.get()
    assert SEEN == [(user.pk, "CC-1", scim.connection.slug)]
    assert scim.get(f"Users/{created['id']}").json()[ENT] == {"costCenter": "CC-1"}

    scim.patch(
        f"Users/{created['id']}",
        patch_body({"op": "remove", "path": f"{ENT}:costCenter"}),
    )
    assert SEEN[-1] == (user.pk, None, scim.connection.slug)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"shoeSize": "x"}, "not a SCIM attribute path"),
        ({"id": "x"}, "readOnly"),
        ({"meta.created": "x"}, "readOnly"),
        ({"password": "x"}, "writeOnly"),
        ({"name": "x"}, "name one of its sub-attributes"),
        ({"name.bogus": "x"}, "no sub-attribute"),
        ({"addresses": "x"}, "no 'value'"),
        ({f"{ENT}:manager": "x"}, "name one of its sub-attributes"),
        ({f"{ENT}:manager.displayName": "x"}, "readOnly"),
        ({"title": []}, "non-empty list"),
        ({"title": 3}, "non-empty list"),
        ({"title": ["ok", ""]}, "non-empty list"),
        (["title"], "JSON object"),
    ],
)
def test_a_bad_saml_attribute_mapping_is_refused(mapping: Any, message: str, db: Any) -> None:
    connection = Connection(slug="bad-map", name="Bad", attribute_mapping=mapping)
    with pytest.raises(ValidationError) as excinfo:
        connection.full_clean()
    assert message in str(excinfo.value.message_dict["attribute_mapping"])


def test_a_declared_connection_with_a_bad_mapping_fails_the_checks() -> None:
    declared = {"CONNECTIONS": {"x": {"attribute_mapping": {"shoeSize": ["s"]}}}}
    with override_settings(DJANGO_PROVISIONING=declared):
        ids = [m.id for m in check_settings()]
    assert ids == ["django_provisioning.E010"]


def _check_ids(**options: Any) -> list[str]:
    with override_settings(DJANGO_PROVISIONING=options):
        return [m.id for m in check_settings()]


def test_the_user_attribute_map_is_checked() -> None:
    field = User.USERNAME_FIELD
    assert _check_ids(USER_ATTRIBUTE_MAP={"title": "tests.nowhere.nothing"}) == [
        "django_provisioning.E014"
    ]
    assert _check_ids(USER_ATTRIBUTE_MAP={"title": "django_provisioning.conf.SETTINGS_NAME"}) == [
        "django_provisioning.E014"
    ]
    assert _check_ids(USER_ATTRIBUTE_MAP={"userName": field, "displayName": field}) == [
        "django_provisioning.E015"
    ]
    assert _check_ids(USER_ATTRIBUTE_MAP={"title": f"{ADAPTERS}.remember_cost_center"}) == []
    assert _check_ids(USER_ATTRIBUTE_MAP={"title": remember_cost_center}) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("adapter", "status"), [("NumberingAdapter", 201), (None, 409)])
def test_a_lost_race_for_the_name_starts_the_write_again_with_the_hook(
    scim: ScimClient, settings: Any, monkeypatch: Any, adapter: str | None, status: int
) -> None:
    """The claim's unique index refuses a name another transaction took since the check: with
    the hook, the transaction runs again (and would ask it for another name); without, 409."""
    if adapter:
        settings.DJANGO_PROVISIONING = {"ADAPTER": f"{ADAPTERS}.{adapter}"}
    real_claim = claims_module.claim
    attempts: list[str] = []

    def claim_lost_once(user: Any, normalized: str, **kwargs: Any) -> None:
        attempts.append(normalized)
        if len(attempts) == 1:
            raise Conflict(claims_module.TAKEN)
        real_claim(user, normalized, **kwargs)

    monkeypatch.setattr(claims_module, "claim", claim_lost_once)
    response = scim.post("Users", body("eve@example.com"))
    assert response.status_code == status, response.content
    if status == 201:
        assert attempts == ["eve@example.com", "eve@example.com"]
        assert rows() == (1, 1, 1)
    else:
        assert attempts == ["eve@example.com"]
        assert rows() == (0, 0, 0)


class CommitHookAdapter(DefaultAdapter):
    """A host adapter whose after-commit work fails (e.g. a CRM call that hits a constraint)."""

    def attach_user_to_tenant(
        self, user: Any, tenant: Any, connection: Any, *, created: bool
    ) -> None:
        from django.db import IntegrityError, transaction

        def fail() -> None:
            CALLS.append("hook")
            raise IntegrityError("the host's own constraint")

        transaction.on_commit(fail)

    def get_tenant(self, connection: Any) -> Any:
        return "acme"


@pytest.mark.django_db(transaction=True)
def test_a_failing_after_commit_hook_does_not_run_the_write_twice(
    connection: Any, settings: Any
) -> None:
    """The write committed; the host's on_commit hook raised. It is the host's error, and the
    core must not take it for a refused COMMIT and write the user a second time."""
    from django.db import IntegrityError

    from django_provisioning.provisioning import create_user

    settings.DJANGO_PROVISIONING = {"ADAPTER": f"{ADAPTERS}.CommitHookAdapter"}
    with pytest.raises(IntegrityError, match="host's own constraint"):
        create_user(connection, {"userName": "once@example.com"})
    assert CALLS == ["hook"]
    assert ExternalIdentity.objects.filter(user_name="once@example.com").count() == 1


def test_an_absent_value_of_a_non_text_field_is_its_default(
    settings: Any, scim: ScimClient
) -> None:
    """Mapped onto a non-text field that cannot be NULL (``date_joined``), an attribute the
    document leaves out is the field's default, not "" (which full_clean would refuse)."""
    try:
        User._meta.get_field("date_joined")
    except FieldDoesNotExist:
        pytest.skip("the user model has no date_joined (the e-mail test model)")
    path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
    settings.DJANGO_PROVISIONING = {
        "USER_ATTRIBUTE_MAP": {**configured_attribute_map(), path: "date_joined"}
    }
    response = scim.post("Users", body("def@example.com"))
    assert response.status_code == 201, response.content
    assert User.objects.get().date_joined is not None


@pytest.mark.parametrize(
    "key", ["username", "USERNAME", "urn:ietf:params:scim:schemas:core:2.0:User:userName"]
)
def test_user_name_is_never_read_from_the_model_however_the_map_spells_it(
    scim: ScimClient, other_scim: ScimClient, settings: Any, key: str
) -> None:
    settings.DJANGO_PROVISIONING = {
        "ADAPTER": f"{ADAPTERS}.NumberingAdapter",
        "USER_ATTRIBUTE_MAP": {key: User.USERNAME_FIELD},
    }
    assert scim.post("Users", body("alice@example.com")).status_code == 201
    created = other_scim.post("Users", body("Alice@Example.com"))
    assert created.status_code == 201, created.content
    assert created.json()["userName"] == "Alice@Example.com"  # not the generated local name
    user = ExternalIdentity.objects.get(scim_id=created.json()["id"]).user
    assert local(user) == "Alice2@Example.com"
