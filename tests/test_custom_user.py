"""The default adapter on a custom AUTH_USER_MODEL (e-mail as username, extra fields).

Collected only when the suite runs with TEST_USER_MODEL=custom (tox env ``custom-user``).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import override_settings

from django_provisioning.schema.definitions import ENTERPRISE_USER_SCHEMA as ENT
from django_provisioning.schema.definitions import USER_SCHEMA

from .scim.bodies import patch_body

MAP = {
    "userName": "email",
    "displayName": "full_name",
    "active": "is_active",
    f"{ENT}:department": "department",
    f"{ENT}:employeeNumber": "employee_number",
}


def test_default_map_keeps_user_name_and_e_mail_apart(scim):
    """Entra: the UPN as userName, the mailbox in emails. Both kept, both findable."""
    response = scim.post(
        "Users",
        {
            "schemas": [USER_SCHEMA],
            "userName": "Ann@acme.onmicrosoft.com",
            "emails": [{"value": "ann@acme.com", "type": "work", "primary": True}],
            "name": {"givenName": "Ann"},
        },
    )
    assert response.status_code == 201, response.content
    created = response.json()
    user = get_user_model().objects.get()
    assert user.email == "ann@acme.com"  # the local e-mail is the mailbox
    assert created["userName"] == "Ann@acme.onmicrosoft.com"  # userName round-trips
    assert created["emails"] == [{"value": "ann@acme.com", "type": "work", "primary": True}]
    assert created["name"] == {"givenName": "Ann"}  # no field: round-trips
    for expression in (
        'userName eq "ann@acme.onmicrosoft.com"',
        'emails.value eq "ann@acme.com"',
        'emails[type eq "work"].value eq "ANN@acme.com"',
    ):
        found = scim.get("Users", {"filter": expression}).json()
        assert [r["id"] for r in found["Resources"]] == [created["id"]], expression

    # A new mailbox moves the local e-mail; the UPN stays.
    moved = scim.patch(
        f"Users/{created['id']}",
        patch_body(
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "a@acme.com"}
        ),
    )
    assert moved.status_code == 200, moved.content
    user.refresh_from_db()
    assert (user.email, moved.json()["userName"]) == ("a@acme.com", "Ann@acme.onmicrosoft.com")


def test_without_emails_the_local_e_mail_is_the_user_name(scim):
    response = scim.post("Users", {"schemas": [USER_SCHEMA], "userName": "bo@example.com"})
    assert response.status_code == 201, response.content
    assert get_user_model().objects.get().email == "bo@example.com"


def test_declarative_map_onto_extra_fields(scim):
    with override_settings(DJANGO_PROVISIONING={"USER_ATTRIBUTE_MAP": MAP}):
        created = scim.post(
            "Users",
            {
                "schemas": [USER_SCHEMA, ENT],
                "userName": "ann@example.com",
                "displayName": "Ann Smith",
                ENT: {"department": "Ops", "employeeNumber": "7"},
            },
        ).json()
        user = get_user_model().objects.get()
        assert (user.full_name, user.department, user.employee_number) == ("Ann Smith", "Ops", "7")
        user.department = "Finance"  # changed by the product: SCIM reads the model
        user.save()
        read = scim.get(f"Users/{created['id']}").json()
        assert read[ENT]["department"] == "Finance"
        response = scim.patch(
            f"Users/{created['id']}",
            patch_body({"op": "replace", "path": f"{ENT}:employeeNumber", "value": "8"}),
        )
        assert response.status_code == 200, response.content
        user.refresh_from_db()
        assert user.employee_number == "8"
        found = scim.get("Users", {"filter": f'{ENT}:department eq "finance"'}).json()
        assert found["totalResults"] == 1
