"""The provisioning core: one account whichever door a person comes through."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from django_provisioning import signals
from django_provisioning.exceptions import ProvisioningDenied
from django_provisioning.jit import provision_from_saml
from django_provisioning.models import AuditEvent, ExternalGroup, ExternalIdentity, NameIdFormat
from django_provisioning.provisioning import deactivate_user, replace_user, sync_user_groups

from .factories import UserFactory, scim_user
from .scim.test_users_api import okta_user

User = get_user_model()
EMAIL = NameIdFormat.EMAIL
TRANSIENT = NameIdFormat.TRANSIENT


def saml(connection, name_id="alice@example.com", fmt=EMAIL, groups=None, **doc):
    document = {"userName": doc.pop("userName", name_id), **doc}
    return provision_from_saml(
        connection, name_id=name_id, name_id_format=fmt, document=document, group_names=groups
    )


def test_jit_creates_then_finds_by_name_id(connection):
    identity, created = saml(connection, name={"givenName": "Alice"})
    assert created and identity.name_id == "alice@example.com"
    again, created_again = saml(connection)
    assert not created_again and again.pk == identity.pk
    assert User.objects.count() == 1


def test_jit_then_scim_is_one_account(connection, scim):
    identity, _ = saml(connection)
    # Okta: POST answers 409, then the client looks the user up and takes it over.
    assert scim.post("Users", okta_user("ALICE@example.com")).status_code == 409
    found = scim.get("Users", {"filter": 'userName eq "alice@example.com"'}).json()
    assert [r["id"] for r in found["Resources"]] == [str(identity.scim_id)]
    response = scim.put(f"Users/{identity.scim_id}", okta_user(externalId="okta-9"))
    assert response.status_code == 200
    assert User.objects.count() == 1
    assert ExternalIdentity.objects.get().external_id == "okta-9"


def test_scim_then_jit_is_one_account(connection):
    pushed = scim_user(connection, "alice@example.com", externalId="okta-1")
    identity, created = saml(connection, name_id="ALICE@example.com")
    assert not created and identity.pk == pushed.pk
    assert ExternalIdentity.objects.get().name_id == "ALICE@example.com"
    assert User.objects.count() == 1


def test_transient_name_id_is_never_stored_or_matched(connection):
    first, _ = saml(connection, name_id="_t1", fmt=TRANSIENT, userName="alice@example.com")
    assert first.name_id == ""
    second, created = saml(connection, name_id="_t2", fmt=TRANSIENT, userName="alice@example.com")
    assert not created and second.pk == first.pk


def test_jit_create_off_refuses_unknown(connection):
    connection.jit_create = False
    connection.save()
    with pytest.raises(ProvisioningDenied):
        saml(connection)
    assert User.objects.count() == 0 and ExternalIdentity.objects.count() == 0


def test_deactivated_by_scim_is_refused_at_sign_in(connection):
    identity = scim_user(connection, "alice@example.com")
    deactivate_user(identity)
    with pytest.raises(ProvisioningDenied, match="deactivated"):
        saml(connection)
    assert User.objects.get().is_active is False


def test_jit_update_refreshes_attributes_only_when_policy_says(connection):
    saml(connection, displayName="Alice")
    saml(connection, displayName="Alice L.")
    assert ExternalIdentity.objects.get().document["displayName"] == "Alice L."
    connection.jit_update = False
    connection.save()
    saml(connection, displayName="Ignored")
    assert ExternalIdentity.objects.get().document["displayName"] == "Alice L."


def test_links_existing_local_user_only_with_verified_domain_and_policy(connection):
    local = UserFactory(
        **{User.USERNAME_FIELD: "bob@example.com", "email": "bob@example.com"}
        if User.USERNAME_FIELD != "email"
        else {"email": "bob@example.com"}
    )
    with pytest.raises(ProvisioningDenied):  # policy off: no takeover, no duplicate
        saml(connection, name_id="bob@example.com")
    connection.link_by_email = True
    connection.save()
    identity, created = saml(connection, name_id="bob@example.com")
    assert identity.user == local and not created
    assert AuditEvent.objects.filter(action="link").count() == 1


def test_unverified_domain_never_links(connection):
    connection.link_by_email = True
    connection.save()
    UserFactory(**{User.USERNAME_FIELD: "eve@elsewhere.test"})
    with pytest.raises(ProvisioningDenied):
        saml(connection, name_id="eve@elsewhere.test")
    assert ExternalIdentity.objects.count() == 0


def test_group_sync_only_touches_connection_groups(connection):
    identity, _ = saml(connection, groups=["eng", "ops"])
    user = identity.user
    manual = Group.objects.create(name="billing-admins")
    user.groups.add(manual)
    saml(connection, groups=["eng"])
    assert set(user.groups.values_list("name", flat=True)) == {"acme: eng", "billing-admins"}
    assert ExternalGroup.objects.filter(connection=connection).count() == 2
    saml(connection, groups=None)  # no group mapping: membership untouched
    assert set(user.groups.values_list("name", flat=True)) == {"acme: eng", "billing-admins"}


def test_signals_fire_after_commit(connection, django_capture_on_commit_callbacks):
    received = []

    def handler(sender, **kwargs):
        name = "created" if kwargs["signal"] is signals.user_created else "deactivated"
        received.append((sender, name, kwargs["identity"].user_name))

    signals.user_created.connect(handler)
    signals.user_deactivated.connect(handler)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            identity = scim_user(connection, "alice@example.com")
        assert received == []  # not before commit
        for callback in callbacks:
            callback()
        assert received == [("scim", "created", "alice@example.com")]
        with django_capture_on_commit_callbacks(execute=True):
            replace_user(identity, {**identity.document, "active": False})
        assert received[1:] == [("scim", "deactivated", "alice@example.com")]
    finally:
        signals.user_created.disconnect(handler)
        signals.user_deactivated.disconnect(handler)


def test_group_sync_audits_changes(connection):
    identity = scim_user(connection, "alice@example.com")
    sync_user_groups(identity, ["a"])
    sync_user_groups(identity, ["a"])  # no change, no event
    assert AuditEvent.objects.filter(action="groups").count() == 1


def test_linking_never_takes_over_staff_or_superusers(connection, scim):
    connection.link_by_email = True
    connection.save()
    fields = {User.USERNAME_FIELD: "root@example.com"}
    if User.USERNAME_FIELD != "email":
        fields["email"] = "root@example.com"
    admin = User.objects.create_superuser(password="keep-me", **fields)
    with pytest.raises(ProvisioningDenied):
        saml(connection, name_id="root@example.com")
    response = scim.post("Users", okta_user("root@example.com", password="Taken-over-1"))
    assert response.status_code == 409
    admin.refresh_from_db()
    assert admin.check_password("keep-me")
    assert ExternalIdentity.objects.count() == 0
