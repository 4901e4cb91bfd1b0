"""A token sees only its own connection's users: attacks across connections."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from django_provisioning.models import ExternalIdentity

from .bodies import patch_body
from .test_users_api import create, okta_user


def test_other_connection_cannot_see_or_touch(scim, other_scim):
    mine = create(scim)
    url = f"Users/{mine['id']}"
    assert other_scim.get(url).status_code == 404
    assert other_scim.put(url, okta_user()).status_code == 404
    assert (
        other_scim.patch(
            url, patch_body({"op": "replace", "path": "active", "value": False})
        ).status_code
        == 404
    )
    assert other_scim.delete(url).status_code == 404
    assert other_scim.get("Users").json()["totalResults"] == 0
    for text in (
        'userName eq "alice@example.com"',
        'externalId eq "00u1abcd"',
        f'id eq "{mine["id"]}"',
        "userName pr",
        'emails.value co "alice"',
    ):
        assert other_scim.get("Users", {"filter": text}).json()["totalResults"] == 0, text
    assert other_scim.post(".search", {"filter": "userName pr"}).json()["totalResults"] == 0
    user = get_user_model().objects.get()
    assert user.is_active
    assert ExternalIdentity.objects.get().version == 1


def test_same_username_in_other_connection_is_refused_without_domain(scim, other_scim):
    create(scim)
    response = other_scim.post("Users", okta_user())
    assert response.status_code == 409
    assert ExternalIdentity.objects.count() == 1


def test_domain_owner_with_link_policy_links_existing_account(scim, other_connection, other_scim):
    other_connection.verified_domains = ["globex.test"]
    other_connection.link_by_email = True
    other_connection.save()
    from tests.factories import UserFactory

    local = UserFactory(**{get_user_model().USERNAME_FIELD: "zed@globex.test"})
    response = other_scim.post("Users", okta_user("zed@globex.test"))
    assert response.status_code == 201
    assert ExternalIdentity.objects.get().user == local
    # The other connection cannot take over a user linked elsewhere, even by domain.
    create(scim, user_name="amy@globex.test", externalId="amy")
    assert other_scim.post("Users", okta_user("amy@globex.test")).status_code == 409
