"""The adapter's extension points at the SAML door: the username hook, pre_jit, any path.

The SCIM side and the shared adapters are in ``tests/test_extension_points.py``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from django_provisioning.adapter import DefaultAdapter
from django_provisioning.exceptions import ProvisioningDenied
from django_provisioning.mapping import configured_attribute_map
from django_provisioning.models import Connection, ExternalIdentity
from django_provisioning.schema.definitions import ENTERPRISE_USER_SCHEMA as ENT
from django_provisioning.schema.definitions import USER_SCHEMA

from ..test_extension_points import (
    ADAPTERS,
    CALLS,
    SEEN,
    _fresh_calls,
    cost_center_map,
    local,
    rows,
)

__all__ = ["_fresh_calls", "cost_center_map"]  # fixtures, used by name

User = get_user_model()
SAML_ADAPTERS = "tests.saml.test_jit_hooks"


def test_a_sign_in_uses_the_hook_too(browser: Any, settings: Any) -> None:
    # A product account (no link, not linkable) holds the name the IdP sends.
    User.objects.create(**{User.USERNAME_FIELD: "alice@example.com"})
    refused = browser.sign_in()
    assert refused.status_code == 403
    assert "exists" in refused.content.decode()

    settings.DJANGO_PROVISIONING = {"ADAPTER": f"{ADAPTERS}.NumberingAdapter"}
    signed_in = browser.sign_in()
    assert signed_in.status_code == 302, signed_in.content
    identity = ExternalIdentity.objects.get()
    assert identity.user_name == "alice@example.com"
    assert local(identity.user) == "alice2@example.com"
    assert browser.client.session["_auth_user_id"] == str(identity.user.pk)


class VetoBeforeJitAdapter(DefaultAdapter):
    def pre_jit(
        self, request: Any, connection: Any, document: dict[str, Any], saml_data: dict[str, Any]
    ) -> dict[str, Any]:
        CALLS.append((request.path, connection, saml_data["connection"], document["userName"]))
        raise ProvisioningDenied("New accounts are paused for your organisation.")


def test_pre_jit_vetoes_before_anything_is_written(browser: Any, settings: Any) -> None:
    settings.DJANGO_PROVISIONING = {"ADAPTER": f"{SAML_ADAPTERS}.VetoBeforeJitAdapter"}
    response = browser.sign_in()

    assert response.status_code == 403
    assert "New accounts are paused for your organisation." in response.content.decode()
    assert rows() == (0, 0, 0)
    assert "_auth_user_id" not in browser.client.session
    [(path, connection, in_data, user_name)] = CALLS
    assert path == "/sso/acme/acs/finish/"
    # Model instances, not slugs.
    assert isinstance(connection, Connection) and in_data is connection
    assert user_name == "alice@example.com"


def test_any_path_from_an_assertion(
    browser: Any, saml_connection: Connection, cost_center_map: Any
) -> None:
    saml_connection.attribute_mapping = {
        "title": "jobTitle",
        f"{ENT}:department": ["dept", "department"],
        f"{ENT}:costCenter": "cc",
        "roles": "role",
        'phoneNumbers[type eq "work"].value': "phone",
    }
    saml_connection.full_clean()
    saml_connection.save()
    attributes = {
        "email": ["alice@example.com"],
        "jobTitle": ["CTO"],
        "department": ["Ops"],
        "cc": ["CC-9"],
        "role": ["admin", "dev"],
        "phone": ["+1 555 0100"],
    }
    response = browser.sign_in(attributes=attributes)
    assert response.status_code == 302, response.content

    document = ExternalIdentity.objects.get().document
    assert document["title"] == "CTO"
    assert document[ENT] == {"department": "Ops", "costCenter": "CC-9"}
    assert document["roles"] == [{"value": "admin"}, {"value": "dev"}]
    assert document["phoneNumbers"] == [{"type": "work", "value": "+1 555 0100"}]
    assert SEEN == [(User.objects.get().pk, "CC-9", saml_connection.slug)]


ACME = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"


def test_a_custom_extension_path_through_both_doors(
    browser: Any, saml_connection: Connection, settings: Any, scim: Any
) -> None:
    """One map for both doors: a custom extension's attribute, sent by SCIM or by SAML,
    reaches the product's callable, and is filtered from the value index."""
    SEEN.clear()
    settings.ROOT_URLCONF = "tests.urls"  # both doors
    settings.DJANGO_PROVISIONING = {
        **settings.DJANGO_PROVISIONING,
        "USER_SCHEMA_EXTENSIONS": {
            ACME: {"name": "AcmeUser", "attributes": [{"name": "costCenter"}]}
        },
        "USER_ATTRIBUTE_MAP": {
            **configured_attribute_map(),
            f"{ACME}:costCenter": f"{ADAPTERS}.remember_cost_center",
        },
    }
    saml_connection.attribute_mapping = {f"{ACME}:costCenter": "cc"}
    saml_connection.full_clean()
    saml_connection.save()

    signed_in = browser.sign_in(attributes={"email": ["alice@example.com"], "cc": ["CC-7"]})
    assert signed_in.status_code == 302, signed_in.content
    pushed = scim.post(
        "Users",
        {
            "schemas": [USER_SCHEMA, ACME],
            "userName": "bob@example.com",
            ACME: {"costCenter": "CC-8"},
        },
    )
    assert pushed.status_code == 201, pushed.content

    alice = ExternalIdentity.objects.get(user_name="alice@example.com")
    assert alice.document[ACME] == {"costCenter": "CC-7"}
    bob = ExternalIdentity.objects.get(scim_id=pushed.json()["id"])
    assert SEEN == [
        (alice.user.pk, "CC-7", saml_connection.slug),
        (bob.user.pk, "CC-8", scim.connection.slug),
    ]
    found = scim.get("Users", {"filter": f'{ACME}:costCenter eq "cc-8"'}).json()
    assert [r["id"] for r in found["Resources"]] == [pushed.json()["id"]]
