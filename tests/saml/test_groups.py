"""SAML group claims: IdP groups belong to the connection that names them.

The two defects of issue 8 attacked through the ACS, as a person signing in meets them: a
mapping onto the product's own group took away a membership the product had granted, and two
customers' "Engineering" were one local group.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from django_provisioning.models import Connection, ExternalGroup, GroupGrant
from tests.factories import ConnectionFactory

from .conftest import Browser, sp_metadata
from .idp import TestIdP, idp_options

User = get_user_model()
ENTRA_GROUPS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"


class OtherBrowser(Browser):
    """A browser signing in through another connection trusting the same test IdP."""

    def response_for(self, request: Any, **kwargs: Any) -> bytes:
        return self.idp.response_xml(
            sp_entity_id=f"http://testserver/sso/{self.slug}/metadata/",
            acs_url=f"http://testserver/sso/{self.slug}/acs/",
            in_response_to=request.id if request is not None else None,
            **kwargs,
        )


def globex() -> Connection:
    return ConnectionFactory(
        slug="globex",
        name="Globex",
        verified_domains=["globex.test"],
        **idp_options(),
    )


def groups_of(email: str) -> list[str]:
    user = User.objects.get(**{User.USERNAME_FIELD: email})
    return sorted(user.groups.values_list("name", flat=True))


def sign_in(browser: Browser, email: str, groups: list[str], attribute: str = "groups") -> None:
    response = type(browser)(browser.idp, browser.slug).sign_in(
        name_id=email, attributes={"email": [email], attribute: groups}
    )
    assert response.status_code == 302, response.content


def test_mapping_onto_a_product_group_never_removes_the_products_membership(
    browser: Browser, saml_connection: Connection
) -> None:
    # The product's own "staff" group; the operator maps the IdP's "Admins" onto it.
    staff = Group.objects.create(name="staff")
    saml_connection.group_mapping = {"Admins": "staff"}
    saml_connection.save()
    sign_in(browser, "alice@example.com", [])
    alice = User.objects.get()
    alice.groups.add(staff)  # granted by the product, not by the IdP

    sign_in(browser, "alice@example.com", ["Admins"])
    sign_in(browser, "alice@example.com", [])  # no longer in "Admins" at the IdP

    assert groups_of("alice@example.com") == ["staff"]
    # Bob's membership is the door's own: granted at sign-in, taken away at the next.
    sign_in(browser, "bob@example.com", ["Admins"])
    assert groups_of("bob@example.com") == ["staff"]
    sign_in(browser, "bob@example.com", [])
    assert groups_of("bob@example.com") == []
    assert groups_of("alice@example.com") == ["staff"]
    assert not GroupGrant.objects.exists()


def test_two_customers_engineering_groups_stay_apart(
    browser: Browser, saml_connection: Connection
) -> None:
    other = globex()
    for connection in (saml_connection, other):
        connection.group_mapping = {"Engineering": None}
        connection.save()
    other_browser = OtherBrowser(TestIdP(sp_metadata(other)), "globex")

    sign_in(browser, "alice@example.com", ["Engineering"])
    sign_in(other_browser, "bob@globex.test", ["Engineering"])

    assert groups_of("alice@example.com") == ["acme: Engineering"]
    assert groups_of("bob@globex.test") == ["globex: Engineering"]
    links = ExternalGroup.objects.order_by("connection__slug")
    assert [(g.connection.slug, g.display_name, g.group.name) for g in links] == [
        ("acme", "Engineering", "acme: Engineering"),
        ("globex", "Engineering", "globex: Engineering"),
    ]


def test_the_same_global_name_in_two_connections_is_not_one_group(
    browser: Browser, saml_connection: Connection
) -> None:
    # Both operators wrote the same local name; neither named an existing group.
    other = globex()
    for connection in (saml_connection, other):
        connection.group_mapping = {"Engineering": "engineers"}
        connection.save()
    other_browser = OtherBrowser(TestIdP(sp_metadata(other)), "globex")

    sign_in(browser, "alice@example.com", ["Engineering"])
    sign_in(other_browser, "bob@globex.test", ["Engineering"])

    alice, bob = (
        User.objects.get(**{User.USERNAME_FIELD: e})
        for e in ("alice@example.com", "bob@globex.test")
    )
    shared = set(alice.groups.all()) & set(bob.groups.all())
    assert not shared
    assert not Group.objects.filter(name="engineers").exists()


def test_entra_object_ids_in_the_claim_find_the_group_scim_created(
    browser: Browser, saml_connection: Connection
) -> None:
    from django_provisioning import groups

    object_id = "5f3c9a52-8c1e-4f1b-9d1a-2b6a7c1e9f00"
    # The operator maps the IdP group by the id Entra's claim carries (it sends no names).
    staff = Group.objects.create(name="staff")
    saml_connection.group_mapping = {object_id: "staff"}
    saml_connection.save()
    # Entra's SCIM client pushed the group first: externalId is the objectId.
    pushed = groups.create_group(
        saml_connection, "Acme Admins", external_id=object_id, document={"displayName": "x"}
    )
    assert pushed.group == staff and not pushed.owns_group

    sign_in(browser, "alice@example.com", [object_id], attribute=ENTRA_GROUPS)

    assert groups_of("alice@example.com") == ["staff"]
    assert ExternalGroup.objects.get().display_name == "Acme Admins"  # one row, SCIM's name
    sign_in(browser, "alice@example.com", [], attribute=ENTRA_GROUPS)
    assert groups_of("alice@example.com") == []
