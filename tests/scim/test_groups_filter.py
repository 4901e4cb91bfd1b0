"""Filters clients send on /Groups, answered from the database."""

from __future__ import annotations

import pytest

from .test_groups_api import create, user


@pytest.fixture
def setup(scim) -> dict[str, str]:
    alice, bob = user(scim, "alice@example.com"), user(scim, "bob@example.com")
    eng = create(scim, "Engineering", [alice], externalId="ext-eng")
    ops = create(scim, "Ops", [alice, bob])
    create(scim, "Empty")
    return {"alice": alice, "bob": bob, "eng": eng["id"], "ops": ops["id"]}


def names(scim, text: str) -> list[str]:
    response = scim.get("Groups", {"filter": text, "sortBy": "displayName"})
    assert response.status_code == 200, response.content
    return [g["displayName"] for g in response.json()["Resources"]]


def test_display_name_eq_is_case_insensitive(scim, setup):
    assert names(scim, 'displayName eq "engineering"') == ["Engineering"]
    assert names(scim, 'displayName sw "E"') == ["Empty", "Engineering"]


def test_external_id_eq_is_case_exact(scim, setup):
    assert names(scim, 'externalId eq "ext-eng"') == ["Engineering"]
    assert names(scim, 'externalId eq "EXT-ENG"') == []


def test_entra_membership_probe(scim, setup):
    probe = f'id eq "{setup["eng"]}" and members[value eq "{setup["alice"]}"]'
    assert names(scim, probe) == ["Engineering"]
    probe = f'id eq "{setup["eng"]}" and members[value eq "{setup["bob"]}"]'
    response = scim.get("Groups", {"filter": probe, "excludedAttributes": "members"})
    assert response.json()["totalResults"] == 0 and response.json()["Resources"] == []


def test_members_value_eq(scim, setup):
    assert names(scim, f'members.value eq "{setup["bob"]}"') == ["Ops"]
    assert names(scim, f'members.value eq "{setup["alice"]}"') == ["Engineering", "Ops"]
    assert names(scim, "members pr") == ["Engineering", "Ops"]
    assert names(scim, "not (members pr)") == ["Empty"]


def test_another_connections_member_id_matches_nothing(scim, other_scim, setup):
    stranger = user(other_scim, "eve@globex.test")
    assert names(scim, f'members.value eq "{stranger}"') == []


def test_meta_filter_and_resource_type(scim, setup):
    assert len(names(scim, 'meta.resourceType eq "Group"')) == 3
    assert names(scim, 'meta.resourceType eq "User"') == []


@pytest.mark.parametrize(
    "text",
    ['userName eq "x"', 'members.display eq "x"', 'members[display eq "x"]', "displayName zz 1"],
)
def test_unfilterable_is_invalid_filter(scim, setup, text):
    response = scim.get("Groups", {"filter": text})
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidFilter"
