"""The ``filter`` parameter goes through the list views' DRF ``filter_backends``.

Whatever the django-filter ``FilterSet`` cannot validate is a 400 ``invalidFilter``: a filter
dropped in silence would answer with every user of the connection.
"""

from __future__ import annotations

import pytest

from django_provisioning.scim.filtering.backend import ScimFilterBackend
from django_provisioning.scim.views import UserListView, UserSearchView

from ..factories import scim_user

pytestmark = pytest.mark.django_db

NUL_FILTER = 'userName eq "alice\x00@example.com"'


def test_the_list_views_filter_through_their_filter_backends():
    assert UserListView.filter_backends == [ScimFilterBackend]
    assert UserSearchView.filter_backends == [ScimFilterBackend]


def test_a_filter_the_filterset_refuses_is_400_not_every_user(scim, connection):
    scim_user(connection, "alice@example.com")
    scim_user(connection, "bob@example.com")

    response = scim.get("Users", {"filter": NUL_FILTER})

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["scimType"] == "invalidFilter"
    assert "nul character" in body["detail"].lower()


def test_the_same_refusal_for_search(scim, connection):
    scim_user(connection, "alice@example.com")
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": NUL_FILTER,
    }

    response = scim.post("Users/.search", body)

    assert response.status_code == 400, response.content
    assert response.json()["scimType"] == "invalidFilter"


def test_a_valid_filter_still_narrows(scim, connection):
    scim_user(connection, "alice@example.com")
    scim_user(connection, "bob@example.com")

    response = scim.get("Users", {"filter": 'userName eq "bob@example.com"'})

    assert response.status_code == 200
    assert [r["userName"] for r in response.json()["Resources"]] == ["bob@example.com"]
