"""A connection belongs to a tenant of the product: the adapter's tenant hooks.

The default adapter has no tenant (a single-tenant site). ``tests.tenancy.TenantAdapter`` is a
multi-tenant product in miniature: it resolves each connection's tenant, attaches the users a
connection creates or links, and says which tenant an existing user belongs to.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import override_settings

from django_provisioning.adapter import DefaultAdapter, get_adapter
from django_provisioning.checks import check_settings
from django_provisioning.connections import get_connection
from django_provisioning.exceptions import ProvisioningDenied
from django_provisioning.jit import provision_from_saml
from django_provisioning.models import (
    AuditEvent,
    Connection,
    ExternalIdentity,
    NameIdFormat,
    UserNameClaim,
)
from django_provisioning.provisioning import delete_user
from django_provisioning.tokens import issue_token

from . import tenancy
from .conftest import ScimClient
from .factories import ConnectionFactory, scim_user
from .scim.test_users_api import okta_user
from .tenancy import join, members, tenant

User = get_user_model()


@pytest.fixture(autouse=True)
def _fresh_adapter_state() -> Any:
    tenancy.reset()
    yield
    tenancy.reset()


@pytest.fixture
def tenants(db: Any, settings: Any) -> None:
    """The multi-tenant adapter in force, with tenants ``acme`` and ``globex``."""
    settings.DJANGO_PROVISIONING = {**settings.DJANGO_PROVISIONING, "ADAPTER": tenancy.ADAPTER}
    tenant("acme")
    tenant("globex")


def local_user(email: str, **extra: Any) -> Any:
    """A local account the product created itself, with a password."""
    fields = {User.USERNAME_FIELD: email, User.get_email_field_name(): email, **extra}
    user = User(**fields)
    user.set_password("keep-me-1")
    user.save()
    return user


def saml(connection: Connection, name_id: str) -> tuple[ExternalIdentity, bool]:
    """The JIT door's core, as an ACS calls it for a validated assertion."""
    return provision_from_saml(
        connection,
        name_id=name_id,
        name_id_format=NameIdFormat.EMAIL,
        document={"userName": name_id, "emails": [{"value": name_id, "primary": True}]},
    )


def linking(connection: Connection) -> Connection:
    connection.link_by_email = True
    connection.save()
    return connection


def assert_untouched(user: Any) -> None:
    """Not linked, password kept."""
    user.refresh_from_db()
    assert user.check_password("keep-me-1")
    assert not ExternalIdentity.objects.filter(user=user).exists()


# ------------------------------------------------------------------ the default: no tenant


def test_default_adapter_has_no_tenant(connection: Connection) -> None:
    adapter = DefaultAdapter()
    user = local_user("bob@example.com")
    group = Group.objects.create(name="eng")

    assert adapter.get_tenant(connection) is None
    assert adapter.get_user_tenant(user) is None
    assert adapter.attach_user_to_tenant(user, object(), connection, created=True) is None
    assert adapter.attach_group_to_tenant(group, object(), connection) is None


def test_without_a_tenant_no_user_is_attached(
    connection: Connection, scim: ScimClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single-tenant site: the attach hook is not called (there is nothing to attach to)."""

    def attach(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("attach_user_to_tenant called without a tenant")

    monkeypatch.setattr(DefaultAdapter, "attach_user_to_tenant", attach)

    assert scim.post("Users", okta_user("alice@example.com")).status_code == 201
    _identity, created = saml(connection, "bob@example.com")

    assert created
    assert User.objects.count() == 2


def test_without_a_tenant_a_verified_domain_links_as_before(connection: Connection) -> None:
    local = local_user("bob@example.com")

    identity, created = saml(linking(connection), "bob@example.com")

    assert identity.user == local and not created


def test_staff_are_never_linked_without_tenants(connection: Connection, scim: ScimClient) -> None:
    staff = local_user("ops@example.com", is_staff=True)
    linking(connection)

    assert scim.post("Users", okta_user("ops@example.com")).status_code == 409
    with pytest.raises(ProvisioningDenied):
        saml(connection, "ops@example.com")

    assert_untouched(staff)


# ------------------------------------------------------------------ attaching to the tenant


@pytest.mark.usefixtures("tenants")
def test_scim_creation_attaches_the_user_to_the_connections_tenant(scim: ScimClient) -> None:
    response = scim.post("Users", okta_user("alice@example.com"))

    assert response.status_code == 201, response.content
    assert members("acme") == {"alice@example.com"}
    assert members("globex") == set()
    assert tenancy.TenantAdapter.attached == [("alice@example.com", "acme", "acme", True)]


@pytest.mark.usefixtures("tenants")
def test_jit_creation_attaches_the_user_to_the_connections_tenant(
    other_connection: Connection,
) -> None:
    identity, created = saml(other_connection, "carol@globex.test")

    assert created
    assert members("globex") == {identity.user.get_username()} == {"carol@globex.test"}
    assert members("acme") == set()


@pytest.mark.usefixtures("tenants")
def test_a_linked_user_is_attached_too(connection: Connection) -> None:
    local = local_user("bob@example.com")  # of no tenant yet: linkable

    identity, created = saml(linking(connection), "bob@example.com")

    assert identity.user == local and not created
    assert members("acme") == {"bob@example.com"}
    assert tenancy.TenantAdapter.attached == [("bob@example.com", "acme", "acme", False)]


@pytest.mark.usefixtures("tenants")
def test_a_refusing_hook_refuses_the_creation_and_writes_nothing(scim: ScimClient) -> None:
    tenancy.TenantAdapter.refuse_with = ProvisioningDenied("Acme has no seats left.")

    response = scim.post("Users", okta_user("alice@example.com"))

    assert response.status_code == 403
    assert response.json()["detail"] == "Acme has no seats left."
    assert not User.objects.exists()
    assert not ExternalIdentity.objects.exists()
    assert not UserNameClaim.objects.exists()
    assert not AuditEvent.objects.filter(action="create").exists()
    assert members("acme") == set()  # the membership the hook wrote is rolled back


@pytest.mark.usefixtures("tenants")
def test_a_failing_hook_rolls_the_jit_creation_back(connection: Connection) -> None:
    tenancy.TenantAdapter.refuse_with = RuntimeError("membership service down")

    with pytest.raises(RuntimeError):
        saml(connection, "alice@example.com")

    assert not User.objects.exists()
    assert not ExternalIdentity.objects.exists()
    assert members("acme") == set()


@pytest.mark.usefixtures("tenants")
def test_a_failing_hook_leaves_a_linked_account_unlinked(connection: Connection) -> None:
    local = local_user("bob@example.com")
    tenancy.TenantAdapter.refuse_with = ProvisioningDenied("No.")

    with pytest.raises(ProvisioningDenied):
        saml(linking(connection), "bob@example.com")

    assert_untouched(local)
    assert members("acme") == set()


# ------------------------------------------------------------------ who a connection may link


@pytest.mark.usefixtures("tenants")
def test_a_user_of_another_tenant_is_never_linked_even_with_a_verified_domain(
    connection: Connection, scim: ScimClient
) -> None:
    """Acme verified example.com; bob@example.com is Globex's account: Acme must not take it."""
    bob = local_user("bob@example.com")
    join(bob, "globex")
    linking(connection)
    assert connection.owns_email_domain("bob@example.com")

    response = scim.post("Users", okta_user("bob@example.com", password="Taken-over-1"))
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    with pytest.raises(ProvisioningDenied):
        saml(connection, "bob@example.com")

    assert_untouched(bob)
    assert members("globex") == {"bob@example.com"}
    assert members("acme") == set()
    assert not get_adapter().can_link_user(connection, bob, "bob@example.com")


@pytest.mark.usefixtures("tenants")
def test_a_user_of_the_connections_tenant_is_linked(connection: Connection) -> None:
    bob = local_user("bob@example.com")
    join(bob, "acme")

    identity, created = saml(linking(connection), "bob@example.com")

    assert identity.user == bob and not created


@pytest.mark.usefixtures("tenants")
def test_staff_are_never_linked_whatever_their_tenant(
    connection: Connection, scim: ScimClient
) -> None:
    linking(connection)
    ops = local_user("ops@example.com", is_staff=True)
    root = local_user("root@example.com", is_superuser=True)
    join(root, "acme")  # even a superuser of the connection's own tenant

    for user in (ops, root):
        name = user.get_username()
        assert scim.post("Users", okta_user(name)).status_code == 409
        with pytest.raises(ProvisioningDenied):
            saml(connection, name)
        assert_untouched(user)


@pytest.mark.usefixtures("tenants")
def test_a_connection_of_no_tenant_links_only_users_of_no_tenant(connection: Connection) -> None:
    """A product's connection whose organization is unknown cannot take a tenant's account."""
    tenancy.TenantAdapter.orphans = {"acme"}
    linking(connection)
    bob = local_user("bob@example.com")
    join(bob, "globex")
    carol = local_user("carol@example.com")

    with pytest.raises(ProvisioningDenied):
        saml(connection, "bob@example.com")
    identity, _created = saml(connection, "carol@example.com")

    assert_untouched(bob)
    assert identity.user == carol
    assert tenancy.TenantAdapter.attached == []  # no tenant, nothing to attach to


@pytest.mark.usefixtures("tenants")
def test_the_link_rule_costs_one_query_for_a_refused_domain(
    connection: Connection, django_assert_num_queries: Any
) -> None:
    """The tenant lookups come after the cheap refusals (policy, domain, staff): a domain not
    in ``verified_domains`` costs one indexed lookup of the domains verified by DNS, and no
    more; a domain in it, none."""
    bob = local_user("bob@elsewhere.test")
    linking(connection)
    adapter = get_adapter()
    with django_assert_num_queries(1):
        assert not adapter.can_link_user(connection, bob, "bob@elsewhere.test")
    with django_assert_num_queries(0):
        assert connection.owns_email_domain("bob@example.com")


# ------------------------------------------------------------------ declared in settings

DECLARED = {
    "CONNECTIONS": {
        "acme-sso": {"verified_domains": ["acme.test"], "tenant": "acme"},
        "solo": {"verified_domains": ["solo.test"]},
    },
    "ADAPTER": tenancy.ADAPTER,
}


def _ids(settings: dict[str, Any]) -> list[str]:
    with override_settings(DJANGO_PROVISIONING=settings):
        return sorted(m.id for m in check_settings() if m.id.startswith("django_provisioning"))


def test_a_declared_connection_names_its_tenant(db: Any) -> None:
    with override_settings(DJANGO_PROVISIONING=DECLARED):
        declared = get_connection("acme-sso")
        solo = get_connection("solo")
        assert declared is not None and solo is not None
        assert declared.declared_tenant == "acme"
        assert solo.declared_tenant is None
        # Loaded again from its row (a token's connection, a link row's): still named.
        assert Connection.objects.get(slug="acme-sso").declared_tenant == "acme"
    stored = ConnectionFactory(slug="stored")
    assert stored.declared_tenant is None
    # Removed from settings: the retired row names no tenant any more.
    assert Connection.objects.get(slug="acme-sso").declared_tenant is None


def test_the_declared_tenant_resolves_and_attaches(db: Any) -> None:
    tenant("acme")
    with override_settings(DJANGO_PROVISIONING=DECLARED):
        declared = get_connection("acme-sso")
        assert declared is not None
        _token, raw = issue_token(declared)
        response = ScimClient(declared, raw).post("Users", okta_user("dan@acme.test"))

        assert response.status_code == 201, response.content
        assert members("acme") == {"dan@acme.test"}
        solo = get_connection("solo")
        assert solo is not None and get_adapter().get_tenant(solo) is None


def test_the_tenant_key_passes_the_settings_checks() -> None:
    assert _ids(DECLARED) == []


@pytest.mark.parametrize("value", ["", True, 1.5, ["acme"], {"slug": "acme"}])
def test_a_tenant_that_is_no_lookup_is_reported(value: Any) -> None:
    settings = {"CONNECTIONS": {"x": {"tenant": value}}, "ADAPTER": tenancy.ADAPTER}
    assert _ids(settings) == ["django_provisioning.E013"]


def test_integer_and_absent_tenants_are_lookups() -> None:
    for options in ({"tenant": 42}, {"tenant": None}, {}):
        assert _ids({"CONNECTIONS": {"x": options}, "ADAPTER": tenancy.ADAPTER}) == []


def test_a_declared_tenant_the_adapter_ignores_is_warned() -> None:
    settings = {"CONNECTIONS": {"x": {"tenant": "acme"}, "y": {}}}
    with override_settings(DJANGO_PROVISIONING=settings):
        (warning,) = [m for m in check_settings() if m.id == "django_provisioning.W004"]
    assert "'x'" in warning.msg and "'y'" not in warning.msg
    assert "get_tenant" in warning.hint


def test_the_tenant_key_is_not_written_to_the_row(db: Any) -> None:
    with override_settings(DJANGO_PROVISIONING=DECLARED):
        connection = get_connection("acme-sso")
    assert connection is not None
    row = Connection.objects.values().get(slug="acme-sso")
    assert "tenant" not in row


def test_scim_user_under_tenants_is_one_membership(db: Any, settings: Any) -> None:
    """Linked again after a SCIM DELETE: attached again, still one membership."""
    settings.DJANGO_PROVISIONING = {"ADAPTER": tenancy.ADAPTER}
    acme = ConnectionFactory(slug="acme", verified_domains=["example.com"])
    tenant("acme")

    identity = scim_user(acme, "alice@example.com")
    delete_user(identity)  # the deactivate policy: the account stays
    again = scim_user(acme, "alice@example.com")

    assert again.user == identity.user
    assert members("acme") == {"alice@example.com"}
    assert [row[3] for row in tenancy.TenantAdapter.attached] == [True, False]
