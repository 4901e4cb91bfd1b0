"""A list page is capped in bytes (``SCIM_MAX_RESPONSE_BYTES``), not only in resources.

A page of 40 users stuffed to the value limits was ~35 MiB. RFC 7644 §3.4.2.4 lets a server
return fewer results than ``count`` asks for: the page shrinks, ``itemsPerPage`` says how many
it holds, ``totalResults`` stays the total, and the client continues from
``startIndex + itemsPerPage``. At least one resource is served while any remain, however big.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from django_provisioning.checks import check_settings
from django_provisioning.conf import provisioning_settings
from django_provisioning.scim import views

from .test_users_api import create

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def people(scim: Any, sizes: list[int]) -> list[str]:
    """Users whose ``title`` is *size* characters long; their ids in creation order."""
    return [
        create(
            scim,
            userName=f"user{n:02d}@example.com",
            externalId=f"e{n:02d}",
            title="t" * size,
            emails=[{"value": f"user{n:02d}@example.com", "type": "work"}],
        )["id"]
        for n, size in enumerate(sizes)
    ]


def walk(scim: Any, params: dict[str, Any], *, search: bool = False) -> list[list[str]]:
    """Follow the pages as a client does (startIndex + itemsPerPage); the ids of each page."""
    pages: list[list[str]] = []
    start = 1
    while True:
        query = {**params, "startIndex": start}
        if search:
            response = scim.post("Users/.search", {"schemas": [SEARCH], **query})
        else:
            response = scim.get("Users", query)
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        ids = [r["id"] for r in body["Resources"]]
        assert body["itemsPerPage"] == len(ids)
        assert body["startIndex"] == start
        cap = provisioning_settings.SCIM_MAX_RESPONSE_BYTES
        assert len(ids) == 1 or len(response.content) <= cap, (len(ids), len(response.content))
        if not ids:
            assert start > body["totalResults"]
            return pages
        assert len(ids) >= 1  # progress: never an empty page while users remain
        pages.append(ids)
        start += body["itemsPerPage"]


@override_settings(DJANGO_PROVISIONING={"SCIM_MAX_RESPONSE_BYTES": 6000})
@pytest.mark.parametrize("search", [False, True])
@pytest.mark.parametrize(
    ("sort", "reverse"),
    [({}, False), ({"sortBy": "externalId", "sortOrder": "descending"}, True)],
)
def test_pages_shrink_and_cover_every_user_exactly_once_in_order(scim, search, sort, reverse):
    ids = people(scim, [2000, 100, 2500, 2500, 100, 4000, 100, 100, 3000, 1500])
    expected = list(reversed(ids)) if reverse else ids
    pages = walk(scim, {"count": 10, **sort}, search=search)
    assert [i for page in pages for i in page] == expected  # each once, stable order
    assert len(pages) > 1 and max(len(p) for p in pages) < 10  # shrunk
    body = scim.get("Users", {"count": 10, **sort}).json()
    assert body["totalResults"] == 10  # the total, not the page


@override_settings(DJANGO_PROVISIONING={"SCIM_MAX_RESPONSE_BYTES": 1000})
def test_a_resource_larger_than_the_cap_is_still_served_alone(scim):
    ids = people(scim, [5000, 5000, 10])
    pages = walk(scim, {"count": 3})
    assert pages == [[ids[0]], [ids[1]], [ids[2]]]
    body = scim.get("Users", {"count": 3}).json()
    assert body["itemsPerPage"] == 1 and len(body["Resources"][0]["title"]) == 5000


@override_settings(DJANGO_PROVISIONING={"SCIM_MAX_RESPONSE_BYTES": 6000})
def test_the_cap_applies_to_what_is_returned(scim):
    """Sizes are measured after ``attributes``: a page of ids is not shrunk."""
    ids = people(scim, [3000] * 6)
    body = scim.get("Users", {"count": 6, "attributes": "id"}).json()
    assert [r["id"] for r in body["Resources"]] == ids
    body = scim.get("Users", {"count": 6, "excludedAttributes": "title"}).json()
    assert body["itemsPerPage"] == 6


@override_settings(DJANGO_PROVISIONING={"SCIM_MAX_RESPONSE_BYTES": 6000})
def test_resources_past_the_cap_are_not_rendered(scim, monkeypatch):
    """The page stops as it is built: a user past the cap is neither rendered nor loaded."""
    people(scim, [2000] * 30)
    rendered: list[str] = []
    real = views.render_user

    def counting(request: Any, identity: Any, groups: Any = None) -> dict[str, Any]:
        rendered.append(identity.user_name)
        return real(request, identity, groups)

    monkeypatch.setattr(views, "render_user", counting)
    body = scim.get("Users", {"count": 30}).json()
    assert body["itemsPerPage"] == 2
    assert len(rendered) == body["itemsPerPage"] + 1  # the one that did not fit


def test_pages_of_ordinary_users_are_not_shrunk(scim):
    ids = people(scim, [20] * 30)
    body = scim.get("Users", {"count": 100}).json()
    assert [r["id"] for r in body["Resources"]] == ids
    assert body["itemsPerPage"] == body["totalResults"] == 30


def test_users_stuffed_to_the_limits_shrink_the_page_under_the_default_cap(scim):
    """The issue's page: users near the 1 MiB request limit each."""
    cap = provisioning_settings.SCIM_MAX_RESPONSE_BYTES
    ids = people(scim, [900_000] * 6)
    response = scim.get("Users", {"count": 6})
    body = response.json()
    assert len(response.content) <= cap
    assert 1 <= body["itemsPerPage"] < 6 and body["totalResults"] == 6
    assert [i for page in walk(scim, {"count": 6}) for i in page] == ids


@pytest.mark.parametrize("value", ["abc", 0, -5, 2.5, True, None])
def test_the_setting_is_checked(value):
    with override_settings(DJANGO_PROVISIONING={"SCIM_MAX_RESPONSE_BYTES": value}):
        assert [m.id for m in check_settings()] == ["django_provisioning.E009"]
